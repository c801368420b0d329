"""Locate a model's quote in the text it claims to quote: exact, normalized, fuzzy, or ungrounded.

LLMs "clean" quotes: they straighten curly quotes, change dashes, fix case, collapse whitespace,
drop fillers and elide with "...". A quote is evidence only if it points at real transcript text,
so every quote is located, in this order:

1. exact — the quote (trimmed of surrounding whitespace) occurs verbatim.
2. normalized — it occurs once both texts are normalized character by character: Unicode NFKC
   (so "…" is "...", a no-break space is a space, fullwidth forms are ASCII), curly quotes and
   primes to straight quotes, every dash to "-", case folded, whitespace runs to one space; quote
   marks, ellipses and end punctuation around the quote are ignored.
3. fuzzy — the best-aligned span (rapidfuzz partial-ratio alignment, widened to whole words and
   then adjusted word by word to the best `fuzz.ratio`) scores at least `FUZZY_THRESHOLD` out of
   100 against the normalized quote, and the quote has at least `FUZZY_MIN_CHARS` characters.
   85 admits dropped fillers, contractions and number words ("I am not proud of that but it is
   the truth" for "I'm not proud of that, but it's the truth," scores about 90) and rejects
   paraphrase, which scores 50–75.
4. ungrounded — none of these (or the quote has no letter or digit); no offsets. Nothing falls back
   to the whole text.

Two kinds of quote are never evidence, even when their words are in the text (`note` says why):
- `elided`: a quote with "..." / "…" inside it ("first words … last words", "a ... b ... c"). The
  model did not write the text between the parts, so no span covers them: each part is located
  in order in the text (exactly or normalized, never fuzzily) and kept in `parts` (offsets of real
  text), and the quote itself is ungrounded. A transcript's own "..." (a pause) is matched exactly
  first, so a verbatim quote that contains one stays exact.
- `too_short`: fewer than `min_words` words (a one-word "and" points at nothing in particular).

Offsets are always of the matched span in the original text (plus `offset`), so
`source[start - offset:end - offset]` is verbatim transcript text whatever the quote looked like.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from pipeline.models import Grounding

FUZZY_THRESHOLD = 85.0
FUZZY_MIN_CHARS = 12
ELISION_MIN_PART = 3  # characters in each part of an elided quote

_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_TRIM = " \"'.,;:!?-"
_ALNUM = re.compile(r"[^\W_]")


class QuoteMatch(BaseModel):
    """Where a quote was found; `start`/`end` are None exactly when it is ungrounded."""

    grounding: Grounding
    start: int | None = None
    end: int | None = None
    score: float  # 100 for exact and normalized; the fuzzy ratio otherwise (best found when ungrounded)
    note: Literal["elided", "too_short"] | None = None  # why a quote whose words may be in the text is no evidence
    parts: list[tuple[int, int]] = Field(default_factory=list)  # elided: where each part is, in order


WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def word_count(quote: str) -> int:
    return len(WORD.findall(quote))


@lru_cache(maxsize=4096)
def _normalize_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).translate(_CHAR_MAP).casefold()


def normalize(text: str) -> tuple[str, list[int]]:
    """The normalized text and, for each of its characters, the index of the source character."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        for c in _normalize_char(ch):
            if c.isspace():
                if not chars or chars[-1] == " ":
                    continue
                c = " "
            chars.append(c)
            index.append(i)
    while chars and chars[-1] == " ":
        chars.pop()
        index.pop()
    return "".join(chars), index


def _span(index: list[int], a: int, b: int, offset: int) -> tuple[int, int]:
    """Source offsets of normalized characters a..b (exclusive)."""
    return index[a] + offset, index[b - 1] + 1 + offset


def _find_elided(parts: list[str], ntext: str) -> list[tuple[int, int]] | None:
    """Normalized spans of each part, in order and not overlapping; None if one is missing."""
    pos, spans = 0, []
    for part in parts:
        found = ntext.find(part, pos)
        if found < 0:
            return None
        spans.append((found, found + len(part)))
        pos = found + len(part)
    return spans


def _word_starts(ntext: str) -> list[int]:
    return [i for i in range(len(ntext)) if ntext[i].isalnum() and (i == 0 or not ntext[i - 1].isalnum())]


def _word_ends(ntext: str) -> list[int]:
    return [i + 1 for i in range(len(ntext)) if ntext[i].isalnum() and (i + 1 == len(ntext) or not ntext[i + 1].isalnum())]


