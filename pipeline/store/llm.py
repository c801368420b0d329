"""The LLM coder's tables: the response cache and a run's calls, rejections, samples, provenance, proposals.

The coder builds these rows as plain data and hands them to the run orchestrator with each batch
(`CodedBatch.records`); `write_records` stores them in the batch's transaction, so a batch's
records land together with its suggestions or not at all. Nothing here holds an API key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from pipeline.models import utcnow


class CacheEntry(BaseModel):
    """A validated model answer, keyed by everything that went into its request."""

    key: str
    model: str
    content: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


class CallRow(BaseModel):
    """One request of a run: a model call ('ok'/'failed') or a 'cache_hit'."""

    run_id: str
    cache_key: str
    segment_ids: list[str]
    sample: int = 0
    outcome: str
    http_attempts: int = 0
    retries: int = 0
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    seconds: float | None = None
    waited_seconds: float = 0.0
    error: str | None = None
    reasoning_tokens: int = 0  # of completion_tokens: a reasoning model's hidden reasoning


class AdaptationRow(BaseModel):
    """A parameter the endpoint refused, and what the run's requests send instead (issue 11)."""

    run_id: str
    parameter: str
    change: str
    reason: str


class RejectionRow(BaseModel):
    """Model output that was rejected rather than stored as a suggestion."""

    run_id: str
    segment_id: str
    sample: int = 0
    kind: str
    code_id: str | None = None
    quote: str | None = None
    detail: str | None = None


class SampleRow(BaseModel):
    """One self-consistency sample's checked answer for a segment."""

    run_id: str
    segment_id: str
    sample: int
    answer_json: str


class ProvenanceRow(BaseModel):
    """Where an LLM suggestion came from."""

    suggestion_id: str
    prompt_version: str
    prompt_hash: str
    cache_key: str
    model_quote: str
    match_score: float
    model_confidence: float | None
    votes: int
    samples: int
    evidence_note: str | None = None  # 'elided' / 'too_short': why the quote is no evidence (pipeline.grounding)
    evidence_parts: list[tuple[int, int]] = []  # elided: where each part was found, in order (never a span)


class ProposalRecord(BaseModel):
    """A new-code proposal, kept apart from codebook codes for review."""

    id: str
    run_id: str
    segment_id: str
    transcript_id: str
    label: str
    definition: str
    parent_code_id: str | None
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: str
    rationale: str | None


LLMRecord = CacheEntry | CallRow | RejectionRow | SampleRow | ProvenanceRow | ProposalRecord | AdaptationRow


def cached_answer(conn: sqlite3.Connection, key: str) -> CacheEntry | None:
    row = conn.execute("SELECT * FROM llm_cache WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return CacheEntry(key=row["key"], model=row["model"], content=row["content"], finish_reason=row["finish_reason"],
                      prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                      cached_tokens=row["cached_tokens"])


def put_cache(conn: sqlite3.Connection, entries: Sequence[CacheEntry]) -> None:
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT OR REPLACE INTO llm_cache (key, model, content, finish_reason, prompt_tokens, completion_tokens,"
        " cached_tokens, created_at) VALUES (?,?,?,?,?,?,?,?)",
        [(e.key, e.model, e.content, e.finish_reason, e.prompt_tokens, e.completion_tokens, e.cached_tokens, now)
         for e in entries],
    )


def insert_calls(conn: sqlite3.Connection, calls: Sequence[CallRow]) -> None:
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT INTO llm_calls (run_id, cache_key, segment_ids_json, sample, outcome, http_attempts, retries, reasks,"
        " prompt_tokens, completion_tokens, cached_tokens, cost_usd, seconds, waited_seconds, error, created_at,"
        " reasoning_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(c.run_id, c.cache_key, json.dumps(c.segment_ids), c.sample, c.outcome, c.http_attempts, c.retries, c.reasks,
          c.prompt_tokens, c.completion_tokens, c.cached_tokens, c.cost_usd, c.seconds, c.waited_seconds, c.error, now,
          c.reasoning_tokens)
         for c in calls],
    )


def insert_adaptations(conn: sqlite3.Connection, rows: Sequence[AdaptationRow]) -> None:
    now = utcnow().isoformat()
    conn.executemany("INSERT INTO llm_adaptations (run_id, parameter, change, reason, created_at) VALUES (?,?,?,?,?)",
                     [(r.run_id, r.parameter, r.change, r.reason, now) for r in rows])


def insert_rejections(conn: sqlite3.Connection, rows: Sequence[RejectionRow]) -> None:
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT INTO llm_rejections (run_id, segment_id, sample, kind, code_id, quote, detail, created_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [(r.run_id, r.segment_id, r.sample, r.kind, r.code_id, r.quote, r.detail, now) for r in rows],
    )


