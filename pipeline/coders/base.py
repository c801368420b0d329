"""The Coder protocol: what every coder (similarity baseline, LLM) gives the run orchestrator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.codebook import Codebook
from pipeline.models import Code, Segment, Suggestion
from pipeline.project import Project


@dataclass
class CodingContext:
    """Everything a coder needs for one run."""

    project: Project
    run_id: str
    codebook: Codebook
    codes: list[Code]  # the codes to apply (the chosen level of the tree)
    segments: list[Segment]
    progress: Callable[[int], None] = field(default=lambda n: None)


class Coder(Protocol):
    name: str
    model: str | None
    prompt_hash: str | None

    def params(self) -> dict[str, Any]:
        """Parameters recorded with the run (everything that changes the output)."""

    def code(self, context: CodingContext) -> Iterator[list[Suggestion]]:
        """Yield suggestions in batches; the orchestrator stores each batch atomically."""

    def counts(self) -> dict[str, int]:
        """Coder-specific counters for the run record (calls, cache hits, rejected outputs …)."""
