"""Embed segments and codebook codes into the vector store, doing no work twice.

Each participant segment is cut into quote units (sentences, packed up to `QUOTE_MAX_CHARS` at
sentence boundaries). Every unit is encoded once; the segment's vector is the normalized mean of
its units' vectors. That encodes each token once instead of twice (segment + sentences), which is
what makes the offline path fast on a laptop CPU; for a mean-pooling model such as MiniLM the mean
of sentence vectors is a close stand-in for encoding the whole segment. Units and segments are keyed
by content-derived ids, so a re-run finds them stored and encodes nothing.

`EmbeddingIndex` is the embedding stage of one project: its embedder and its vector collections,
built once and handed to coders through their context. Only what a coder or a search reads is
stored, each where it is read from:

- quote units (`VectorCache`, a SQLite file beside the project's database): the vectors of segment
  sentences, fetched by id only; the similarity coder scores every unit against every code with
  one matrix product in numpy (its margin rule needs a unit's score for *all* codes, which a
  nearest-neighbour query does not give), and candidate narrowing averages them.
- `segments` (chromadb): one vector per segment with its text, for `precode similar`'s
  nearest-neighbour query. Coding never writes it; `searchable` fills it from the stored unit
  vectors the first time a search needs it (nothing is encoded again for a coded project).
- context questions and codebook descriptions the learned and calibrated similarity coders read
  (`VectorCache` of kind `texts`, the same SQLite file), looked up by text hash.
- `code_texts` and `codes` (chromadb): the description vectors of codes, and each code's vector in one
  codebook version; candidate narrowing asks chromadb for a segment's nearest codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from pipeline.codebook import Codebook
from pipeline.embed import Embedder, make_embedder
from pipeline.models import Code, Segment
from pipeline.segment import SENTENCE_SEPARATORS
from pipeline.settings import EmbeddingSettings
from pipeline.store.vectors import CACHE_FILE, CODE_TEXTS, CODES, QUOTE_UNITS, SEGMENTS, VectorCache, VectorStore

QUOTE_MAX_CHARS = 240
ENCODE_CHUNK = 2048
# Quote units encoded together, in length order, by `encode_missing`: at 2,048 a model batch of 64
# carried ~3% padding tokens (~6% of the attention's cost) on the benchmark corpus, at 16,384 ~0.3%.
ENCODE_WINDOW = 16384
STORE_ROWS = 1024  # vectors written to the cache at a time

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


def index_segments(segments: list[Segment], embedder: Embedder, cache: VectorCache) -> SegmentVectors:
    """Ensure every quote unit of `segments` is in the cache (encoded as `encode_missing` does); return all unit vectors."""
    per_segment = [quote_units(s) for s in segments]
    units = [u for group in per_segment for u in group]
    missing = set(cache.missing(embedder.name, [u.id for u in units]))
    todo = [u for u in units if u.id in missing]
    _encode_window([u.id for u in todo], [u.text for u in todo], len(segments), embedder, cache, None)
    stored = cache.vectors(embedder.name, [u.id for u in units])
    dim = next(iter(stored.values()), np.zeros(384)).shape[0]
    matrix = np.zeros((len(units), dim), dtype=np.float32)
    for row, unit in enumerate(units):
        matrix[row] = stored[unit.id]
    offsets = np.cumsum([0, *(len(g) for g in per_segment)])

    return SegmentVectors(units, matrix, offsets, [s.id for s in segments], len(todo))


def encode_missing(chunks: Iterable[Sequence[Segment]], embedder: Embedder, cache: VectorCache,
                   progress: Callable[[int], None] | None = None) -> int:
    """Encode and store every quote unit of these segments not stored yet; returns how many were encoded.

    Units of many chunks are encoded together, about `ENCODE_WINDOW` at a time in length order, so
    a model batch pads little; only one window's ids and texts are held, and vectors are stored as
    they come. `progress(n)` counts segments (a window's share as its batches finish).
    """
    ids: list[str] = []
    texts: list[str] = []
    segments = encoded = 0
    for chunk in chunks:
        units = [u for s in chunk for u in quote_units(s)]
        missing = set(cache.missing(embedder.name, [u.id for u in units]))
        for u in units:
            if u.id in missing:
                ids.append(u.id)
                texts.append(u.text)
        segments += len(chunk)
        if len(ids) >= ENCODE_WINDOW:
            encoded += _encode_window(ids, texts, segments, embedder, cache, progress)
            ids, texts, segments = [], [], 0
    return encoded + _encode_window(ids, texts, segments, embedder, cache, progress)


def _encode_window(ids: list[str], texts: list[str], segments: int, embedder: Embedder, cache: VectorCache,
                   progress: Callable[[int], None] | None) -> int:
    rows: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    done = stored = reported = 0

    def store() -> None:
        if rows:
            order = np.concatenate(rows)
            cache.upsert(embedder.name, [ids[i] for i in order], np.concatenate(vectors))
            rows.clear()
            vectors.clear()

    for batch_rows, batch_vectors in embedder.embed_batches(texts) if texts else ():  # none: the model is not loaded
        rows.append(batch_rows)
        vectors.append(batch_vectors)
        done += len(batch_rows)
        if done - stored >= STORE_ROWS:
            store()
            stored = done
        if progress and texts:
            share = segments * done // len(texts)
            progress(share - reported)
            reported = share
    store()
    if progress and segments > reported:
        progress(segments - reported)
    return len(texts)


def code_text(code: Code) -> list[str]:
    """The texts that describe a code: its label with definition, then each example."""
    return [f"{code.label}: {code.definition}", *code.include, *code.examples]


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def index_codes(codebook: Codebook, codes: list[Code], embedder: Embedder, store: VectorStore) -> np.ndarray:
    """One vector per code: the normalized mean of its own and its descendants' description vectors.

    Including descendants lets a domain-level code be recognised from the themes under it.
    Description vectors are cached in the store by text hash (`code_texts`); the codes' vectors
    are stored in `codes` under the codebook's hash, for nearest-code queries.
    """
    texts_per_code = [[t for c in [code, *codebook.descendants(code.id)] for t in code_text(c)] for code in codes]
    all_texts = list(dict.fromkeys(t for texts in texts_per_code for t in texts))
    ids = [_text_key(t) for t in all_texts]
    missing = set(store.missing(CODE_TEXTS, embedder.name, ids))
    todo = [t for t in all_texts if _text_key(t) in missing]
    if todo:
        store.upsert(CODE_TEXTS, embedder.name, [_text_key(t) for t in todo], embedder.embed(todo), documents=todo)
    vectors = store.vectors(CODE_TEXTS, embedder.name, ids)
    means = np.stack([np.mean([vectors[_text_key(t)] for t in texts], axis=0) for texts in texts_per_code])
    matrix: np.ndarray = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    code_ids = [code_vector_id(codebook, c.id) for c in codes]
    absent = set(store.missing(CODES, embedder.name, code_ids))
    new = [i for i, cid in enumerate(code_ids) if cid in absent]
    if new:
        store.upsert(CODES, embedder.name, [code_ids[i] for i in new], matrix[new],
                     metadatas=[{"codebook": codebook.content_hash, "code_id": codes[i].id} for i in new])
    return matrix


def code_vector_id(codebook: Codebook, code_id: str) -> str:
    return f"{codebook.content_hash[:24]}:{code_id}"


class EmbeddingIndex:
    """The embedding stage of one project: its embedder and vector collections (opened when first used)."""

    def __init__(self, settings: EmbeddingSettings, chroma_path: Path, chroma_url: str | None, project_id: str,
                 cache_path: Path | None = None):
        self.settings = settings
        self.chroma_path = chroma_path
        self.chroma_url = chroma_url
        self.project_id = project_id
        self.cache_path = cache_path or chroma_path.parent / CACHE_FILE  # beside the project's database

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def store(self) -> VectorStore:
        return VectorStore(self.chroma_path, self.chroma_url, namespace=self.project_id)

    @cached_property
    def units(self) -> VectorCache:
        """The quote units' vectors (looked up by id, never searched by nearness)."""
        cache = VectorCache(self.cache_path, namespace=self.project_id)
        if not cache.adopted(self.embedder.name):  # looked for once per project and embedder (opens chromadb)
            self._adopt_chroma_units(cache)
            cache.mark_adopted(self.embedder.name)
        return cache

    @cached_property
    def texts(self) -> VectorCache:
        """Vectors of context questions and codebook descriptions, looked up by text (never searched by nearness)."""
        return VectorCache(self.cache_path, namespace=self.project_id, kind="texts")

    def _adopt_chroma_units(self, cache: VectorCache) -> int:
        """Move the unit vectors a project coded before kept in chromadb (`quote_units`) into the cache, once.

        So an upgraded project's re-run still encodes nothing; the collection is deleted afterwards.
        """
        if self.chroma_url is None and not (self.chroma_path / "chroma.sqlite3").exists():
            return 0  # no embedded chromadb here yet: nothing to look for (and nothing opened)
        if not self.store.exists(QUOTE_UNITS, self.embedder.name):
            return 0
        collection = self.store.collection(QUOTE_UNITS, self.embedder.name)
        moved = 0
        while True:
            page = collection.get(limit=self.store.batch, offset=moved, include=["embeddings"])
            if not page["ids"]:
                break
            cache.upsert(self.embedder.name, page["ids"], np.asarray(page["embeddings"], dtype=np.float32))
            moved += len(page["ids"])
        self.store.drop(QUOTE_UNITS, self.embedder.name)
        return moved

    def encode(self, chunks: Iterable[Sequence[Segment]], progress: Callable[[int], None] | None = None) -> int:
        """Encode the quote units of these segments not stored yet (length-ordered windows); returns how many."""
        return encode_missing(chunks, self.embedder, self.units, progress)

    def segments(self, segments: list[Segment]) -> SegmentVectors:
        """The quote units of `segments` with their vectors; only units not yet stored are encoded."""
        return index_segments(segments, self.embedder, self.units)

    def searchable(self, segments: list[Segment], chunk: int = ENCODE_CHUNK) -> int:
        """Put the segments not yet in the `segments` collection there (for `similar`); returns how many.

        Each one's vector is the normalized mean of its quote units' (encoded only if not stored
        yet), stored with its text and place; `chunk` segments at a time, so memory stays bounded.
        """
        added = 0
        missing = set(self.store.missing(SEGMENTS, self.embedder.name, [s.id for s in segments]))
        todo = [s for s in segments if s.id in missing]
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            sv = self.segments(part)
            rows = [i for i in range(len(part)) if sv.offsets[i + 1] > sv.offsets[i]]
            if not rows:
                continue
            means = np.stack([sv.vectors[sv.offsets[i]:sv.offsets[i + 1]].mean(axis=0) for i in rows])
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
            self.store.upsert(SEGMENTS, self.embedder.name, [part[i].id for i in rows], means,
                              documents=[part[i].text for i in rows],
                              metadatas=[{"transcript_id": part[i].transcript_id, "start": part[i].start,
                                          "end": part[i].end, "speaker": part[i].speaker} for i in rows])
            added += len(rows)
        return added

    def codes(self, codebook: Codebook, codes: list[Code]) -> np.ndarray:
        """One vector per code (rows in the order of `codes`)."""
        return index_codes(codebook, codes, self.embedder, self.store)

    def nearest_codes(self, codebook: Codebook, codes: list[Code], segments: list[Segment],
                      top_k: int) -> dict[str, list[str]]:
        """segment id -> the ids of its `top_k` nearest codes (cosine, best first), by a chromadb query."""
        self.codes(codebook, codes)
        vectors = self.segments(segments)
        out: dict[str, list[str]] = {s.id: [] for s in segments}
        rows = [i for i in range(len(segments)) if vectors.offsets[i + 1] > vectors.offsets[i]]
        if not rows or not codes:
            return out
        means = np.stack([vectors.vectors[vectors.offsets[i]:vectors.offsets[i + 1]].mean(axis=0) for i in rows])
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        where = {"$and": [{"codebook": codebook.content_hash}, {"code_id": {"$in": [c.id for c in codes]}}]}
        hits = self.store.nearest(CODES, self.embedder.name, means, min(top_k, len(codes)), where=where)
        prefix = len(code_vector_id(codebook, ""))
        for i, found in zip(rows, hits, strict=True):
            out[segments[i].id] = [hit_id[prefix:] for hit_id, _ in found]
        return out

    def similar(self, texts: Sequence[str], k: int,
                transcript_ids: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
        """For each text, the ids of the `k` stored segments nearest to it (of these transcripts), with cosine."""
        if not texts or self.store.count(SEGMENTS, self.embedder.name) == 0:
            return [[] for _ in texts]
        where = {"transcript_id": {"$in": list(transcript_ids)}} if transcript_ids is not None else None
        return self.store.nearest(SEGMENTS, self.embedder.name, self.embedder.embed(list(texts)), k, where=where)

    def delete(self) -> list[str]:
        """Delete this project's vectors (every embedder's): its collections, whose names are returned, and its cached vectors."""
        self.units.delete_namespace()
        return self.store.delete_namespace()
