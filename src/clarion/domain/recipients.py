"""Recipient phone normalisation and screening, with Mobizon's result codes.

Rules
-----
:func:`normalise` turns whatever a client sent as a recipient into a
:class:`Phone` (E.164 number, ISO 3166 alpha-2 country, carrier name) or
raises :class:`PhoneError` carrying a :class:`ResultCode`:

1. ``None``, or a string that is empty or only whitespace -> ``EMPTY`` (1).
2. Anything that is neither a ``str`` nor an ``int`` (a dict, a list, a
   float, a ``bool``) -> ``NOT_FOUND`` (2): no phone number in the data.
3. Mobizon: "Mobile numbers you are sending must be entered in international
   format. All extraneous characters will be removed automatically." We remove
   whitespace (including no-break spaces), parentheses, dots and dashes
   (ASCII ``-`` and the Unicode hyphens, dashes and minus sign), then one
   leading ``+`` or, failing that, one leading ``00`` (the international call
   prefix). What is left must be ASCII digits, otherwise -> ``BAD_FORMAT``
   (3): letters, ``/``, ``#``, ``*``, a ``+`` in the middle, and non-ASCII
   digits are all refused rather than guessed at. A negative ``int`` is
   ``BAD_FORMAT`` too. A string that is nothing but formatting (``"-"``,
   ``"( )"``, ``"+"``) is ``EMPTY`` (1): once the extraneous characters are
   removed, as Mobizon does, the value is empty.
4. The digits are always read as an international number, as if prefixed
   with ``+``: there is no default region, so ``87011234567`` is ``+8 701...``
   and fails rather than being reinterpreted as a Kazakh trunk-prefixed
   number. Numbers ``phonenumbers`` cannot parse, or considers impossible or
   invalid -> ``BAD_FORMAT`` (3).
5. A valid number with no country (the non-geographic codes such as +800
   freephone, +870 Inmarsat, +882/+883 international networks, for which
   ``phonenumbers`` reports region ``001``) -> ``UNKNOWN_DESTINATION`` (7).

The operator is ``phonenumbers.carrier.name_for_number(number, "en")``: the
carrier that originally held the number's prefix (number portability is not
visible here), and ``""`` when unknown or for non-mobile numbers.

:func:`screen` then applies an account :class:`Policy` in Mobizon's order:
stop list -> ``STOP_LIST`` (5), country not allowed -> ``COUNTRY_NOT_ALLOWED``
(6), blocked operator (compared case-insensitively) -> ``OPERATOR_NOT_SERVED``
(8), already seen in this campaign -> ``DUPLICATE`` (4). Only an accepted
number is added to ``seen``, so a rejected number never shadows a later
duplicate. Placeholder checks (code 20) are the caller's job with
``clarion.domain.templates``.

Choices
-------
* :func:`describe` returns Mobizon's wording, except that the
  ``MISSING_PLACEHOLDER`` text drops Mobizon's "(if placeholdersFlag is set
  to 1 value)", which contradicts the flag's own description (3 rejects).
* Mobizon codes 30-32 (contact book) are set by the recipient services that
  read the address book; 51 (short links) is not modelled yet.
* ``Screened.phone`` is set whenever the number was normalised, including for
  policy rejections (5, 6, 8, 4), so callers can report the E.164 form.
* ``Policy.allowed_countries`` is upper-cased on construction (ISO codes are
  case-insensitive, ``phonenumbers`` reports them upper-case);
  ``Policy.stop_list`` holds E.164 strings exactly as :func:`normalise`
  produces them (``+`` and digits).
* Speed: one module-level translation table, no regular expressions, one
  ``phonenumbers.parse`` per number, and the cheap length-based possibility
  check before full validation. Then the number's region and type are worked
  out ONCE (:func:`_region_and_type`): ``is_valid_number``, ``number_type``
  (inside ``carrier.name_for_number``) and ``region_code_for_number`` would each
  redo that, and for shared calling codes (+1, +7, +44) finding the region is
  itself a pattern match. ``_region_and_type`` is ``is_valid_number_for_region``
  step by step, keeping the type, so "valid" means exactly what
  ``is_valid_number`` means, and the carrier is looked up (``name_for_valid_number``)
  exactly when ``name_for_number`` would. phonenumbers' compiled-pattern cache is
  switched on (``enable_pattern_cache``): its metadata patterns otherwise go
  through ``re``'s bounded cache and are recompiled once evicted. Number metadata
  is deliberately NOT cached by prefix: nothing in phonenumbers' data promises
  that the last digits never decide validity, type or carrier.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberType, carrier
from phonenumbers.phonenumberutil import _number_type_helper

__all__ = [
    "Phone",
    "PhoneError",
    "Policy",
    "ResultCode",
    "Screened",
    "describe",
    "normalise",
    "screen",
]


class ResultCode(IntEnum):
    """Per-recipient result codes of Mobizon's ``Campaign/AddRecipients``."""

    OK = 0
    EMPTY = 1
    NOT_FOUND = 2
    BAD_FORMAT = 3
    DUPLICATE = 4
    STOP_LIST = 5
    COUNTRY_NOT_ALLOWED = 6
    UNKNOWN_DESTINATION = 7
    OPERATOR_NOT_SERVED = 8
    MISSING_PLACEHOLDER = 20
    CARD_NOT_FOUND = 30
    CARD_WITHOUT_MOBILE = 31
    CONTACT_NOT_FOUND = 32
    SYSTEM_ERROR = 99


