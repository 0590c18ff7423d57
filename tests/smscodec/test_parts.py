"""Android-exact SMS part splitting, and where the reference server's estimate (B18) differs."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscodec import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    count_parts,
    encoding_of,
    reference_segment_count,
    septets,
    split_parts,
)

EURO = "€"
EMOJI = "\U0001f600"  # outside the BMP: one code point, two UTF-16 units
CZECH = "čřžěůáíý"


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def android_split(body: str) -> list[str]:
    """Naive oracle: Android's per-character walk, written as plainly as possible."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        items = list(body)
        costs = [2 if c in GSM7_EXTENSION else 1 for c in items]
        single, multi = 160, 153
    else:
        items = []
        i = 0
        while i < len(body):  # keep a two-code-point surrogate pair together
            if "\ud800" <= body[i] <= "\udbff" and "\udc00" <= body[i + 1 : i + 2] <= "\udfff":
                items.append(body[i : i + 2])
                i += 2
            else:
                items.append(body[i])
                i += 1
        costs = [utf16_units(item) for item in items]
        single, multi = 70, 67
    if sum(costs) <= single:
        return [body]
    parts: list[str] = []
    current, used = "", 0
    for item, cost in zip(items, costs, strict=True):
        if used + cost > multi:
            parts.append(current)
            current, used = "", 0
        current += item
        used += cost
    parts.append(current)
    return parts


def check_parts(body: str) -> list[str]:
    """split_parts(body), after checking it joins back and agrees with count_parts."""
    parts = split_parts(body)
    assert "".join(parts) == body
    assert count_parts(body) == len(parts)
    return parts


# --- tables ---------------------------------------------------------------------------------


def test_tables_have_127_basic_and_10_extension_characters() -> None:
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC | GSM7_EXTENSION
    assert {"\n", "\r", "é", "Ç", "Δ", "¤", "§", "à"} <= GSM7_BASIC
    assert set("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert not set(CZECH) & (GSM7_BASIC | GSM7_EXTENSION)


def test_encoding_of() -> None:
    assert encoding_of("") == "GSM-7"
    assert encoding_of("Dobry den, sleva 20 % [jen dnes] {VIP} ~ ^ | \\ \f €") == "GSM-7"
    assert encoding_of("café à Zürich") == "GSM-7"
    assert encoding_of("Dobrý den") == "UCS-2"
    assert encoding_of("hi " + EMOJI) == "UCS-2"
    assert encoding_of("back`tick") == "UCS-2"  # ` is ASCII but not GSM 03.38
    assert check_parts("`" + "a" * 70) == ["`" + "a" * 66, "a" * 4]


def test_septets_counts_extension_characters_twice_and_newline_once() -> None:
    assert septets("") == 0
    assert septets("abc") == 3
    assert septets("a\nb\r\n") == 5
    assert septets(EURO) == 2
    assert septets("[x]") == 5
    assert septets("\f") == 2


def test_septets_names_the_first_non_gsm_character_and_its_index() -> None:
    with pytest.raises(ValueError, match=r"'č' \(U\+010D\) at index 6"):
        septets("Dobry čas ř")


# --- GSM-7 boundaries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "expected"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3)]
)
def test_gsm7_part_boundaries(length: int, expected: int) -> None:
    parts = check_parts("a" * length)
    assert len(parts) == expected
    if expected > 1:
        assert [len(p) for p in parts[:-1]] == [153] * (expected - 1)


def test_empty_body_is_one_empty_part() -> None:
    assert split_parts("") == [""]
    assert count_parts("") == 1


def test_extension_characters_cost_two_septets() -> None:
    assert check_parts(EURO * 80) == [EURO * 80]  # 160 septets
    assert check_parts(EURO * 81) == [EURO * 76, EURO * 5]  # 162 septets; 76 € = 152


def test_escape_pair_at_153_boundary_moves_to_next_part() -> None:
    body = "a" * 152 + EURO + "b" * 10
    assert septets(body) == 164
    assert check_parts(body) == ["a" * 152, EURO + "b" * 10]
    # Once the pair fits, it stays: 151 + 2 = 153 septets.
    body = "a" * 151 + EURO + "b" * 10
    assert check_parts(body) == ["a" * 151 + EURO, "b" * 10]


def test_e_acute_stays_gsm7() -> None:
    body = "é" * 100
    assert encoding_of(body) == "GSM-7"
    assert check_parts(body) == [body]


# --- UCS-2 boundaries -----------------------------------------------------------------------


