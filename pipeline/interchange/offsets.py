"""Map character positions in a source's original text to positions in its normalized text.

REFI-QDA selections count characters (code points) in the source's plain text as the QDA tool
stored it; precode stores text normalized by `pipeline.ingest.decode.normalize_text` (CRLF/CR →
LF, then Unicode NFC), and every offset in the project points into that. Both steps can shorten
the text, so positions are carried through each: a CRLF pair becomes one LF, and a run of a base
character and the marks that NFC composes with it becomes its composed form.

A position that falls inside such a run (between a CR and its LF, or between an `e` and the
combining accent NFC merges into `é`) has no exact counterpart. A selection's start is then moved
back to the start of the run and its end forward to the end of the run, so the mapped span always
covers everything the original span touched.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from functools import lru_cache

# A word (between spaces, tabs and LFs, which NFC never merges across) with a non-ASCII character in it.
_NON_ASCII_WORD = re.compile(r"[^ \t\n]*[^\x00-\x7f][^ \t\n]*")
# Hangul jamo that compose with the syllable before them (Unicode §3.12): vowels and trailing consonants.
_HANGUL_JOINERS = range(0x1161, 0x1176), range(0x11A8, 0x11C3)


@lru_cache(maxsize=1)
def _second_in_composition() -> frozenset[str]:
    """Characters that NFC can merge into the character before them although they are starters."""
    found = set()
    for cp in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                found.add(chr(int(parts[1], 16)))
    for block in _HANGUL_JOINERS:
        found.update(chr(cp) for cp in block)
    return frozenset(found)


def _nfc_runs(text: str) -> list[tuple[int, int]]:
    """Split `text` into runs that NFC normalizes independently.

    A run starts at a character that nothing before it can change: a starter (combining class 0)
    that is already in NFC and is not the second half of any canonical composition.
    """
    joiners = _second_in_composition()
    bounds = [0]
    for i in range(1, len(text)):
        ch = text[i]
        if unicodedata.combining(ch) == 0 and ch not in joiners and unicodedata.is_normalized("NFC", ch):
            bounds.append(i)
    bounds.append(len(text))
    return list(zip(bounds[:-1], bounds[1:]))


def _split_run(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a run NFC changes at every inner position where it could be cut without changing the result."""
    run = text[start:end]
    whole = unicodedata.normalize("NFC", run)
    if len(run) < 3 or len(whole) == len(run):
        return [(start, end)]
    cuts = [start] + [start + i for i in range(1, len(run))
                      if unicodedata.normalize("NFC", run[:i]) + unicodedata.normalize("NFC", run[i:]) == whole]
    return list(zip(cuts, [*cuts[1:], end]))


# The text is mapped in pieces of about this many characters, each ending right after an LF: no
# CRLF pair is cut and NFC never merges across an LF, so the pieces normalize independently and
# no more than one piece's worth of intermediate text (LF text, word lists) exists at a time.
_PIECE = 1 << 16


class OffsetMap:
    """Positions in an original text → positions in `normalize_text(original)`.

    `start(p)` rounds a position inside a merged run down to the run's start, `end(p)` rounds it
    up to the run's end; outside such runs both give the same, exact position.

    Memory: the normalized text once, plus two arrays of 8-byte breakpoints (one pair per CRLF
    and per word NFC shortens); the original is not kept. While it is built, the normalized text
    is gathered as UTF-8 (one byte per ASCII character) and decoded once at the end.
    """

    def __init__(self, original: str | bytes | bytearray):
        """`original`: the text, or its UTF-8 bytes (decoded a piece at a time, so the whole original
        never exists as a string, which takes up to 4 bytes a character)."""
        if isinstance(original, str):
            self.identity = "\r" not in original and unicodedata.is_normalized("NFC", original)
            if self.identity:  # no copy of a (possibly very long) text that needs no change
                self.length = len(original)
                self.normalized = original
                return
        self.identity = False
        # Breakpoints where the two texts are aligned: (original position, normalized position).
        # Between consecutive breakpoints the original run maps to the normalized run as a whole.
        self._orig, self._norm = array("q", [0]), array("q", [0])
        gathered = bytearray()
        begin, done = 0, 0   # where the piece starts in the original, and in the normalized text
        for text in _pieces(original):
            piece, orig, norm = _map_piece(text)
            self._orig.extend(o + begin for o in orig[1:])   # orig[0] == norm[0] == 0: the previous piece's end
            self._norm.extend(n + done for n in norm[1:])
            gathered += piece.encode("utf-8")
            begin, done = begin + len(text), done + len(piece)
            del piece, text
        self.length = begin
        self.normalized = gathered.decode("utf-8")   # = normalize_text(original)
        del gathered
        if self._norm[-1] != len(self.normalized) or self._orig[-1] != self.length:
            raise AssertionError("offset map does not reach the end of the normalized text")

    def start(self, position: int) -> int:
        return self._map(position, round_up=False)

    def end(self, position: int) -> int:
        return self._map(position, round_up=True)

    def _map(self, position: int, round_up: bool) -> int:
        if not 0 <= position <= self.length:
            raise ValueError(f"position {position} is outside the text (0–{self.length})")
        if self.identity:
            return position
        i = bisect_right(self._orig, position) - 1
        if self._orig[i] == position:
            return self._norm[i]
        # Inside a run: a plain one-to-one run maps exactly, a shortened one rounds to its edges.
        run_orig = self._orig[i + 1] - self._orig[i]
        run_norm = self._norm[i + 1] - self._norm[i]
        if run_orig == run_norm:
            return self._norm[i] + position - self._orig[i]
        return self._norm[i + 1] if round_up else self._norm[i]