_DESCRIPTIONS: dict[ResultCode, str] = {
    ResultCode.OK: "the number was successfully added to the campaign",
    ResultCode.EMPTY: "there is no phone number in the transferred data or the value is empty",
    ResultCode.NOT_FOUND: (
        "no phone number found in the transferred data "
        "(most likely the data was incorrectly formatted)"
    ),
    ResultCode.BAD_FORMAT: "the number doesn't correspond to the international format requirements",
    ResultCode.DUPLICATE: (
        "the number was already added to the campaign (deletion of duplicates from a campaign)"
    ),
    ResultCode.STOP_LIST: (
        "the number is included to the stop-list "
        "(it can be either your stop-list or the system stop-list)"
    ),
    ResultCode.COUNTRY_NOT_ALLOWED: (
        "sending to the country of destination is limited by your account settings"
    ),
    ResultCode.UNKNOWN_DESTINATION: (
        "it is impossible to identify the operator and/or the country of destination"
    ),
    ResultCode.OPERATOR_NOT_SERVED: (
        "the system is not able to send to this operator, "
        "please contact our technical support to clarify the possibility to send it"
    ),
    ResultCode.MISSING_PLACEHOLDER: "sent data does not contain all necessary placeholders",
    ResultCode.CARD_NOT_FOUND: "contact card was not found in the contact book",
    ResultCode.CARD_WITHOUT_MOBILE: "contact card does not contain a mobile number",
    ResultCode.CONTACT_NOT_FOUND: "contact was not found in the contact book",
    ResultCode.SYSTEM_ERROR: "system error adding recipient number",
}


def describe(code: ResultCode) -> str:
    """Return Mobizon's English description of a recipient result code."""
    return _DESCRIPTIONS[code]


def describe_code(code: int) -> str:
    """``describe`` for a raw integer code ("" for a code this module does not know)."""
    try:
        return _DESCRIPTIONS[ResultCode(code)]
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Phone:
    """A normalised, valid phone number."""

    e164: str
    country: str
    operator: str


class PhoneError(ValueError):
    """A recipient could not be normalised; ``code`` says why."""

    code: ResultCode

    def __init__(self, code: ResultCode, detail: str) -> None:
        self.code = code
        super().__init__(f"{describe(code)} ({detail})")


@dataclass(frozen=True, slots=True)
class Policy:
    """Account rules applied to every recipient by :func:`screen`."""

    allowed_countries: frozenset[str] | None = None
    blocked_operators: frozenset[str] = frozenset()
    stop_list: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.allowed_countries is not None:
            upper = frozenset(code.upper() for code in self.allowed_countries)
            object.__setattr__(self, "allowed_countries", upper)


@dataclass(frozen=True, slots=True)
class Screened:
    """The outcome of screening one recipient."""

    code: ResultCode
    phone: Phone | None
    raw: str


_FORMATTING = (
    " \t\n\r\v\f\u00a0\u2007\u202f\u2009\u200a\u3000"  # whitespace
    "().-"
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphens, dashes, minus sign
)
_STRIP_FORMATTING = str.maketrans(dict.fromkeys(_FORMATTING))
_UNKNOWN_REGIONS = frozenset({"001", "ZZ"})
_E164 = phonenumbers.PhoneNumberFormat.E164
_NON_GEO = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
# The types carrier.name_for_number looks up (its _is_mobile).
_CARRIER_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)
_MAX_INT_BITS = 64  # E.164 allows 15 digits; anything past 2**64 is not a number


