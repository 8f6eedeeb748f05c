"""The ``network`` split: concurrent calls per Vietnamese operator.

autocall v3's campaign object carries ``"network": {"viettel": 0, "mobi": 0, "vina": 0,
"tel": 0, "offnet": 0}``: the most calls in progress at once to each operator
bucket, 0 = no limit of its own (the campaign's ``concurrent_call`` still applies).

Buckets (from the carrier name ``phonenumbers.carrier.name_for_number`` gives, the
same name ``clarion.domain.recipients.normalise`` stores as a recipient's operator)
for numbers of Vietnam (+84, region ``VN``):

============  ===========================================================================
bucket        carrier names (phonenumbers 9.0 data for +84, and known aliases)
============  ===========================================================================
``viettel``   Viettel
``mobi``      MobiFone
``vina``      Vinaphone
``tel``       the other Vietnamese MOBILE networks: Vietnamobile, G-Mobile (Gtel),
              Indochina Telecom (iTel), Reddi (now Wintel), and any other carrier name
              phonenumbers gives for a +84 number
``offnet``    everything else: +84 numbers without a carrier name (fixed lines, prefixes
              phonenumbers does not attribute, e.g. 099x), and every non-Vietnamese or
              unparseable number
============  ===========================================================================

Choice: the seed names five buckets but not what ``tel`` holds. The three big
operators have their own bucket; ``tel`` is read as "the remaining domestic mobile
networks" (their names end in -tel / -mobile; Gtel and iTel are the two largest),
and ``offnet`` as "not on any Vietnamese mobile network". Number portability is
invisible to phonenumbers: a ported number counts under its original operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers
from phonenumbers import carrier

from clarion.domain.voice.errors import NetworkLimitError, whole_number

__all__ = [
    "NetworkBucket",
    "NetworkLimitError",
    "NetworkLimits",
    "admit",
    "bucket_for_number",
    "bucket_for_operator",
    "may_admit",
]


class NetworkBucket(StrEnum):
    VIETTEL = "viettel"
    MOBI = "mobi"
    VINA = "vina"
    TEL = "tel"
    OFFNET = "offnet"


def _key(name: str) -> str:
    return "".join(c for c in name.casefold() if c.isalnum())


_VN_BUCKETS: dict[str, NetworkBucket] = {
    _key(name): bucket
    for bucket, names in {
        NetworkBucket.VIETTEL: ("Viettel", "Viettel Mobile"),
        NetworkBucket.MOBI: ("MobiFone", "VMS MobiFone"),
        NetworkBucket.VINA: ("Vinaphone", "VNPT VinaPhone"),
    }.items()
    for name in names
}


def bucket_for_operator(region: str, operator: str) -> NetworkBucket:
    """The bucket of a number whose country is ``region`` and carrier name ``operator``."""
    if region.upper() != "VN" or not operator.strip():
        return NetworkBucket.OFFNET
    return _VN_BUCKETS.get(_key(operator), NetworkBucket.TEL)


def bucket_for_number(phone: str) -> NetworkBucket:
    """The bucket of an E.164 number (``+84...``); ``offnet`` when not Vietnamese mobile."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return NetworkBucket.OFFNET
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        return NetworkBucket.OFFNET
    return bucket_for_operator("VN", carrier.name_for_number(number, "en"))


@dataclass(frozen=True, slots=True)
class NetworkLimits:
    """Concurrent-call limit per bucket; 0 = no limit for that bucket."""

    viettel: int = 0
    mobi: int = 0
    vina: int = 0
    tel: int = 0
    offnet: int = 0

    def __post_init__(self) -> None:
        for bucket in NetworkBucket:
            whole_number(getattr(self, bucket.value), f"network.{bucket.value}", NetworkLimitError)

    @classmethod
    def from_autocall(cls, network: Mapping[str, Any] | None) -> NetworkLimits:
        """Read autocall's ``network`` object; ``None`` or missing keys mean 0 (no limit)."""
        if network is None:
            return cls()
        if not isinstance(network, Mapping):
            raise NetworkLimitError("network", f"must be an object, got {network!r}")
        known = {b.value for b in NetworkBucket}
        for key in network:
            if key not in known:
                raise NetworkLimitError(
                    f"network.{key}", f"is not a network; known: {', '.join(sorted(known))}"
                )
        return cls(**{str(k): v for k, v in network.items()})

    def to_autocall(self) -> dict[str, int]:
        return {b.value: self.limit(b) for b in NetworkBucket}

    def limit(self, bucket: NetworkBucket) -> int:
        value: int = getattr(self, bucket.value)
        return value


def may_admit(
    limits: NetworkLimits,
    in_flight: Mapping[NetworkBucket, int],
    bucket: NetworkBucket,
    *,
    concurrent_call: int = 0,
) -> bool:
    """Whether one more call to ``bucket`` may start, given the calls now in progress.

    ``in_flight`` counts calls in progress per bucket (absent = 0); ``concurrent_call``
    is the campaign's overall limit (0 = none).
    """
    if concurrent_call and sum(in_flight.values()) >= concurrent_call:
        return False
    cap = limits.limit(bucket)
    return not (cap and in_flight.get(bucket, 0) >= cap)


def admit(
    limits: NetworkLimits,
    in_flight: Mapping[NetworkBucket, int],
    candidates: Sequence[NetworkBucket],
    *,
    concurrent_call: int = 0,
    wanted: int | None = None,
) -> list[int]:
    """Which candidates (buckets in dial order) may start now: their indexes, in order.

    A candidate whose bucket is full is skipped without blocking later candidates of
    other buckets; at most ``wanted`` (default: no cap besides the limits) are admitted.
    """
    counts = {b: in_flight.get(b, 0) for b in NetworkBucket}
    chosen: list[int] = []
    for index, bucket in enumerate(candidates):
        if wanted is not None and len(chosen) >= wanted:
            break
        if may_admit(limits, counts, bucket, concurrent_call=concurrent_call):
            counts[bucket] += 1
            chosen.append(index)
    return chosen
