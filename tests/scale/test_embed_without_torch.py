"""Embedding one text with the ONNX runtime never imports torch once the export exists; threads are a setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.embed import LocalEmbedder, cache_dir, make_embedder
from pipeline.onnx_key import onnx_cache_key
from pipeline.settings import EmbeddingSettings

PROBE = """
import json, sys
from pipeline.embed import go_offline, LocalEmbedder
go_offline()
embedder = LocalEmbedder(threads=1)
vector = embedder.embed(["The new system saves me an hour a day."])
session, _ = embedder._onnx
print(json.dumps({"torch": "torch" in sys.modules, "shape": list(vector.shape),
                  "threads": session.get_session_options().intra_op_num_threads}))
"""


def test_embedding_a_text_with_the_export_in_place_does_not_import_torch():
    embedder = LocalEmbedder()
    embedder.embed(["make sure the export exists"])  # exports once on a fresh machine (imports torch here only)
    assert (cache_dir() / f"{embedder.name}-{onnx_cache_key(embedder.model_path / 'model.safetensors')}.onnx").is_file()
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"torch": False, "shape": [1, 384], "threads": 1}


def test_the_cache_key_is_the_one_torch_itself_would_give():
    import hashlib

    import torch

    weights = LocalEmbedder().model_path / "model.safetensors"
    expected = hashlib.sha256(f"{weights.stat().st_size}:{torch.__version__}".encode()).hexdigest()[:12]
    assert onnx_cache_key(weights) == expected  # existing exports stay valid


def test_threads_setting_reaches_the_embedder_and_gives_the_same_vectors():
    one = make_embedder(EmbeddingSettings(threads=1))
    assert isinstance(one, LocalEmbedder) and one.threads == 1
    texts = ["short", "a much longer sentence about workload and the electronic record system " * 3, "mid length text"]
    np.testing.assert_allclose(one.embed(texts), LocalEmbedder().embed(texts), atol=1e-5)
    # batches are ordered by length, yet rows come back in the caller's order
    np.testing.assert_allclose(one.embed(texts[::-1]), one.embed(texts)[::-1], atol=1e-5)
