"""Training examples from the human codes a project already holds.

Two sources, both placed on the project's current segments:

* **Annotations** of chosen coders (a REFI-QDA import, one coder per QDA user). A transcript with
  at least one annotation by those coders counts as read by them in full: each of its segments is
  labelled for every code, 1 where an annotation counts for the segment, else 0. An annotation
  counts for a segment under `precode eval`'s overlap rule: the overlap covers at least half of the
  annotation or at least half of the segment.
* **Review decisions** (standing ones, any run): an accepted suggestion (or a code a reviewer added
  by hand) labels its segment 1 for the code; an edit labels the corrected code 1 and the suggested
  one 0; a rejection labels the code 0. The other codes of that segment stay unknown.

Codes are mapped to the coding level: a code below it counts for its ancestor at that level; a code
that is not in the codebook, or lies above the level, is counted and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.codebook import Codebook
from pipeline.decisions import Action, current_decisions
from pipeline.errors import PrecodeError
from pipeline.indexing import QuoteUnit
from pipeline.models import Code, Segment, SegmentRole
from pipeline.project import Project
from pipeline.store.annotations import annotation_coders, annotations_of

MIN_OVERLAP = 0.5  # as eval.align.DEFAULT_MIN_OVERLAP


@dataclass
class HumanCodes:
    """What people coded, by code id of any level: `labels[segment id][code id]` is 1.0 or 0.0.

    `full` are the segments read in full (every code not listed there is 0); on the others only
    the listed codes are known.
    """

    segments: dict[str, Segment]
    labels: dict[str, dict[str, float]] = field(default_factory=dict)
    full: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    # segment id -> (start, end, code id, 1.0 | 0.0): the coded spans, for labelling the quote units
    spans: dict[str, list[tuple[int, int, str, float]]] = field(default_factory=dict)

    @property
    def human_coded(self) -> set[str]:
        """Segments a person coded or reviewed (the learned coder does not suggest on them)."""
        return set(self.labels) | self.full


@dataclass
class Examples:
    """Labels at the coding level: `labels[i, j]` is 1, 0 or NaN (unknown) for segment i and code j."""

    segments: list[Segment]
    labels: np.ndarray
    left_out: dict[str, int] = field(default_factory=dict)  # code id -> codings not usable at this level


def level_map(codebook: Codebook, codes: list[Code]) -> dict[str, int]:
    """code id (any level) -> index of the code of `codes` it counts for (itself or its ancestor)."""
    index = {c.id: j for j, c in enumerate(codes)}
    out: dict[str, int] = {}
    for code in codebook.codes:
        for candidate in [code, *reversed(codebook.ancestors(code.id))]:
            if candidate.id in index:
                out[code.id] = index[candidate.id]
                break
    return out


def _overlaps(start: int, end: int, seg: Segment) -> bool:
    overlap = min(end, seg.end) - max(start, seg.start)
    return overlap > 0 and (overlap >= MIN_OVERLAP * (end - start) or overlap >= MIN_OVERLAP * (seg.end - seg.start))


def learning_segments(project: Project) -> list[Segment]:
    """The current transcripts' segments that are coded (participant turns unless interviewers are coded too)."""
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    return project.db.segments([t.id for t in project.db.current_transcripts()], role=role)


