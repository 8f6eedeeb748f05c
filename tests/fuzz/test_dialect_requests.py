"""Hypothesis over every dialect's request parsing, through HTTP.

Random and garbled requests (module and method names, query strings, bodies in every
content type, broken bytes, wrong keys) against the Mobizon dialect (``/service/...``)
and the BSG dialect (``/api/...``), on SQLite and PostgreSQL:

* Mobizon answers HTTP 200 with its envelope every time; the code is the one its
  wire rules give (6 output, 4 module, 5 method, 8 key, in that order) and never 3
  (an unhandled exception) or 999 (a database error);
* BSG never answers 5xx; an error is its Laravel-style ``{"message": ...}`` with a
  status BSG uses, and a 422 carries ``errors``.
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
from clarion.dialects.mobizon import wire

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=HEALTH)


@pytest.fixture
def h(settings: Settings) -> Iterator[Harness]:
    with harness(settings) as made:
        yield made


# --- shared value strategies -----------------------------------------------------------

text = st.text(max_size=20)
BIG = st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1])  # BIGINT edges
scalar = st.one_of(
    text,
    st.integers(min_value=-(2**70), max_value=2**70),
    BIG,
    st.sampled_from(["", "0", "1", "-1", "9223372036854775808", "2026-01-01 10:00:00"]),
)
json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
garbage = st.binary(max_size=300)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/vnd.api+json",
        "",
        "application/json; charset=utf-16",
    ]
)

# --- Mobizon ----------------------------------------------------------------------------

MOBIZON_METHODS = sorted(wire.HANDLERS)
MOBIZON_FIELDS = [
    "id",
    "ids",
    "data",
    "recipients",
    "recipient",
    "text",
    "from",
    "to",
    "criteria",
    "pagination",
    "sort",
    "params",
    "type",
    "name",
    "groupIds",
    "deferredToTs",
    "validity",
    "rateLimit",
    "ratePeriod",
    "placeholdersFlag",
    "campaignIds",
    "fullLink",
    "status",
    "value",
    "replace",
    "dateFrom",
    "dateTo",
    "currentPage",
    "pageSize",
    "recipientsFileEncoding",
    "data[text]",
    "data[from]",
    "recipients[]",
    "criteria[status]",
    "pagination[pageSize]",
]
php_tree: st.SearchStrategy[Any] = st.recursive(
    scalar,
    lambda children: st.dictionaries(st.sampled_from(MOBIZON_FIELDS) | text, children, max_size=3),
    max_leaves=10,
)
mobizon_params = st.dictionaries(st.sampled_from(MOBIZON_FIELDS) | text, php_tree, max_size=6)


def php_pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}[{k}]", v)
        else:
            pairs.append((prefix, str(node)))

    for key, node in params.items():
        walk(key, node)
    return pairs


def _no_dot_segment(text: str) -> bool:
    return all(segment not in (".", "..") for segment in text.split("/"))


@st.composite
def mobizon_calls(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 9)) < 8:
        module, method = draw(st.sampled_from(MOBIZON_METHODS))
        module = draw(st.sampled_from([module, module.upper(), module.title()]))
    else:
        # (line breaks too: the catch-all's ``{rest:anypath}`` matches a "%0A"; no
        # surrogates, which no client can send, nor "." / ".." segments, which the
        # client would resolve out of /service/)
        module = draw(st.text("abcdefgxyz/.%", min_size=1, max_size=10).filter(_no_dot_segment))
        method = draw(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
                _no_dot_segment
            )
        )
    return {
        "module": module,
        "method": method,
        "output": draw(st.sampled_from([None, None, None, "json", "", "xml"])),
        "key": draw(st.sampled_from(["valid", "valid", "valid", "wrong", "none"])),
        "params": draw(mobizon_params),
        "transport": draw(st.sampled_from(["query", "form", "json", "multipart", "raw"])),
        "raw": draw(garbage),
        "raw_type": draw(content_types),
        "json": draw(json_value),
        "extra_query": draw(st.text(max_size=30)),
    }


def send_mobizon(h: Harness, call: dict[str, Any]) -> httpx.Response:
    query: list[tuple[str, str]] = [("api", "v1")]
    if call["output"] is not None:
        query.append(("output", call["output"]))
    if call["key"] == "valid":
        query.append(("apiKey", h.key))
    elif call["key"] == "wrong":
        query.append(("apiKey", "x" * 40))
    method = "POST"
    kwargs: dict[str, Any] = {}
    params = php_pairs(call["params"])
    if call["transport"] == "query":
        method = "GET"
        query += params
    elif call["transport"] == "form":
        kwargs["content"] = urllib.parse.urlencode(params).encode()
        kwargs["headers"] = {"content-type": "application/x-www-form-urlencoded"}
    elif call["transport"] == "json":
        body = call["params"] if call["json"] is None else call["json"]
        kwargs["content"] = json.dumps(body).encode()
        kwargs["headers"] = {"content-type": "application/json"}
    elif call["transport"] == "multipart":
        kwargs["files"] = [
            (name, (None, value.encode("utf-8", "surrogatepass"))) for name, value in params
        ] or {"x": (None, b"")}
    else:
        kwargs["content"] = call["raw"]
        kwargs["headers"] = {"content-type": call["raw_type"]}
    path = "/service/" + urllib.parse.quote(call["module"], safe="/") + "/"
    path += urllib.parse.quote(call["method"], safe="")
    url = (
        path
        + "?"
        + urllib.parse.urlencode(query)
        + "&"
        + urllib.parse.quote(call["extra_query"], safe="=&[]")
    )
    return h.request(method, url, **kwargs)


def expected_codes(call: dict[str, Any]) -> set[int] | None:
    """The codes Mobizon's checks can give before any handler runs, or None."""
    if call["transport"] == "raw" or "=" in call["extra_query"]:
        return None  # the body or the extra query may itself name output / apiKey
    module, method = call["module"].lower(), call["method"].lower()
    if "/" in module or "/" in method or not module or not method:
        return None  # another route shape; still an envelope
    if call["output"] not in (None, "", "json"):
        return {wire.BAD_FORMAT}
    if module not in wire.MODULES:
        return {wire.UNKNOWN_MODULE}
    if (module, method) not in wire.HANDLERS:
        return {wire.UNKNOWN_METHOD}
    if call["key"] != "valid" and "apiKey" not in call["params"]:
        return {wire.AUTH_FAILED, wire.PARAMETER_LIMIT}  # the body (maybe holding the key) first
    return None


