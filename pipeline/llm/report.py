"""What an LLM run did and cost, read back from the project database (every attempt of the run)."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.models import Grounding
from pipeline.store.database import Database
from pipeline.store.runs import RunTotals

REJECTION_KINDS = ("unknown_code", "duplicate_code", "wrong_segment", "unrequested_proposal", "proposal_existing_code")


class LLMRunReport(BaseModel):
    run_id: str
    status: str
    segments: int
    segments_done: int
    segments_failed: int
    suggestions: int
    grounding: dict[str, int]
    calls: int  # requests that reached the model
    cache_hits: int
    failed_calls: int
    retries: int  # HTTP retries after 429, 5xx, timeouts, connection errors
    reasks: int  # follow-ups after invalid answers
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None  # None when no call had a price
    unpriced_calls: int
    rejections: dict[str, int]
    proposals: int
    failures: list[str]  # "segment id: error" of failed segments, the first ten

    @property
    def complete(self) -> bool:
        return self.segments_failed == 0 and self.segments_done >= self.segments

    def counts(self) -> dict[str, int]:
        """Integer counters for the run record."""
        return {
            "segments_failed": self.segments_failed, "llm_calls": self.calls, "cache_hits": self.cache_hits,
            "failed_calls": self.failed_calls, "retries": self.retries, "reasks": self.reasks,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens, "proposals": self.proposals,
            "rejected": sum(self.rejections.values()),
            **{f"rejected_{kind}": n for kind, n in self.rejections.items()},
        }


def report_from_totals(totals: RunTotals, segments: int | None = None) -> LLMRunReport:
    """The report of a run from what the store counted for it (pipeline.store.runs.RunTotals)."""
    if segments is None:
        segments = totals.counts.get("segments", 0)
    return LLMRunReport(
        run_id=totals.run_id, status=totals.status, segments=segments, segments_done=totals.segments_done,
        segments_failed=totals.segments_failed, suggestions=sum(totals.grounding.values()),
        grounding={g.value: totals.grounding.get(g.value, 0) for g in Grounding},
        calls=totals.calls, cache_hits=totals.cache_hits, failed_calls=totals.failed_calls, retries=totals.retries,
        reasks=totals.reasks, prompt_tokens=totals.prompt_tokens, completion_tokens=totals.completion_tokens,
        cached_tokens=totals.cached_tokens, cost_usd=totals.cost_usd, unpriced_calls=totals.unpriced_calls,
        rejections={k: totals.rejections.get(k, 0) for k in REJECTION_KINDS}, proposals=totals.proposals,
        failures=totals.failures,
    )


def run_report(db: Database, run_id: str, segments: int | None = None) -> LLMRunReport:
    return report_from_totals(db.run_totals(run_id), segments)
