"""Schemathesis against the native ``/v1`` OpenAPI document, in process.

Every operation of ``/openapi.json`` under ``/v1`` gets a bounded number of generated
requests (valid and invalid), sent through ``httpx.ASGITransport`` to an app whose
database (SQLite, and PostgreSQL when configured) holds one account with a campaign,
recipients, a contact card, a group, a short link and stop-list entries, so that
small generated ids hit real rows. Each response must not be a 5xx and must conform
to the schema: a documented status code, the documented content type, and a body
that validates against the documented schema (``application/problem+json`` for
errors).

On SQLite each operation runs schemathesis' deterministic coverage phase (boundary
values, missing and malformed fields, missing auth) and CLARION_FUZZ_EXAMPLES (6)
random examples; on PostgreSQL (where an out-of-range integer is a driver error, not
a silent row miss) the random examples only, to keep the suite fast. Raise
CLARION_FUZZ_EXAMPLES for a deeper manual run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.generation.case import Case
from tests.fuzz.harness import BASE_URL, Harness, harness
from tests.helpers import add_phones, make_campaign, phones

from clarion.api.app import create_app
from clarion.config import Settings

EXAMPLES = int(os.environ.get("CLARION_FUZZ_EXAMPLES", "6"))
PG_EXAMPLES = EXAMPLES
PG_ENV = "CLARION_TEST_DATABASE_URL"

schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="sqlite://", web_secret="s" * 32)).openapi()
).include(path_regex="^/v1/")

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def send(h: Harness, case: Case) -> httpx.Response:
    """The case as schemathesis would send it (with the account's key), through httpx."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=h.bearer)
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers"),
        "params": kwargs.get("params"),
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    if kwargs.get("files") is not None:
        request["files"] = [(name, _part(*part)) for name, part in kwargs["files"]]
        request["data"] = kwargs.get("data")
    elif isinstance(kwargs.get("data"), bytes | str):
        request["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        request["data"] = kwargs["data"]
    built = h.client.build_request(**request)
    built.read()  # a multipart body is a stream; schemathesis reads it back
    return h.run(h.client.send(built))


def _part(filename: str | None, value: Any, *rest: Any) -> tuple[Any, ...]:
    """A multipart part as httpx takes it: bytes (requests would also take numbers)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    elif not isinstance(value, bytes):
        value = str(value).encode()
    return (filename, value, *rest)


async def _seed(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    campaign = await make_campaign(client, headers, type="template", text="Hi {name}")
    await add_phones(client, headers, campaign["id"], phones(3))
    await make_campaign(client, headers)
    r = await client.post(
        "/v1/contact-cards",
        json={"name": "Ann", "contacts": [{"type": "mobile", "value": "+77010000009"}]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post("/v1/contact-groups", json={"name": "friends"}, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.post("/v1/links", json={"full_link": "https://example.com/"}, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.post("/v1/stop-list", json={"phones": ["+77010000001"]}, headers=headers)
    assert r.status_code == 200, r.text


@pytest.fixture
def target(settings: Settings) -> Iterator[Harness]:
    with harness(settings) as h:
        h.run(_seed(h.client, h.bearer))
        yield h


HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=HEALTH)
def test_v1_conforms(case: Case, target: Harness) -> None:
    response = send(target, case)
    case.validate_response(response, checks=CHECKS)


if os.environ.get(PG_ENV):  # no PostgreSQL: nothing collected (rather than 59 skips)

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    @schema.parametrize()
    @settings(
        max_examples=PG_EXAMPLES,
        deadline=None,
        suppress_health_check=HEALTH,
        phases=[Phase.reuse, Phase.generate, Phase.shrink],
    )
    def test_v1_conforms_on_postgresql(case: Case, target: Harness) -> None:
        response = send(target, case)
        case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/campaigns/1/recipients", {"contacts": [2**63]}),
        ("/v1/campaigns/1/recipients", {"cards": [-(2**63) - 1]}),
        ("/v1/campaigns/1/recipients/groups", {"groups": [2**64]}),
        ("/v1/contact-cards", {"name": "Ann", "groups": [2**63]}),
    ],
)
def test_ids_beyond_bigint_are_invalid(target: Harness, path: str, body: dict[str, Any]) -> None:
    """Found by schemathesis on PostgreSQL: such ids reached the driver (a 500)."""
    r = target.request("POST", path, json=body, headers=target.bearer)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["location"].startswith("body.")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/prices", b"channel,country\r0"),
        ("POST", "/v1/stop-list/import", b"\r0"),
        ("PUT", "/v1/prices", b'"' + b"x" * 200_000 + b'"'),
        ("POST", "/v1/stop-list/import", b'"' + b"x" * 200_000 + b'"'),
    ],
)
def test_csv_bodies_never_crash(target: Harness, method: str, path: str, body: bytes) -> None:
    """Found by schemathesis: a bare carriage return made the csv module raise (a 500).
    A bare CR is now read as a line break (old Mac files); a field too large for the
    csv module is a 422 on ``body`` (the same service check serves the CLI)."""
    headers = target.bearer | {"content-type": "text/csv"}
    r = target.request(method, path, content=body, headers=headers)
    if len(body) > 1000:
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "body"
    elif path == "/v1/prices":
        assert r.status_code == 422, r.text  # a wrong header, reported by row
    else:
        assert r.status_code == 200, r.text
        assert r.json()["invalid"] == 1  # "0" is not a number
