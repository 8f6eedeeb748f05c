"""Hypothesis over the Huawei CC-iSales dialect's request parsing, through HTTP.

Random and garbled requests under ``/rest/isales/`` (methods, paths, path ids, query
strings, JSON and raw bodies, Authorization headers; most of them correctly signed so
that parsing is reached), on SQLite and PostgreSQL: the answer is never a 5xx, always
the iSales envelope (``resultCode`` = ``returnCode``, a known code, descriptions as
strings), HTTP 401 only for an authentication failure, 404 only for a path that is no
interface, 200 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.fuzz.harness import BASE_URL, Harness, harness

from clarion.config import Settings
from clarion.dialects.isales import credentials, wire
from clarion.domain.voice.config import VoiceConfig
from clarion.services import voice
from clarion.services.campaigns import RecipientInput

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=HEALTH)
HOST = httpx.URL(BASE_URL).host
CODES = {
    value
    for name, value in vars(wire).items()
    if name.isupper() and isinstance(value, str) and value.startswith("020")
}


@pytest.fixture
def h(settings: Settings) -> Iterator[tuple[Harness, str, str, str]]:
    with harness(settings) as made:
        ak, sk = made.run(credentials(made.db, settings, made.key))
        # campaign 1 exists, with a number, so status changes and call data get far
        row = made.run(
            voice.create(
                made.db,
                account_id=made.account_id,
                spec=voice.VoiceSpec(
                    name="fuzz",
                    config=VoiceConfig(dialer="predictive", agents=5),
                    external_id=f"isales:{made.account_id}:1",
                ),
                settings=settings,
            )
        )
        made.run(
            voice.add_numbers(
                made.db,
                account_id=made.account_id,
                campaign_id=row.id,
                entries=[RecipientInput("77010000001")],
            )
        )
        yield made, ak, sk, str(made.account_id)


text = st.text(max_size=20)
scalar = st.one_of(
    text,
    st.text(alphabet=st.sampled_from("08:#*\x00\x1b a1-"), max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(
        ["", "0", "1", "2", "5", "08:00", "23:59", "24:00", "8", "2026-03-01 00:00:00", "10085"]
    ),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
json_value: st.SearchStrategy[Any] = st.recursive(
    scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "name",
    "description",
    "strBeginTime",
    "strEndTime",
    "deviceType",
    "callerNo",
    "maxAlertingTime",
    "scheduleParam",
    "ivrParam",
    "skillParam",
    "initStatus",
    "callBackUrl",
    "retryPolicy",
    "priority",
    "callDataList",
    "archiveHistory",
]
schedule = st.dictionaries(
    st.sampled_from(["workdayBeginTime1", "workdayEndTime1", "holidayBeginTime2", "x"]),
    scalar,
    max_size=4,
)
call_data = st.lists(
    st.dictionaries(
        st.sampled_from(["sessionId", "called", "caller", "callData", "customField"]),
        st.one_of(scalar, st.lists(scalar, max_size=3)),
        max_size=5,
    ),
    max_size=4,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | text, json_value, max_size=8),
    st.fixed_dictionaries(
        {
            "name": text,
            "strBeginTime": st.sampled_from(["2099-01-01 00:00:00", "2026-01-01", "x"]),
            "strEndTime": st.sampled_from(["2099-02-01 00:00:00", ""]),
            "deviceType": st.sampled_from([1, 2, 3, 5, 6, "2", 4, None]),
            "callerNo": st.one_of(scalar, st.lists(st.dictionaries(text, scalar), max_size=2)),
            "maxAlertingTime": scalar,
            "scheduleParam": schedule,
            "skillParam": st.dictionaries(st.sampled_from(["skillId", "x"]), scalar),
            "ivrParam": st.dictionaries(st.sampled_from(["flowAccessCode", "maxCallNum"]), scalar),
            "retryPolicy": st.dictionaries(st.sampled_from(["policyType", "policyJson"]), scalar),
        }
    ),
    st.fixed_dictionaries({"callDataList": call_data}),
    json_value,
)
ids = st.one_of(
    st.integers(min_value=-5, max_value=2**66).map(str),
    st.sampled_from(["1", "0", "9999", "10000", "abc", "1.5", "%00", "%20", "-1", "+1"]),
)
PATHS = [
    ("POST", "/rest/isales/v1/openapi/campaigns/{vdn}"),
    ("POST", "/rest/isales/v2/openapi/campaigns/{vdn}"),
    ("GET", "/rest/isales/v1/openapi/campaigns/{vdn}"),
    ("GET", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}"),
    ("DELETE", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}"),
    ("PUT", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}/start"),
    ("PUT", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}/pause"),
    ("PUT", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}/resume"),
    ("PUT", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}/stop"),
    ("POST", "/rest/isales/v1/openapi/campaigns/{vdn}/calldata/{id}"),
    ("POST", "/rest/isales/v2/openapi/campaigns/{vdn}/calldata/{id}"),
    ("PATCH", "/rest/isales/v1/openapi/campaigns/{vdn}/{id}"),
    ("GET", "/rest/isales/v3/{id}"),
]
queries = st.lists(
    st.tuples(
        st.sampled_from(["name", "status", "deviceType", "curPage", "rowsPerPage", "beginTime"])
        | text,
        st.one_of(scalar.map(str), text),
    ),
    max_size=4,
)


def sign(ak: str, sk: str, request: httpx.Request, stamp: str) -> str:
    names = ["content-type", "host"]
    prefix = f"{wire.AUTH_VERSION}/{ak}/{stamp}/{';'.join(names)}"
    canonical = wire.canonical_request(
        request.method,
        request.url.raw_path.split(b"?")[0].decode("latin-1"),
        list(httpx.QueryParams(request.url.query).multi_items()),
        names,
        {"content-type": request.headers["content-type"], "host": request.headers["host"]},
        request.content,
    )
    return f"{prefix}/{wire.sign(sk, prefix, canonical)}"


def check(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code in (200, 401, 404), (r.status_code, r.text)
    data: dict[str, Any] = r.json()
    assert data["resultCode"] == data["returnCode"], data
    assert data["resultCode"] in CODES, data
    assert isinstance(data["resultDesc"], str) and data["resultDesc"] == data["returnDesc"]
    if r.status_code == 401:
        assert data["resultCode"] == wire.PARAMETER
        assert "Authentication failed" in data["resultDesc"]
    if r.status_code == 404:
        assert data["resultDesc"].endswith("No such interface.")
    return data


@FUZZ
@given(
    route=st.sampled_from(PATHS),
    method=st.sampled_from(["", "", "", "", "", "", "", "GET", "POST", "PUT"]),
    vdn=st.sampled_from(["own", "own", "own", "own", "x"]).flatmap(
        lambda v: st.just(v) if v == "own" else ids
    ),
    campaign=st.one_of(st.just("1"), st.just("1"), ids),
    query=queries,
    body=st.one_of(bodies.map(lambda b: json.dumps(b).encode()), st.binary(max_size=200)),
    auth=st.sampled_from(["signed", "signed", "signed", "signed", "none", "garbage", "bearer"]),
    garbage=st.text(max_size=60),
)
def test_isales_requests_never_fail_the_server(
    h: tuple[Harness, str, str, str],
    route: tuple[str, str],
    method: str,
    vdn: str,
    campaign: str,
    query: list[tuple[str, str]],
    body: bytes,
    auth: str,
    garbage: str,
) -> None:
    harness_, ak, sk, own = h
    verb = method or route[0]
    path = route[1].format(vdn=own if vdn == "own" else vdn, id=campaign)
    request = harness_.client.build_request(
        verb,
        path,
        params=tuple(query),
        content=body,
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if auth == "signed":
        request.headers["Authorization"] = sign(ak, sk, request, stamp)
    elif auth == "garbage":
        request.headers["Authorization"] = garbage.encode("ascii", "ignore").decode()
    elif auth == "bearer":
        request.headers["Authorization"] = f"Bearer {harness_.key}"
    r = harness_.run(harness_.client.send(request))
    data = check(r)
    event(f"{r.status_code} {data['resultCode']}")
    if auth != "signed":
        assert r.status_code in (401, 404)
