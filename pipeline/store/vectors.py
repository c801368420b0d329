"""The chromadb wrapper: persistent collections in the project (or a Chroma server), cosine space.

Embeddings are always computed by the project and passed in; chromadb's own default embedding
function (which downloads a model at run time) is never used, and its telemetry is off. Each
collection's name carries the embedder's name, so vectors of different models never mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from pipeline.errors import PrecodeError

SEGMENTS = "segments"
QUOTE_UNITS = "quote_units"
CODES = "codes"


class VectorStore:
    def __init__(self, path: Path | None = None, url: str | None = None):
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
        self._collections: dict[str, object] = {}
        self.batch = min(self.client.get_max_batch_size(), 4000)

    def collection(self, kind: str, embedder_name: str):
        name = f"{kind}__{embedder_name}"
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
               documents: Sequence[str] | None = None, metadatas: Sequence[dict] | None = None) -> None:
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
            for key, vector in zip(result["ids"], result["embeddings"]):
                found[key] = np.asarray(vector, dtype=np.float32)
        return found

    def nearest(self, kind: str, embedder_name: str, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """For each query vector, the k nearest stored ids with cosine similarity."""
        result = self.collection(kind, embedder_name).query(query_embeddings=vectors, n_results=k, include=["distances"])
        return [[(i, 1.0 - d) for i, d in zip(ids, dists)] for ids, dists in zip(result["ids"], result["distances"])]
