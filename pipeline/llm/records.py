"""The LLM coder's own records as the store keeps them: calls, rejections, samples, provenance, proposals.

The coder builds them as rows (pipeline.store.llm) and hands them to the orchestrator with each
batch, which stores them in the batch's transaction: a batch's records land together with its
suggestions or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pydantic import BaseModel

from pipeline.llm.checks import CheckedProposal, CheckedSegment, Rejection
from pipeline.llm.client import Usage
from pipeline.models import Segment
from pipeline.store.llm import CallRow, ProposalRecord, ProvenanceRow, RejectionRow, SampleRow

SuggestionProvenance = ProvenanceRow


class CallRecord(BaseModel):
    """One request of a run: a model call ('ok'/'failed') or a 'cache_hit'."""

    cache_key: str
    segment_ids: list[str]
    sample: int = 0
    outcome: str
    http_attempts: int = 0
    retries: int = 0
    reasks: int = 0
    usage: Usage = Usage()
    cost_usd: float | None = None
    seconds: float | None = None
    waited: float = 0.0
    error: str | None = None


def call_row(run_id: str, call: CallRecord) -> CallRow:
    return CallRow(run_id=run_id, cache_key=call.cache_key, segment_ids=call.segment_ids, sample=call.sample,
                   outcome=call.outcome, http_attempts=call.http_attempts, retries=call.retries, reasks=call.reasks,
                   prompt_tokens=call.usage.prompt_tokens, completion_tokens=call.usage.completion_tokens,
                   cached_tokens=call.usage.cached_tokens, cost_usd=call.cost_usd, seconds=call.seconds,
                   waited_seconds=call.waited, error=call.error, reasoning_tokens=call.usage.reasoning_tokens)


def rejection_rows(run_id: str, rejections: Iterable[Rejection]) -> list[RejectionRow]:
    return [RejectionRow(run_id=run_id, segment_id=r.segment_id, sample=r.sample, kind=r.kind, code_id=r.code_id,
                         quote=r.quote, detail=r.detail) for r in rejections]


def sample_rows(run_id: str, samples: Iterable[CheckedSegment]) -> list[SampleRow]:
    return [SampleRow(run_id=run_id, segment_id=s.segment_id, sample=s.sample, answer_json=s.model_dump_json())
            for s in samples]


def proposal_id(run_id: str, segment_id: str, label: str) -> str:
    return hashlib.sha256(f"{run_id}:{segment_id}:{label.casefold()}".encode()).hexdigest()[:16]


def proposal_rows(run_id: str, proposals: Iterable[tuple[Segment, CheckedProposal]]) -> list[ProposalRecord]:
    """New-code proposals go to `code_proposals`, apart from codebook codes, for the reviewer."""
    return [ProposalRecord(id=proposal_id(run_id, seg.id, p.label), run_id=run_id, segment_id=seg.id,
                           transcript_id=seg.transcript_id, label=p.label, definition=p.definition,
                           parent_code_id=p.parent_code_id, quote=p.evidence.text, quote_start=p.evidence.match.start,
                           quote_end=p.evidence.match.end, grounding=p.evidence.match.grounding.value,
                           rationale=p.rationale) for seg, p in proposals]
