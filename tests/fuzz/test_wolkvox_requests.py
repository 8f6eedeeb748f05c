"""Hypothesis over the wolkvox dialect's request parsing, through HTTP.

Random and garbled requests to ``/api/v2/campaign.php``, ``information.php`` and
``reports_manager.php`` (``api=`` names, HTTP methods, query parameters, JSON and raw
bodies, tokens), on SQLite and PostgreSQL: the answer is never a 5xx, always wolkvox's
``{code, error, msg}`` envelope (``data`` on some successes) with the HTTP status equal
to ``code``, and the checks wolkvox makes before any handler runs give their codes.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.fuzz.harness import Harness, harness

from clarion.config import Settings
from clarion.dialects.wolkvox import campaign as endpoints
from clarion.dialects.wolkvox import wire
from clarion.domain.voice.config import VoiceConfig
from clarion.services import voice

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=HEALTH)

PAGES = {
    "campaign.php": endpoints.API_CAMPAIGN,
    "information.php": endpoints.API_INFORMATION,
    "reports_manager.php": endpoints.API_REPORTS,
}
CODES = {200, 201, 202, 400, 401, 403, 404, 405, 408, 412, 413, 416}
PARAMS = ["type_campaign", "campaign_id", "date_ini", "date_end", "campaign_status"]


@pytest.fixture
def h(settings: Settings) -> Iterator[tuple[Harness, int]]:
    with harness(settings) as made:
        row = made.run(
            voice.create(
                made.db,
                account_id=made.account_id,
                spec=voice.VoiceSpec(
                    name="fuzz", config=VoiceConfig(dialer="predictive", agents=5)
                ),
                settings=settings,
            )
        )
        yield made, int(row.id)


text = st.text(max_size=20)
nul_text = st.text(alphabet=st.sampled_from("ab1\x00 +-%&="), max_size=8)
scalar = st.one_of(
    text,
    nul_text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "",
            "0",
            "1",
            "9223372036854775807",
            "9223372036854775808",
            "preview",
            "predictive",
            "PREDICTIVE",
            "20260301000000",
            "20260401000000",
            "20261399250000",
            "2026-03-01",
        ]
    ),
)
json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
record = st.dictionaries(
    st.sampled_from([*endpoints.FIELDS, "other"]),
    st.one_of(
        json_value,
        st.sampled_from(["573001234567", "573001234568", "12", "+573001234569", "a\x00b"]),
    ),
    max_size=6,
)
body = st.one_of(st.lists(record, max_size=3), record, json_value)


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    page = draw(st.sampled_from(["campaign.php", "campaign.php", *sorted(PAGES)]))
    table = PAGES[page]
    # Mostly a known api with its own method, so that the fuzz reaches the handlers.
    api = draw(st.sampled_from(sorted(table))) if draw(st.integers(0, 9)) < 8 else draw(text)
    method = draw(st.sampled_from(endpoints.METHODS))
    if api in table and draw(st.integers(0, 9)) < 7:
        method = table[api][0]
    params = draw(st.dictionaries(st.sampled_from(PARAMS) | text, scalar, max_size=5))
    if draw(st.integers(0, 9)) < 6:
        params.setdefault("type_campaign", "predictive")
        params.setdefault("campaign_id", "{id}")
    return {
        "page": page,
        "api": api,
        "method": method,
        "params": params,
        "token": draw(st.sampled_from(["valid", "valid", "valid", "wrong", "none", "blank"])),
        "body": draw(st.one_of(st.none(), body)),
        "raw": draw(st.one_of(st.none(), st.none(), st.binary(max_size=200))),
    }


def send(h: Harness, campaign_id: int, call: dict[str, Any]) -> httpx.Response:
    pairs = [("api", call["api"])] + [
        (k, str(v).replace("{id}", str(campaign_id))) for k, v in call["params"].items()
    ]
    query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    headers: dict[str, str] = {}
    if call["token"] == "valid":
        headers["wolkvox-token"] = h.key
    elif call["token"] == "wrong":
        headers["wolkvox-token"] = "7b69645f6469737472697d2d32303234303532"
    elif call["token"] == "blank":
        headers["wolkvox-token"] = " "
    content: bytes | None = call["raw"]
    if content is None and call["body"] is not None:
        content = json.dumps(call["body"]).encode()
        headers["content-type"] = "application/json"
    return h.request(
        call["method"], f"/api/v2/{call['page']}?{query}", content=content, headers=headers
    )


def expected(call: dict[str, Any]) -> int | None:
    """The code wolkvox's checks give before the handler runs, or None."""
    if any("\x00" in f"{k}{v}" for k, v in call["params"].items()) or "\x00" in call["api"]:
        return 400
    table = PAGES[call["page"]]
    if call["api"].strip() not in table or "api" in call["params"]:
        return None  # (a second ``api`` in the query may win)
    method, _ = table[call["api"].strip()]
    if call["method"] != method:
        return 405
    if call["token"] in ("none", "blank"):
        return 401
    if call["token"] == "wrong":
        return 403
    return None


@FUZZ
@given(calls())
def test_wolkvox_answers_every_request_with_its_envelope(
    h: tuple[Harness, int], call: dict[str, Any]
) -> None:
    harness_, campaign_id = h
    r = send(harness_, campaign_id, call)
    known = call["api"] in PAGES[call["page"]]
    event(f"{call['page']} {call['api'] if known else '?'} {r.status_code}")
    assert r.status_code in CODES, (call, r.status_code, r.text)
    body = r.json()
    assert isinstance(body, dict), body
    assert set(body) - {"data"} == {"code", "error", "msg"}, body
    assert body["code"] == r.status_code
    assert isinstance(body["msg"], str) and body["msg"]
    assert body["error"] == wire.REASONS[r.status_code], body
    if "data" in body:
        assert r.status_code < 300 and isinstance(body["data"], list), body
    want = expected(call)
    if want is not None:
        assert r.status_code == want, (call, body)


@pytest.mark.parametrize("campaign_id", ["9223372036854775808", "-9223372036854775809", "1e3"])
def test_ids_beyond_bigint_are_not_found(h: tuple[Harness, int], campaign_id: str) -> None:
    harness_, _ = h
    r = harness_.request(
        "PUT",
        f"/api/v2/campaign.php?api=start&type_campaign=predictive&campaign_id={campaign_id}",
        headers={"wolkvox-token": harness_.key},
    )
    assert r.status_code == 404
    assert r.json()["error"] == "NOT FOUND"