def human_codes(project: Project, from_coders: list[str], reviews: bool = True) -> HumanCodes:
    """The human codes of the project on its current segments (see the module docstring)."""
    segments = learning_segments(project)
    by_id = {s.id: s for s in segments}
    by_transcript: dict[str, list[Segment]] = {}
    for s in segments:
        by_transcript.setdefault(s.transcript_id, []).append(s)
    out = HumanCodes(by_id, counts={"annotations": 0, "annotations_older_version": 0, "review_positive": 0,
                                     "review_negative": 0})
    if from_coders:
        known = annotation_coders(project.db.conn)
        missing = [c for c in from_coders if c not in known]
        if missing:
            raise PrecodeError(f"no annotations by coder(s) {', '.join(missing)} in this project",
                               hint=f"annotation coders: {', '.join(known) or 'none (import a .qdpx first: precode import FILE)'}")
        annotations = annotations_of(project.db.conn, from_coders)
        for transcript_id in {a.transcript_id for a in annotations} & set(by_transcript):
            out.full.update(s.id for s in by_transcript[transcript_id])
        for a in annotations:
            if a.transcript_id not in by_transcript:
                out.counts["annotations_older_version"] += 1
                continue
            out.counts["annotations"] += 1
            for s in by_transcript[a.transcript_id]:
                if a.end > a.start and _overlaps(a.start, a.end, s):
                    out.labels.setdefault(s.id, {})[a.code_id] = 1.0
                    out.spans.setdefault(s.id, []).append((a.start, a.end, a.code_id, 1.0))
    if reviews:
        decisions = current_decisions(project.db)
        if decisions:
            suggested = {s.id: (s.segment_id, s.code_id, s.quote_start, s.quote_end)
                         for s in project.db.suggestions_by_id(decisions).values()}
            for suggestion_id, decision in decisions.items():
                if suggestion_id not in suggested or suggested[suggestion_id][0] not in by_id:
                    continue
                segment_id, code_id, q_start, q_end = suggested[suggestion_id]
                seg = by_id[segment_id]
                start, end = (q_start, q_end) if q_start is not None and q_end is not None else (seg.start, seg.end)
                if decision.quote_start is not None and decision.quote_end is not None:
                    start, end = decision.quote_start, decision.quote_end
                row = out.labels.setdefault(segment_id, {})
                spans = out.spans.setdefault(segment_id, [])
                if decision.action is Action.reject:
                    row[code_id] = 0.0
                    spans.append((start, end, code_id, 0.0))
                    out.counts["review_negative"] += 1
                elif decision.accepted:
                    final = decision.code_id or code_id
                    if final != code_id:
                        row[code_id] = 0.0
                        spans.append((start, end, code_id, 0.0))
                        out.counts["review_negative"] += 1
                    row[final] = 1.0
                    spans.append((start, end, final, 1.0))
                    out.counts["review_positive"] += 1
    return out


def examples_at_level(codes_by_people: HumanCodes, codebook: Codebook, codes: list[Code]) -> Examples:
    """The human codes as a label matrix over `codes` (codes below the level count for their ancestor)."""
    to_level = level_map(codebook, codes)
    left_out: dict[str, int] = {}
    ids = [i for i in codes_by_people.segments if i in codes_by_people.human_coded]
    labels = np.full((len(ids), len(codes)), np.nan)
    for row, segment_id in enumerate(ids):
        if segment_id in codes_by_people.full:
            labels[row] = 0.0
        for code_id, value in codes_by_people.labels.get(segment_id, {}).items():
            if code_id not in to_level:
                left_out[code_id] = left_out.get(code_id, 0) + 1
                continue
            j = to_level[code_id]
            # a code under a level code makes it present; a rejected one says nothing about its siblings
            if value == 1.0 or (np.isnan(labels[row, j]) and codes[j].id == code_id):
                labels[row, j] = value
    return Examples([codes_by_people.segments[i] for i in ids], labels, left_out)


def unit_labels(people: HumanCodes, units: list[QuoteUnit], codebook: Codebook, codes: list[Code]) -> np.ndarray:
    """Labels of quote units (n_units, n_codes): 1/0/NaN from the coded spans that count for each unit.

    A unit of a segment read in full is 0 for every code no span marks it with; a span counts for a
    unit under the same overlap rule as for segments. On a reviewed segment, the units a decision's
    quote does not cover stay unknown.
    """
    to_level = level_map(codebook, codes)
    out = np.full((len(units), len(codes)), np.nan)
    for row, unit in enumerate(units):
        if unit.segment_id in people.full:
            out[row] = 0.0
        for start, end, code_id, value in people.spans.get(unit.segment_id, []):
            overlap = min(end, unit.end) - max(start, unit.start)
            if code_id not in to_level or overlap <= 0 or not (
                    overlap >= MIN_OVERLAP * (end - start) or overlap >= MIN_OVERLAP * (unit.end - unit.start)):
                continue
            j = to_level[code_id]
            if value == 1.0 or (np.isnan(out[row, j]) and codes[j].id == code_id):
                out[row, j] = value
    return out

