"""Candidate narrowing for large codebooks: send the full entries of the likeliest codes only.

Each code's vector is in the project's chromadb `codes` collection (the mean of its label+definition,
inclusion notes and examples and those of the codes below it, as the similarity coder builds them);
each segment's vector is the mean of its quote units'. A segment's candidates are its `top_k`
nearest codes, found by a chromadb nearest-neighbour query (pipeline.indexing.EmbeddingIndex);
a request's candidates are the union over its segments, in codebook order so that requests with
the same candidates render the same text. The model still sees every code's id and label, so it
can apply a code that retrieval missed.
"""

from __future__ import annotations

from pipeline.codebook import Codebook
from pipeline.indexing import EmbeddingIndex
from pipeline.models import Code, Segment


def candidates(embeddings: EmbeddingIndex, codebook: Codebook, codes: list[Code], segments: list[Segment],
               top_k: int) -> dict[str, list[str]]:
    """segment id -> the ids of its `top_k` most similar codes, best first."""
    return embeddings.nearest_codes(codebook, codes, segments, top_k)
