"""The cache key of the ONNX export of the local embedding model, computed without importing torch.

The export depends on the model's weights and on the torch version that traced it. torch's version
is read from its installed distribution metadata (`importlib.metadata`), which is what
`torch.__version__` reports, so building the key costs microseconds instead of importing torch.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path


def torch_version() -> str:
    """The installed torch's version string ('none' when torch is not installed)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def onnx_cache_key(weights: Path) -> str:
    """12 hex digits naming the export of `weights` by this torch version."""
    return hashlib.sha256(f"{weights.stat().st_size}:{torch_version()}".encode()).hexdigest()[:12]
