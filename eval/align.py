"""Units of analysis and the coder x unit x code presence array every metric works on.

Three kinds of unit:

* ``unit`` — the free unit ids of segment-level files (`unit,coder,code`).
* ``segment`` — the project's participant segments of the current transcript versions. A span
  counts for a segment when the overlap covers at least `min_overlap` of the span *or* at least
  `min_overlap` of the segment (default 0.5 for both). The first arm keeps a quote or a sentence
  with the one segment that holds most of it; the second lets a long span (a coder who coded a
  whole answer that precode split into pieces) count for every piece it mostly covers. A span
  that only grazes a segment (a trailing word across a boundary) does not count there. A span
  that meets neither arm anywhere (mostly on interviewer text) is reported, not guessed.
* ``char`` — every character of the coded transcripts (NVivo style). Characters are not looped
  over: the span boundaries cut each transcript into runs of identically coded characters, which
  become units weighted by their length (interval arithmetic with a difference array).

Missing data: a unit a coder never saw (a transcript it did not code, or for segment-level files
with ``missing='missing'`` a unit it has no row for) is either *missing* (left out of that
coder's pairs; alpha handles it) or *absent* (counted as coded with no code).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from eval.inputs import Problem, SpanCoding, SpanInput, UnitCoding, UnitTable
from pipeline.errors import PrecodeError
from pipeline.models import Segment, Transcript

MISSING_MODES = ("absent", "missing")
DEFAULT_MIN_OVERLAP = 0.5


@dataclass
class Units:
    """The units of analysis, with where they are in the transcripts when they have a place."""

    kind: str  # "unit" | "segment" | "char"
    ids: list[str]
    weights: np.ndarray | None = None  # char: characters per run
    transcript: list[str | None] = field(default_factory=list)  # transcript name per unit
    start: list[int | None] = field(default_factory=list)
    end: list[int | None] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    context: list[str | None] = field(default_factory=list)  # the interviewer question before a segment

    def __len__(self) -> int:
        return len(self.ids)

    def size(self) -> int:
        """Number of units counted (characters in char mode)."""
        return int(self.weights.sum()) if self.weights is not None else len(self.ids)


@dataclass
class Aligned:
    """Presence (n_coders, n_units, n_codes) and observed (n_coders, n_units), both bool."""

    units: Units
    coders: list[str]
    codes: list[str]
    presence: np.ndarray
    observed: np.ndarray
    description: str
    missing: str
    min_overlap: float | None = None
    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # code -> where it was first applied


def _first_sources(codings: list[Any]) -> dict[str, str]:
    sources: dict[str, str] = {}
    for c in codings:
        if c.code is not None:
            sources.setdefault(c.code, c.source)
    return sources


def _check_missing(missing: str) -> None:
    if missing not in MISSING_MODES:
        raise PrecodeError(f"unknown --missing mode '{missing}'", hint=f"choose one of: {', '.join(MISSING_MODES)}")


def _index(values: list[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


def _coverage(spans: SpanInput, coders: list[str], unit_transcripts: list[str]) -> np.ndarray:
    """(n_coders, n_units) bool: the unit's transcript is one the coder coded."""
    names = list(dict.fromkeys(unit_transcripts))
    per_unit = np.array([_index(names)[t] for t in unit_transcripts], dtype=np.int64)
    table = np.array([[t in spans.coverage[c] for t in names] for c in coders], dtype=bool)
    return table.reshape(len(coders), len(names))[:, per_unit]


def _missing_text(missing: str, what: str) -> str:
    if missing == "missing":
        return f"A {what} a coder did not code counts as missing for that coder (pairwise statistics use the units " \
               "both coders saw; alpha uses every unit seen by at least two coders)."
    return f"A {what} a coder did not code counts as coded with no code by that coder."


