"""Find the files shipped with precode (codebooks/, prompts/) in an installed wheel or a checkout.

In a wheel they are the subpackages `pipeline.codebooks` and `pipeline.prompts` (see the
package-dir mapping in pyproject.toml); in a source checkout they are the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(kind: str) -> Path:
    """The folder holding the shipped `kind` files ('codebooks' or 'prompts')."""
    try:
        return Path(str(resources.files(f"pipeline.{kind}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / kind
