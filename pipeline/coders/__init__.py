"""Coders: turn segments + a codebook into suggestions. `similarity` is the offline default; `llm` asks a chat model."""

from __future__ import annotations

from pipeline.coders.base import Coder, CodingContext
from pipeline.errors import PrecodeError
from pipeline.project import Project

CODERS = ("similarity", "llm")


def make_coder(name: str, project: Project, **options) -> Coder:
    if name == "similarity":
        from pipeline.coders.similarity import SimilarityCoder

        settings = project.settings.similarity
        return SimilarityCoder(
            threshold=options.get("threshold") if options.get("threshold") is not None else settings.threshold,
            margin=settings.margin,
            top_k=options.get("top_k") or settings.top_k,
            embedding=project.settings.embedding,
        )
    if name == "llm":
        from pipeline.coders.llm import LLMCoder, LLMOptions, effective_settings

        llm = options.get("llm") or LLMOptions()
        return LLMCoder(project, effective_settings(project.settings.llm, llm), dry_run=options.get("dry_run", False))
    raise PrecodeError(f"unknown coder '{name}'", hint=f"choose one of: {', '.join(CODERS)}")


__all__ = ["CODERS", "Coder", "CodingContext", "make_coder"]
