"""The offline embedder: ONNX Runtime vectors equal sentence-transformers' for the packaged model."""

from __future__ import annotations

import numpy as np

from pipeline.embed import LocalEmbedder
from pipeline.ingest.readers import read_transcript
from pipeline.settings import IngestSettings


def test_onnx_runtime_matches_sentence_transformers(sample_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PRECODE_CACHE_DIR", str(tmp_path / "cache"))  # a fresh export, not a cached one
    parsed = read_transcript(sample_dir / "int03_radiologist.txt", IngestSettings())
    texts = [parsed.text[t.start:t.end] for t in parsed.turns][:40] + ["x", "é " * 600]  # incl. one over 256 tokens
    onnx = LocalEmbedder(batch_size=16, runtime="onnx").embed(texts)
    torch = LocalEmbedder(batch_size=16, runtime="torch").embed(texts)
    assert onnx.shape == torch.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert float((onnx * torch).sum(axis=1).min()) > 0.9999
    assert list((tmp_path / "cache").glob("minilm-l6-v2-*.onnx"))


def test_order_and_batching_do_not_change_vectors():
    embedder = LocalEmbedder(batch_size=3)
    texts = ["short", "a somewhat longer sentence about alerts", "mid length text", "x " * 50, "nurses"]
    together = embedder.embed(texts)
    one_by_one = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-5)
