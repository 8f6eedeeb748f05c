"""A client that speaks to Clarion exactly as Mobizon's official PHP SDK does:
``/service/{module}/{method}`` in lowercase, ``api``, ``apiKey`` and ``output`` in
the query, POST bodies built by PHP's ``http_build_query`` (bracket notation,
RFC 1738 encoding) as ``application/x-www-form-urlencoded``; GET without a body."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx


def urlencode(value: str) -> str:
    """PHP's ``urlencode``: everything but ``A-Za-z0-9_.-`` escaped, space as ``+``."""
    return urllib.parse.quote_plus(value, safe="").replace("~", "%7E")


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif value is None:
        return  # http_build_query skips nulls
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    else:
        out.append((prefix, str(value)))


def pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The flat ``name[key]`` pairs of nested parameters, in order."""
    out: list[tuple[str, str]] = []
    _flatten("", params, out)
    return out


def http_build_query(params: Mapping[str, Any]) -> str:
    return "&".join(f"{urlencode(k)}={urlencode(v)}" for k, v in pairs(params))


class MobizonClient:
    """``$api->call($module, $method, $postParams, $queryParams)``; returns the decoded
    envelope (and asserts it came with HTTP 200, as every Mobizon answer does)."""

    def __init__(self, http: httpx.AsyncClient, api_key: str) -> None:
        self.http = http
        self.api_key = api_key

    def url(self, module: str, method: str, query: Mapping[str, Any] | None = None) -> str:
        defaults = {"api": "v1", "apiKey": self.api_key, "output": "json"}
        return (
            f"/service/{module.lower()}/{method.lower()}?"
            f"{http_build_query({**defaults, **(query or {})})}"
        )

    async def call(
        self,
        module: str,
        method: str,
        post: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self.url(module, method, query)
        if post:
            response = await self.http.post(
                url,
                content=http_build_query(post).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response = await self.http.get(url)
        return self.envelope(response)

    async def upload(
        self,
        module: str,
        method: str,
        post: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes, str]],
    ) -> dict[str, Any]:
        """A multipart request (``recipientsFile``), fields in bracket notation."""
        response = await self.http.post(
            self.url(module, method), data=dict(pairs(post)), files=dict(files)
        )
        return self.envelope(response)

    @staticmethod
    def envelope(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert set(body) == {"code", "data", "message"}, body
        assert isinstance(body["code"], int) and isinstance(body["message"], str)
        return body
