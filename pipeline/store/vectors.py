"""Where vectors are kept: chromadb for what is searched by nearness, a SQLite file for what is looked up by id.

`VectorStore` wraps chromadb: persistent collections in the project (or a Chroma server), cosine
space. Embeddings are always computed by the project and passed in; chromadb's own default
embedding function (which downloads a model at run time) is never used, and its telemetry is off.
A collection is named `<project id>__<kind>__<embedder>`: the project id keeps two projects that
share one Chroma server apart, the embedder's name keeps vectors of different models apart.

`VectorCache` keeps the quote units' vectors, which are only ever fetched by id (the similarity
coder scores them in numpy, never by a nearest-neighbour query). chromadb's embedded store keeps
every collection's HNSW index in the process's memory, about 3 KB a vector and never released
while the client lives (its `chroma_segment_cache_policy`/`chroma_memory_limit_bytes` settings are
read only by the legacy Python segment manager, not by the Rust bindings chromadb 1.x runs), so a
run's memory grew with the corpus; a SQLite table keyed by (project, embedder, id) reads and
writes them with a bounded page cache, and an upsert no longer pays for an index insertion.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from pipeline.errors import PrecodeError

SEGMENTS = "segments"  # a segment's vector (mean of its quote units'), for `precode similar` (filled on first use)
QUOTE_UNITS = "quote_units"  # sentence-sized spans, scored against codes and quoted as evidence (in `VectorCache`)
CODE_TEXTS = "code_texts"  # a code's label+definition, inclusion notes and examples, one vector each
CODES = "codes"  # a code's vector in one codebook version (mean of its and its descendants' texts)

Metadata = Mapping[str, str | int | float | bool]


class VectorStore:
    """The vector collections of one project (`namespace`: its project id) in chromadb."""

    def __init__(self, path: Path | None = None, url: str | None = None, namespace: str = ""):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url:
                parsed = urlparse(url)
                self.client = chromadb.HttpClient(host=parsed.hostname or "localhost", port=parsed.port or 8000,
                                                  ssl=parsed.scheme == "https", settings=settings)
            else:
                self.client = chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception as exc:  # chromadb raises assorted errors for an unusable store
            raise PrecodeError(f"cannot open the vector store ({exc})", path=url or str(path),
                               hint="check [chroma] url in precode.toml, or that the chroma/ folder is writable") from None
        self.namespace = namespace
        self._collections: dict[str, Any] = {}
        self.batch = min(self.client.get_max_batch_size(), 4000)

    def name(self, kind: str, embedder_name: str) -> str:
        return f"{self.namespace}__{kind}__{embedder_name}" if self.namespace else f"{kind}__{embedder_name}"

    def collection(self, kind: str, embedder_name: str) -> Any:
        name = self.name(kind, embedder_name)
        if name not in self._collections:
            self._collections[name] = self.client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        return self._collections[name]

    def missing(self, kind: str, embedder_name: str, ids: Sequence[str]) -> list[str]:
        """The ids not yet stored (so re-runs embed nothing twice)."""
        collection = self.collection(kind, embedder_name)
        present: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), self.batch):
            present.update(collection.get(ids=unique[start:start + self.batch], include=[])["ids"])
        return [i for i in unique if i not in present]

    def upsert(self, kind: str, embedder_name: str, ids: Sequence[str], vectors: np.ndarray,
               documents: Sequence[str] | None = None, metadatas: Sequence[Metadata] | None = None) -> None:
        collection = self.collection(kind, embedder_name)
        for start in range(0, len(ids), self.batch):
            stop = start + self.batch
            collection.upsert(
                ids=list(ids[start:stop]), embeddings=vectors[start:stop],
                documents=list(documents[start:stop]) if documents is not None else None,
                metadatas=list(metadatas[start:stop]) if metadatas is not None else None,
            )

    def vectors(self, kind: str, embedder_name: str, ids: Iterable[str]) -> dict[str, np.ndarray]:
        collection = self.collection(kind, embedder_name)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), self.batch):
            result = collection.get(ids=wanted[start:start + self.batch], include=["embeddings"])
            for key, vector in zip(result["ids"], result["embeddings"], strict=True):
                found[key] = np.asarray(vector, dtype=np.float32)
        return found

    def nearest(self, kind: str, embedder_name: str, vectors: np.ndarray, k: int,
                where: Mapping[str, Any] | None = None) -> list[list[tuple[str, float]]]:
        """For each query vector, the k nearest stored ids (among those matching `where`) with cosine similarity."""
        collection = self.collection(kind, embedder_name)
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(vectors), self.batch):
            result = collection.query(query_embeddings=vectors[start:start + self.batch], n_results=k,
                                      where=dict(where) if where else None, include=["distances"])
            out += [[(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
                    for ids, dists in zip(result["ids"], result["distances"], strict=True)]
        return out

    def exists(self, kind: str, embedder_name: str) -> bool:
        """Whether the collection is there (without creating it)."""
        names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        return self.name(kind, embedder_name) in names

    def drop(self, kind: str, embedder_name: str) -> None:
        """Delete one collection of this project."""
        name = self.name(kind, embedder_name)
        self.client.delete_collection(name)
        self._collections.pop(name, None)

    def count(self, kind: str, embedder_name: str) -> int:
        return int(self.collection(kind, embedder_name).count())

    def delete_namespace(self) -> list[str]:
        """Delete every collection of this project (and only those); returns their names."""
        if not self.namespace:
            raise ValueError("a vector store without a project id cannot tell its collections from others'")
        prefix = f"{self.namespace}__"
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        mine = sorted(n for n in names if n.startswith(prefix))
        for name in mine:
            self.client.delete_collection(name)
            self._collections.pop(name, None)
        return mine


CACHE_FILE = "vectors.sqlite3"
_IDS_PER_QUERY = 900  # below SQLite's smallest bound on host parameters (999)


CACHE_TABLES = {"units": "unit_vectors", "texts": "text_vectors"}  # kind -> table


class VectorCache:
    """Vectors fetched by id, never searched by nearness: one SQLite file, rows keyed by (project id, embedder, id).

    Two kinds, each its own table: `units` (quote units, by content-derived id) and `texts` (context
    questions and codebook descriptions, by text hash). Memory stays bounded (SQLite's page
    cache), whatever the corpus. Rows of several projects may share a file (as collections share a
    Chroma server); each sees and deletes only its own.
    """

    def __init__(self, path: Path, namespace: str = "", kind: str = "units"):
        self.table = CACHE_TABLES[kind]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            # a 1.5 KB vector overflows a 4 KB page of a WITHOUT ROWID table (4.7 KB a row on disk); a rowid
            # table of 16 KB pages holds ten to a page (~1.7 KB a row). page_size applies to a new file only.
            self.conn.execute("PRAGMA page_size=16384")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            for table in CACHE_TABLES.values():
                self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (namespace TEXT NOT NULL, embedder TEXT NOT NULL,"
                    " id TEXT NOT NULL, vector BLOB NOT NULL, UNIQUE (namespace, embedder, id))")
            self.conn.execute(  # (project, embedder) pairs whose older chromadb copy has been looked for
                "CREATE TABLE IF NOT EXISTS adopted (namespace TEXT NOT NULL, embedder TEXT NOT NULL,"
                " PRIMARY KEY (namespace, embedder)) WITHOUT ROWID")
        except sqlite3.Error as exc:
            raise PrecodeError(f"cannot open the vector cache ({exc})", path=str(path),
                               hint="check that the project folder is writable") from None
        self.path = path
        self.namespace = namespace

    def _present(self, embedder_name: str, ids: Sequence[str]) -> Iterable[tuple[str, bytes]]:
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = list(ids[start:start + _IDS_PER_QUERY])
            yield from self.conn.execute(
                f"SELECT id, vector FROM {self.table} WHERE namespace = ? AND embedder = ? AND id IN ({','.join('?' * len(chunk))})",
                [self.namespace, embedder_name, *chunk])

    def missing(self, embedder_name: str, ids: Sequence[str]) -> list[str]:
        """The ids not yet stored (so re-runs embed nothing twice), in order, once each."""
        unique = list(dict.fromkeys(ids))
        present: set[str] = set()
        for start in range(0, len(unique), _IDS_PER_QUERY):
            chunk = unique[start:start + _IDS_PER_QUERY]
            present.update(row[0] for row in self.conn.execute(
                f"SELECT id FROM {self.table} WHERE namespace = ? AND embedder = ? AND id IN ({','.join('?' * len(chunk))})",
                [self.namespace, embedder_name, *chunk]))
        return [i for i in unique if i not in present]

    def upsert(self, embedder_name: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(self.namespace, embedder_name, i, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for i, v in zip(ids, vectors, strict=True)]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                f"INSERT OR REPLACE INTO {self.table} (namespace, embedder, id, vector) VALUES (?, ?, ?, ?)", rows)

    def vectors(self, embedder_name: str, ids: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(ids))
        return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in self._present(embedder_name, wanted)}

    def adopted(self, embedder_name: str) -> bool:
        """Whether the vectors an older precode kept in chromadb were already looked for (and moved here)."""
        return self.conn.execute("SELECT 1 FROM adopted WHERE namespace = ? AND embedder = ?",
                                 [self.namespace, embedder_name]).fetchone() is not None

    def mark_adopted(self, embedder_name: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO adopted (namespace, embedder) VALUES (?, ?)",
                          [self.namespace, embedder_name])

    def count(self, embedder_name: str) -> int:
        [(n,)] = self.conn.execute(f"SELECT COUNT(*) FROM {self.table} WHERE namespace = ? AND embedder = ?",
                                   [self.namespace, embedder_name])
        return int(n)

    def delete_namespace(self) -> int:
        """Delete this project's vectors of every kind and embedder; returns how many."""
        if not self.namespace:
            raise ValueError("a vector cache without a project id cannot tell its vectors from others'")
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM adopted WHERE namespace = ?", [self.namespace])
            return sum(int(self.conn.execute(f"DELETE FROM {table} WHERE namespace = ?", [self.namespace]).rowcount)
                       for table in CACHE_TABLES.values())

    def close(self) -> None:
        self.conn.close()