# -- segment-level files ------------------------------------------------------------------------------
def _unit_columns(codings: Sequence[UnitCoding] | Sequence[UnitTable]) -> tuple[
        list[str], list[str], list[str | None], Callable[[int], str]]:
    """(unit, coder, code, source of row i) of row objects or of column tables."""
    if codings and all(isinstance(c, UnitTable) for c in codings):
        tables = [t for t in codings if isinstance(t, UnitTable)]
        starts = np.cumsum([0] + [len(t) for t in tables])

        def table_source(i: int) -> str:
            k = int(np.searchsorted(starts, i, side="right")) - 1
            return tables[k].source(i - int(starts[k]))

        return ([u for t in tables for u in t.unit], [c for t in tables for c in t.coder],
                [k for t in tables for k in t.code], table_source)
    rows = [c for c in codings if isinstance(c, UnitCoding)]
    return [c.unit for c in rows], [c.coder for c in rows], [c.code for c in rows], lambda i: rows[i].source


def align_units(codings: Sequence[UnitCoding] | Sequence[UnitTable], universe: list[str] | None = None,
                missing: str = "absent") -> Aligned:
    """Presence over the unit ids of segment-level files (the universe: `universe`, else every unit named).

    `codings` are rows, or the column tables `read_unit_file` returns (vectorized: no loop over rows).
    """
    _check_missing(missing)
    unit, coder, code, source = _unit_columns(codings)
    n = len(unit)
    if universe is not None:
        u_ix = _index(list(universe))
        outside = [i for i, u in enumerate(unit) if u not in u_ix]
        if outside:
            listed = ", ".join(f"'{unit[i]}' ({source(i)})" for i in outside[:5])
            raise PrecodeError(f"unit(s) not in the --units file: {listed}",
                               hint="add them to the units file or correct the unit ids")
        ids = list(universe)
    else:
        ids = list(dict.fromkeys(unit))
        u_ix = _index(ids)
    coders = list(dict.fromkeys(coder))
    codes = sorted({k for k in code if k is not None})
    c_ix = _index(coders)
    k_ix: dict[str | None, int] = {k: i for i, k in enumerate(codes)}
    k_ix[None] = -1
    u_idx = np.fromiter(map(u_ix.__getitem__, unit), dtype=np.intp, count=n)
    c_idx = np.fromiter(map(c_ix.__getitem__, coder), dtype=np.intp, count=n)
    k_idx = np.fromiter(map(k_ix.__getitem__, code), dtype=np.intp, count=n)
    has_code = k_idx >= 0
    presence = np.zeros((len(coders), len(ids), len(codes)), dtype=bool)
    seen = np.zeros((len(coders), len(ids)), dtype=bool)
    seen[c_idx, u_idx] = True
    presence[c_idx[has_code], u_idx[has_code], k_idx[has_code]] = True
    _, first = np.unique(k_idx[has_code], return_index=True)
    rows_with_code = np.flatnonzero(has_code)
    sources = {codes[int(k_idx[rows_with_code[f]])]: source(int(rows_with_code[f])) for f in first}
    observed = seen if missing == "missing" else np.ones_like(seen)
    origin = "listed in the --units file" if universe is not None else "named in the input file(s)"
    description = (f"Unit of analysis: the units of the segment-level input ({len(ids)} units {origin}). "
                   + ("A unit a coder has no row for counts as missing for that coder."
                      if missing == "missing" else "A unit a coder has no row for counts as coded with no code."))
    units = Units(kind="unit", ids=ids, transcript=[None] * len(ids), start=[None] * len(ids),
                  end=[None] * len(ids), text=[None] * len(ids), context=[None] * len(ids))
    return Aligned(units, coders, codes, presence, observed, description, missing, sources=sources)


