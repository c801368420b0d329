"""Find the files shipped with precode (codebooks/, prompts/) in an installed wheel or a checkout.

In a wheel they are the folders `pipeline/codebooks` and `pipeline/prompts` (see the package-dir
mapping in pyproject.toml; they hold no Python, so they import as namespace packages); in a source
checkout they are the top-level folders.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def data_dir(kind: str) -> Path:
    """The folder holding the shipped `kind` files ('codebooks' or 'prompts')."""
    try:
        spec = find_spec(f"pipeline.{kind}")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / kind
