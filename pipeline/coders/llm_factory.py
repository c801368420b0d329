"""The registry's factory for the `llm` coder.

It lives apart from `pipeline.coders.llm` because it chooses between `LLMCoder` and its Batch-API
subclass `BatchLLMCoder` (`pipeline.llm.batch`), which imports `pipeline.coders.llm`: keeping the
choice here keeps the import graph free of cycles.
"""

from __future__ import annotations

from typing import Any

from pipeline.coders.llm import LLMCoder, LLMOptions, effective_settings
from pipeline.llm.batch import BATCHES_DIR, BatchLLMCoder
from pipeline.project import Project


def create(project: Project, llm: LLMOptions | None = None, dry_run: bool = False, **_: Any) -> LLMCoder:
    """The `[llm]` settings with `llm` options laid over them; `--batch` picks the Batch-API coder."""
    if llm is not None and llm.batch:
        return BatchLLMCoder(effective_settings(project.settings.llm, llm), project.root / BATCHES_DIR, dry_run=dry_run)
    return LLMCoder(effective_settings(project.settings.llm, llm or LLMOptions()), dry_run=dry_run)
