"""Writes of the LLM coder's own records: calls, rejections, samples, suggestion provenance, proposals.

Each function takes the connection of the caller's transaction, so a batch's records land together
with its suggestions or not at all.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable

from pydantic import BaseModel

from pipeline.llm.checks import CheckedProposal, CheckedSegment, Rejection
from pipeline.llm.client import Usage
from pipeline.models import Segment, utcnow


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


class SuggestionProvenance(BaseModel):
    suggestion_id: str
    prompt_version: str
    prompt_hash: str
    cache_key: str
    model_quote: str
    match_score: float
    model_confidence: float | None
    votes: int
    samples: int


def record_call(conn: sqlite3.Connection, run_id: str, call: CallRecord) -> None:
    conn.execute(
        "INSERT INTO llm_calls (run_id, cache_key, segment_ids_json, sample, outcome, http_attempts, retries, reasks,"
        " prompt_tokens, completion_tokens, cached_tokens, cost_usd, seconds, waited_seconds, error, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (run_id, call.cache_key, json.dumps(call.segment_ids), call.sample, call.outcome, call.http_attempts,
         call.retries, call.reasks, call.usage.prompt_tokens, call.usage.completion_tokens, call.usage.cached_tokens,
         call.cost_usd, call.seconds, call.waited, call.error, utcnow().isoformat()),
    )


def record_rejections(conn: sqlite3.Connection, run_id: str, rejections: Iterable[Rejection]) -> None:
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT INTO llm_rejections (run_id, segment_id, sample, kind, code_id, quote, detail, created_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [(run_id, r.segment_id, r.sample, r.kind, r.code_id, r.quote, r.detail, now) for r in rejections],
    )


def record_samples(conn: sqlite3.Connection, run_id: str, samples: Iterable[CheckedSegment]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO llm_samples VALUES (?,?,?,?)",
        [(run_id, s.segment_id, s.sample, s.model_dump_json()) for s in samples],
    )


def record_provenance(conn: sqlite3.Connection, rows: Iterable[SuggestionProvenance]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO llm_suggestions VALUES (?,?,?,?,?,?,?,?,?)",
        [(r.suggestion_id, r.prompt_version, r.prompt_hash, r.cache_key, r.model_quote, r.match_score,
          r.model_confidence, r.votes, r.samples) for r in rows],
    )


def proposal_id(run_id: str, segment_id: str, label: str) -> str:
    return hashlib.sha256(f"{run_id}:{segment_id}:{label.casefold()}".encode()).hexdigest()[:16]


def record_proposals(conn: sqlite3.Connection, run_id: str,
                     proposals: Iterable[tuple[Segment, CheckedProposal]]) -> None:
    """New-code proposals go to `code_proposals`, apart from codebook codes, for the reviewer."""
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT OR IGNORE INTO code_proposals (id, run_id, segment_id, transcript_id, label, definition,"
        " parent_code_id, quote, quote_start, quote_end, grounding, rationale, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(proposal_id(run_id, seg.id, p.label), run_id, seg.id, seg.transcript_id, p.label, p.definition,
          p.parent_code_id, p.evidence.text, p.evidence.match.start, p.evidence.match.end,
          p.evidence.match.grounding.value, p.rationale, now) for seg, p in proposals],
    )
