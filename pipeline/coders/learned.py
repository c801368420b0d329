"""The `learned` coder: learns the project's own coding from the codes people already applied.

It trains on the human codes stored in the project (annotations of chosen coders, e.g. a REFI-QDA
import, and standing review decisions; see `pipeline.learn.examples`), with each code's codebook
description as a prior, and codes the segments nobody has coded yet (those a person coded or
reviewed are marked done without suggestions). The model, a calibrated class-balanced logistic
regression per code on the stored sentence vectors, is in `pipeline.learn.model`; retraining reuses
every stored vector, so it takes seconds.

Each suggestion's score is the code's calibrated probability for the segment; its quote is the
quote unit of the segment the code's model scores highest, verbatim with exact offsets. When the
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
from pipeline.learn.examples import HumanCodes, examples_at_level, human_codes
from pipeline.learn.model import LearnedModel, LearnOptions, features, fit
from pipeline.learn.prior import build_prior
from pipeline.learn.vectors import context_vectors, segment_means
from pipeline.models import Code, Grounding, Segment, Suggestion
from pipeline.project import Project
from pipeline.store.runs import RunTotals

if TYPE_CHECKING:
    from pipeline.indexing import EmbeddingIndex

BATCH_SEGMENTS = 512


class LearnedCoder:
    name = "learned"
    prompt_hash: str | None = None
    batch_segments = BATCH_SEGMENTS

    def __init__(self, people: HumanCodes, embedder: str, from_coders: list[str], reviews: bool,
                 options: LearnOptions):
        self.people = people
        self.model = embedder
        self.from_coders = from_coders
        self.reviews = reviews
        self.options = options
        self.trained: LearnedModel | None = None
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
        ctx = context_vectors(examples.segments, embeddings.embedder, embeddings.store)
        x = features(segment_means(sv), ctx, self.options)
        prior = build_prior(codebook, codes, embeddings.embedder, embeddings.store)
        self.trained = fit(x, examples.labels, [c.id for c in codes], prior, self.options)
        self.report = {**self.trained.report(), "labelled_segments": len(examples.segments),
                       "examples": self.people.counts, "left_out": examples.left_out}
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
            ctx = context_vectors(batch, context.embeddings.embedder, context.embeddings.store)
            applied, proba = trained.predict(features(segment_means(sv), ctx, self.options))
            for i, segment in enumerate(batch):
                lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
                chosen = np.flatnonzero(applied[i])
                if hi == lo or not len(chosen):
                    continue
                unit_ctx = None if ctx is None else np.repeat(ctx[i:i + 1], hi - lo, axis=0)
                unit_scores = trained.decision(features(sv.vectors[lo:hi], unit_ctx, self.options))
                for j in sorted(chosen, key=lambda j: -proba[i, j]):
                    unit = sv.units[lo + int(unit_scores[:, j].argmax())]
                    suggestions.append(Suggestion(
                        id=suggestion_id(context.run_id, segment.id, code_ids[j]), run_id=context.run_id,
                        segment_id=segment.id, transcript_id=segment.transcript_id, code_id=code_ids[j],
                        quote=unit.text, quote_start=unit.start, quote_end=unit.end, grounding=Grounding.exact,
                        score=round(float(proba[i, j]), 4),
                    ))
        yield CodedBatch(suggestions, done=[s.id for s in segments])


def create(project: Project, from_coder: list[str] | str | None = None, single: bool = False,
           reviews: bool = True, codebook: Codebook | None = None, level: str | None = None,
           learn_options: LearnOptions | None = None, **_: Any) -> LearnedCoder:
    """The registry's factory: reads the project's human codes; trains now when given the codebook and level."""
    coders = [from_coder] if isinstance(from_coder, str) else list(from_coder or [])
    options = learn_options or LearnOptions(single=single)
    coder = LearnedCoder(human_codes(project, coders, reviews), project.embeddings.embedder.name, coders, reviews,
                         options)
    if codebook is not None:
        coder.train(codebook, codebook.at_level(level or LEAF_LEVEL), project.embeddings)
    return coder
