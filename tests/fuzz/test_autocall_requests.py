"""Hypothesis over the autocall dialect's request parsing, through HTTP.

Random and garbled requests against ``/v3/...`` (campaign objects with fuzzed fields,
lead and OTP bodies, broken JSON, query strings, path ids, headers), on SQLite and
PostgreSQL: the dialect never answers 5xx; an error is autocall's ``{"error": ...}``
(a string, or the lead endpoints' list of ``{field: text}``) with a status it uses;
a campaign it accepted always reads back as the full seed object.
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

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=HEALTH)
STATUSES = {200, 400, 401, 402, 404, 405, 409, 413}
SEED_UUID = "c2da23c0-9739-4287-828a-7b15cf0fb19e"
SCHEDULE = {
    f"{day}_{edge}_time": value
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for edge, value in (("start", 28800000000000), ("end", 75600000000000))
}
SEED: dict[str, Any] = {
    "campaign_uuid": SEED_UUID,
    "campaign_name": "AutocallAudio",
    "type": "autocall",
    "description": "",
    "active": True,
    "concurrent_call": 5,
    "carrier_uuid": "a18b400f-d487-4e17-b5e7-eba5fe6fa54f",
    "template_uuid": "5f427552-857e-4939-8edf-cbd0f1ef6842",
    "recall_times": 3,
    "limit_recall_duration": 0,
    "schedule_recall": "minute",
    "schedule_recall_duration": 1,
    "answer_callback_url": "",
    "status": "stop",
    "created_at": "2023-03-06T16:27:17.784242+07:00",
    "updated_at": "2023-03-06T16:27:17.784242+07:00",
    "template_name": "",
    "carrier_name": "",
    "mode_call": "direct",
    "network": {"viettel": 0, "mobi": 0, "vina": 0, "tel": 0, "offnet": 0},
    "run_id": "",
    "type_autocall": "autocall_audio",
    "call_timeout": 60,
    "domain_name": "",
    "users": [],
    "groups": [],
    "statuses": [],
    "schedules": [SCHEDULE],
    "priority_recall": "normal",
    "recall_status": ["busy", "failed", "no-answered", "not-available", "voicemail"],
    "enable_encrypt": False,
    "callback_url": "",
    "orig_campaign_uuid": "",
}


@pytest.fixture
def h(settings: Settings) -> Iterator[Harness]:
    with harness(settings) as made:
        yield made


text = st.text(max_size=20)
BIG = st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63), 10**30, 86400000000001])
scalar = st.one_of(
    text,
    st.integers(min_value=-(2**70), max_value=2**70),
    BIG,
    st.sampled_from(["", "0", "-1", "start", "pause", "stop", "busy", "parralel", "\x00"]),
)
json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
schedule = st.dictionaries(
    st.sampled_from([*SCHEDULE, "monday", "x"]),
    st.one_of(st.integers(-1, 86400000000001), BIG, json_value),
    max_size=4,
)


def field_values(name: str) -> st.SearchStrategy[Any]:
    """Fuzzed values for one field of the campaign object: anything, the seed's, or
    near-miss shapes of the field's own type."""
    own: list[st.SearchStrategy[Any]] = []
    if name == "schedules":
        own = [st.lists(schedule, max_size=2)]
    elif name == "network":
        own = [st.dictionaries(st.sampled_from([*SEED["network"], "gmobile"]), json_value)]
    elif name == "recall_status":
        outcomes = ["busy", "answered", "hung-up", "congestion", "invalid-number"]
        own = [st.lists(st.sampled_from(outcomes), max_size=3)]
    elif name == "status":
        own = [st.sampled_from(["start", "pause", "stop"])]
    return st.one_of(json_value, st.just(SEED[name]), *own)


