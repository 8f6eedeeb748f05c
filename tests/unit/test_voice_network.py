"""The network split: Vietnamese operator buckets and per-bucket admission."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.domain.recipients import normalise
from clarion.domain.voice.network import (
    NetworkBucket,
    NetworkLimitError,
    NetworkLimits,
    admit,
    bucket_for_number,
    bucket_for_operator,
    may_admit,
)

VIETTEL, MOBI, VINA, TEL, OFFNET = (
    NetworkBucket.VIETTEL,
    NetworkBucket.MOBI,
    NetworkBucket.VINA,
    NetworkBucket.TEL,
    NetworkBucket.OFFNET,
)
# phonenumbers loads carrier data lazily; a deadline would be a timing assertion.
no_deadline = settings(deadline=None)


@pytest.mark.parametrize(
    ("phone", "bucket"),
    [
        ("+84981234567", VIETTEL),  # 098: Viettel
        ("+84361234567", VIETTEL),  # 03x: Viettel
        ("+84861234567", VIETTEL),  # 086: Viettel
        ("+84901234567", MOBI),  # 090: MobiFone
        ("+84701234567", MOBI),  # 07x: MobiFone
        ("+84912345678", VINA),  # 091: Vinaphone
        ("+84831234567", VINA),  # 08x: Vinaphone
        ("+84921234567", TEL),  # 092: Vietnamobile
        ("+84592345678", TEL),  # 059: G-Mobile
        ("+84998123456", TEL),  # 0998: Indochina Telecom
        ("+84991234567", OFFNET),  # 0991: no carrier in phonenumbers' data
        ("+842439412345", OFFNET),  # Hanoi fixed line
        ("+12125550123", OFFNET),
        ("+77011234567", OFFNET),
        ("not a number", OFFNET),
    ],
)
def test_bucket_for_number(phone: str, bucket: NetworkBucket) -> None:
    assert bucket_for_number(phone) is bucket


def test_bucket_for_stored_operator_matches_the_number() -> None:
    for phone in ("+84981234567", "+84901234567", "+84912345678", "+84921234567"):
        stored = normalise(phone)  # what the recipients module keeps on the message row
        assert bucket_for_operator(stored.country, stored.operator) is bucket_for_number(phone)
    assert bucket_for_operator("VN", "MOBIFONE") is MOBI
    assert bucket_for_operator("vn", "Vinaphone") is VINA
    assert bucket_for_operator("VN", "") is OFFNET
    assert bucket_for_operator("KZ", "Viettel") is OFFNET
    assert bucket_for_operator("VN", "Wintel") is TEL


def test_seed_network_object() -> None:
    seed = {"viettel": 0, "mobi": 0, "vina": 0, "tel": 0, "offnet": 0}
    assert NetworkLimits.from_autocall(seed) == NetworkLimits()
    assert NetworkLimits.from_autocall(seed).to_autocall() == seed
    assert NetworkLimits.from_autocall(None) == NetworkLimits()
    limits = NetworkLimits.from_autocall({"viettel": 3, "offnet": 1})
    assert limits.limit(VIETTEL) == 3 and limits.limit(MOBI) == 0


@pytest.mark.parametrize(
    ("network", "field"),
    [
        ({"viettel": -1}, "network.viettel"),
        ({"mobi": "2"}, "network.mobi"),
        ({"vina": True}, "network.vina"),
        ({"vietnamobile": 1}, "network.vietnamobile"),
        ([1, 2], "network"),
    ],
)
def test_invalid_network_names_the_field(network: object, field: str) -> None:
    with pytest.raises(NetworkLimitError) as info:
        NetworkLimits.from_autocall(network)  # type: ignore[arg-type]
    assert info.value.field == field


def test_may_admit() -> None:
    limits = NetworkLimits(viettel=2)
    assert may_admit(limits, {VIETTEL: 1}, VIETTEL)
    assert not may_admit(limits, {VIETTEL: 2}, VIETTEL)
    assert may_admit(limits, {VIETTEL: 2, MOBI: 50}, MOBI)  # 0 = no limit of its own
    assert not may_admit(limits, {VIETTEL: 1, MOBI: 4}, MOBI, concurrent_call=5)


def test_admit_skips_full_buckets_without_blocking_others() -> None:
    limits = NetworkLimits(viettel=1, vina=2)
    queue = [VIETTEL, VIETTEL, VINA, MOBI, VINA, VINA]
    assert admit(limits, {}, queue) == [0, 2, 3, 4]
    assert admit(limits, {}, queue, wanted=2) == [0, 2]
    assert admit(limits, {}, queue, concurrent_call=3) == [0, 2, 3]


buckets = st.sampled_from(list(NetworkBucket))
limit_values = st.integers(0, 5)


@no_deadline
@given(
    st.builds(
        NetworkLimits,
        viettel=limit_values,
        mobi=limit_values,
        vina=limit_values,
        tel=limit_values,
        offnet=limit_values,
    ),
    st.lists(buckets, max_size=40),
    st.dictionaries(buckets, st.integers(0, 6)),
    st.integers(0, 20),
)
def test_admission_never_exceeds_a_limit(
    limits: NetworkLimits,
    queue: list[NetworkBucket],
    in_flight: dict[NetworkBucket, int],
    concurrent_call: int,
) -> None:
    chosen = admit(limits, in_flight, queue, concurrent_call=concurrent_call)
    assert chosen == sorted(set(chosen))
    after = {b: in_flight.get(b, 0) for b in NetworkBucket}
    for index in chosen:
        after[queue[index]] += 1
    for bucket in NetworkBucket:
        cap = limits.limit(bucket)
        if cap:  # never more than the cap, unless it was already over before
            assert after[bucket] <= max(cap, in_flight.get(bucket, 0))
    if concurrent_call:
        assert sum(after.values()) <= max(concurrent_call, sum(in_flight.values()))
    # Maximal: every candidate left out would have broken a limit at its turn.
    for index, bucket in enumerate(queue):
        if index not in chosen:
            counts = {b: in_flight.get(b, 0) for b in NetworkBucket}
            for earlier in chosen:
                if earlier < index:
                    counts[queue[earlier]] += 1
            assert not may_admit(limits, counts, bucket, concurrent_call=concurrent_call)


@no_deadline
@given(st.integers(0, 99_999_999).map(lambda n: f"+849{n:08d}"))
def test_every_number_lands_in_one_bucket(phone: str) -> None:
    bucket = bucket_for_number(phone)
    assert bucket in set(NetworkBucket)
    if bucket is not OFFNET:
        assert bucket_for_operator("VN", normalise(phone).operator) is bucket