@FUZZ
@given(mobizon_calls())
def test_mobizon_answers_every_request_with_its_envelope(h: Harness, call: dict[str, Any]) -> None:
    r = send_mobizon(h, call)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"code", "data", "message"}, body
    assert isinstance(body["code"], int) and isinstance(body["message"], str)
    event(f"code {body['code']}")
    assert body["code"] not in (wire.APPLICATION_ERROR, wire.GENERAL_ERROR), (call, body)
    expected = expected_codes(call)
    if expected is not None:
        assert body["code"] in expected, (call, body)
    elif call["key"] == "valid" and call["transport"] != "raw":
        assert body["code"] != wire.AUTH_FAILED or "apiKey" in call["params"], (call, body)


# --- BSG --------------------------------------------------------------------------------

BSG_FIELDS = [
    "api_key",
    "sender",
    "options",
    "phones",
    "phone",
    "groups",
    "validity",
    "validity_seconds",
    "alternative_channel",
    "start_at",
    "tariff_code",
    "check_stop_list",
    "add_to_contact_book",
    "callback_url",
]
phone_entry = st.fixed_dictionaries(
    {"number": st.one_of(scalar, st.sampled_from(["77010000001", "77010000002", 77010000003]))},
    optional={"reference_id": scalar},
)
options = st.one_of(
    json_value,
    st.fixed_dictionaries({"text": st.one_of(scalar, st.just("Hello"))}),
    st.fixed_dictionaries(
        {
            "cards": st.lists(
                st.dictionaries(st.sampled_from(["title", "text", "media"]), json_value)
            )
        }
    ),
)
bsg_body = st.fixed_dictionaries(
    {},
    optional={
        "api_key": scalar,
        "sender": st.one_of(scalar, st.just("Clarion")),
        "options": options,
        "phones": st.one_of(json_value, st.lists(phone_entry, max_size=3)),
        "phone": st.one_of(json_value, phone_entry),
        "groups": st.one_of(json_value, st.lists(st.integers(-3, 3) | BIG, max_size=3)),
        "validity": json_value,
        "validity_seconds": json_value,
        "alternative_channel": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "sms": st.dictionaries(
                        st.sampled_from(["text", "sender", "validity"]), json_value
                    )
                }
            ),
        ),
        "start_at": st.one_of(scalar, st.just("2030-01-01 10:00:00")),
        "tariff_code": json_value,
        "check_stop_list": json_value,
        "add_to_contact_book": json_value,
        "callback_url": json_value,
    },
)
# A body every send endpoint accepts, with some fields replaced by fuzzed ones, so
# that the fuzz reaches past the first validation error.
VALID_BSG = {
    "sender": "Clarion",
    "options": {"text": "Hello"},
    "phones": [{"number": "77010000001"}],
    "phone": {"number": "77010000002"},
    "groups": [1],
}
near_valid_bsg = bsg_body.map(lambda overrides: VALID_BSG | overrides)
BSG_ROUTES = [
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/campaigns/rcs/send"),
    ("POST", "/api/campaigns/rcs/send-groups"),
    ("POST", "/api/messages/rcs/send"),
    ("GET", "/api/campaigns/{id}"),
    ("PUT", "/api/campaigns/{id}/renew"),
    ("PATCH", "/api/campaigns/{id}/stop"),
]
BSG_STATUSES = {200, 401, 404, 413, 422, 429}


