"""New-code proposals, what reviewers did with them, and the codebook versions adopting them wrote;
and the provenance of the codes the learned model proposed while a run was reviewed (`learned_proposals`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pipeline.models import utcnow
from pipeline.store.review import PassageRow, passage_columns, passage_row


@dataclass(frozen=True)
class ProposalRow:
    """A proposal with its passage and its latest reviewer decision (action None: still open)."""

    id: str
    run_id: str
    label: str
    definition: str
    parent_code_id: str | None
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: str
    rationale: str | None
    action: str | None
    decided_by: str | None
    new_code_id: str | None
    note: str | None
    passage: PassageRow


@dataclass(frozen=True)
class ProposalDecision:
    proposal_id: str
    reviewer: str
    action: str  # 'adopt' or 'dismiss'
    new_code_id: str | None = None
    codebook_hash: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Lineage:
    hash: str
    parent_hash: str
    proposal_id: str
    path: str


def proposal_rows(conn: sqlite3.Connection, run_id: str, proposal_id: str | None = None) -> list[ProposalRow]:
    """The run's proposals (or the one asked for) in reading order, each with its state."""
    sql = ("SELECT p.id, p.run_id, p.label, p.definition, p.parent_code_id, p.quote, p.quote_start, p.quote_end,"
           " p.grounding, p.rationale, pd.action, pd.reviewer AS decided_by, pd.new_code_id, pd.note,"
           f" {passage_columns()}"
           " FROM code_proposals p JOIN segments g ON g.id = p.segment_id JOIN transcripts t ON t.id = p.transcript_id"
           " LEFT JOIN proposal_decisions pd"
           " ON pd.id = (SELECT MAX(id) FROM proposal_decisions WHERE proposal_id = p.id)"
           " WHERE p.run_id = ?")
    params = [run_id]
    if proposal_id is not None:
        sql += " AND p.id = ?"
        params.append(proposal_id)
    return [
        ProposalRow(id=r["id"], run_id=r["run_id"], label=r["label"], definition=r["definition"],
                    parent_code_id=r["parent_code_id"], quote=r["quote"], quote_start=r["quote_start"],
                    quote_end=r["quote_end"], grounding=r["grounding"], rationale=r["rationale"], action=r["action"],
                    decided_by=r["decided_by"], new_code_id=r["new_code_id"], note=r["note"],
                    passage=passage_row(conn, r))
        for r in conn.execute(sql + " ORDER BY t.name, t.version, g.idx, p.created_at, p.id", params).fetchall()
    ]


def count_open(conn: sqlite3.Connection, run_id: str) -> int:
    return int(conn.execute(
        "SELECT COUNT(*) FROM code_proposals p WHERE p.run_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM proposal_decisions pd WHERE pd.proposal_id = p.id)", (run_id,),
    ).fetchone()[0])


def record_proposal_decision(conn: sqlite3.Connection, decision: ProposalDecision,
                             at: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO proposal_decisions (proposal_id, reviewer, action, new_code_id, codebook_hash, note, at)"
        " VALUES (?,?,?,?,?,?,?)",
        (decision.proposal_id, decision.reviewer, decision.action, decision.new_code_id, decision.codebook_hash,
         decision.note, (at or utcnow()).isoformat()),
    )


def record_lineage(conn: sqlite3.Connection, lineage: Lineage) -> None:
    conn.execute("INSERT INTO codebook_lineage (hash, parent_hash, proposal_id, path, created_at) VALUES (?,?,?,?,?)",
                 (lineage.hash, lineage.parent_hash, lineage.proposal_id, lineage.path, utcnow().isoformat()))


def latest_child(conn: sqlite3.Connection, codebook_hash: str) -> str | None:
    """The newest codebook version adopted directly on top of `codebook_hash`."""
    row = conn.execute("SELECT hash FROM codebook_lineage WHERE parent_hash = ?"
                       " ORDER BY created_at DESC, rowid DESC LIMIT 1", (codebook_hash,)).fetchone()
    return str(row[0]) if row else None


def codebook_versions(conn: sqlite3.Connection, codebook_id: str) -> set[str]:
    """The versions stored for a codebook id."""
    return {str(r[0]) for r in conn.execute("SELECT version FROM codebooks WHERE id = ?", (codebook_id,))}


# -- codes the learned model proposed while reviewing (migration 0015) ------------------------------
class LearnedProposal(BaseModel):
    """Provenance of a suggestion the learned model added to a run under review (`precode review --learn`)."""

    suggestion_id: str
    run_id: str
    reviewer: str
    model: str
    training_segments: int
    training_units: int
    probability: float
    params: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


def record_learned_proposals(conn: sqlite3.Connection, proposals: list[LearnedProposal]) -> None:
    conn.executemany(
        "INSERT INTO learned_proposals (suggestion_id, run_id, reviewer, model, training_segments, training_units,"
        " probability, params_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [(p.suggestion_id, p.run_id, p.reviewer, p.model, p.training_segments, p.training_units, p.probability,
          json.dumps(p.params, sort_keys=True), p.created_at.isoformat()) for p in proposals],
    )


def _learned(r: sqlite3.Row | tuple[Any, ...]) -> LearnedProposal:
    return LearnedProposal(suggestion_id=r[0], run_id=r[1], reviewer=r[2], model=r[3], training_segments=r[4],
                           training_units=r[5], probability=r[6], params=json.loads(r[7]),
                           created_at=datetime.fromisoformat(r[8]))


_LEARNED_COLUMNS = ("suggestion_id, run_id, reviewer, model, training_segments, training_units, probability,"
                    " params_json, created_at")


def learned_proposals(conn: sqlite3.Connection, suggestion_ids: Sequence[str]) -> dict[str, LearnedProposal]:
    """The provenance of those of `suggestion_ids` the learned model proposed while reviewing."""
    out: dict[str, LearnedProposal] = {}
    ids = list(suggestion_ids)
    for lo in range(0, len(ids), 500):
        chunk = ids[lo:lo + 500]
        rows = conn.execute(f"SELECT {_LEARNED_COLUMNS} FROM learned_proposals WHERE suggestion_id IN"
                            f" ({','.join('?' * len(chunk))})", chunk).fetchall()
        out.update((r[0], _learned(r)) for r in rows)
    return out


def run_learned_proposals(conn: sqlite3.Connection, run_id: str) -> list[LearnedProposal]:
    """Every suggestion the learned model added to the run while it was reviewed, oldest first."""
    return [_learned(r) for r in conn.execute(
        f"SELECT {_LEARNED_COLUMNS} FROM learned_proposals WHERE run_id = ? ORDER BY created_at, suggestion_id",
        (run_id,))]