# -- segments -------------------------------------------------------------------------------------------
def overlap_hits(starts: np.ndarray, ends: np.ndarray, seg_starts: np.ndarray, seg_ends: np.ndarray,
                 min_overlap: float = DEFAULT_MIN_OVERLAP) -> np.ndarray:
    """(n_spans, n_segments) bool: the span counts for the segment under the overlap rule (module doc)."""
    s, e = np.asarray(starts)[:, None], np.asarray(ends)[:, None]
    a, b = np.asarray(seg_starts)[None, :], np.asarray(seg_ends)[None, :]
    overlap = np.clip(np.minimum(e, b) - np.maximum(s, a), 0, None)
    return np.asarray((overlap > 0) & ((overlap >= min_overlap * (e - s)) | (overlap >= min_overlap * (b - a))))


def align_segments(spans: SpanInput, segments: list[Segment], transcripts: dict[str, Transcript],
                   min_overlap: float = DEFAULT_MIN_OVERLAP, missing: str = "missing") -> Aligned:
    """Presence over segments; `segments` are the units (participant segments of the coded transcripts)."""
    _check_missing(missing)
    if not 0 < min_overlap <= 1:
        raise PrecodeError(f"--min-overlap must be in (0, 1]; got {min_overlap}")
    coders = list(spans.coverage)
    codings = [c for c in spans.codings if c.code is not None]
    codes = sorted({c.code for c in codings if c.code is not None})
    c_ix, k_ix, u_ix = _index(coders), _index(codes), _index([s.id for s in segments])
    presence = np.zeros((len(coders), len(segments), len(codes)), dtype=bool)
    problems: list[Problem] = []
    by_transcript: dict[str, list[SpanCoding]] = {}
    for c in codings:
        if c.segment_id is not None and c.segment_id in u_ix:
            presence[c_ix[c.coder], u_ix[c.segment_id], k_ix[str(c.code)]] = True
        else:
            by_transcript.setdefault(c.transcript_id, []).append(c)
    for transcript_id, group in by_transcript.items():
        rows = [i for i, s in enumerate(segments) if s.transcript_id == transcript_id]
        seg_starts = np.array([segments[i].start for i in rows], dtype=np.int64)
        seg_ends = np.array([segments[i].end for i in rows], dtype=np.int64)
        hits = overlap_hits(np.array([c.start for c in group]), np.array([c.end for c in group]),
                            seg_starts, seg_ends, min_overlap)
        for coding, row in zip(group, hits, strict=True):
            if not row.any():
                problems.append(Problem(source=coding.source, message=(
                    f"span {coding.start}-{coding.end} of '{transcripts[transcript_id].name}' ({coding.coder}, "
                    f"{coding.code}) does not cover {min_overlap:.0%} of itself or of any participant segment; "
                    "left out")))
                continue
            for r in np.flatnonzero(row):
                presence[c_ix[coding.coder], rows[r], k_ix[str(coding.code)]] = True
    covered = _coverage(spans, coders, [s.transcript_id for s in segments])
    observed = covered if missing == "missing" else np.ones_like(covered)
    names = sorted({transcripts[s.transcript_id].name for s in segments})
    description = (
        f"Unit of analysis: the segment — a participant turn of the current transcript version, or a "
        f"sentence-aligned piece of a long turn — {len(segments)} segments in {len(names)} transcript(s). "
        f"A span code counts for a segment when the overlap covers at least {min_overlap:.0%} of the span or "
        f"at least {min_overlap:.0%} of the segment. " + _missing_text(missing, "transcript"))
    units = Units(
        kind="segment", ids=[s.id for s in segments],
        transcript=[transcripts[s.transcript_id].name for s in segments],
        start=[s.start for s in segments], end=[s.end for s in segments], text=[s.text for s in segments],
        context=[s.context for s in segments],
    )
    return Aligned(units, coders, codes, presence, observed, description, missing, min_overlap, problems,
                   _first_sources(codings))


