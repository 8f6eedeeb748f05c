"""``routed``: per-account routing of SMS to named SMPP connections or other channels,
with failover.

``CLARION_ROUTES_CONFIG`` names a TOML or JSON file of routes, tried in order; the
first whose conditions all hold takes the message:

```toml
[[routes]]
name = "kz-beeline"
accounts = [1, 2]             # optional: only these accounts
countries = ["KZ"]            # optional: ISO codes of the recipient's number
prefixes = ["+7705", "+7777"] # optional: E.164 prefixes
targets = ["smpp:operator-a", "smpp:operator-b"]   # primary, then failover

[[routes]]
name = "default"
targets = ["sim_sms"]
```

A target is ``smpp:<connection name>`` (that connection of ``CLARION_SMPP_CONFIG``
alone) or any channel name (``sim_sms``, ``smpp`` for all connections, ...). A message
no route takes is refused (PERMANENT, ``no-route``).

Failover: a submission the target answers TEMPORARY because it has no live bind
(``smpp:not-bound``: it never left the process) is offered to the route's next
target in the same call. Anything else — accepted, refused, throttled, or in doubt
after a connection dropped mid-submit — stays with the target that had it, so a
message is never sent twice. Delivery reports and MO messages of every target flow to
the dispatcher; ``lookup`` asks every target.
"""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clarion.channels import base
from clarion.channels.base import Channel, Outcome, ReportSink, Submission, SubmitResult
from clarion.config import Settings
from clarion.domain import recipients

FAILOVER_ERRORS = frozenset({"smpp:not-bound"})
NO_ROUTE = "no-route"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    accounts: list[int] | None = None
    countries: list[str] | None = None
    prefixes: list[str] | None = None
    targets: list[str] = Field(min_length=1)

    def takes(self, sub: Submission, country: str) -> bool:
        if self.accounts is not None and sub.account_id not in self.accounts:
            return False
        if self.countries is not None and country.upper() not in {
            c.upper() for c in self.countries
        }:
            return False
        return self.prefixes is None or any(sub.phone.startswith(p) for p in self.prefixes)


class RoutesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[Route] = Field(min_length=1)


class RoutesError(ValueError):
    pass


def load(path: str) -> RoutesConfig:
    file = Path(path)
    try:
        raw = file.read_bytes()
        data = tomllib.loads(raw.decode()) if file.suffix == ".toml" else json.loads(raw)
        return RoutesConfig.model_validate(data)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise RoutesError(f"invalid routes config {file}: {exc}") from exc


def _country(phone: str) -> str:
    try:
        return recipients.normalise(phone).country
    except recipients.PhoneError:
        return ""


class RoutedChannel:
    name = "routed"

    def __init__(self, config: RoutesConfig, settings: Settings, sink: ReportSink) -> None:
        self.config = config
        self.settings = settings
        self.sink = sink
        self.targets: dict[str, Channel] = {}
        self._on_mo: Any = None

    @property
    def on_mo(self) -> Any:
        return self._on_mo

    @on_mo.setter
    def on_mo(self, hook: Any) -> None:
        self._on_mo = hook
        for target in self.targets.values():
            if hasattr(target, "on_mo"):
                target.on_mo = hook

    def target(self, name: str) -> Channel:
        found = self.targets.get(name)
        if found is None:
            found = self._build(name)
            if self._on_mo is not None and hasattr(found, "on_mo"):
                found.on_mo = self._on_mo
            self.targets[name] = found
        return found

    def _build(self, name: str) -> Channel:
        if name.startswith("smpp:"):
            from clarion.channels.smpp import SmppChannel
            from clarion.channels.smpp.config import load as load_smpp

            connection = name.split(":", 1)[1]
            config = load_smpp(self.settings.smpp_config)
            chosen = [c for c in config.connections if c.name == connection]
            if not chosen:
                raise RoutesError(f"no SMPP connection named {connection!r}")
            return SmppChannel(config.model_copy(update={"connections": chosen}), self.sink)
        return base.build(name, self.settings, self.sink)

    def route_of(self, sub: Submission) -> Route | None:
        country = ""
        if any(r.countries is not None for r in self.config.routes):
            country = _country(sub.phone)
        for route in self.config.routes:
            if route.takes(sub, country):
                return route
        return None

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        results: dict[str, SubmitResult] = {}
        waiting: dict[tuple[str, ...], list[Submission]] = defaultdict(list)
        for sub in batch:
            route = self.route_of(sub)
            if route is None:
                results[sub.reference] = SubmitResult(
                    sub.reference, Outcome.PERMANENT, None, NO_ROUTE
                )
            else:
                waiting[tuple(route.targets)].append(sub)
        failure: Exception | None = None
        for targets, subs in waiting.items():
            pending = subs
            for position, name in enumerate(targets):
                try:
                    target = self.target(name)
                except Exception as exc:  # a route naming what cannot be built
                    for sub in pending:
                        results[sub.reference] = SubmitResult(
                            sub.reference, Outcome.PERMANENT, None, f"{NO_ROUTE}: {exc}"[:100]
                        )
                    pending = []
                    break
                try:
                    outcomes = await target.submit(pending)
                except Exception as exc:
                    # Outcome unknown for this group only: the other groups are still
                    # submitted and answered; then the batch is left for
                    # reconciliation (lookup asks every target), never resent.
                    failure = failure or exc
                    pending = []
                    break
                retry: list[Submission] = []
                last = position == len(targets) - 1
                for sub, out in zip(pending, outcomes, strict=True):
                    if (
                        not last
                        and out.outcome is Outcome.TEMPORARY
                        and out.error in FAILOVER_ERRORS
                    ):
                        retry.append(sub)
                    else:
                        results[sub.reference] = out
                pending = retry
                if not pending:
                    break
        if failure is not None:
            raise failure
        return [results[sub.reference] for sub in batch]

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        found: dict[str, SubmitResult] = {}
        for target in self.targets.values():
            found.update(await target.lookup(references))
        return found

    async def close(self) -> None:
        for target in self.targets.values():
            await target.close()


@base.register("routed")
def _build(settings: Settings, sink: ReportSink) -> RoutedChannel:
    if not settings.routes_config:
        raise RoutesError("the routed channel needs CLARION_ROUTES_CONFIG (a routes file)")
    return RoutedChannel(load(settings.routes_config), settings, sink)
