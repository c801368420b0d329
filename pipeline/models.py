"""Pydantic models: the contracts between pipeline steps.

Every step reads the records the previous one stored and writes its own. Offsets are
character offsets into `Transcript.text`, the normalized text stored at ingest and never
rewritten afterwards: `transcript.text[s.start:s.end] == s.text` for every segment and
every grounded quote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class TranscriptMetadata(BaseModel):
    """Who was interviewed, where and when; `extra` keeps any further sidecar columns."""

    participant_id: str | None = None
    group: str | None = None
    site: str | None = None
    date: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    def merged(self, other: TranscriptMetadata) -> TranscriptMetadata:
        """Fields set in `other` win; used to lay a sidecar CSV over front matter."""
        data = self.model_dump()
        for key, value in other.model_dump().items():
            if key == "extra":
                data["extra"] = {**data["extra"], **value}
            elif value not in (None, ""):
                data[key] = value
        return TranscriptMetadata(**data)


class Turn(BaseModel):
    """One speaker's uninterrupted contribution, located in the transcript text."""

    speaker: str
    start: int
    end: int
    timestamp: str | None = None


class Transcript(BaseModel):
    """A transcript as ingested: normalized text plus its speaker turns."""

    id: str
    name: str
    source_path: str
    source_sha256: str
    version: int = 1
    format: str
    encoding: str
    text: str
    turns: list[Turn]
    metadata: TranscriptMetadata = Field(default_factory=TranscriptMetadata)
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _turns_inside_text(self) -> Transcript:
        for turn in self.turns:
            if not (0 <= turn.start <= turn.end <= len(self.text)):
                raise ValueError(f"turn {turn} lies outside the transcript text")
        return self


class SegmentRole(StrEnum):
    interviewer = "interviewer"
    participant = "participant"


class Segment(BaseModel):
    """The unit of analysis: a participant turn or a sentence-aligned piece of a long one."""

    id: str
    transcript_id: str
    index: int
    start: int
    end: int
    speaker: str
    role: SegmentRole
    text: str
    context_start: int | None = None
    context_end: int | None = None
    context: str | None = None


class Code(BaseModel):
    """One node of a codebook tree."""

    id: str
    label: str
    parent: str | None = None
    definition: str
    include: list[str]
    exclude: list[str]
    examples: list[str]
    level: str = ""
    depth: int = 0


class Grounding(StrEnum):
    """How a quote was located in its segment (see pipeline.grounding)."""

    exact = "exact"
    normalized = "normalized"
    fuzzy = "fuzzy"
    ungrounded = "ungrounded"


class Suggestion(BaseModel):
    """A code proposed for a segment, with its evidence located in the transcript."""

    id: str
    run_id: str
    segment_id: str
    transcript_id: str
    code_id: str
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: Grounding
    score: float
    rationale: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RunStatus(StrEnum):
    """`running` while coded (or pending a provider batch); `completed`: every segment done;
    `incomplete`: every segment tried, some failed (a re-run of the same command codes them and
    completes the run); `failed`: nothing was coded, or the run was stopped by an error no re-run
    of the same command fixes (a fail-fast or quota error); `reason` says why."""

    running = "running"
    completed = "completed"
    incomplete = "incomplete"
    failed = "failed"


class Run(BaseModel):
    """An immutable record of one coding pass: who coded, with what, and what came out."""

    id: str
    coder: str
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    prompt_hash: str | None = None
    codebook_id: str
    codebook_hash: str
    level: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    status: RunStatus = RunStatus.running
    counts: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None  # why an incomplete or failed run ended so

    @property
    def status_text(self) -> str:
        """'incomplete (2 segments failed: HTTP 500 …)', 'failed (…)', or the bare status."""
        return f"{self.status.value} ({self.reason})" if self.reason else self.status.value
