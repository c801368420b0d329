"""Project settings (`precode.toml`): validated with pydantic, errors name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PrecodeError

DEFAULT_SPEAKER_PATTERNS = [
    # [00:01:23] Name:   or   (00:01:23) Name:
    r"^[\[(](?P<timestamp>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)[\])]\s*(?P<speaker>[^:\n]{1,40}?):\s*",
    # 00:01:23 Name:
    r"^(?P<timestamp>\d{1,2}:\d{2}:\d{2})\s+(?P<speaker>[^:\n]{1,40}?):\s*",
    # **Name:** (Markdown bold)
    r"^\*\*(?P<speaker>[^*:\n]{1,40}?):?\*\*:?\s*",
    # Interviewer: / P3: / HCP 2: / Dr Okafor: / I: / R:
    r"^(?P<speaker>[A-Z][\w .'’\-]{0,38}?|[A-Z]{1,4}\s?\d{0,3}):\s+",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Section):
    speaker_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_SPEAKER_PATTERNS))
    interviewer_labels: list[str] = Field(
        default_factory=lambda: ["interviewer", "int", "i", "moderator", "facilitator", "researcher", "q"]
    )


class SegmentSettings(_Section):
    max_chars: int = Field(1200, ge=100, description="longer turns are split at sentence boundaries")
    code_interviewer: bool = False


class EmbeddingSettings(_Section):
    backend: Literal["local", "openai"] = "local"
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(64, ge=1)
    base_url: str | None = None
    allow_remote: bool = False


class SimilaritySettings(_Section):
    threshold: float = Field(0.40, ge=-1, le=1, description="minimum cosine similarity of a quote unit to a code")
    margin: float = Field(0.10, ge=0, le=2, description="how far above the unit's mean similarity over all codes")
    top_k: int = Field(3, ge=1, description="at most this many codes per segment")


class ChromaSettings(_Section):
    url: str | None = Field(None, description="a Chroma server URL; the project's chroma/ folder when unset")


class Settings(_Section):
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    segment: SegmentSettings = Field(default_factory=SegmentSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    similarity: SimilaritySettings = Field(default_factory=SimilaritySettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)


def load_settings(path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PrecodeError(f"invalid TOML ({exc})", path=str(path), hint="fix the syntax of the settings file") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = [f"[{'.'.join(str(p) for p in e['loc'][:-1]) or 'top'}] {e['loc'][-1]}: {e['msg']}"
                    for e in exc.errors()]
        raise PrecodeError("invalid settings:\n  " + "\n  ".join(problems), path=str(path),
                           hint="fix or remove these keys (see README, 'Settings')") from None


def write_settings(path: Path, settings: Settings) -> None:
    data = settings.model_dump(exclude_none=True)
    path.write_text(
        "# precode project settings. Remove a key to get its default.\n" + tomli_w.dumps(data), encoding="utf-8"
    )