def _fuzzy(nquote: str, ntext: str) -> tuple[float, int, int]:
    """Best (ratio, start, end) of a whole-word span of ntext against nquote."""
    if len(nquote) >= len(ntext):
        return fuzz.ratio(nquote, ntext), 0, len(ntext)
    alignment = fuzz.partial_ratio_alignment(nquote, ntext)
    starts, ends = _word_starts(ntext), _word_ends(ntext)
    if not starts or alignment is None:
        return 0.0, 0, 0
    # the word starts/ends nearest the alignment, then two words either way
    s_i = max((i for i, s in enumerate(starts) if s <= alignment.dest_start), default=0)
    e_i = min((i for i, e in enumerate(ends) if e >= alignment.dest_end), default=len(ends) - 1)
    best = (0.0, 0, 0)
    for si in range(max(0, s_i - 2), min(len(starts), s_i + 3)):
        for ei in range(max(0, e_i - 2), min(len(ends), e_i + 3)):
            a, b = starts[si], ends[ei]
            if b <= a:
                continue
            score = fuzz.ratio(nquote, ntext[a:b])
            if score > best[0]:
                best = (score, a, b)
    return best


def evidence_note(quote: str, min_words: int = 1) -> Literal["elided", "too_short"] | None:
    """Why a quote is no evidence by its form alone (whatever text it is looked for in), else None."""
    if word_count(quote) < min_words:
        return "too_short"
    parts = [p for p in (p.strip(_TRIM) for p in normalize(quote)[0].strip(_TRIM).split("...")) if p]
    return "elided" if len(parts) > 1 else None


def describe_evidence(note: str, quote: str, parts: list[tuple[int, int]]) -> str:
    """A `note` worded for review and export: "elided: 3 parts found in order", "too short: 1 word"."""
    if note == "elided":
        written = [p for p in (p.strip(_TRIM) for p in normalize(quote)[0].strip(_TRIM).split("...")) if p]
        if parts:
            return f"elided: {len(parts)} parts found in order (no span covers them)"
        return f"elided: {len(written)} parts, not found in order"
    if note == "too_short":
        n = word_count(quote)
        return f"too short: {n} word{'s' if n != 1 else ''}"
    return note


def ground_quote(quote: str, text: str, offset: int = 0, threshold: float = FUZZY_THRESHOLD,
                 min_words: int = 1) -> QuoteMatch:
    """Locate `quote` in `text`; offsets are into `text` plus `offset` (e.g. a segment's start).

    A quote of fewer than `min_words` words, and an elided one, come back ungrounded with a `note`.
    """
    stripped = quote.strip()
    if not _ALNUM.search(stripped):  # empty, or punctuation alone: no evidence
        return QuoteMatch(grounding=Grounding.ungrounded, score=0.0)
    if word_count(stripped) < min_words:
        return QuoteMatch(grounding=Grounding.ungrounded, score=0.0, note="too_short")
    found = text.find(stripped)
    if found >= 0:
        return QuoteMatch(grounding=Grounding.exact, start=offset + found, end=offset + found + len(stripped),
                          score=100.0)
    nquote = normalize(quote)[0].strip(_TRIM)
    if not nquote:
        return QuoteMatch(grounding=Grounding.ungrounded, score=0.0)
    ntext, index = normalize(text)
    parts = [p.strip(_TRIM) for p in nquote.split("...")]
    parts = [p for p in parts if p]
    if len(parts) == 1:
        found = ntext.find(parts[0])
        if found >= 0:
            start, end = _span(index, found, found + len(parts[0]), offset)
            return QuoteMatch(grounding=Grounding.normalized, start=start, end=end, score=100.0)
    else:  # elided: each part in order, never one span over text the model did not write
        spans = _find_elided(parts, ntext) if all(len(p) >= ELISION_MIN_PART for p in parts) else None
        located = [_span(index, a, b, offset) for a, b in spans] if spans else []
        return QuoteMatch(grounding=Grounding.ungrounded, score=100.0 if located else 0.0, note="elided",
                          parts=located)
    target = " ".join(parts)
    if len(target) < FUZZY_MIN_CHARS or not ntext:
        return QuoteMatch(grounding=Grounding.ungrounded, score=0.0)
    score, a, b = _fuzzy(target, ntext)
    if score >= threshold and b > a:
        start, end = _span(index, a, b, offset)
        return QuoteMatch(grounding=Grounding.fuzzy, start=start, end=end, score=round(score, 1))
    return QuoteMatch(grounding=Grounding.ungrounded, score=round(score, 1))
