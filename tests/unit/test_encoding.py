"""SMS encoding choice and segment counting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.encoding import Encoding, TextMeasure, measure, segments

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"

gsm_basic_text = st.text(alphabet=GSM_BASIC, max_size=700)
gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=700)
any_text = st.text(max_size=400)
ucs2_text = st.text(min_size=1, max_size=400).map(lambda t: t + "ж")


def test_basic_alphabet_has_all_127_printable_positions() -> None:
    assert len(set(GSM_BASIC)) == 127
    assert measure(GSM_BASIC) == TextMeasure(Encoding.GSM7, 127, 1)


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_segment_boundaries(length: int, expected: int) -> None:
    result = measure("a" * length)
    assert result == TextMeasure(Encoding.GSM7, length, expected)


@pytest.mark.parametrize(
    ("length", "expected"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_segment_boundaries(length: int, expected: int) -> None:
    result = measure("ж" * length)
    assert result == TextMeasure(Encoding.UCS2, length, expected)


def test_empty_text_is_one_segment_of_zero_units() -> None:
    assert measure("") == TextMeasure(Encoding.GSM7, 0, 1)
    assert segments("") == 1


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_extension_characters_cost_two_septets(char: str) -> None:
    assert measure(char) == TextMeasure(Encoding.GSM7, 2, 1)
    assert measure("a" + char + "b").units == 4


def test_euro_sign_fills_a_single_sms_at_160_septets() -> None:
    assert measure("a" * 158 + "€") == TextMeasure(Encoding.GSM7, 160, 1)
    assert measure("a" * 159 + "€") == TextMeasure(Encoding.GSM7, 161, 2)
    assert measure("€" * 80) == TextMeasure(Encoding.GSM7, 160, 1)
    assert measure("€" * 81) == TextMeasure(Encoding.GSM7, 162, 2)


def test_152_a_then_euro_is_still_a_single_sms() -> None:
    # 152 + 2 = 154 septets: under the 160-septet single-message limit.
    assert measure("a" * 152 + "€") == TextMeasure(Encoding.GSM7, 154, 1)


def test_escape_pair_is_never_split_across_parts() -> None:
    # 152 'a' + '€' + 152 'a' is 306 septets, which would fit two parts of 153,
    # but the ESC pair cannot occupy septets 153-154: part 1 holds 152 septets,
    # part 2 holds '€' + 151 'a' (153), and the last 'a' needs a third part.
    text = "a" * 152 + "€" + "a" * 152
    assert measure(text) == TextMeasure(Encoding.GSM7, 306, 3)
    # Moving the euro one place earlier lets it end part 1 exactly.
    assert measure("a" * 151 + "€" + "a" * 153) == TextMeasure(Encoding.GSM7, 306, 2)


def test_surrogate_pair_is_never_split_across_parts() -> None:
    text = "ж" * 66 + "😀" + "ж" * 66
    assert measure(text) == TextMeasure(Encoding.UCS2, 134, 3)
    assert measure("ж" * 65 + "😀" + "ж" * 67) == TextMeasure(Encoding.UCS2, 134, 2)


def test_emoji_forces_ucs2_and_counts_two_units() -> None:
    assert measure("😀") == TextMeasure(Encoding.UCS2, 2, 1)
    assert measure("hi 👋") == TextMeasure(Encoding.UCS2, 5, 1)
    assert measure("😀" * 35) == TextMeasure(Encoding.UCS2, 70, 1)
    assert measure("😀" * 36) == TextMeasure(Encoding.UCS2, 72, 2)


def test_one_non_gsm_character_switches_the_whole_text_to_ucs2() -> None:
    text = "a" * 100
    assert measure(text).segments == 1
    assert measure(text + "ж") == TextMeasure(Encoding.UCS2, 101, 2)


def test_extension_characters_are_one_unit_in_ucs2() -> None:
    assert measure("€ж") == TextMeasure(Encoding.UCS2, 2, 1)


@pytest.mark.parametrize(
    "char",
    ["ç", "á", "í", "ó", "ú", "ê", "õ", "ł", "«", "`", "\t", "\x1b", "’", "“"],
)
def test_characters_outside_gsm7_are_ucs2(char: str) -> None:
    assert measure(char).encoding is Encoding.UCS2


def test_real_messages() -> None:
    assert measure("Your code is 1234") == TextMeasure(Encoding.GSM7, 17, 1)
    assert measure("Ваш код: 1234") == TextMeasure(Encoding.UCS2, 13, 1)
    assert measure("Price: 10€ [sale]") == TextMeasure(Encoding.GSM7, 20, 1)


@given(gsm_basic_text)
def test_plain_gsm7_follows_the_closed_formula(text: str) -> None:
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert measure(text) == TextMeasure(Encoding.GSM7, len(text), expected)


@given(gsm_text)
def test_gsm7_units_count_extension_characters_twice(text: str) -> None:
    result = measure(text)
    assert result.encoding is Encoding.GSM7
    assert result.units == len(text) + sum(ch in GSM_EXTENSION for ch in text)


@given(gsm_text)
def test_gsm7_multipart_count_is_within_the_no_split_bounds(text: str) -> None:
    result = measure(text)
    if result.units <= 160:
        assert result.segments == 1
    else:
        # Every part but the last holds 152 or 153 septets.
        assert math.ceil(result.units / 153) <= result.segments <= math.ceil(result.units / 152)


@given(ucs2_text)
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    result = measure(text)
    assert result.encoding is Encoding.UCS2
    assert result.units == len(text.encode("utf-16-le", "surrogatepass")) // 2


@given(ucs2_text)
def test_ucs2_multipart_count_is_within_the_no_split_bounds(text: str) -> None:
    result = measure(text)
    if result.units <= 70:
        assert result.segments == 1
    else:
        assert math.ceil(result.units / 67) <= result.segments <= math.ceil(result.units / 66)


@given(any_text, st.characters())
def test_appending_never_reduces_segments(text: str, char: str) -> None:
    assert segments(text + char) >= segments(text)


@given(any_text, any_text)
def test_concatenation_never_reduces_segments(head: str, tail: str) -> None:
    assert segments(head + tail) >= segments(head)


@given(any_text)
def test_segments_is_the_measure_shortcut(text: str) -> None:
    assert segments(text) == measure(text).segments
    assert measure(text).segments >= 1
