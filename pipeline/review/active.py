"""Review learns (`precode review --learn`): retrain the learned model on the decisions made so far,
re-rank the queue by its uncertainty, and propose codes the run's coder did not suggest.

Retraining is the `learned` coder's own training (`pipeline.coders.learned.LearnedCoder.train`:
a calibrated class-balanced logistic regression per code on the stored sentence vectors, the
codebook descriptions as a prior) on the project's human codes: the standing review decisions of
every run (this session's included) and, when given, the annotations of chosen coders (a learned
run's own `--from-coder`). It reuses every stored vector, so it takes seconds, and it runs after
every `every` decisions of the session or when the reviewer asks, never per keystroke.

The model then scores every participant segment of the run's transcripts, per code at the run's
level: a segment's probability of a code is that of its best quote unit (as the learned coder
decides).

* **Learned order** (`Order.learned`): the run's suggestions by |p − 0.5| of their code on their
  segment, smallest first (the model least sure first: the decisions that teach it most), then in
  reading order; a suggestion the model cannot score (a code outside the run's level, a segment
  outside the coded roles) comes last. The stored `uncertainty` order (by the coder's own score) is
  unchanged.
* **Proposals**: a (segment, code) the run has no suggestion for, no reviewer added by hand and no
  person labelled, that the model's decision rule applies and whose probability is at least
  `propose_min`, becomes a suggestion of the run under review: the best quote unit, verbatim with
  exact offsets, scored with the probability, and its provenance (model, training size, reviewer,
  time) in `learned_proposals`. It is reviewed like any suggestion, and once accepted it is exported
  like any accepted suggestion. The run's `precode eval` then counts it too (see docs/review.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import suggestion_id as make_suggestion_id
from pipeline.coders.learned import LearnedCoder
from pipeline.learn.examples import HumanCodes, human_codes, learning_segments, level_map
from pipeline.learn.model import LearnedModel, LearnOptions, decide, features
from pipeline.learn.vectors import context_vectors
from pipeline.models import Grounding, Run, Segment, Suggestion, utcnow
from pipeline.project import Project
from pipeline.review.models import LearnStatus
from pipeline.reviewed import run_transcript_ids
from pipeline.store import proposals as proposal_store
from pipeline.store import review as review_store
from pipeline.store.proposals import LearnedProposal

if TYPE_CHECKING:
    from pipeline.indexing import QuoteUnit

DEFAULT_EVERY = 10  # retrain after this many decisions of the session
DEFAULT_PROPOSE_MIN = 0.8  # propose a code the model gives at least this probability
PROPOSE_LIMIT = 200  # at most this many proposals per retrain (the most probable first)


@dataclass
class LearnSettings:
    """How a review session learns (the `precode review --learn` options)."""

    every: int = DEFAULT_EVERY  # 0: only when the reviewer asks
    propose: bool = True
    propose_min: float = DEFAULT_PROPOSE_MIN
    from_coders: list[str] = field(default_factory=list)  # annotations to learn from besides the decisions


@dataclass
class Scores:
    """The model's view of the run's segments: per segment (rows) and code (columns) at the run's level."""

    segments: list[Segment]
    row: dict[str, int]
    probability: np.ndarray  # (n, c)
    applied: np.ndarray  # (n, c) the model's decision rule
    best_unit: np.ndarray  # (n, c) index into `units` of each code's best quote unit in the segment (-1: none)
    units: list[QuoteUnit]


def model_name(embedder: str) -> str:
    return f"learned: logistic regression per code on {embedder} vectors"