def insert_samples(conn: sqlite3.Connection, rows: Sequence[SampleRow]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO llm_samples (run_id, segment_id, sample, answer_json) VALUES (?,?,?,?)",
        [(r.run_id, r.segment_id, r.sample, r.answer_json) for r in rows],
    )


def insert_provenance(conn: sqlite3.Connection, rows: Sequence[ProvenanceRow]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO llm_suggestions (suggestion_id, prompt_version, prompt_hash, cache_key, model_quote,"
        " match_score, model_confidence, votes, samples, evidence_note, evidence_parts_json)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(r.suggestion_id, r.prompt_version, r.prompt_hash, r.cache_key, r.model_quote, r.match_score,
          r.model_confidence, r.votes, r.samples, r.evidence_note,
          json.dumps(r.evidence_parts) if r.evidence_parts else None) for r in rows],
    )


def evidence_notes(conn: sqlite3.Connection, suggestion_ids: Iterable[str]) -> dict[str, str]:
    """suggestion id -> why its quote is no evidence, worded for people ("elided: 3 parts found in order",
    "too short: 1 word"); suggestions without such a note are absent."""
    from pipeline.grounding import describe_evidence

    wanted = list(dict.fromkeys(suggestion_ids))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 900):  # below SQLite's smallest host-parameter limit
        chunk = wanted[i:i + 900]
        for r in conn.execute(
                "SELECT suggestion_id, model_quote, evidence_note, evidence_parts_json FROM llm_suggestions"
                f" WHERE evidence_note IS NOT NULL AND suggestion_id IN ({','.join('?' * len(chunk))})", chunk):
            parts = [tuple(p) for p in json.loads(r["evidence_parts_json"])] if r["evidence_parts_json"] else []
            found[r["suggestion_id"]] = describe_evidence(r["evidence_note"], r["model_quote"], parts)
    return found


def insert_proposals(conn: sqlite3.Connection, rows: Sequence[ProposalRecord]) -> None:
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT OR IGNORE INTO code_proposals (id, run_id, segment_id, transcript_id, label, definition,"
        " parent_code_id, quote, quote_start, quote_end, grounding, rationale, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(p.id, p.run_id, p.segment_id, p.transcript_id, p.label, p.definition, p.parent_code_id, p.quote,
          p.quote_start, p.quote_end, p.grounding, p.rationale, now) for p in rows],
    )


def write_records(conn: sqlite3.Connection, records: Iterable[LLMRecord]) -> None:
    """Store a batch's records, each kind in its table, in the order the kinds depend on each other."""
    by_kind: dict[type, list[LLMRecord]] = {}
    for record in records:
        by_kind.setdefault(type(record), []).append(record)

    def of(kind: type[BaseModel]) -> list[LLMRecord]:
        return by_kind.pop(kind, [])

    put_cache(conn, [r for r in of(CacheEntry) if isinstance(r, CacheEntry)])
    insert_calls(conn, [r for r in of(CallRow) if isinstance(r, CallRow)])
    insert_rejections(conn, [r for r in of(RejectionRow) if isinstance(r, RejectionRow)])
    insert_provenance(conn, [r for r in of(ProvenanceRow) if isinstance(r, ProvenanceRow)])
    insert_proposals(conn, [r for r in of(ProposalRecord) if isinstance(r, ProposalRecord)])
    insert_samples(conn, [r for r in of(SampleRow) if isinstance(r, SampleRow)])
    insert_adaptations(conn, [r for r in of(AdaptationRow) if isinstance(r, AdaptationRow)])
    if by_kind:
        raise TypeError(f"no table for records of type {', '.join(t.__name__ for t in by_kind)}")


class StoredAnswers:
    """The response cache of a project database, read-only (what a coder's context gets)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def get(self, key: str) -> CacheEntry | None:
        return cached_answer(self._conn, key)


def reasoning_tokens(conn: sqlite3.Connection, run_id: str) -> int:
    """A run's hidden reasoning tokens (part of its completion tokens), over every attempt."""
    return int(conn.execute("SELECT COALESCE(SUM(reasoning_tokens), 0) FROM llm_calls WHERE run_id = ?",
                            (run_id,)).fetchone()[0])


def adaptations(conn: sqlite3.Connection, run_id: str) -> list[AdaptationRow]:
    """What the endpoint refused during a run and how its requests were changed, in order."""
    return [AdaptationRow(run_id=run_id, parameter=r["parameter"], change=r["change"], reason=r["reason"])
            for r in conn.execute("SELECT parameter, change, reason FROM llm_adaptations WHERE run_id = ? ORDER BY id",
                                  (run_id,))]


def ungrounded_model_quotes(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The quotes, as the model wrote them, of a run's suggestions that could not be found in their segment."""
    return [r[0] for r in conn.execute(
        "SELECT p.model_quote FROM llm_suggestions p JOIN suggestions s ON s.id = p.suggestion_id"
        " WHERE s.run_id = ? AND s.grounding = 'ungrounded'", (run_id,))]
