"""Vectors the learned coder reads: segment vectors from their quote units, context and description texts."""

from __future__ import annotations

import hashlib

import numpy as np

from pipeline.embed import Embedder
from pipeline.indexing import SegmentVectors
from pipeline.models import Segment
from pipeline.store.vectors import VectorCache


def segment_means(sv: SegmentVectors) -> np.ndarray:
    """One vector per segment: the normalized mean of its quote units' vectors (as `index_segments` stores)."""
    out = np.zeros((len(sv.segment_ids), sv.vectors.shape[1]))
    for i in range(len(sv.segment_ids)):
        lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
        if hi > lo:
            mean = sv.vectors[lo:hi].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def embed_cached(texts: list[str], embedder: Embedder, cache: VectorCache | None) -> np.ndarray:
    """(n, d) vectors of `texts`; each distinct text is encoded once and kept in the project's vector cache (if given).

    Context questions and codebook descriptions are only looked up by text, never searched by
    nearness, so they live in the cache (SQLite) beside the quote units rather than in chromadb.
    """
    distinct = list(dict.fromkeys(texts))
    if cache is None:
        found = dict(zip(distinct, embedder.embed(distinct))) if distinct else {}
        return np.stack([found[t] for t in texts]).astype(np.float64) if texts else np.zeros((0, 384))
    ids = [_key(t) for t in distinct]
    missing = set(cache.missing(embedder.name, ids))
    todo = [t for t in distinct if _key(t) in missing]
    if todo:
        cache.upsert(embedder.name, [_key(t) for t in todo], embedder.embed(todo))
    vectors = cache.vectors(embedder.name, ids)
    return np.stack([vectors[_key(t)] for t in texts]).astype(np.float64) if texts else np.zeros((0, 384))


def context_vectors(segments: list[Segment], embedder: Embedder, cache: VectorCache | None) -> np.ndarray | None:
    """Each segment's context (the question before it) embedded, zero where it has none; None if none has one."""
    texts = [(s.context or "").strip() for s in segments]
    present = [t for t in texts if t]
    if not present:
        return None
    vectors = dict(zip(present, embed_cached(present, embedder, cache)))
    dim = next(iter(vectors.values())).shape[0]
    return np.stack([vectors[t] if t else np.zeros(dim) for t in texts])