@st.composite
def campaign_body(draw: st.DrawFn) -> dict[str, Any]:
    """The seed object for the harness's campaign with 0-3 fields fuzzed, or dropped."""
    body: dict[str, Any] = SEED | {"campaign_uuid": "{campaign}", "campaign_name": "fuzzed"}
    for name in draw(st.lists(st.sampled_from(list(SEED)), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            body.pop(name)
        else:
            body[name] = draw(field_values(name))
    return body


VALID_LEAD = {
    "list_uuid": "{campaign}",
    "campaign_uuid": "{campaign}",
    "phone_number": "0349719999",
    "code_otp": "1234",
}
lead_fields = st.fixed_dictionaries(
    {},
    optional={
        "phone_number": st.one_of(
            scalar, st.sampled_from(["0349719999", "+84349719999", "84", "0800000000"])
        ),
        "lead_name": json_value,
        "additional": st.one_of(json_value, st.dictionaries(text, json_value, max_size=3)),
        "list_uuid": st.one_of(scalar, st.just(SEED_UUID), st.just("{campaign}")),
        "campaign_uuid": st.one_of(scalar, st.just("{campaign}")),
        "code_otp": json_value,
        "ref_id": json_value,
        "template": json_value,
    },
)
lead = st.one_of(
    lead_fields,
    lead_fields.map(lambda overrides: VALID_LEAD | overrides),
    st.sampled_from([f"03326657{n:02d}" for n in range(20)]).map(
        lambda phone: VALID_LEAD | {"phone_number": phone}
    ),
)
garbage = st.binary(max_size=200)
ROUTES = [
    ("POST", "/v3/campaign"),
    ("GET", "/v3/campaign"),
    ("GET", "/v3/campaigns"),
    ("GET", "/v3/campaign/{id}"),
    ("PUT", "/v3/campaign/{id}"),
    ("DELETE", "/v3/campaign/{id}"),
    ("POST", "/v3/lead"),
    ("POST", "/v3/campaign/{id}/leads"),
    ("POST", "/v3/autocall/otp"),
    ("GET", "/v3/cdr"),
    ("GET", "/v3/campaign/{id}/cdrs"),
    ("PATCH", "/v3/campaign/{id}"),
    ("GET", "/v3/{id}"),
]
query = st.dictionaries(
    st.sampled_from(["limit", "offset", "campaign_uuid", "x"]),
    st.one_of(
        st.integers(-5, 2000).map(str),
        st.just("{campaign}"),
        st.text(max_size=12),
        st.just("99999999999999999999999"),
    ),
    max_size=3,
)


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    route = draw(st.sampled_from(ROUTES))
    body: Any
    kind = draw(
        st.sampled_from(
            ["campaign", "campaign", "campaign", "lead", "lead", "leads", "json", "raw"]
        )
    )
    if kind == "campaign":
        body = draw(campaign_body())
    elif kind == "lead":
        body = draw(lead)
    elif kind == "leads":
        body = {"leads": draw(st.one_of(json_value, st.lists(lead, max_size=4)))}
    else:
        body = draw(json_value)
    return {
        "route": route,
        "id": draw(
            st.one_of(
                st.just("{campaign}"),
                st.just("{campaign}"),
                st.just(SEED_UUID),
                text.filter(lambda t: "/" not in t and "\\" not in t and t.strip(".")),
            )
        ),
        "auth": draw(st.sampled_from(["key", "key", "key", "lower", "wrong", "none"])),
        "kind": kind,
        "body": body,
        "raw": draw(garbage),
        "query": draw(query),
    }


def fill(value: Any, campaign: str) -> Any:
    if isinstance(value, str):
        return value.replace("{campaign}", campaign)
    if isinstance(value, dict):
        return {k: fill(v, campaign) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, campaign) for v in value]
    return value


def new_campaign(h: Harness) -> str:
    r = h.request(
        "POST",
        "/v3/campaign",
        json={"campaign_name": f"fuzz {len(h.__dict__)}-{id(h)}", "type": "autocall"},
        headers=h.bearer,
    )
    if r.status_code == 400:  # the name is taken: a previous example made it
        listed = h.request("GET", "/v3/campaign?limit=1", headers=h.bearer).json()
        return str(listed["data"][0]["campaign_uuid"])
    assert r.status_code == 200, r.text
    return str(r.json()["campaign_uuid"])


def send(h: Harness, call: dict[str, Any], campaign: str) -> httpx.Response:
    method, path = call["route"]
    ident = fill(call["id"], campaign)
    path = path.replace("{id}", urllib.parse.quote(ident, safe="") or "0")
    pairs = fill(call["query"], campaign)
    if pairs:
        path += "?" + urllib.parse.urlencode(pairs)
    headers = {"content-type": "application/json"}
    if call["auth"] == "key":
        headers["authorization"] = f"Bearer {h.key}"
    elif call["auth"] == "lower":
        headers["authorization"] = f"bearer   {h.key}"
    elif call["auth"] == "wrong":
        headers["authorization"] = "Bearer " + "x" * 40
    if call["kind"] == "raw":
        content = call["raw"]
    else:
        content = json.dumps(fill(call["body"], campaign)).encode()
    return h.request(method, path, content=content, headers=headers)


def check_error(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    if isinstance(error, list):
        assert error and all(
            isinstance(item, dict)
            and len(item) == 1
            and all(isinstance(k, str) and isinstance(v, str) for k, v in item.items())
            for item in error
        ), body
    else:
        assert isinstance(error, str) and error, body


@FUZZ
@given(calls())
def test_autocall_answers_every_request_in_its_envelope(h: Harness, call: dict[str, Any]) -> None:
    campaign = new_campaign(h)
    r = send(h, call, campaign)
    event(f"{call['route'][0]} {call['route'][1]} {r.status_code}")
    assert r.status_code in STATUSES, (call, r.status_code, r.text)
    body = r.json()
    if r.status_code != 200:
        check_error(body)
        if call["auth"] in ("wrong", "none") and r.status_code not in (404, 405):
            assert r.status_code == 401, (call, body)
        return
    assert call["auth"] in ("key", "lower"), (call, body)
    assert isinstance(body, dict) and body, body
    # whatever was accepted reads back as the seed's full object
    got = h.request("GET", f"/v3/campaign/{campaign}", headers=h.bearer)
    if got.status_code == 404:  # deleted by this call
        assert call["route"][0] == "DELETE"
        return
    assert got.status_code == 200, got.text
    assert list(got.json()) == list(SEED)
    listed = h.request("GET", "/v3/campaign?limit=1000", headers=h.bearer)
    assert listed.status_code == 200, listed.text


@FUZZ
@given(st.sampled_from(["PUT", "POST"]), campaign_body())
def test_campaign_objects_are_accepted_whole_or_refused_whole(
    h: Harness, method: str, body: dict[str, Any]
) -> None:
    """Near-valid campaign objects: a 200 reads back with the values sent, a 400
    changes nothing, never anything else."""
    campaign = new_campaign(h)
    before = h.request("GET", f"/v3/campaign/{campaign}", headers=h.bearer).json()
    sent = fill(body, campaign)
    path = f"/v3/campaign/{campaign}" if method == "PUT" else "/v3/campaign"
    if method == "POST":
        sent["campaign_name"] = f"new {sent.get('campaign_name')!r}"
    r = h.request(method, path, content=json.dumps(sent).encode(), headers=h.bearer)
    event(f"{method} {r.status_code}")
    assert r.status_code in (200, 400, 409), r.text
    if r.status_code != 200:
        check_error(r.json())
        after = h.request("GET", f"/v3/campaign/{campaign}", headers=h.bearer).json()
        assert after == before
        return
    key = r.json()["campaign_uuid"]
    got = h.request("GET", f"/v3/campaign/{key}", headers=h.bearer).json()
    assert list(got) == list(SEED)
    for name in ("concurrent_call", "call_timeout", "type", "type_autocall", "network"):
        if sent.get(name) is not None and name != "network":
            assert got[name] == sent[name], name
    if method == "POST":  # keep the account small: one campaign per example
        h.request("DELETE", f"/v3/campaign/{key}", headers=h.bearer)
