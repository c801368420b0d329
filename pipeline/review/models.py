"""Pydantic models for the review service: what the web app and the TUI send and receive."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from pipeline.models import Grounding

# Reasons a reviewer can pick when rejecting (stored as the key; free text goes in the note).
REJECT_REASONS: dict[str, str] = {
    "not_supported": "The quote does not support this code",
    "exclusion_rule": "An exclusion rule of the code applies",
    "wrong_level": "Right area, wrong level of the tree",
    "too_vague": "Too vague or too short to code",
    "other": "Other (say why in the note)",
}

ANYONE = "*"  # reviewer scope meaning "the latest decision of any reviewer"
MAX_NOTE = 2000


class Status(StrEnum):
    pending = "pending"
    reviewed = "reviewed"
    accepted = "accepted"
    changed = "changed"
    rejected = "rejected"
    all = "all"


class Order(StrEnum):
    position = "position"        # transcript by transcript, in reading order
    uncertainty = "uncertainty"  # lowest score (confidence or similarity) first
    learned = "learned"          # the retrained learned model least sure first (|p - 0.5|; review --learn)


class QueueFilter(BaseModel):
    """Which suggestions of the run the queue walks through, and in what order."""

    transcript: str | None = Field(None, description="transcript id")
    code: str | None = Field(None, description="code id; codes below it in the tree match too")
    status: Status = Status.pending
    min_score: float | None = None
    max_score: float | None = None
    grounding: Grounding | None = None
    reviewer: str | None = Field(None, description="whose decisions define the status: None = me, '*' = anyone")
    order: Order = Order.position

    @field_validator("transcript", "code", "min_score", "max_score", "grounding", "reviewer", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """A form's empty field means 'no filter'."""
        return None if value == "" else value


class CodeInfo(BaseModel):
    id: str
    label: str
    path: str
    level: str
    depth: int
    definition: str
    include: list[str]
    exclude: list[str]
    examples: list[str]


class TranscriptInfo(BaseModel):
    id: str
    name: str
    version: int
    participant: str | None = None
    group: str | None = None
    site: str | None = None


class SegmentInfo(BaseModel):
    id: str
    index: int
    start: int
    end: int
    speaker: str
    text: str


class ContextInfo(BaseModel):
    """The interviewer's question before the segment."""

    speaker: str
    start: int
    end: int
    text: str


class DecisionView(BaseModel):
    id: int
    action: str
    outcome: str | None = None
    reviewer: str
    code_id: str | None = None
    quote_start: int | None = None
    quote_end: int | None = None
    reason: str | None = None
    note: str | None = None
    at: datetime


class SegmentCode(BaseModel):
    """Another code on the same segment: from the run under review, or added by this reviewer."""

    suggestion_id: str
    code_id: str
    label: str
    added_by_reviewer: bool
    quote_start: int | None
    quote_end: int | None
    outcome: str | None = None


class LearnedProvenance(BaseModel):
    """Which model proposed a code the run's coder had not suggested, trained on how much, when."""

    model: str
    reviewer: str = Field(description="whose review session retrained the model")
    training_segments: int
    training_units: int
    probability: float
    at: datetime


class LearnStatus(BaseModel):
    """The learned model of a review session (review --learn): what it was last trained on and did."""

    enabled: bool
    model: str | None = None
    trained_at: datetime | None = None
    seconds: float | None = Field(None, description="how long the last retrain took (training, scoring, proposing)")
    training_segments: int = 0
    training_units: int = 0
    examples: dict[str, int] = Field(default_factory=dict)
    decisions_since: int = Field(0, description="decisions made in this session since the last retrain")
    every: int = Field(0, description="retrain after this many decisions (0: only when asked)")
    ranked: int = Field(0, description="suggestions of the run the model scored (the learned order)")
    proposed: int = Field(0, description="codes the last retrain proposed")
    proposals_total: int = Field(0, description="codes the learned model proposed in this run so far")


class Item(BaseModel):
    """Everything the review screen shows for one suggestion."""

    id: str
    run_id: str
    position: int | None
    transcript: TranscriptInfo
    segment: SegmentInfo
    context: ContextInfo | None
    code: CodeInfo
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: Grounding
    score: float
    score_kind: Literal["confidence", "similarity", "relative", "manual"]
    rationale: str | None
    coder: str
    model: str | None
    evidence: str | None = Field(None, description="why the model's quote is no evidence although its words may be "
                                                   "in the text: 'elided: 3 parts found in order', 'too short: 1 word'")
    mine: DecisionView | None = Field(None, description="this reviewer's standing decision")
    effective_code: CodeInfo | None = Field(None, description="the code after this reviewer's change, if changed")
    effective_start: int | None = None
    effective_end: int | None = None
    others_on_segment: list[SegmentCode] = Field(default_factory=list)
    version: int = Field(0, description="id of the latest decision anyone made on it (0: none); send it back as "
                                        "'seen' with a decision to be warned when someone decided it since")
    proposed_by: LearnedProvenance | None = Field(
        None, description="set when the learned model proposed this code while the run was reviewed (review --learn)")
    learned_probability: float | None = Field(
        None, description="the retrained learned model's probability of this code here (review --learn)")


class QueueView(BaseModel):
    item: Item | None
    index: int | None = Field(None, description="1-based place of the item among the filtered suggestions")
    total: int
    wrapped: bool = False
    theirs: DecisionView | None = Field(
        None, description="when the filter looks at another reviewer's (or anyone's) decisions: that decision")


