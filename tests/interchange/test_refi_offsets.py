"""Positions in a source's original text → positions in precode's normalized text (CRLF → LF, NFC)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.decode import normalize_text
from pipeline.interchange.offsets import OffsetMap


def _boundary(raw: str, position: int) -> bool:
    """True where normalizing the two halves separately gives the whole normalized text."""
    return normalize_text(raw[:position]) + normalize_text(raw[position:]) == normalize_text(raw)


def test_identity_when_the_text_is_already_normalized():
    text = "Interviewer: hi\nP1: café 😀 – done\n"
    m = OffsetMap(text)
    assert m.normalized == text
    assert [m.start(i) for i in range(len(text) + 1)] == list(range(len(text) + 1))


def test_crlf_pairs_shrink_to_one_character():
    raw = "ab\r\ncd\r\n\r\nef"
    m = OffsetMap(raw)
    assert m.normalized == "ab\ncd\n\nef"
    assert m.start(raw.index("cd")) == 3 and m.end(raw.index("cd") + 2) == 5
    assert m.start(raw.index("ef")) == m.normalized.index("ef")
    # inside a CR LF pair: a start rounds back to the newline, an end forward past it
    assert m.start(3) == 2 and m.end(3) == 3


def test_lone_cr_is_a_newline_of_the_same_length():
    raw = "one\rtwo\rthree"
    m = OffsetMap(raw)
    assert m.normalized == "one\ntwo\nthree"
    assert all(m.start(i) == i for i in range(len(raw) + 1))


def test_emoji_outside_the_bmp_counts_as_one_character():
    raw = "A 😀 B\r\nC"
    m = OffsetMap(raw)
    b = raw.index("B")
    assert b == 4  # code points, not UTF-16 units (which would make it 5)
    assert m.normalized[m.start(b):m.end(b + 1)] == "B"
    assert m.normalized[m.start(raw.index("C"))] == "C"


def test_decomposed_e_acute_is_composed_and_positions_follow():
    raw = "cafe\u0301 noir, re\u0301sume\u0301\r\nok"
    m = OffsetMap(raw)
    assert m.normalized == "café noir, résumé\nok"
    start = raw.index("noir")
    assert m.normalized[m.start(start):m.end(start + 4)] == "noir"
    # an end between 'e' and its accent is moved past the composed é; a start there moves before it
    assert m.normalized[m.start(0):m.end(4)] == "café"
    assert m.start(4) == 3 and m.end(4) == 4
    ok = raw.index("ok")
    assert m.normalized[m.start(ok):m.end(ok + 2)] == "ok"


def test_reordered_combining_marks_and_hangul_jamo():
    raw = "x e\u0301\u0323 y \u1100\u1161\u11a8 z"  # two marks NFC reorders; a Hangul syllable from jamo
    m = OffsetMap(raw)
    assert m.normalized == unicodedata.normalize("NFC", raw)
    for word in ("x", "y", "z"):
        i = raw.index(word)
        assert m.normalized[m.start(i):m.end(i + 1)] == word


_PIECES = st.sampled_from(["a", "b", " ", "\n", "\r\n", "\r", "e\u0301", "\u00e9", "😀", "\u0323", "\u212b",
                           "\u1100\u1161", "o\u0308\u0304", "–", "Z"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=30), st.data())
def test_mapped_spans_hold_exactly_the_normalized_original_span(pieces, data):
    raw = "".join(pieces)
    m = OffsetMap(raw)
    assert m.normalized == normalize_text(raw)
    assert m.start(0) == 0 and m.end(len(raw)) == len(m.normalized)
    s = data.draw(st.integers(0, len(raw)))
    e = data.draw(st.integers(s, len(raw)))
    ms, me = m.start(s), m.end(e)
    assert 0 <= ms <= me <= len(m.normalized)
    if _boundary(raw, s) and _boundary(raw, e):
        assert m.normalized[ms:me] == normalize_text(raw[s:e])
    # Rounded outwards, never past the boundaries around the span: it covers every character
    # wholly inside [s, e] and stays within the nearest boundaries outside it.
    bounds = [i for i in range(len(raw) + 1) if _boundary(raw, i)]
    outer_s, outer_e = max(b for b in bounds if b <= s), min(b for b in bounds if b >= e)
    assert m.start(outer_s) <= ms and me <= m.end(outer_e)
    inner = [b for b in bounds if s <= b <= e]
    if inner:
        assert ms <= m.start(inner[0]) and m.end(inner[-1]) <= me


def test_positions_outside_the_text_are_refused():
    m = OffsetMap("ab\r\n")
    for bad in (-1, 5):
        try:
            m.start(bad)
        except ValueError as exc:
            assert "outside" in str(exc)
        else:
            raise AssertionError("expected ValueError")
