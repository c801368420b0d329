"""Embed segments and codebook codes into the vector store, doing no work twice.

Each participant segment is cut into quote units (sentences, packed up to `QUOTE_MAX_CHARS` at
sentence boundaries). Every unit is encoded once; the segment's vector is the normalized mean of
its units' vectors. That encodes each token once instead of twice (segment + sentences), which is
what makes the offline path fast on a laptop CPU; for a mean-pooling model such as MiniLM the mean
of sentence vectors is a close stand-in for encoding the whole segment. Units and segments are keyed
by content-derived ids, so a re-run finds them in chromadb and encodes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from pipeline.codebook import Codebook
from pipeline.embed import Embedder
from pipeline.models import Code, Segment
from pipeline.segment import SENTENCE_SEPARATORS
from pipeline.store.vectors import CODES, QUOTE_UNITS, SEGMENTS, VectorStore

QUOTE_MAX_CHARS = 240
ENCODE_CHUNK = 2048

_unit_splitter = RecursiveCharacterTextSplitter(
    chunk_size=QUOTE_MAX_CHARS, chunk_overlap=0, separators=SENTENCE_SEPARATORS, keep_separator="end",
    strip_whitespace=True,
)


@dataclass
class QuoteUnit:
    id: str
    segment_id: str
    start: int  # transcript offsets
    end: int
    text: str


def quote_units(segment: Segment) -> list[QuoteUnit]:
    """Sentence-aligned spans of a segment, located exactly in the transcript text."""
    pieces = _unit_splitter.split_text(segment.text) if len(segment.text) > QUOTE_MAX_CHARS else [segment.text.strip()]
    units, cursor = [], 0
    for piece in pieces:
        if not piece:
            continue
        found = segment.text.find(piece, cursor)
        start = segment.start + found
        unit_id = hashlib.sha256(f"{segment.id}:{start}:{len(piece)}".encode()).hexdigest()[:20]
        units.append(QuoteUnit(unit_id, segment.id, start, start + len(piece), piece))
        cursor = found + len(piece)
    return units


@dataclass
class SegmentVectors:
    """Quote units of a set of segments with their vectors, rows grouped by segment in order."""

    units: list[QuoteUnit]
    vectors: np.ndarray
    offsets: np.ndarray  # offsets[i]:offsets[i+1] are the rows of segment i
    segment_ids: list[str]
    encoded: int  # units encoded now (the rest came from the store)


def index_segments(
    segments: list[Segment], embedder: Embedder, store: VectorStore,
    progress: Callable[[int], None] | None = None,
) -> SegmentVectors:
    """Ensure every segment and its quote units are in the store; return all unit vectors."""
    per_segment = [quote_units(s) for s in segments]
    units = [u for group in per_segment for u in group]
    missing = set(store.missing(QUOTE_UNITS, embedder.name, [u.id for u in units]))
    todo = [u for u in units if u.id in missing]
    computed: dict[str, np.ndarray] = {}
    for start in range(0, len(todo), ENCODE_CHUNK):
        chunk = todo[start:start + ENCODE_CHUNK]
        vectors = embedder.embed([u.text for u in chunk])
        store.upsert(QUOTE_UNITS, embedder.name, [u.id for u in chunk], vectors,
                     metadatas=[{"segment_id": u.segment_id, "start": u.start, "end": u.end} for u in chunk])
        computed.update(zip((u.id for u in chunk), vectors))
        if progress:
            progress(len(chunk))
    stored = store.vectors(QUOTE_UNITS, embedder.name, [u.id for u in units if u.id not in computed])
    dim = next(iter(computed.values()), next(iter(stored.values()), np.zeros(384))).shape[0]
    matrix = np.zeros((len(units), dim), dtype=np.float32)
    for row, unit in enumerate(units):
        matrix[row] = computed[unit.id] if unit.id in computed else stored[unit.id]
    offsets = np.cumsum([0, *(len(g) for g in per_segment)])

    segment_missing = set(store.missing(SEGMENTS, embedder.name, [s.id for s in segments]))
    new = [i for i, s in enumerate(segments) if s.id in segment_missing and offsets[i + 1] > offsets[i]]
    if new:
        means = np.stack([matrix[offsets[i]:offsets[i + 1]].mean(axis=0) for i in new])
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        store.upsert(SEGMENTS, embedder.name, [segments[i].id for i in new], means,
                     documents=[segments[i].text for i in new],
                     metadatas=[{"transcript_id": segments[i].transcript_id, "start": segments[i].start,
                                 "end": segments[i].end, "speaker": segments[i].speaker} for i in new])
    return SegmentVectors(units, matrix, offsets, [s.id for s in segments], len(todo))


def code_text(code: Code) -> list[str]:
    """The texts that describe a code: its label with definition, then each example."""
    return [f"{code.label}: {code.definition}", *code.include, *code.examples]


def index_codes(codebook: Codebook, codes: list[Code], embedder: Embedder, store: VectorStore) -> np.ndarray:
    """One vector per code: the normalized mean of its own and its descendants' description vectors.

    Including descendants lets a domain-level code be recognised from the themes under it.
    Description vectors are cached in the store by text hash.
    """
    texts_per_code = [[t for c in [code, *codebook.descendants(code.id)] for t in code_text(c)] for code in codes]
    key = lambda text: hashlib.sha256(text.encode()).hexdigest()[:24]  # noqa: E731
    all_texts = list(dict.fromkeys(t for texts in texts_per_code for t in texts))
    ids = [key(t) for t in all_texts]
    missing = set(store.missing(CODES, embedder.name, ids))
    todo = [t for t in all_texts if key(t) in missing]
    if todo:
        store.upsert(CODES, embedder.name, [key(t) for t in todo], embedder.embed(todo), documents=todo)
    vectors = store.vectors(CODES, embedder.name, ids)
    matrix = np.stack([np.mean([vectors[key(t)] for t in texts], axis=0) for texts in texts_per_code])
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