@st.composite
def bsg_calls(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "route": draw(st.sampled_from(BSG_ROUTES)),
        "id": draw(
            st.one_of(
                st.integers(-3, 5).map(str),
                st.just("9223372036854775808"),
                # a path segment (a "/" or a dot segment would make another path)
                text.filter(lambda t: "/" not in t and "\\" not in t and t.strip(".")),
            )
        ),
        "auth": draw(st.sampled_from(["key", "key", "bearer", "bsg-bearer", "wrong", "none"])),
        "body": draw(st.one_of(near_valid_bsg, near_valid_bsg, bsg_body, json_value)),
        "raw": draw(st.one_of(st.none(), garbage)),
        "raw_type": draw(content_types),
    }


def send_bsg(h: Harness, call: dict[str, Any], token: str) -> httpx.Response:
    method, path = call["route"]
    path = path.replace("{id}", urllib.parse.quote(call["id"], safe="") or "0")
    headers = {"content-type": call["raw_type"] if call["raw"] is not None else "application/json"}
    if call["auth"] == "key":
        headers["x-api-key"] = h.key
    elif call["auth"] == "bearer":
        headers["authorization"] = f"Bearer {token}"
    elif call["auth"] == "bsg-bearer":
        headers["authorization"] = f"Bearer: {token}"
    elif call["auth"] == "wrong":
        headers["authorization"] = "Bearer not.a.token"
    content = call["raw"] if call["raw"] is not None else json.dumps(call["body"]).encode()
    return h.request(method, path, content=content, headers=headers)


@FUZZ
@given(bsg_calls())
def test_bsg_answers_bad_input_with_its_own_errors(h: Harness, call: dict[str, Any]) -> None:
    token = h.run(h.client.post("/api/auth/login", json={"api_key": h.key})).json()["bearer"]
    r = send_bsg(h, call, token)
    event(f"{call['route'][1]} {r.status_code}")
    assert r.status_code in BSG_STATUSES, (call, r.status_code, r.text)
    body = r.json()
    assert isinstance(body, dict)
    if r.status_code == 200:
        assert "bearer" in body or "data" in body
        return
    assert isinstance(body.get("message"), str), body
    if r.status_code == 422:
        assert "errors" in body, body
    if call["auth"] in ("wrong", "none") and call["route"][1] != "/api/auth/login":
        assert r.status_code == 401, (call, body)


@pytest.mark.parametrize("group", [2**63, -(2**63) - 1, 2**64])
def test_bsg_group_ids_beyond_bigint_are_invalid(h: Harness, group: int) -> None:
    """Found by this fuzz on PostgreSQL: such an id reached the driver (a 500)."""
    body = {"sender": "Clarion", "options": {"text": "Hi"}, "groups": [1, group]}
    r = h.request("POST", "/api/campaigns/rcs/send-groups", json=body, headers={"x-api-key": h.key})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == "The given data was invalid."
    assert list(r.json()["errors"]) == ["groups1"]