def _pieces(original: str | bytes | bytearray) -> Iterator[str]:
    """The text in pieces of about `_PIECE` characters (or bytes), each ending right after an LF."""
    if isinstance(original, str):
        begin = 0
        while begin < len(original):
            cut = original.find("\n", begin + _PIECE)
            end = len(original) if cut == -1 else cut + 1
            yield original[begin:end]
            begin = end
        return
    data = memoryview(original)
    begin = 0
    while begin < len(data):   # an LF byte is never part of a multi-byte UTF-8 sequence
        cut = original.find(b"\n", begin + _PIECE)
        end = len(data) if cut == -1 else cut + 1
        yield str(data[begin:end], "utf-8")
        begin = end


def _map_piece(original: str) -> tuple[str, array[int], array[int]]:
    """`normalize_text(original)` with its breakpoints (starting at (0, 0), ending at both lengths)."""
    lf_text, lf_points = _newline_points(original)
    if unicodedata.is_normalized("NFC", lf_text):
        return lf_text, array("q", lf_points[0]), array("q", lf_points[1])
    normalized = unicodedata.normalize("NFC", lf_text)
    # Only words that NFC shortens need breakpoints: the text between them maps one to one. A
    # space, tab or LF is a boundary NFC never crosses, and an ASCII-only word is already NFC.
    lf_orig, lf_norm = lf_points
    shortened: list[tuple[int, int, int]] = []   # (start, end, characters lost) in the LF text
    for word in _NON_ASCII_WORD.finditer(lf_text):
        base = word.start()
        shortened += [(base + a, base + b, lost) for a, b, lost in _shortened_runs(word.group())]
    points = sorted(set(lf_norm).union(*(((a, b) for a, b, _ in shortened))))
    orig, norm = array("q"), array("q")
    lost, i = 0, 0
    for point in points:
        while i < len(shortened) and shortened[i][1] <= point:
            lost += shortened[i][2]
            i += 1
        orig.append(_to_original(lf_orig, lf_norm, point))
        norm.append(point - lost)
    if norm[-1] != len(normalized):
        raise AssertionError("offset map does not reach the end of the normalized text")
    return normalized, orig, norm


@lru_cache(maxsize=1 << 16)
def _shortened_runs(text: str) -> tuple[tuple[int, int, int], ...]:
    """(start, end, characters lost) of each run of a word that NFC shortens; words repeat, so cached."""
    if unicodedata.is_normalized("NFC", text):
        return ()
    runs = [piece for run in _nfc_runs(text) for piece in _split_run(text, *run)]
    pieces = [unicodedata.normalize("NFC", text[a:b]) for a, b in runs]
    if "".join(pieces) != unicodedata.normalize("NFC", text):  # runs must normalize independently
        raise AssertionError("NFC runs do not reproduce the normalized text")
    return tuple((a, b, (b - a) - len(piece)) for (a, b), piece in zip(runs, pieces) if len(piece) != b - a)


def _newline_points(original: str) -> tuple[str, tuple[list[int], list[int]]]:
    """Text with CRLF/CR turned into LF, and aligned breakpoints around every CRLF pair."""
    orig, norm = [0], [0]
    removed = 0
    pos = original.find("\r\n")
    while pos != -1:
        # Aligned before the pair and after it; the pair itself (2 → 1) is one run.
        orig.extend([pos, pos + 2])
        norm.extend([pos - removed, pos - removed + 1])
        removed += 1
        pos = original.find("\r\n", pos + 2)
    orig.append(len(original))
    norm.append(len(original) - removed)
    lf_text = original.replace("\r\n", "\n").replace("\r", "\n")
    return lf_text, _dedupe(orig, norm)


def _dedupe(orig: list[int], norm: list[int]) -> tuple[list[int], list[int]]:
    out_o: list[int] = []
    out_n: list[int] = []
    for o, n in zip(orig, norm):
        if out_o and out_o[-1] == o:
            continue
        out_o.append(o)
        out_n.append(n)
    return out_o, out_n


def _to_original(lf_orig: list[int], lf_norm: list[int], position: int) -> int:
    """A position in the LF text back to the original (LF positions are always aligned points or inside 1:1 runs)."""
    i = bisect_right(lf_norm, position) - 1
    if lf_norm[i] == position:
        return lf_orig[i]
    return lf_orig[i] + position - lf_norm[i]
