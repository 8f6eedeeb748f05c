"""autocall v3 leads: the phone numbers a campaign calls.

* ``POST /v3/lead``: the vendor's lead create, one lead into a list ->
  ``{"created": true, "lead_uuid"}``
* ``POST /v3/campaign/{campaign_uuid}/leads``: 1-5000 leads at once -> per-lead results
* ``POST /v3/autocall/otp``: the vendor's OTP call, one lead whose call reads ``code_otp``

Choices:

* The vendor puts leads into lists (``list_uuid``) that campaigns call; Clarion has
  one list per autocall campaign and its UUID is the campaign's: ``list_uuid`` (or
  ``campaign_uuid``) names the campaign. A list that is not one of the caller's
  campaigns: 404 ``{"error": "list not found"}``.
* ``phone_number`` follows the vendor's pattern ``^(84|0[3|5|7|8|9])+([0-9]{8})$``
  (Vietnamese mobiles, ``0...`` read as ``+84...``); Clarion also takes an
  international number written ``+<digits>``. It is then screened like every
  recipient (valid number, stop list, account's countries, duplicates in the campaign).
* Every other lead field (``lead_name``, ``lead_code``, ``contract_number``,
  ``identity_*``, ``address``, ``province``, ``district``, ``ward``,
  ``date_of_birth``, ``gender``: strings of at most 255 characters) and the scalar
  values of ``additional`` become the lead's call variables (as text).
* Validation errors use the vendor's lead form, 400 ``{"error": [{"<field>": "<text>"}]}``
  with its JSON-schema wording; auth, missing lists and campaign states use the
  string form (wire.py).
* A lead's ``lead_uuid`` is a stable UUID naming Clarion's recipient row; the OTP
  answer's ``call_id`` is the id the lead's first call has in the CDRs.
* Leads can be added while the campaign is ``stop`` (not yet started), ``start`` or
  ``pause``; they are called in their turn (a finished campaign starts calling again,
  unless it is not ``active``: then it is paused). A campaign stopped for good takes
  none (409).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from clarion.config import Settings
from clarion.dialects.autocall import wire
from clarion.dialects.autocall.campaigns import kept_fields
from clarion.dialects.autocall.wire import AutocallError, Caller
from clarion.domain.lifecycle import CampaignStatus
from clarion.domain.recipients import ResultCode, describe
from clarion.domain.text import NUL_MESSAGE, nul_path
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services.errors import NotFound
from clarion.store.db import Database

router = APIRouter()

MAX_LEADS = 5000
MAX_TEXT = 255
PHONE_PATTERN = "^(84|0[3|5|7|8|9])+([0-9]{8})$"
_VENDOR_PHONE = re.compile(PHONE_PATTERN)
_INTERNATIONAL = re.compile(r"^\+[0-9]{8,15}$")
LEAD_TEXT_FIELDS = (
    "lead_name",
    "lead_code",
    "contract_number",
    "identity_number",
    "identity_issued_at",
    "identity_issued_on",
    "address",
    "province",
    "district",
    "ward",
    "date_of_birth",
    "gender",
)
LIST_NOT_FOUND = "list not found"
FINISHED_CALLING = frozenset({CampaignStatus.SENT, CampaignStatus.DONE})
RESULT_TEXT = {
    ResultCode.EMPTY: "phone_number is empty",
    ResultCode.NOT_FOUND: "phone_number is not a phone number",
    ResultCode.BAD_FORMAT: "phone_number is not a valid phone number",
    ResultCode.DUPLICATE: "phone_number is already in the list",
    ResultCode.STOP_LIST: "phone_number is in the stop list",
    ResultCode.COUNTRY_NOT_ALLOWED: "calls to this country are not allowed for the account",
    ResultCode.UNKNOWN_DESTINATION: "phone_number has no country",
    ResultCode.OPERATOR_NOT_SERVED: "the operator of phone_number is not served",
}

Errors = list[dict[str, str]]


class LeadErrors(Exception):
    """400 in the vendor's lead form."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(str(errors))
        self.errors = errors


