"""Candidate narrowing for large codebooks: send the full entries of the likeliest codes only.

Each code's vector comes from the chromadb `codes` collection (the mean of its label+definition,
inclusion notes and examples and those of the codes below it, as the similarity coder builds them);
each segment's vector is the mean of its quote units'. A segment's candidates are its `top_k` codes
by cosine similarity; a request's candidates are the union over its segments, in codebook order so
that requests with the same candidates render the same text. The model still sees every code's id
and label, so it can apply a code that retrieval missed.
"""

from __future__ import annotations

import numpy as np

from pipeline.codebook import Codebook
from pipeline.embed import make_embedder
from pipeline.indexing import index_codes, index_segments
from pipeline.models import Code, Segment
from pipeline.project import Project
from pipeline.store.vectors import VectorStore


def candidates(project: Project, codebook: Codebook, codes: list[Code], segments: list[Segment],
               top_k: int) -> dict[str, list[str]]:
    """segment id -> the ids of its `top_k` most similar codes, best first."""
    embedder = make_embedder(project.settings.embedding)
    store = VectorStore(project.chroma_path, project.settings.chroma.url)
    code_matrix = index_codes(codebook, codes, embedder, store)
    vectors = index_segments(segments, embedder, store)
    out: dict[str, list[str]] = {}
    for i, segment in enumerate(segments):
        lo, hi = vectors.offsets[i], vectors.offsets[i + 1]
        if hi == lo:
            out[segment.id] = []
            continue
        mean = vectors.vectors[lo:hi].mean(axis=0)
        scores = code_matrix @ (mean / max(float(np.linalg.norm(mean)), 1e-12))
        out[segment.id] = [codes[j].id for j in np.argsort(-scores)[:top_k]]
    return out