# -- characters -------------------------------------------------------------------------------------------
def align_chars(spans: SpanInput, transcripts: dict[str, Transcript], missing: str = "missing") -> Aligned:
    """Presence over runs of identically coded characters of the coded transcripts, weighted by length.

    `transcripts` (id -> transcript) are the transcripts whose every character is a unit.
    """
    _check_missing(missing)
    coders = list(spans.coverage)
    codings = [c for c in spans.codings if c.code is not None and c.transcript_id in transcripts]
    codes = sorted({c.code for c in codings if c.code is not None})
    c_ix, k_ix = _index(coders), _index(codes)
    order = sorted(transcripts, key=lambda t: transcripts[t].name)
    cuts: dict[str, list[int]] = {tid: [0, len(transcripts[tid].text)] for tid in order}
    for c in codings:
        cuts[c.transcript_id] += [c.start, c.end]
    bounds: dict[str, np.ndarray] = {}
    offsets: dict[str, int] = {}
    total = 0
    for tid in order:
        bounds[tid] = np.unique(np.asarray(cuts[tid], dtype=np.int64))
        offsets[tid] = total
        total += len(bounds[tid]) - 1
    n_groups = len(coders) * len(codes)
    diff = np.zeros((max(n_groups, 1), total + 1), dtype=np.int32)
    if codings:
        group = np.array([c_ix[c.coder] * len(codes) + k_ix[str(c.code)] for c in codings])
        first = np.array([np.searchsorted(bounds[c.transcript_id], c.start) + offsets[c.transcript_id]
                          for c in codings])
        stop = np.array([np.searchsorted(bounds[c.transcript_id], c.end) + offsets[c.transcript_id] for c in codings])
        np.add.at(diff, (group, first), 1)
        np.add.at(diff, (group, stop), -1)
    cover = np.cumsum(diff, axis=1)[:n_groups, :total] > 0
    presence = cover.reshape(len(coders), len(codes), total).transpose(0, 2, 1)
    weights = np.zeros(total)
    units = Units(kind="char", ids=[], weights=weights)
    unit_transcript: list[str] = []
    for tid in order:
        b, name, text = bounds[tid], transcripts[tid].name, transcripts[tid].text
        lo = offsets[tid]
        weights[lo:lo + len(b) - 1] = np.diff(b)
        for s, e in zip(b[:-1].tolist(), b[1:].tolist(), strict=True):
            units.ids.append(f"{name}:{s}-{e}")
            units.transcript.append(name)
            units.start.append(s)
            units.end.append(e)
            units.text.append(text[s:e])
            units.context.append(None)
            unit_transcript.append(tid)
    covered = _coverage(spans, coders, unit_transcript)
    observed = covered if missing == "missing" else np.ones_like(covered)
    description = (
        f"Unit of analysis: the character (NVivo style) — every character of {len(order)} coded transcript(s), "
        f"{units.size():,} characters, computed as {total:,} runs of identically coded characters weighted by "
        "their length. Kappa is the standard Cohen's kappa with each coder's own marginals; NVivo's coding "
        "comparison uses a different chance term, so its kappas are not comparable. Bootstrap intervals "
        "resample the runs (characters are not independent). " + _missing_text(missing, "transcript"))
    return Aligned(units, coders, codes, np.ascontiguousarray(presence), observed, description, missing,
                   sources=_first_sources(codings))


# -- after alignment ----------------------------------------------------------------------------------------
def select_coders(aligned: Aligned, names: list[str]) -> Aligned:
    """Only these coders (in this order), e.g. `--coders A,B` on inputs with more coders."""
    idx = [aligned.coders.index(n) for n in names]
    return replace(aligned, coders=[aligned.coders[i] for i in idx], presence=aligned.presence[idx],
                   observed=aligned.observed[idx])


def case_variant_problems(aligned: Aligned) -> list[Problem]:
    """Codes that differ only in case ('Staff' and 'staff') are kept apart, and reported."""
    groups: dict[str, list[str]] = {}
    for code in aligned.codes:
        groups.setdefault(code.casefold(), []).append(code)
    return [Problem(source=aligned.sources.get(variants[0], "codes"),
                    message=f"codes {' and '.join(repr(v) for v in variants)} differ only in case; they are "
                            f"compared as {len(variants)} different codes (correct the spelling if they are one)")
            for variants in groups.values() if len(variants) > 1]