def json_type(value: object) -> str:
    """The JSON-schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def wrong_type(expected: str, value: object) -> str:
    return f"Invalid type. Expected: {expected}, given: {json_type(value)}"


def check_uuid(errors: Errors, name: str, value: object) -> str | None:
    if not isinstance(value, str):
        errors.append({name: wrong_type("string", value)})
        return None
    if len(value) < 36:
        errors.append({name: "String length must be greater than or equal to 36"})
        return None
    if len(value) > 36:
        errors.append({name: "String length must be less than or equal to 36"})
        return None
    try:
        return wire.campaign_uuid(value)
    except AutocallError:
        errors.append({name: "Does not match format 'uuid'"})
        return None


def check_phone(errors: Errors, value: object, where: str = "phone_number") -> str | None:
    """The number as Clarion reads it (``0...`` -> ``84...``), or None with errors."""
    if value is None:
        errors.append({where: "phone_number is required"})
        return None
    if not isinstance(value, str):
        errors.append({where: wrong_type("string", value)})
        return None
    if _INTERNATIONAL.match(value):
        return value
    if not value:
        errors.append({where: "String length must be greater than or equal to 1"})
    if not _VENDOR_PHONE.match(value):
        errors.append({where: f"Does not match pattern '{PHONE_PATTERN}'"})
        return None
    return "84" + value[1:] if value.startswith("0") else value


def check_lead(errors: Errors, lead: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The lead's call variables; problems are appended to ``errors``."""
    variables: dict[str, str] = {}
    for name in LEAD_TEXT_FIELDS:
        value = lead.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append({prefix + name: wrong_type("string", value)})
        elif len(value) > MAX_TEXT:
            errors.append(
                {prefix + name: f"String length must be less than or equal to {MAX_TEXT}"}
            )
        elif value:
            variables[name] = value
    additional = lead.get("additional")
    if additional is not None:
        if not isinstance(additional, dict):
            errors.append({prefix + "additional": wrong_type("object", additional)})
        else:
            for key, value in additional.items():
                where = f"{prefix}additional.{key}"
                if isinstance(value, bool):
                    variables[key] = "true" if value else "false"
                elif isinstance(value, int | float | str):
                    text = str(value)
                    if len(text) > MAX_TEXT:
                        errors.append(
                            {where: f"String length must be less than or equal to {MAX_TEXT}"}
                        )
                    else:
                        variables[key] = text
                elif value is not None:
                    errors.append({where: wrong_type("string", value)})
    return variables


async def lead_body(request: Request) -> dict[str, Any]:
    """The JSON object of a lead request; errors in the lead form."""
    try:
        body = wire.parse_object(await wire.raw_body(request))
    except ValueError as exc:
        raise LeadErrors([{"(root)": str(exc)}]) from None
    where = nul_path(body)
    if where is not None:
        raise LeadErrors([{where or "(root)": NUL_MESSAGE}])
    return body


async def campaign_of_list(db: Database, caller: Caller, key: str) -> Row[Any]:
    try:
        return await voice.find(db, account_id=caller.id, external_id=wire.external_id(key))
    except NotFound:
        raise AutocallError(404, LIST_NOT_FOUND) from None


def result_error(code: ResultCode) -> str:
    return RESULT_TEXT.get(code, describe(code))


async def add(
    db: Database,
    caller: Caller,
    row: Row[Any],
    leads: Sequence[tuple[str, dict[str, str]]],
) -> list[campaign_service.RecipientResult]:
    entries = [campaign_service.RecipientInput(phone, variables) for phone, variables in leads]
    results = await voice.add_numbers(
        db, account_id=caller.id, campaign_id=int(row.id), entries=entries
    )
    if row.status in FINISHED_CALLING and not kept_fields(voice.config_of(row))["active"]:
        # New numbers reopen a finished campaign; an inactive one places no calls.
        fresh = await voice.get(db, account_id=caller.id, campaign_id=int(row.id))
        if fresh.status == CampaignStatus.RUNNING:
            await voice.pause(db, account_id=caller.id, campaign_id=int(row.id))
    return results


async def guarded_leads(request: Request, work: wire.Work) -> JSONResponse:
    try:
        return await wire.guarded(request, work)
    except LeadErrors as exc:
        return JSONResponse({"error": exc.errors}, status_code=400)