def _digits(raw: object) -> str:
    """Return the bare international digits of ``raw`` or raise :class:`PhoneError`."""
    if raw is None:
        raise PhoneError(ResultCode.EMPTY, "no value")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise PhoneError(ResultCode.NOT_FOUND, f"a {type(raw).__name__} is not a phone number")
    if isinstance(raw, int):
        if raw < 0:
            raise PhoneError(ResultCode.BAD_FORMAT, "a negative number")
        if raw.bit_length() > _MAX_INT_BITS:
            raise PhoneError(ResultCode.BAD_FORMAT, "far too many digits")
        return str(raw)
    if not raw or raw.isspace():
        raise PhoneError(ResultCode.EMPTY, "empty value")
    text = raw.translate(_STRIP_FORMATTING)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not text:
        raise PhoneError(ResultCode.EMPTY, f"nothing but formatting in {raw!r}")
    if not (text.isascii() and text.isdigit()):
        raise PhoneError(ResultCode.BAD_FORMAT, f"unexpected characters in {raw!r}")
    return text


def _region_and_type(number: PhoneNumber) -> tuple[str | None, int]:
    """``(region_code_for_number, number_type)``, with the type ``UNKNOWN`` exactly
    when ``is_valid_number`` is false: the body of ``is_valid_number_for_region``
    for the number's own region, keeping the type it computes."""
    region = phonenumbers.region_code_for_number(number)
    code = number.country_code
    if region is None or code is None:
        return region, PhoneNumberType.UNKNOWN
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
    if metadata is None or (
        region != _NON_GEO and code != phonenumbers.country_code_for_valid_region(region)
    ):
        return region, PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(number)
    return region, _number_type_helper(national, metadata)


def normalise(raw: object) -> Phone:
    """Normalise a recipient to a valid :class:`Phone` or raise :class:`PhoneError`."""
    phonenumbers.enable_pattern_cache()  # idempotent; see "Speed" above
    digits = _digits(raw)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(ResultCode.BAD_FORMAT, f"+{digits}: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneError(ResultCode.BAD_FORMAT, f"+{digits} is not a valid number")
    region, kind = _region_and_type(number)
    if kind == PhoneNumberType.UNKNOWN:  # not is_valid_number(number)
        raise PhoneError(ResultCode.BAD_FORMAT, f"+{digits} is not a valid number")
    if region is None or region in _UNKNOWN_REGIONS:
        raise PhoneError(ResultCode.UNKNOWN_DESTINATION, f"+{digits} has no country")
    return Phone(
        e164=phonenumbers.format_number(number, _E164),
        country=region,
        # = carrier.name_for_number(number, "en"), which would compute the type again
        operator=carrier.name_for_valid_number(number, "en") if kind in _CARRIER_TYPES else "",
    )


def screen(raw: object, *, policy: Policy, seen: set[str]) -> Screened:
    """Normalise ``raw`` and apply ``policy``; record accepted numbers in ``seen``."""
    text = "" if raw is None else str(raw)
    try:
        phone = normalise(raw)
    except PhoneError as exc:
        return Screened(exc.code, None, text)
    if phone.e164 in policy.stop_list:
        return Screened(ResultCode.STOP_LIST, phone, text)
    if policy.allowed_countries is not None and phone.country not in policy.allowed_countries:
        return Screened(ResultCode.COUNTRY_NOT_ALLOWED, phone, text)
    if phone.operator and policy.blocked_operators:
        operator = phone.operator.casefold()
        if any(operator == blocked.casefold() for blocked in policy.blocked_operators):
            return Screened(ResultCode.OPERATOR_NOT_SERVED, phone, text)
    if phone.e164 in seen:
        return Screened(ResultCode.DUPLICATE, phone, text)
    seen.add(phone.e164)
    return Screened(ResultCode.OK, phone, text)


def overall(codes: list[int]) -> int:
    """Mobizon's result of a whole AddRecipients call: 0 when every recipient was
    added, 98 when some but not all were, 99 when none was."""
    added = sum(1 for c in codes if c == ResultCode.OK)
    if added == len(codes):
        return 0
    return 98 if added else 99