class DecisionIn(BaseModel):
    action: Literal["accept", "reject", "edit"]
    reason: str | None = None
    note: str | None = Field(None, max_length=MAX_NOTE)
    code_id: str | None = None
    quote_start: int | None = None
    quote_end: int | None = None
    seen: int | None = Field(None, description="the item's `version` when it was shown: the decision is refused "
                                               "(409) if anyone decided on it since; None = no check")


class MissedIn(BaseModel):
    """A code the machine missed: on a span of a segment (the whole segment when no span)."""

    segment_id: str
    code_id: str
    quote_start: int | None = None
    quote_end: int | None = None
    note: str | None = Field(None, max_length=MAX_NOTE)


class UndoResult(BaseModel):
    suggestion_id: str
    undone: DecisionView
    in_queue: bool = Field(description="False for a code the reviewer had added by hand")
    item: Item | None = Field(None, description="the suggestion as it now stands, when it is in the queue")


class BulkIn(BaseModel):
    filter: QueueFilter
    action: Literal["accept", "reject"]
    expected: int = Field(description="how many the reviewer confirmed; refused if the filtered set changed")
    reason: str | None = None
    note: str | None = Field(None, max_length=MAX_NOTE)


class BulkPreview(BaseModel):
    count: int
    already_decided: int


class CodePrecision(BaseModel):
    """Machine precision for one code: accepted / reviewed, with a Wilson 95% interval."""

    code_id: str
    label: str
    path: str
    suggested: int
    reviewed: int
    accepted: int
    changed: int
    rejected: int
    added: int = Field(0, description="codings reviewers added that the machine missed")
    precision: float | None
    ci_low: float | None
    ci_high: float | None


class Progress(BaseModel):
    scope: str = Field(description="the reviewer whose decisions count, or '*' for the latest of anyone's")
    total: int
    reviewed: int
    remaining: int
    overall: CodePrecision
    per_code: list[CodePrecision]


class RunInfo(BaseModel):
    id: str
    coder: str
    model: str | None
    codebook_id: str
    codebook_name: str
    codebook_version: str
    level: str | None
    status: str
    started_at: datetime
    suggestions: int


class SessionInfo(BaseModel):
    run: RunInfo
    reviewer: str
    reviewers: list[str]
    score_kind: str
    codes: list[CodeInfo]
    transcripts: list[TranscriptInfo]
    reasons: dict[str, str]
    proposals_open: int
    learn: LearnStatus = Field(default_factory=lambda: LearnStatus(enabled=False),
                               description="the session's learned model (review --learn)")


class ProposalView(BaseModel):
    id: str
    run_id: str
    label: str
    definition: str
    parent_code_id: str | None
    parent_path: str | None
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: Grounding
    rationale: str | None
    transcript: TranscriptInfo
    segment: SegmentInfo
    context: ContextInfo | None
    suggested_code_id: str = Field(description="a free code id derived from the label, under the parent")
    state: Literal["open", "adopted", "dismissed"]
    decided_by: str | None = None
    new_code_id: str | None = None
    note: str | None = None


class AdoptIn(BaseModel):
    """The code to add, as the reviewer finalised it from the proposal."""

    code_id: str
    label: str
    definition: str
    parent: str | None = None
    include: list[str]
    exclude: list[str]
    examples: list[str]
    note: str | None = Field(None, max_length=MAX_NOTE)


class AdoptResult(BaseModel):
    code_id: str
    codebook_hash: str
    codebook_version: str
    path: str


class DismissIn(BaseModel):
    note: str | None = Field(None, max_length=MAX_NOTE)


# -- passage-first review --------------------------------------------------------------------------
class PassageFilter(BaseModel):
    """Which participant passages of the run's transcripts the passage walk visits."""

    transcript: str | None = Field(None, description="transcript id")
    only: Literal["all", "pending", "unsuggested"] = Field(
        "all", description="pending: with a suggestion I have not decided; unsuggested: with no suggestion at all")

    @field_validator("transcript", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value


class PassageView(BaseModel):
    """One passage with every suggestion on it (and the codes this reviewer added there)."""

    transcript: TranscriptInfo
    segment: SegmentInfo
    context: ContextInfo | None
    items: list[Item] = Field(description="the run's suggestions on the passage, in reading order (may be empty)")
    added: list[SegmentCode] = Field(description="codes this reviewer added by hand on the passage")
    claimed_by: str | None = None


class PassageQueueView(BaseModel):
    passage: PassageView | None
    index: int | None = Field(None, description="1-based place among the matching passages")
    total: int
    wrapped: bool = False


# -- team review -----------------------------------------------------------------------------------
class ClaimView(BaseModel):
    transcript: TranscriptInfo
    reviewer: str
    claimed_at: datetime
    mine: bool


class AdjudicateIn(BaseModel):
    """The adjudicator's decision on a suggestion two reviewers disagree on."""

    first: str = Field(description="one reviewer whose decisions are compared")
    second: str = Field(description="the other reviewer")
    decision: DecisionIn


class Disagreement(BaseModel):
    """Two reviewers' standing decisions on one suggestion, side by side, and the adjudication if any."""

    item: Item
    first: DecisionView
    second: DecisionView
    adjudicated_by: str | None = None
    adjudication: DecisionView | None = Field(None, description="the adjudicator's decision, when still standing")


class ClaimIn(BaseModel):
    transcript_id: str | None = Field(None, description="None: the first transcript nobody holds with items "
                                                        "pending for me")
