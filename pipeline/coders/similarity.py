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

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.coders.base import CodingContext
from pipeline.embed import make_embedder
from pipeline.indexing import index_codes, index_segments
from pipeline.models import Grounding, Suggestion
from pipeline.settings import EmbeddingSettings
from pipeline.store.vectors import VectorStore

BATCH_SEGMENTS = 512


def suggestion_id(run_id: str, segment_id: str, code_id: str) -> str:
    return hashlib.sha256(f"{run_id}:{segment_id}:{code_id}".encode()).hexdigest()[:16]


class SimilarityCoder:
    name = "similarity"
    prompt_hash = None

    def __init__(self, threshold: float, margin: float, top_k: int, embedding: EmbeddingSettings):
        self.threshold = threshold
        self.margin = margin
        self.top_k = top_k
        self.embedding = embedding
        self.embedder = make_embedder(embedding)
        self.model = self.embedder.name
        self._counts: dict[str, int] = {}

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "margin": self.margin, "top_k": self.top_k, "embedder": self.embedder.name}

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def code(self, context: CodingContext) -> Iterator[list[Suggestion]]:
        project = context.project
        store = VectorStore(project.chroma_path, project.settings.chroma.url)
        code_matrix = index_codes(context.codebook, context.codes, self.embedder, store)
        code_ids = [c.id for c in context.codes]
        k = min(self.top_k, len(code_ids))
        units = encoded = 0
        for start in range(0, len(context.segments), BATCH_SEGMENTS):
            batch = context.segments[start:start + BATCH_SEGMENTS]
            sv = index_segments(batch, self.embedder, store)
            units += len(sv.units)
            encoded += sv.encoded
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
            context.progress(len(batch))
            yield suggestions
        self._counts = {"quote_units": units, "quote_units_encoded": encoded}
