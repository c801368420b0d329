"""The chromadb wrapper: persistent collections in the project (or a Chroma server), cosine space.

Embeddings are always computed by the project and passed in; chromadb's own default embedding
function (which downloads a model at run time) is never used, and its telemetry is off. A
collection is named `<project id>__<kind>__<embedder>`: the project id keeps two projects that
share one Chroma server apart, the embedder's name keeps vectors of different models apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from pipeline.errors import PrecodeError

SEGMENTS = "segments"  # a segment's vector (mean of its quote units'), for "find similar passages"
QUOTE_UNITS = "quote_units"  # sentence-sized spans, scored against codes and quoted as evidence
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