@pytest.mark.parametrize(("length", "expected"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_part_boundaries(length: int, expected: int) -> None:
    parts = check_parts("č" * length)
    assert len(parts) == expected
    if expected > 1:
        assert [len(p) for p in parts[:-1]] == [67] * (expected - 1)


def test_one_czech_letter_switches_the_whole_message_to_ucs2() -> None:
    gsm = "a" * 100
    assert count_parts(gsm) == 1
    body = "a" * 99 + "ř"
    assert encoding_of(body) == "UCS-2"
    assert check_parts(body) == ["a" * 67, "a" * 32 + "ř"]


def test_surrogate_pair_at_67_boundary_moves_to_next_part() -> None:
    body = "č" * 66 + EMOJI + "č" * 66  # 134 units: ceil(134 / 67) would say 2
    assert utf16_units(body) == 134
    assert check_parts(body) == ["č" * 66, EMOJI + "č" * 65, "č"]
    # 65 + 2 = 67 units: the pair fits and stays.
    body = "č" * 65 + EMOJI + "č" * 10
    assert check_parts(body) == ["č" * 65 + EMOJI, "č" * 10]


def test_emoji_costs_two_units() -> None:
    assert check_parts(EMOJI * 35) == [EMOJI * 35]  # exactly 70 units
    assert check_parts(EMOJI * 36) == [EMOJI * 33, EMOJI * 3]  # 33 * 2 = 66; 68 > 67


def test_surrogate_pair_given_as_two_code_points_is_not_split() -> None:
    # CESU-8 bytes decoded with "surrogatepass" keep a pair as two code points.
    pair = b"\xed\xa0\xbd\xed\xb8\x80".decode("utf-8", "surrogatepass")
    assert pair == "\ud83d\ude00"
    body = "a" * 66 + pair + "a" * 10
    parts = check_parts(body)
    assert parts == ["a" * 66, pair + "a" * 10]


# --- reference approximation (B18) ----------------------------------------------------------


def test_reference_empty_and_none_are_one_segment() -> None:
    assert reference_segment_count(None) == 1
    assert reference_segment_count("") == 1


def test_reference_boundaries() -> None:
    assert reference_segment_count("a" * 160) == 1
    assert reference_segment_count("a" * 161) == 2
    assert reference_segment_count("a" * 307) == 3
    assert reference_segment_count("č" * 70) == 1
    assert reference_segment_count("č" * 71) == 2
    assert reference_segment_count("č" * 135) == 3


def test_newline_costs_one_septet_exactly_but_two_in_the_reference() -> None:
    body = "a\n" * 60  # 120 characters, 60 newlines
    assert septets(body) == 120
    assert count_parts(body) == 1
    assert reference_segment_count(body) == 2  # 180 > 160 → ceil(180 / 153)
    body = "a" * 80 + "\n" * 80
    assert septets(body) == 160
    assert count_parts(body) == 1
    assert reference_segment_count(body) == 2  # 240 → ceil(240 / 153)


@pytest.mark.parametrize(
    ("body", "exact", "reference"),
    [
        # An extension character makes the reference call the whole message UNICODE.
        ("a" * 150 + EURO, 1, 3),  # 152 septets vs ceil(151 / 67)
        ("[" + "a" * 99, 1, 2),  # 101 septets vs ceil(100 / 67)
        ("Sleva {VIP} " + "a" * 200, 2, 4),  # 214 septets vs ceil(212 / 67)
        # Newlines count twice in the reference.
        ("\n" * 100, 1, 2),  # 100 septets vs ceil(200 / 153)
        ("Radek\n" * 26, 1, 2),  # 156 septets vs ceil(182 / 153)
        ("ab\n" * 80, 2, 3),  # 240 septets vs ceil(320 / 153)
        # Code points vs UTF-16 units: an astral emoji costs 2 units, 1 in the reference.
        (EMOJI * 36, 2, 1),  # 72 units vs 36 ≤ 70
        ("a" * 60 + EMOJI * 6, 2, 1),  # 72 units vs 66 ≤ 70
        ("č" * 66 + EMOJI + "č" * 66, 3, 2),  # pair pushed over a boundary vs ceil(133 / 67)
    ],
)
def test_exact_count_vs_reference(body: str, exact: int, reference: int) -> None:
    assert count_parts(body) == exact
    assert len(check_parts(body)) == exact
    assert reference_segment_count(body) == reference


def test_exact_and_reference_agree_on_plain_text() -> None:
    for body in ("a" * 10, "a" * 200, "č" * 100, "Dobry den, " * 30):
        assert count_parts(body) == reference_segment_count(body)


# --- properties -----------------------------------------------------------------------------

_BASIC_SAMPLE = list("aZ09 .,!?@£$éÇΔ_ÆÄäüà§¿\n\r")
_EXTENSION_SAMPLE = sorted(GSM7_EXTENSION)
_OTHER_SAMPLE = [*CZECH, EMOJI, "\U0001f44d", "☺", "—", "`"]

_gsm_text = st.text(alphabet=st.sampled_from(_BASIC_SAMPLE + _EXTENSION_SAMPLE), max_size=500)
_mixed_text = st.text(
    alphabet=st.sampled_from(_BASIC_SAMPLE + _EXTENSION_SAMPLE + _OTHER_SAMPLE), max_size=400
)
_ascii_text = st.text(alphabet=st.sampled_from(list("ab .\n[]{}|~^\\\f`")), max_size=400)
_emoji_heavy_text = st.text(
    # Lone halves too: adjacent ones make a pair given as two code points, which must stay whole.
    alphabet=st.sampled_from(["č", "a", EMOJI, "\ud83d", "\ude00"]),
    max_size=300,
)


@settings(max_examples=400)
@given(st.one_of(_gsm_text, _mixed_text, _ascii_text, _emoji_heavy_text))
def test_parts_property(body: str) -> None:
    parts = split_parts(body)
    assert "".join(parts) == body
    assert count_parts(body) == len(parts)
    assert parts == android_split(body)
    if len(parts) > 1:
        assert all(parts), "only an empty body may give an empty part"
    if encoding_of(body) == "GSM-7":
        limit = 160 if len(parts) == 1 else 153
        assert all(septets(part) <= limit for part in parts)
    else:
        limit = 70 if len(parts) == 1 else 67
        assert all(utf16_units(part) <= limit for part in parts)
        for before, after in pairwise(parts):
            assert not ("\ud800" <= before[-1] <= "\udbff" and "\udc00" <= after[0] <= "\udfff")
        if not any("\ud800" <= c <= "\udfff" for c in body):
            for part in parts:
                assert not "\udc00" <= part[0] <= "\udfff"
                part.encode("utf-16-le")  # each part is valid UTF-16 on its own
    # Greedy: the first part could not have taken the next character.
    if len(parts) > 1:
        first, rest = parts[0], parts[1]
        if encoding_of(body) == "GSM-7":
            assert septets(first + rest[0]) > 153
        else:
            assert utf16_units(first + rest[0]) > 67
