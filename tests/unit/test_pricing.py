"""Price rules: resolution, units, the indexed table, CSV parsing."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.pricing import (
    PriceRule,
    PriceTable,
    cost,
    matches,
    operator_key,
    resolve,
    specificity,
)
from clarion.services.pricing import PriceTableError, parse_csv


def rule(
    country: str = "", operator: str = "", price: str = "0.01", unit: str = "segment", **kw: str
) -> PriceRule:
    return PriceRule(
        channel=kw.get("channel", "sms"),
        country=country,
        operator=operator,
        unit=unit,
        price=Decimal(price),
    )


ANY = rule(price="0.10")
KZ = rule("KZ", price="0.05")
KCELL = rule("KZ", "Kcell", price="0.03")
MCCMNC = rule("KZ", "401-02", price="0.02")


def test_most_specific_rule_wins() -> None:
    rules = [ANY, KZ, KCELL]
    assert resolve(rules, channel="sms", country="KZ", operator="Kcell") == KCELL
    assert resolve(rules, channel="sms", country="KZ", operator="Beeline") == KZ
    assert resolve(rules, channel="sms", country="RU", operator="MTS") == ANY
    assert resolve([KZ], channel="sms", country="RU", operator="MTS") is None
    assert resolve(rules, channel="rcs", country="KZ", operator="Kcell") is None


def test_operator_matches_case_insensitively_and_mcc_mnc_without_separator() -> None:
    assert resolve([KZ, KCELL], channel="sms", country="kz", operator="KCELL") == KCELL
    for given_operator in ("40102", "401-02", "401 02"):
        assert resolve([KZ, MCCMNC], channel="sms", country="KZ", operator=given_operator) == MCCMNC
    assert operator_key(" Tele2 ") == "tele2"
    assert operator_key("250/01") == "25001"


def test_ties_go_to_the_later_rule_so_account_rules_override_defaults() -> None:
    default_kz, own_kz = rule("KZ", price="0.05"), rule("KZ", price="0.04")
    assert resolve([default_kz, own_kz], channel="sms", country="KZ", operator="x") == own_kz
    # A more specific default rule still beats a less specific account rule.
    own_any = rule(price="0.01")
    assert resolve([KCELL, own_any], channel="sms", country="KZ", operator="Kcell") == KCELL


def test_units() -> None:
    assert cost(rule(price="0.05", unit="segment"), segments=3) == Decimal("0.15")
    assert cost(rule(price="0.07", unit="message"), segments=3) == Decimal("0.07")
    voice = rule(price="0.20", unit="minute", channel="voice")
    assert cost(voice, segments=4) == Decimal("0.80")  # the 4 minutes a call holds


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="channel"):
        rule(channel="fax")
    with pytest.raises(ValueError, match="unit"):
        rule(unit="byte")
    with pytest.raises(ValueError, match="needs its country"):
        rule("", "Kcell")
    with pytest.raises(ValueError, match="country"):
        rule("kz")
    with pytest.raises(ValueError, match="non-negative"):
        rule(price="-1")


def test_table_prices_with_fallback_and_survives_pickling() -> None:
    table = PriceTable([ANY, KZ, KCELL, rule("KZ", price="9", channel="rcs")], channel="sms")
    flat = Decimal("0.05")
    assert table.price(country="KZ", operator="Kcell", segments=2, per_segment=flat) == Decimal(
        "0.06"
    )
    assert table.price(country="DE", operator="", segments=2, per_segment=flat) == Decimal("0.20")
    empty = PriceTable([rule("KZ", channel="rcs")], channel="sms")
    assert not empty
    assert empty.price(country="KZ", operator="", segments=3, per_segment=flat) == Decimal("0.15")
    copy = pickle.loads(pickle.dumps(table))  # noqa: S301 - how the import pool ships it
    assert copy.rule(country="KZ", operator="kcell") == KCELL


COUNTRIES = st.sampled_from(["", "KZ", "RU", "DE"])
OPERATORS = st.sampled_from(["", "Kcell", "KCELL", "Beeline", "401-02", "40102"])


@st.composite
def rules_(draw: st.DrawFn) -> PriceRule:
    country = draw(COUNTRIES)
    return PriceRule(
        channel=draw(st.sampled_from(["sms", "rcs"])),
        country=country,
        operator=draw(OPERATORS) if country else "",
        unit=draw(st.sampled_from(["segment", "message"])),
        price=draw(st.decimals(min_value=0, max_value=10, places=6)),
    )


@given(
    rules=st.lists(rules_(), max_size=12),
    country=st.sampled_from(["KZ", "RU", "DE", "US"]),
    operator=OPERATORS,
)
def test_resolution_picks_the_most_specific_matching_rule(
    rules: list[PriceRule], country: str, operator: str
) -> None:
    found = resolve(rules, channel="sms", country=country, operator=operator)
    candidates = [r for r in rules if matches(r, channel="sms", country=country, operator=operator)]
    if not candidates:
        assert found is None
    else:
        assert found is not None
        top = max(specificity(r) for r in candidates)
        assert specificity(found) == top
        # ...and of those, the last one given.
        assert found is [r for r in candidates if specificity(r) == top][-1]
    table = PriceTable(rules, channel="sms")
    assert table.rule(country=country, operator=operator) is found


def test_csv_parses_rules() -> None:
    text = (
        "\ufeffChannel,Country,Operator,Unit,Price\n"
        "sms,,,segment,0.05\n"
        "\n"
        "SMS,kz,Kcell,segment,0.030000\n"
        "voice,KZ,,minute,0.2\n"
    )
    assert parse_csv(text) == [
        rule(price="0.05"),
        rule("KZ", "Kcell", price="0.03"),
        rule("KZ", price="0.2", unit="minute", channel="voice"),
    ]
    assert parse_csv("channel,country,operator,unit,price\n") == []


def test_csv_errors_name_every_bad_row() -> None:
    text = (
        "channel,country,operator,unit,price\n"  # row 1
        "sms,KZ,,segment,0.05\n"  # 2 ok
        "fax,KZ,,segment,0.05\n"  # 3 channel
        "sms,XX,,segment,0.05\n"  # 4 country
        "sms,KZ,,segment,abc\n"  # 5 price
        "sms,KZ,,segment,0.0000001\n"  # 6 places
        "sms,kz,,message,0.01\n"  # 7 duplicate of row 2
        "sms,KZ,Kcell,segment\n"  # 8 columns
        ",,Kcell,segment,0.01\n"  # 9 channel
        "sms,,Kcell,segment,0.01\n"  # 10 operator without country
    )
    with pytest.raises(PriceTableError) as caught:
        parse_csv(text)
    rows = [row for row, _ in caught.value.errors]
    assert rows == [3, 4, 5, 6, 7, 8, 9, 10]
    reasons = dict(caught.value.errors)
    assert "row 2" in reasons[7]
    assert "6 decimal places" in reasons[6]
    assert "row 3:" in caught.value.message


def test_csv_needs_the_header() -> None:
    with pytest.raises(PriceTableError) as caught:
        parse_csv("sms,KZ,,segment,0.05\n")
    assert caught.value.errors[0][0] == 1
    with pytest.raises(PriceTableError):
        parse_csv("")
