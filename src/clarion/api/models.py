"""Pydantic shapes of the native /v1 API. Money is a decimal string on the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from clarion.domain import text
from clarion.domain.text import NUL_MESSAGE, nul_path

PHONE_MAX = 64
INT64_MAX = 2**63 - 1
# An id the databases can hold (BIGINT): a larger one is a 422, never a driver error.
RowId = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]


class Strict(BaseModel):
    """A request body: unknown fields and NUL characters in any text are 422s."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return value if isinstance(value, BaseModel) else text.checked(value)


def reject_nul(request: Request) -> None:
    """A router dependency: a query or path parameter holding NUL is a 422 (a body is
    checked by :class:`Strict`)."""
    for where, params in (("query", request.query_params), ("path", request.path_params)):
        for name, value in params.items():
            if nul_path(name) is not None or nul_path(value) is not None:
                raise RequestValidationError(
                    [{"loc": (where, name), "msg": NUL_MESSAGE, "type": "value_error"}]
                )


class FallbackIn(Strict):
    """The alternative SMS of an RCS campaign: sent once to each recipient whose RCS
    message is not delivered (not RCS-capable, failed, or expired)."""

    text: Annotated[str, Field(min_length=1, max_length=2000)]
    sender: Annotated[str, Field(max_length=64)] = ""
    validity_minutes: Annotated[int, Field(gt=0, le=4320)] | None = None
    check_stop_list: bool = True


class CampaignCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    channel: Literal["sms", "rcs", "voice"] = "sms"
    type: Literal["single", "mass", "template"] = "mass"
    sender: Annotated[str, Field(max_length=64)] = ""
    text: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None, description="The SMS text (required for sms; rcs campaigns use content)."
    )
    content: dict[str, Any] | None = Field(
        None,
        description=(
            "RCS content, BSG's options object: {text} (<= 160) or {cards: [{title, text, "
            "media: {url}, suggestions: [{type: link|call, text, url|phone}]}]}."
        ),
    )
    fallback: FallbackIn | None = None
    voice: dict[str, Any] | None = Field(
        None,
        description=(
            "Voice settings (voice campaigns; see docs/voice.md): type, type_autocall, "
            "template, dialer auto|preview|predictive, agents, concurrent_call, "
            "call_timeout, mode_call, max_call_minutes, recall {recall_times, "
            "recall_status, schedule_recall, schedule_recall_duration, "
            "limit_recall_duration, priority_recall}, hours and quiet_hours (autocall "
            "schedules: ns since local midnight), timezone, network {viettel, mobi, vina, "
            "tel, offnet}, callback_url, answer_callback_url, description, carrier. "
            "`text` is the template and `sender` the caller id."
        ),
    )
    check_stop_list: bool = True
    rate_limit: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    rate_period: Annotated[int, Field(gt=0, le=86_400)] | None = None
    start_at: AwareDatetime | None = None
    validity_minutes: Annotated[int, Field(gt=0)] | None = None
    placeholders_flag: Literal[1, 2, 3] = 3
    mclass: Literal[0, 1] | None = None


class CampaignPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    type: Literal["single", "mass", "template"] | None = None
    sender: Annotated[str, Field(max_length=64)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    rate_limit: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    rate_period: Annotated[int, Field(gt=0, le=86_400)] | None = None
    start_at: AwareDatetime | None = None
    validity_minutes: Annotated[int, Field(gt=0)] | None = None
    placeholders_flag: Literal[1, 2, 3] | None = None
    mclass: Literal[0, 1] | None = None


class Campaign(BaseModel):
    id: int
    name: str
    channel: str
    type: str
    sender: str
    text: str
    status: str
    pause_reason: str | None
    rate_limit: int | None
    rate_period: int | None
    start_at: datetime | None
    validity_minutes: int | None
    placeholders_flag: int
    mclass: int | None
    price_per_segment: Decimal
    spent: Decimal
    recipients_rejected: int
    created_at: datetime
    started_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None
    content: dict[str, Any] | None = Field(None, description="RCS content (rcs campaigns).")
    voice: dict[str, Any] | None = Field(None, description="Voice settings (voice campaigns).")

    @classmethod
    def of(cls, row: Any) -> Campaign:
        values = dict(row._mapping)
        values["content"] = (values.get("settings") or {}).get("rcs")
        values["voice"] = (values.get("settings") or {}).get("voice")
        return cls.model_validate(values)


class CampaignPage(BaseModel):
    items: list[Campaign]
    total: int
    limit: int
    offset: int


class RecipientIn(Strict):
    phone: Annotated[str, Field(max_length=PHONE_MAX)] | int | None
    variables: dict[Annotated[str, Field(max_length=64)], str] = Field(default_factory=dict)


class RecipientsIn(Strict):
    """Exactly one source: phone numbers, address-book contacts, or contact cards."""

    recipients: list[RecipientIn] | None = None
    contacts: list[RowId] | None = None
    cards: list[RowId] | None = None
    replace: bool = False


class GroupsIn(Strict):
    groups: Annotated[list[RowId], Field(min_length=1, max_length=1000)]
    replace: bool = False


class RecipientOut(BaseModel):
    phone: str
    code: int
    message_id: int | None
    normalized: str | None = None
    contact_id: int | None = None
    card_id: int | None = None


class Task(BaseModel):
    id: int
    kind: str
    status: str
    campaign_id: int | None
    total: int
    done: int
    progress: int
    counts: dict[str, int]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Task:
        data = dict(row._mapping)
        total, done = int(data["total"] or 0), int(data["done"] or 0)
        if data["status"] == "DONE":
            progress = 100
        elif total:
            progress = min(99, done * 100 // total)
        else:
            progress = 0
        data["progress"] = progress
        data["counts"] = data.get("counts") or {}
        return cls.model_validate(data)


class RecipientsOut(BaseModel):
    code: int = Field(description="0 all added, 98 some, 99 none (Mobizon's overall result)")
    added: int
    rejected: int
    recipients: list[RecipientOut]


class FallbackStats(BaseModel):
    messages: dict[str, int]
    segments: dict[str, int]
    cost: Decimal
    estimated_cost: Decimal
    total_messages: int
    total_segments: int


class Stats(FallbackStats):
    fallback: FallbackStats | None = Field(
        None, description="The SMS fallback messages of an RCS campaign, counted apart."
    )


class Message(BaseModel):
    id: int
    phone: str
    country: str
    operator: str
    variables: dict[str, str] | None
    text: str | None
    segments: int
    price: Decimal
    charged: Decimal
    status: str
    attempts: int
    channel_ref: str | None
    error_code: str | None
    created_at: datetime
    status_updated_at: datetime | None


class MessagePage(BaseModel):
    items: list[Message]
    total: int
    limit: int
    offset: int


class RetryOut(BaseModel):
    campaign: Campaign
    requeued: int


class AccountOut(BaseModel):
    id: int
    name: str
    balance: Decimal
    currency: str


class AuditEvent(BaseModel):
    action: str
    from_status: str | None
    to_status: str | None
    detail: str | None
    at: datetime


class VoicePatch(Strict):
    """Voice settings to change (merged into the current ones; same fields as
    ``voice`` at creation)."""

    voice: dict[str, Any]


class CallOut(BaseModel):
    """One call attempt and its CDR."""

    id: int
    call_id: str
    campaign_id: int
    message_id: int
    attempt: int
    phone: str
    caller_id: str
    outcome: str
    start_time: str
    answer_time: str | None
    end_time: str
    duration: int
    billsec: int
    hangup_cause: str
    cost: Decimal
    agent: str | None
    abandoned: bool


class CallPage(BaseModel):
    items: list[CallOut]
    next_after_id: int | None = Field(
        description="Pass as after_id for the next page; null on the last page."
    )


class VoiceStatsOut(BaseModel):
    recipients: int
    waiting: int = Field(description="To be called: first calls and recalls to come")
    in_progress: int
    answered: int
    unreached: int = Field(description="Finished without an answer")
    attempts: int
    outcomes: dict[str, int]
    cost: Decimal