class ActiveLearner:
    """The learned model of one review session: retrained on demand, ranking and proposing."""

    def __init__(self, project: Project, run: Run, codebook: Codebook, reviewer: str, settings: LearnSettings):
        self.project, self.run, self.codebook, self.reviewer, self.settings = project, run, codebook, reviewer, settings
        self.codes = codebook.at_level(run.level or LEAF_LEVEL)
        self.to_level = level_map(codebook, self.codes)
        if not settings.from_coders and run.coder == "learned":
            settings.from_coders = [str(c) for c in run.params.get("from_coders") or []]
        params = run.params if run.coder == "learned" else {}
        self.options = LearnOptions(C=float(params.get("C", 1.0)), prior_weight=float(params.get("prior_weight", 1.0)),
                                    context_weight=float(params.get("context_weight", 0.5)))
        self.embedder = project.embeddings.embedder.name
        self.model: LearnedModel | None = None
        self.people: HumanCodes | None = None
        self.scores: Scores | None = None
        self.trained_on = (0, 0)  # human-coded segments, labelled quote units
        self.status = LearnStatus(enabled=True, model=model_name(self.embedder), every=settings.every)

    # -- training and scoring ---------------------------------------------------------------------
    def _scope(self) -> list[Segment]:
        """The coded segments (participant turns, unless interviewers are coded) of the run's transcripts."""
        transcripts = run_transcript_ids(self.project.db, self.run.id)
        return [s for s in learning_segments(self.project) if s.transcript_id in transcripts]

    def retrain(self) -> LearnStatus:
        """Train on the human codes as they stand now, then score the run's segments and propose."""
        began = time.perf_counter()
        people = human_codes(self.project, self.settings.from_coders, reviews=True)
        coder = LearnedCoder(people, self.embedder, self.settings.from_coders, True, self.options)
        embeddings = self.project.embeddings
        self.model = coder.train(self.codebook, self.codes, embeddings)
        self.people = people
        self.trained_on = (int(coder.report.get("labelled_segments", 0)),
                           int(coder.report.get("labelled_quote_units", 0)))
        self.scores = self._score(self.model, self._scope())
        proposed = self.propose() if self.settings.propose else 0
        self.status = self.status.model_copy(update={
            "trained_at": utcnow(), "seconds": round(time.perf_counter() - began, 2),
            "training_segments": self.trained_on[0], "training_units": self.trained_on[1],
            "examples": dict(people.counts), "decisions_since": 0, "proposed": proposed,
            "proposals_total": len(proposal_store.run_learned_proposals(self.project.db.conn, self.run.id)),
        })
        return self.status

    def _score(self, model: LearnedModel, segments: list[Segment]) -> Scores:
        n, c = len(segments), len(self.codes)
        probability = np.zeros((n, c))
        d_seg = np.full((n, c), -np.inf)
        best = np.full((n, c), -1, dtype=np.int64)
        units: list[QuoteUnit] = []
        if n and c:
            embeddings = self.project.embeddings
            sv = embeddings.segments(segments)
            units = sv.units
            ctx = context_vectors(segments, embeddings.embedder, embeddings.texts)
            unit_ctx = None if ctx is None else np.repeat(ctx, np.diff(sv.offsets), axis=0)
            d_units = model.decision(features(sv.vectors, unit_ctx, self.options))
            p_units = model.proba(np.zeros((len(d_units), 0)), d_units)
            for i in range(n):  # a segment has a code when its best quote unit has it (as the learned coder)
                lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
                if hi > lo:
                    best[i] = lo + d_units[lo:hi].argmax(axis=0)
                    d_seg[i] = d_units[lo:hi].max(axis=0)
                    probability[i] = p_units[lo:hi].max(axis=0)
        applied = decide(np.where(np.isfinite(d_seg), d_seg, -1e9), probability, model.fitted.constant, False, False)
        applied &= np.isfinite(d_seg)
        return Scores(segments, {s.id: i for i, s in enumerate(segments)}, probability, applied, best, units)

    # -- the learned order ------------------------------------------------------------------------
    def uncertainty(self, segment_ids: list[str], code_ids: list[str]) -> np.ndarray:
        """|p − 0.5| of each (segment, code) pair (inf where the model has no score for it)."""
        out = np.full(len(segment_ids), np.inf)
        if self.scores is None:
            return out
        for i, (segment_id, code_id) in enumerate(zip(segment_ids, code_ids, strict=True)):
            row, j = self.scores.row.get(segment_id), self.to_level.get(code_id)
            if row is not None and j is not None:
                out[i] = abs(float(self.scores.probability[row, j]) - 0.5)
        return out

    def probability(self, segment_id: str, code_id: str) -> float | None:
        if self.scores is None:
            return None
        row, j = self.scores.row.get(segment_id), self.to_level.get(code_id)
        return None if row is None or j is None else round(float(self.scores.probability[row, j]), 4)

    # -- proposals --------------------------------------------------------------------------------
    def candidates(self) -> list[tuple[int, int]]:
        """(segment row, code column) pairs to propose, the most probable first."""
        assert self.scores is not None and self.people is not None
        scores, people = self.scores, self.people
        conn = self.project.db.conn
        runs = [self.run.id, *review_store.manual_run_ids(conn, self.run.codebook_hash)]
        taken = {(seg, self.to_level[code]) for seg, code in review_store.suggested_pairs(conn, runs)
                 if code in self.to_level}
        known = {(seg, self.to_level[code]) for seg, labels in people.labels.items() for code in labels
                 if code in self.to_level}
        rows, cols = np.nonzero(scores.applied & (scores.probability >= self.settings.propose_min))
        out = []
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            seg = scores.segments[i]
            if seg.id in people.full or (seg.id, j) in taken or (seg.id, j) in known or scores.best_unit[i, j] < 0:
                continue
            out.append((i, j))
        out.sort(key=lambda ij: (-scores.probability[ij], ij))
        return out[:PROPOSE_LIMIT]

    def propose(self) -> int:
        """Add the confident codes nobody suggested as suggestions of the run, with their provenance."""
        assert self.scores is not None and self.people is not None
        scores, counts = self.scores, self.people.counts
        report = {"annotations": counts.get("annotations", 0), "accepted": counts.get("review_positive", 0),
                  "rejected": counts.get("review_negative", 0)}
        training, units = self.trained_on
        name = model_name(self.embedder)
        now = utcnow()
        suggestions, provenance = [], []
        for i, j in self.candidates():
            seg, code = scores.segments[i], self.codes[j]
            unit = scores.units[int(scores.best_unit[i, j])]
            start, end, text = unit.start, unit.end, unit.text
            p = round(float(scores.probability[i, j]), 4)
            sid = make_suggestion_id(self.run.id, seg.id, code.id)
            suggestions.append(Suggestion(
                id=sid, run_id=self.run.id, segment_id=seg.id, transcript_id=seg.transcript_id, code_id=code.id,
                quote=text, quote_start=start, quote_end=end, grounding=Grounding.exact, score=p, created_at=now,
                rationale=(f"Proposed by the learned model while {self.reviewer} reviewed ({name}; trained on "
                           f"{training} human-coded segments: {report['annotations']} annotations, "
                           f"{report['accepted']} accepted and {report['rejected']} rejected review decisions). "
                           f"The run's coder did not suggest this code here."),
            ))
            provenance.append(LearnedProposal(
                suggestion_id=sid, run_id=self.run.id, reviewer=self.reviewer, model=name,
                training_segments=training, training_units=units, probability=p,
                params={**self.options.as_params(), "from_coders": self.settings.from_coders,
                        "propose_min": self.settings.propose_min, "examples": report},
                created_at=now))
        if not suggestions:
            return 0
        db = self.project.db
        with db.transaction() as conn:  # another learning session may have proposed some meanwhile
            new = {s.id for s in suggestions if not review_store.suggestion_exists(conn, s.id)}
            suggestions = [s for s in suggestions if s.id in new]
            db.insert_suggestions(conn, suggestions)
            proposal_store.record_learned_proposals(conn, [p for p in provenance if p.suggestion_id in new])
        review_store.ensure_queue(db, self.run.id)
        return len(suggestions)

