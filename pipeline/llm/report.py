"""What an LLM run did and cost, read back from the project database (every attempt of the run)."""

from __future__ import annotations

import json

from pydantic import BaseModel

from pipeline.models import Grounding
from pipeline.store.database import Database

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


def run_report(db: Database, run_id: str, segments: int | None = None) -> LLMRunReport:
    conn = db.conn
    run = conn.execute("SELECT status, counts_json FROM runs WHERE id = ?", (run_id,)).fetchone()
    progress = dict(conn.execute(
        "SELECT status, COUNT(*) FROM run_segments WHERE run_id = ? GROUP BY status", (run_id,)).fetchall())
    grounding = dict(conn.execute(
        "SELECT grounding, COUNT(*) FROM suggestions WHERE run_id = ? GROUP BY grounding", (run_id,)).fetchall())
    calls = conn.execute(
        "SELECT SUM(outcome != 'cache_hit'), SUM(outcome = 'cache_hit'), SUM(outcome = 'failed'), SUM(retries),"
        " SUM(reasks), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(cost_usd),"
        " SUM(outcome != 'cache_hit' AND cost_usd IS NULL) FROM llm_calls WHERE run_id = ?", (run_id,)).fetchone()
    calls = [v or 0 for v in calls[:8]] + [calls[8], calls[9] or 0]
    rejections = dict(conn.execute(
        "SELECT kind, COUNT(*) FROM llm_rejections WHERE run_id = ? GROUP BY kind", (run_id,)).fetchall())
    failures = [f"{r[0]}: {r[1]}" for r in conn.execute(
        "SELECT segment_id, error FROM run_segments WHERE run_id = ? AND status = 'failed' ORDER BY segment_id"
        " LIMIT 10", (run_id,))]
    proposals = conn.execute("SELECT COUNT(*) FROM code_proposals WHERE run_id = ?", (run_id,)).fetchone()[0]
    if segments is None:
        segments = json.loads(run["counts_json"]).get("segments", 0) if run else 0
    return LLMRunReport(
        run_id=run_id, status=run["status"] if run else "unknown", segments=segments,
        segments_done=progress.get("done", 0), segments_failed=progress.get("failed", 0),
        suggestions=sum(grounding.values()), grounding={g.value: grounding.get(g.value, 0) for g in Grounding},
        calls=calls[0], cache_hits=calls[1], failed_calls=calls[2], retries=calls[3], reasks=calls[4],
        prompt_tokens=calls[5], completion_tokens=calls[6], cached_tokens=calls[7],
        cost_usd=round(calls[8], 6) if calls[8] is not None else None, unpriced_calls=calls[9],
        rejections={k: rejections.get(k, 0) for k in REJECTION_KINDS}, proposals=proposals, failures=failures,
    )