@router.post("/v3/lead")
async def create_lead(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        body = await lead_body(request)
        errors: Errors = []
        name = "list_uuid" if body.get("list_uuid") is not None else "campaign_uuid"
        key = None
        if body.get(name) is None:
            errors.append({"list_uuid": "list_uuid is required"})
        else:
            key = check_uuid(errors, name, body[name])
        phone = check_phone(errors, body.get("phone_number"))
        variables = check_lead(errors, body)
        if errors:
            raise LeadErrors(errors)
        assert key is not None and phone is not None
        row = await campaign_of_list(db, caller, key)
        [result] = await add(db, caller, row, [(phone, variables)])
        if result.code != ResultCode.OK or result.message_id is None:
            raise LeadErrors([{"phone_number": result_error(result.code)}])
        return JSONResponse({"created": True, "lead_uuid": wire.lead_uuid(key, result.message_id)})

    return await guarded_leads(request, work)


@router.post("/v3/campaign/{campaign_uuid}/leads")
async def create_leads(request: Request, campaign_uuid: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        key = wire.campaign_uuid(campaign_uuid)
        row = await campaign_of_list(db, caller, key)
        body = await lead_body(request)
        leads = body.get("leads")
        if not isinstance(leads, list):
            raise LeadErrors([{"leads": wrong_type("array", leads)}])
        if not leads:
            raise LeadErrors([{"leads": "Array must have at least 1 items"}])
        if len(leads) > MAX_LEADS:
            raise LeadErrors([{"leads": f"Array must have at most {MAX_LEADS} items"}])
        errors: Errors = []
        parsed: list[tuple[str, dict[str, str]]] = []
        for index, lead in enumerate(leads):
            prefix = f"leads.{index}."
            if not isinstance(lead, dict):
                errors.append({f"leads.{index}": wrong_type("object", lead)})
                continue
            phone = check_phone(errors, lead.get("phone_number"), prefix + "phone_number")
            variables = check_lead(errors, lead, prefix)
            if phone is not None:
                parsed.append((phone, variables))
        if errors:
            raise LeadErrors(errors)
        results = await add(db, caller, row, parsed)
        data: list[dict[str, Any]] = []
        for lead, result in zip(leads, results, strict=True):
            item: dict[str, Any] = {
                "phone_number": lead["phone_number"],
                "created": result.code == ResultCode.OK and result.message_id is not None,
                "lead_uuid": "",
            }
            if result.message_id is not None and item["created"]:
                item["lead_uuid"] = wire.lead_uuid(key, result.message_id)
            else:
                item["error"] = [{"phone_number": result_error(result.code)}]
            data.append(item)
        return JSONResponse({"data": data, "created": sum(1 for item in data if item["created"])})

    return await guarded_leads(request, work)


@router.post("/v3/autocall/otp")
async def otp(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        body = await lead_body(request)
        errors: Errors = []
        key = None
        if body.get("campaign_uuid") is None:
            errors.append({"campaign_uuid": "campaign_uuid is required"})
        else:
            key = check_uuid(errors, "campaign_uuid", body["campaign_uuid"])
        phone = check_phone(errors, body.get("phone_number"))
        variables: dict[str, str] = {}
        code = body.get("code_otp")
        if code is None:
            errors.append({"code_otp": "code_otp is required"})
        elif not isinstance(code, str) or not code:
            errors.append(
                {
                    "code_otp": wrong_type("string", code)
                    if not isinstance(code, str)
                    else "String length must be greater than or equal to 1"
                }
            )
        else:
            variables["otp"] = variables["code_otp"] = code
        for name in ("template", "template_name", "ref_id"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                errors.append({name: wrong_type("string", value)})
            elif len(value) > MAX_TEXT:
                errors.append({name: f"String length must be less than or equal to {MAX_TEXT}"})
            else:
                variables[name] = value
        if errors:
            raise LeadErrors(errors)
        assert key is not None and phone is not None
        try:
            row = await voice.find(db, account_id=caller.id, external_id=wire.external_id(key))
        except NotFound:
            raise AutocallError(404, wire.NOT_FOUND) from None
        [result] = await add(db, caller, row, [(phone, variables)])
        if result.code != ResultCode.OK or result.message_id is None:
            raise LeadErrors([{"phone_number": result_error(result.code)}])
        return JSONResponse(
            {
                "call_id": wire.call_uuid(key, result.message_id, 1),
                "lead_uuid": wire.lead_uuid(key, result.message_id),
                "message": "success",
                "ref_id": variables.get("ref_id", ""),
            }
        )

    return await guarded_leads(request, work)
