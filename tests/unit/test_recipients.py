"""Phone normalisation and screening with Mobizon result codes."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.domain.recipients import (
    Phone,
    PhoneError,
    Policy,
    ResultCode,
    Screened,
    describe,
    normalise,
    screen,
)

KZ = Phone("+77011234567", "KZ", "Kcell/Activ")
GB = Phone("+447400123456", "GB", "Three")
DE = Phone("+4915123456789", "DE", "T-Mobile")
FR = Phone("+33612345678", "FR", "SFR")
US = Phone("+12015550123", "US", "")
BR = Phone("+5511961234567", "BR", "")


def _example_mobiles() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is not None and phonenumbers.is_valid_number(number):
            found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return found


EXAMPLE_MOBILES = _example_mobiles()
# phonenumbers loads carrier data lazily on first use; a deadline would be a timing assertion.
no_deadline = settings(deadline=None)


def test_result_codes_match_mobizon() -> None:
    assert {code.name: int(code) for code in ResultCode} == {
        "OK": 0,
        "EMPTY": 1,
        "NOT_FOUND": 2,
        "BAD_FORMAT": 3,
        "DUPLICATE": 4,
        "STOP_LIST": 5,
        "COUNTRY_NOT_ALLOWED": 6,
        "UNKNOWN_DESTINATION": 7,
        "OPERATOR_NOT_SERVED": 8,
        "MISSING_PLACEHOLDER": 20,
        "CARD_NOT_FOUND": 30,
        "CARD_WITHOUT_MOBILE": 31,
        "CONTACT_NOT_FOUND": 32,
        "SYSTEM_ERROR": 99,
    }


def test_every_code_has_mobizons_description() -> None:
    assert describe(ResultCode.OK) == "the number was successfully added to the campaign"
    assert describe(ResultCode.BAD_FORMAT) == (
        "the number doesn't correspond to the international format requirements"
    )
    assert describe(ResultCode.SYSTEM_ERROR) == "system error adding recipient number"
    for code in ResultCode:
        assert describe(code)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+7 (701) 123-45-67", KZ),
        ("+77011234567", KZ),
        ("77011234567", KZ),
        ("0077011234567", KZ),
        ("00 7 701 123 45 67", KZ),
        ("+7.701.123.45.67", KZ),
        ("  +7 701 1234567\n", KZ),
        ("+7\u00a0701\u00a0123\u201145\u201367", KZ),
        (77011234567, KZ),
        ("+44 7400 123456", GB),
        ("+49 1512 3456789", DE),
        ("+33 6 12 34 56 78", FR),
        ("+1 (201) 555-0123", US),
        ("55 11 96123-4567", BR),
    ],
)
def test_normalise_valid_numbers(raw: object, expected: Phone) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, ResultCode.EMPTY),
        ("", ResultCode.EMPTY),
        ("   ", ResultCode.EMPTY),
        ("\t\n", ResultCode.EMPTY),
        ("-", ResultCode.EMPTY),
        ("( )", ResultCode.EMPTY),
        ("+", ResultCode.EMPTY),
        ({"recipient": "+77011234567"}, ResultCode.NOT_FOUND),
        (["+77011234567"], ResultCode.NOT_FOUND),
        (7.7011234567e10, ResultCode.NOT_FOUND),
        (True, ResultCode.NOT_FOUND),
        (b"77011234567", ResultCode.NOT_FOUND),
        ("+7 701 CALL-NOW", ResultCode.BAD_FORMAT),
        ("tel:+77011234567", ResultCode.BAD_FORMAT),
        ("+7 701 123 45 67 ext. 12", ResultCode.BAD_FORMAT),
        ("+7/701/1234567", ResultCode.BAD_FORMAT),
        ("+7+7011234567", ResultCode.BAD_FORMAT),
        ("++77011234567", ResultCode.BAD_FORMAT),
        ("+٧٧٠١١٢٣٤٥٦٧", ResultCode.BAD_FORMAT),
        ("8 701 123 45 67", ResultCode.BAD_FORMAT),  # national trunk prefix, not international
        ("12345", ResultCode.BAD_FORMAT),
        ("+7701123456789012345", ResultCode.BAD_FORMAT),
        ("+0 701 123 45 67", ResultCode.BAD_FORMAT),
        ("+7 000 000 00 00", ResultCode.BAD_FORMAT),
        ("9" * 300, ResultCode.BAD_FORMAT),
        (-77011234567, ResultCode.BAD_FORMAT),
        (0, ResultCode.BAD_FORMAT),
        (10**400, ResultCode.BAD_FORMAT),
        ("+800 1234 5678", ResultCode.UNKNOWN_DESTINATION),
        ("+882 342 1234", ResultCode.UNKNOWN_DESTINATION),
        ("+870 301 234 567", ResultCode.UNKNOWN_DESTINATION),
    ],
)
def test_normalise_rejections(raw: object, code: ResultCode) -> None:
    with pytest.raises(PhoneError) as info:
        normalise(raw)
    assert info.value.code is code
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(describe(code))


def test_screen_accepts_and_records() -> None:
    seen: set[str] = set()
    result = screen("+7 (701) 123-45-67", policy=Policy(), seen=seen)
    assert result == Screened(ResultCode.OK, KZ, "+7 (701) 123-45-67")
    assert seen == {"+77011234567"}


def test_screen_duplicate_in_any_format() -> None:
    seen: set[str] = set()
    assert screen("+77011234567", policy=Policy(), seen=seen).code is ResultCode.OK
    again = screen("00-7-701-123-45-67", policy=Policy(), seen=seen)
    assert again == Screened(ResultCode.DUPLICATE, KZ, "00-7-701-123-45-67")
    assert screen(77011234567, policy=Policy(), seen=seen).code is ResultCode.DUPLICATE
    assert seen == {"+77011234567"}


def test_screen_reports_normalisation_failures_with_raw_text() -> None:
    seen: set[str] = set()
    assert screen(None, policy=Policy(), seen=seen) == Screened(ResultCode.EMPTY, None, "")
    assert screen({}, policy=Policy(), seen=seen) == Screened(ResultCode.NOT_FOUND, None, "{}")
    assert screen("abc", policy=Policy(), seen=seen) == Screened(ResultCode.BAD_FORMAT, None, "abc")
    assert screen("+800 1234 5678", policy=Policy(), seen=seen).code is (
        ResultCode.UNKNOWN_DESTINATION
    )
    assert seen == set()


def test_screen_stop_list() -> None:
    policy = Policy(stop_list=frozenset({"+77011234567"}))
    seen: set[str] = set()
    assert screen("+7 701 123 45 67", policy=policy, seen=seen) == Screened(
        ResultCode.STOP_LIST, KZ, "+7 701 123 45 67"
    )
    assert seen == set()
    assert screen("+447400123456", policy=policy, seen=seen).code is ResultCode.OK


def test_screen_allowed_countries() -> None:
    policy = Policy(allowed_countries=frozenset({"kz", "UZ"}))
    seen: set[str] = set()
    assert screen("+77011234567", policy=policy, seen=seen).code is ResultCode.OK
    assert screen("+447400123456", policy=policy, seen=seen) == Screened(
        ResultCode.COUNTRY_NOT_ALLOWED, GB, "+447400123456"
    )
    assert seen == {"+77011234567"}


def test_policy_upper_cases_countries() -> None:
    assert Policy(allowed_countries=frozenset({"kz"})).allowed_countries == frozenset({"KZ"})
    assert Policy().allowed_countries is None


def test_screen_blocked_operator_is_case_insensitive() -> None:
    policy = Policy(blocked_operators=frozenset({"kcell/activ"}))
    seen: set[str] = set()
    assert screen("+77011234567", policy=policy, seen=seen).code is (ResultCode.OPERATOR_NOT_SERVED)
    assert screen("+447400123456", policy=policy, seen=seen).code is ResultCode.OK


def test_unknown_operator_is_never_blocked() -> None:
    policy = Policy(blocked_operators=frozenset({""}))
    assert screen("+12015550123", policy=policy, seen=set()).code is ResultCode.OK


def test_screen_checks_in_mobizon_order() -> None:
    everything = Policy(
        allowed_countries=frozenset({"GB"}),
        blocked_operators=frozenset({"KCELL/ACTIV"}),
        stop_list=frozenset({"+77011234567"}),
    )
    seen = {"+77011234567"}
    assert screen("+77011234567", policy=everything, seen=seen).code is ResultCode.STOP_LIST
    no_stop = Policy(
        allowed_countries=everything.allowed_countries,
        blocked_operators=everything.blocked_operators,
    )
    assert screen("+77011234567", policy=no_stop, seen=seen).code is (
        ResultCode.COUNTRY_NOT_ALLOWED
    )
    only_operator = Policy(blocked_operators=everything.blocked_operators)
    assert screen("+77011234567", policy=only_operator, seen=seen).code is (
        ResultCode.OPERATOR_NOT_SERVED
    )
    assert screen("+77011234567", policy=Policy(), seen=seen).code is ResultCode.DUPLICATE


def test_example_numbers_cover_many_countries() -> None:
    assert len(EXAMPLE_MOBILES) > 200


@no_deadline
@given(st.sampled_from(EXAMPLE_MOBILES))
def test_normalise_is_idempotent_on_e164(e164: str) -> None:
    phone = normalise(e164)
    assert phone.e164 == e164
    assert normalise(phone.e164) == phone
    assert normalise(phone.e164[1:]) == phone
    assert normalise(int(phone.e164[1:])) == phone


separators = st.text(alphabet=" -().\u00a0", max_size=2)


@no_deadline
@given(
    st.sampled_from(EXAMPLE_MOBILES),
    st.sampled_from(["+", "00", "", "+ ", "(+", "00 "]),
    st.data(),
)
def test_formatting_noise_does_not_change_the_result(
    e164: str, prefix: str, data: st.DataObject
) -> None:
    digits = e164[1:]
    noise = data.draw(st.lists(separators, min_size=len(digits), max_size=len(digits)))
    noisy = prefix + "".join(d + sep for d, sep in zip(digits, noise, strict=True))
    assert normalise(noisy) == normalise(e164)


@no_deadline
@given(st.lists(st.sampled_from(EXAMPLE_MOBILES), max_size=30))
def test_screening_a_list_accepts_each_number_once(numbers: list[str]) -> None:
    seen: set[str] = set()
    codes = [screen(n, policy=Policy(), seen=seen).code for n in numbers]
    assert codes.count(ResultCode.OK) == len(set(numbers))
    assert codes.count(ResultCode.DUPLICATE) == len(numbers) - len(set(numbers))
    assert seen == set(numbers)


@no_deadline
@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=5))
def test_any_letter_is_bad_format(letters: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalise("+7701" + letters + "1234567")
    assert info.value.code is ResultCode.BAD_FORMAT
