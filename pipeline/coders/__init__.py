"""Coders: turn segments + a codebook into suggestions. `similarity` is the offline default; `llm` asks a chat model.

Coders are found through the entry point group `precode.coders`: each entry names a factory
`create(project, **options) -> Coder`. precode declares its own two in pyproject.toml; a plugin
package adds a coder by declaring one more entry point in its own metadata, e.g.

    [project.entry-points."precode.coders"]
    mine = "my_package.coder:create"

The built-in coders are also registered here directly, so they work from a source checkout whose
installed metadata predates them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pipeline.coders.base import CodedBatch, Coder, CodingContext, suggestion_id
from pipeline.errors import PrecodeError
from pipeline.project import Project

ENTRY_POINT_GROUP = "precode.coders"
BUILTIN = {"similarity": "pipeline.coders.similarity:create", "llm": "pipeline.coders.llm_factory:create",
           "learned": "pipeline.coders.learned:create"}
CODERS = tuple(BUILTIN)

CoderFactory = Callable[..., Coder]

if TYPE_CHECKING:  # mypy checks here that the built-in coders keep to the contract
    from pipeline.coders.llm import LLMCoder
    from pipeline.coders.similarity import SimilarityCoder

    _CONTRACT: tuple[type[Coder], ...] = (LLMCoder, SimilarityCoder)


def available_coders() -> dict[str, str]:
    """Coder name -> 'module:factory', the built-in ones first, then those of installed plugins."""
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def coder_factory(name: str) -> CoderFactory:
    coders = available_coders()
    if name not in coders:
        raise PrecodeError(f"unknown coder '{name}'", hint=f"choose one of: {', '.join(coders)}")
    module, _, attribute = coders[name].partition(":")
    factory: CoderFactory = getattr(import_module(module), attribute)
    return factory


def make_coder(name: str, project: Project, **options: Any) -> Coder:
    """The coder registered as `name`, configured from the project's settings and `options`."""
    return coder_factory(name)(project, **options)


__all__ = ["CODERS", "CodedBatch", "Coder", "CodingContext", "available_coders", "make_coder", "suggestion_id"]
