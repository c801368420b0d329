"""The `learned` coder: learns the project's own coding from the codes people already applied.

It trains on the human codes stored in the project (annotations of chosen coders, e.g. a REFI-QDA
import, and standing review decisions; see `pipeline.learn.examples`), with each code's codebook
description as a prior, and codes the segments nobody has coded yet (those a person coded or
reviewed are marked done without suggestions). The model, a calibrated class-balanced logistic
regression per code on the stored sentence vectors, is in `pipeline.learn.model`; retraining reuses
every stored vector, so it takes seconds.

It learns and decides per *quote unit* (a sentence or a few short ones, as the similarity coder
quotes): a unit is labelled with the codes whose coded spans count for it, and a segment gets a
code when its best unit has it. Long interview answers touch several topics; a segment's mean
vector blurs them (measured on the sample gold: macro kappa 0.16 from segment vectors).

Each code starts as the similarity coder's calibrated rule (same codebook texts, same calibration)
and moves to its learned regression as human labels of it come in (`pipeline.learn.model`,
"Shrinkage to the zero-shot coder"): with no example it codes as `--coder similarity` does.

Each suggestion's score is the code's calibrated probability for its best unit, and its quote is
that unit, verbatim with exact offsets. When the
factory is given the codebook and level (the command line does), the model is trained there and
the run's params hold the training report: per-code example counts, cross-validated precision,
recall and kappa, and the codes with too few examples to learn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import CodedBatch, CodingContext, suggestion_id
from pipeline.learn.examples import HumanCodes, examples_at_level, human_codes, unit_labels
from pipeline.learn.model import LearnedModel, LearnOptions, decide, features, fit
from pipeline.learn.prior import build_prior
from pipeline.learn.vectors import context_vectors
from pipeline.models import Code, Grounding, Segment, Suggestion
from pipeline.project import Project
from pipeline.store.runs import RunTotals

if TYPE_CHECKING:
    from pipeline.indexing import EmbeddingIndex, SegmentVectors

BATCH_SEGMENTS = 512


class LearnedCoder:
    name = "learned"
    prompt_hash: str | None = None
    batch_segments = BATCH_SEGMENTS
    embeds_quote_units = True

    def __init__(self, people: HumanCodes, embedder: str, from_coders: list[str], reviews: bool,
                 options: LearnOptions):
        self.people = people
        self.model = embedder
        self.from_coders = from_coders
        self.reviews = reviews
        self.options = options
        self.trained: LearnedModel | None = None
        self.always_one = False
        self.report: dict[str, Any] = {}
        self._trained_for: tuple[str, tuple[str, ...]] | None = None
        self._run_id = ""
        self._skipped = self._units = 0

    def params(self) -> dict[str, Any]:
        params = {"from_coders": self.from_coders, "reviews": self.reviews, "embedder": self.model,
                  **self.options.as_params()}
        if self.report:
            params["training"] = self.report
        return params

    def counts(self, totals: RunTotals) -> dict[str, int]:
        out = {"human_coded_segments_skipped": self._skipped, "quote_units": self._units}
        if self.trained is not None:
            out["training_segments"] = int(self.report.get("labelled_segments", 0))
            out["codes_with_few_examples"] = len(self.trained.few_examples())
        return out

    def train(self, codebook: Codebook, codes: list[Code], embeddings: EmbeddingIndex) -> LearnedModel:
        """Fit the model for these codes (once per codebook and code list)."""
        key = (codebook.content_hash, tuple(c.id for c in codes))
        if self.trained is not None and self._trained_for == key:
            return self.trained
        examples = examples_at_level(self.people, codebook, codes)
        sv = embeddings.segments(examples.segments)
        y = unit_labels(self.people, sv.units, codebook, codes)
        known = ~np.isnan(y).all(axis=1)
        x = _unit_features(sv, context_vectors(examples.segments, embeddings.embedder, embeddings.texts), self.options)
        prior = build_prior(codebook, codes, embeddings.embedder, embeddings.texts)
        self.trained = fit(x[known], y[known], [c.id for c in codes], prior, self.options)
        coded = ~np.isnan(examples.labels).any(axis=1)
        # single-label: every segment gets a code when every segment people coded in full had exactly one
        # (or nobody coded yet: then the codebook's nearest code)
        self.always_one = bool((examples.labels[coded].sum(axis=1) == 1).all())
        self.report = {**self.trained.report(), "labelled_segments": len(examples.segments),
                       "labelled_quote_units": int(known.sum()), "examples": self.people.counts,
                       "left_out": examples.left_out}
        self._trained_for = key
        return self.trained

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        if context.run_id != self._run_id:  # counters are per run
            self._run_id, self._skipped, self._units = context.run_id, 0, 0
        trained = self.train(context.codebook, context.codes, context.embeddings)
        code_ids = [c.id for c in context.codes]
        human = self.people.human_coded
        batch = [s for s in segments if s.id not in human]
        self._skipped += len(segments) - len(batch)
        suggestions: list[Suggestion] = []
        if batch:
            sv = context.embeddings.segments(batch)
            self._units += len(sv.units)
            ctx = context_vectors(batch, context.embeddings.embedder, context.embeddings.texts)
            d_units = trained.decision(_unit_features(sv, ctx, self.options))
            p_units = trained.proba(np.zeros((len(d_units), 0)), d_units)
            n_codes = len(code_ids)
            d_seg = np.full((len(batch), n_codes), -np.inf)
            p_seg = np.zeros((len(batch), n_codes))
            best_unit = np.zeros((len(batch), n_codes), dtype=int)
            for i in range(len(batch)):  # a segment has a code when its best quote unit has it
                lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
                if hi > lo:
                    best_unit[i] = lo + d_units[lo:hi].argmax(axis=0)
                    d_seg[i] = d_units[lo:hi].max(axis=0)
                    p_seg[i] = p_units[lo:hi].max(axis=0)
            applied = decide(d_seg, p_seg, trained.fitted.constant, self.options.single, self.always_one)
            for i, segment in enumerate(batch):
                lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
                chosen = np.flatnonzero(applied[i])
                if hi == lo or not len(chosen):
                    continue
                for j in sorted(chosen, key=lambda j: -p_seg[i, j]):
                    unit = sv.units[int(best_unit[i, j])]
                    suggestions.append(Suggestion(
                        id=suggestion_id(context.run_id, segment.id, code_ids[j]), run_id=context.run_id,
                        segment_id=segment.id, transcript_id=segment.transcript_id, code_id=code_ids[j],
                        quote=unit.text, quote_start=unit.start, quote_end=unit.end, grounding=Grounding.exact,
                        score=round(float(p_seg[i, j]), 4),
                    ))
        yield CodedBatch(suggestions, done=[s.id for s in segments])


def _unit_features(sv: SegmentVectors, ctx: np.ndarray | None, options: LearnOptions) -> np.ndarray:
    """Each quote unit's vector, with its segment's context vector."""
    unit_ctx = None if ctx is None else np.repeat(ctx, np.diff(sv.offsets), axis=0)
    return features(sv.vectors, unit_ctx, options)


def create(project: Project, from_coder: list[str] | str | None = None, single: bool = False,
           reviews: bool = True, codebook: Codebook | None = None, level: str | None = None,
           learn_options: LearnOptions | None = None, **_: Any) -> LearnedCoder:
    """The registry's factory: reads the project's human codes; trains now when given the codebook and level."""
    coders = [from_coder] if isinstance(from_coder, str) else list(from_coder or [])
    options = learn_options or LearnOptions(single=single, top_k=project.settings.similarity.top_k)
    coder = LearnedCoder(human_codes(project, coders, reviews), project.embeddings.embedder.name, coders, reviews,
                         options)
    if codebook is not None:
        coder.train(codebook, codebook.at_level(level or LEAF_LEVEL), project.embeddings)
    return coder
