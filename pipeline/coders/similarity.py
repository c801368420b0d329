"""The offline baseline coder: embedding similarity between segment sentences and code descriptions.

What it is: for every quote unit (a sentence or a few short ones) of a segment, the cosine
similarity to each code's vector (the mean of the code's label+definition, inclusion criteria and
examples, and those of the codes below it). A unit supports a code when its similarity is at least
`threshold` and at least `margin` above the unit's mean similarity over all candidate codes (text
about AI in healthcare resembles every code a little; the margin keeps only what stands out). A
code's score for the segment is its best supporting unit's similarity; at most `top_k` codes are
proposed per segment, each with that best unit as its verbatim quote (exact offsets, never invented).

What it is not: it does not read meaning, negation or exclusion rules; it finds text that talks
about similar things to a code's description. It needs no LLM and no network, which makes it a
fair floor to compare an LLM coder against, and a way to try the pipeline end to end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline.coders.base import CodedBatch, CodingContext, suggestion_id
from pipeline.models import Grounding, Segment, Suggestion
from pipeline.project import Project
from pipeline.store.runs import RunTotals

BATCH_SEGMENTS = 512


class SimilarityCoder:
    name = "similarity"
    prompt_hash: str | None = None
    batch_segments = BATCH_SEGMENTS

    def __init__(self, threshold: float, margin: float, top_k: int, embedder: str):
        self.threshold = threshold
        self.margin = margin
        self.top_k = top_k
        self.model = embedder
        self._run_id = ""
        self._units = self._encoded = 0

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "margin": self.margin, "top_k": self.top_k, "embedder": self.model}

    def counts(self, totals: RunTotals) -> dict[str, int]:
        return {"quote_units": self._units, "quote_units_encoded": self._encoded}

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        if context.run_id != self._run_id:  # counters are per run
            self._run_id, self._units, self._encoded = context.run_id, 0, 0
        code_matrix = context.embeddings.codes(context.codebook, context.codes)
        code_ids = [c.id for c in context.codes]
        k = min(self.top_k, len(code_ids))
        batch = list(segments)
        sv = context.embeddings.segments(batch)
        self._units += len(sv.units)
        self._encoded += sv.encoded
        scores = sv.vectors @ code_matrix.T  # (units, codes)
        margins = scores - scores.mean(axis=1, keepdims=True)
        scores = np.where((scores >= self.threshold) & (margins >= self.margin), scores, -np.inf)
        suggestions: list[Suggestion] = []
        for i, segment in enumerate(batch):
            lo, hi = sv.offsets[i], sv.offsets[i + 1]
            if hi == lo:
                continue
            block = scores[lo:hi]
            best_unit = block.argmax(axis=0)
            best_score = block.max(axis=0)
            order = np.argsort(-best_score)[:k]
            for j in order:
                if not np.isfinite(best_score[j]):
                    break
                unit = sv.units[lo + best_unit[j]]
                suggestions.append(Suggestion(
                    id=suggestion_id(context.run_id, segment.id, code_ids[j]), run_id=context.run_id,
                    segment_id=segment.id, transcript_id=segment.transcript_id, code_id=code_ids[j],
                    quote=unit.text, quote_start=unit.start, quote_end=unit.end, grounding=Grounding.exact,
                    score=round(float(best_score[j]), 4),
                ))
        yield CodedBatch(suggestions, done=[s.id for s in batch])


def create(project: Project, threshold: float | None = None, top_k: int | None = None, **_: Any) -> SimilarityCoder:
    """The registry's factory: settings from `[similarity]`, the embedder from `[embedding]`."""
    settings = project.settings.similarity
    return SimilarityCoder(threshold=threshold if threshold is not None else settings.threshold,
                           margin=settings.margin, top_k=top_k or settings.top_k,
                           embedder=project.embeddings.embedder.name)
