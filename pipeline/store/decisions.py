"""Review decisions: the append-only `decisions` table and the review state derived from it.

A decision is never updated or deleted. A reviewer's `undo` withdraws that reviewer's most recent
standing decision on the suggestion. The current state of a suggestion is the latest standing
decision of any reviewer (or of the one reviewer asked for). `current_decisions` replays the table
in Python and is the reference; `review_state` / `review_current` (migration 0005) are kept in step
by triggers and are what the review queue reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from pipeline.models import utcnow
from pipeline.store.database import Database

ANYONE = "*"  # reviewer scope meaning "the latest decision of any reviewer"
OUTCOMES = ("accepted", "changed", "rejected")

_COLUMNS = "id, suggestion_id, reviewer, action, code_id, quote_start, quote_end, reason, note, at"


class Action(StrEnum):
    accept = "accept"
    reject = "reject"
    edit = "edit"
    undo = "undo"


class Decision(BaseModel):
    id: int | None = None
    suggestion_id: str
    reviewer: str
    action: Action
    code_id: str | None = None
    quote_start: int | None = None
    quote_end: int | None = None
    reason: str | None = None
    note: str | None = None
    at: datetime = Field(default_factory=utcnow)

    @property
    def accepted(self) -> bool:
        """Accepted as is, or accepted with a correction (edit)."""
        return self.action in (Action.accept, Action.edit)


@dataclass(frozen=True)
class StandingDecision:
    """A decision still standing for a reviewer (or anyone), with how it counts for the suggested code."""

    decision: Decision
    outcome: str  # one of OUTCOMES


def _decision(row: sqlite3.Row) -> Decision:
    return Decision(id=row["id"], suggestion_id=row["suggestion_id"], reviewer=row["reviewer"],
                    action=Action(row["action"]), code_id=row["code_id"], quote_start=row["quote_start"],
                    quote_end=row["quote_end"], reason=row["reason"], note=row["note"], at=row["at"])


def record_decision(conn: sqlite3.Connection, decision: Decision) -> Decision:
    """Append one decision (commit is the caller's: pass a connection inside a transaction or autocommit)."""
    cursor = conn.execute(
        "INSERT INTO decisions (suggestion_id, reviewer, action, code_id, quote_start, quote_end, reason, note, at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (decision.suggestion_id, decision.reviewer, decision.action.value, decision.code_id, decision.quote_start,
         decision.quote_end, decision.reason, decision.note, decision.at.isoformat()),
    )
    return decision.model_copy(update={"id": cursor.lastrowid})


def _standing(decisions: list[Decision]) -> list[Decision]:
    """Replay one suggestion's decisions in order, applying undos; return those still standing."""
    stacks: dict[str, list[Decision]] = {}
    order: list[Decision] = []
    for decision in decisions:
        stack = stacks.setdefault(decision.reviewer, [])
        if decision.action is Action.undo:
            if stack:
                order.remove(stack.pop())
        else:
            stack.append(decision)
            order.append(decision)
    return order


def current_decisions(db: Database, run_id: str | None = None, reviewer: str | None = None) -> dict[str, Decision]:
    """suggestion id → its current decision (suggestions with no standing decision are absent)."""
    sql = f"SELECT {', '.join('d.' + c.strip() for c in _COLUMNS.split(','))} FROM decisions d"
    params: list[str] = []
    if run_id is not None:
        sql += " JOIN suggestions s ON s.id = d.suggestion_id WHERE s.run_id = ?"
        params.append(run_id)
    sql += " ORDER BY d.suggestion_id, d.id"
    grouped: dict[str, list[Decision]] = {}
    for row in db.conn.execute(sql, params):
        grouped.setdefault(row["suggestion_id"], []).append(_decision(row))
    state: dict[str, Decision] = {}
    for suggestion_id, rows in grouped.items():
        standing = [d for d in _standing(rows) if reviewer is None or d.reviewer == reviewer]
        if standing:
            state[suggestion_id] = standing[-1]
    return state


def decision_history(conn: sqlite3.Connection, suggestion_id: str) -> list[Decision]:
    """Every decision on a suggestion, oldest first (undos included)."""
    return [_decision(r) for r in conn.execute(
        f"SELECT {_COLUMNS} FROM decisions WHERE suggestion_id = ? ORDER BY id", (suggestion_id,))]


def standing_decision(conn: sqlite3.Connection, reviewer: str, suggestion_id: str) -> StandingDecision | None:
    """The reviewer's standing decision on a suggestion (its latest not withdrawn by an undo)."""
    row = conn.execute(
        "SELECT d.id, d.suggestion_id, d.reviewer, d.action, d.code_id, d.quote_start, d.quote_end, d.reason,"
        " d.note, d.at, r.outcome FROM review_state r JOIN decisions d ON d.id = r.decision_id"
        " WHERE r.reviewer = ? AND r.suggestion_id = ?", (reviewer, suggestion_id),
    ).fetchone()
    return StandingDecision(_decision(row), str(row["outcome"])) if row else None


def scope_decision(conn: sqlite3.Connection, scope: str, suggestion_id: str) -> StandingDecision | None:
    """The standing decision a reviewer scope sees: a named reviewer's, or anyone's latest ('*')."""
    if scope != ANYONE:
        return standing_decision(conn, scope, suggestion_id)
    row = conn.execute(
        "SELECT d.id, d.suggestion_id, d.reviewer, d.action, d.code_id, d.quote_start, d.quote_end, d.reason,"
        " d.note, d.at, r.outcome FROM review_current r JOIN decisions d ON d.id = r.decision_id"
        " WHERE r.suggestion_id = ?", (suggestion_id,),
    ).fetchone()
    return StandingDecision(_decision(row), str(row["outcome"])) if row else None


def standing_by_reviewer(conn: sqlite3.Connection, suggestion_id: str) -> list[StandingDecision]:
    """Every reviewer's standing decision on a suggestion, by reviewer name."""
    return [StandingDecision(_decision(r), str(r["outcome"])) for r in conn.execute(
        "SELECT d.id, d.suggestion_id, d.reviewer, d.action, d.code_id, d.quote_start, d.quote_end, d.reason,"
        " d.note, d.at, r.outcome FROM review_state r JOIN decisions d ON d.id = r.decision_id"
        " WHERE r.suggestion_id = ? ORDER BY r.reviewer", (suggestion_id,))]


def latest_decision_id(conn: sqlite3.Connection, suggestion_id: str) -> int:
    """The id of the latest decision of anyone on a suggestion (undos included), 0 when none."""
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions WHERE suggestion_id = ?",
                       (suggestion_id,)).fetchone()
    return int(row[0])


def latest_decided_suggestion(conn: sqlite3.Connection, reviewer: str, run_ids: Sequence[str | None]) -> str | None:
    """The suggestion (of these runs) on which the reviewer's most recent standing decision lies."""
    ids = [r for r in run_ids if r is not None]
    if not ids:
        return None
    row = conn.execute(
        "SELECT r.suggestion_id FROM review_state r JOIN suggestions s ON s.id = r.suggestion_id"
        f" WHERE r.reviewer = ? AND s.run_id IN ({','.join('?' * len(ids))}) ORDER BY r.decision_id DESC LIMIT 1",
        (reviewer, *ids),
    ).fetchone()
    return str(row[0]) if row else None


def recent_decided_suggestions(conn: sqlite3.Connection, reviewer: str, run_id: str, limit: int) -> list[str]:
    """The suggestions of the run on which the reviewer's standing decisions lie, the latest decision first."""
    return [str(r[0]) for r in conn.execute(
        "SELECT r.suggestion_id FROM review_state r JOIN suggestions s ON s.id = r.suggestion_id"
        " WHERE r.reviewer = ? AND s.run_id = ? ORDER BY r.decision_id DESC LIMIT ?",
        (reviewer, run_id, limit))]


def run_reviewers(conn: sqlite3.Connection, run_id: str, transcripts: Iterable[str] | None = None) -> set[str]:
    """Everyone with a decision on the run's suggestions (only those on `transcripts`, when given)."""
    if transcripts is None:  # one decision of theirs in this run is enough: stops at the first
        return {str(name) for (name,) in conn.execute("SELECT reviewer FROM decisions GROUP BY reviewer")
                if conn.execute("SELECT 1 FROM decisions d JOIN suggestions s ON s.id = d.suggestion_id"
                                " WHERE d.reviewer = ? AND s.run_id = ? LIMIT 1", (name, run_id)).fetchone()}
    rows = conn.execute(
        "SELECT DISTINCT d.reviewer, s.transcript_id FROM decisions d JOIN suggestions s ON s.id = d.suggestion_id"
        " WHERE s.run_id = ?", (run_id,))
    wanted = set(transcripts) if transcripts is not None else None
    return {str(r[0]) for r in rows if wanted is None or r[1] in wanted}


def max_decision_id(conn: sqlite3.Connection) -> int:
    """The newest decision id (decisions are append-only, so this is a watermark)."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])


def decided_since(conn: sqlite3.Connection, after: int, upto: int) -> set[str]:
    """The suggestions with a decision whose id is in (after, upto]."""
    return {str(r[0]) for r in conn.execute(
        "SELECT DISTINCT suggestion_id FROM decisions WHERE id > ? AND id <= ?", (after, upto))}


def outcomes(conn: sqlite3.Connection, scope: str) -> list[tuple[str, str]]:
    """(suggestion id, outcome) of every standing decision of `scope` (a reviewer, or '*' for anyone's latest)."""
    rows = (conn.execute("SELECT suggestion_id, outcome FROM review_current") if scope == ANYONE else
            conn.execute("SELECT suggestion_id, outcome FROM review_state WHERE reviewer = ?", (scope,)))
    return [(str(r[0]), str(r[1])) for r in rows]


def outcome(conn: sqlite3.Connection, scope: str, suggestion_id: str) -> str | None:
    """The outcome of `scope`'s standing decision on one suggestion, None when there is none."""
    row = (conn.execute("SELECT outcome FROM review_current WHERE suggestion_id = ?", (suggestion_id,))
           if scope == ANYONE else
           conn.execute("SELECT outcome FROM review_state WHERE reviewer = ? AND suggestion_id = ?",
                        (scope, suggestion_id))).fetchone()
    return str(row[0]) if row else None


def added_code_counts(conn: sqlite3.Connection, reviewer: str, run_id: str) -> dict[str, int]:
    """code id → how many suggestions of a (manual) run the reviewer has a standing decision on."""
    return {str(r[0]): int(r[1]) for r in conn.execute(
        "SELECT s.code_id, COUNT(*) FROM suggestions s JOIN review_state r ON r.reviewer = ? AND"
        " r.suggestion_id = s.id WHERE s.run_id = ? GROUP BY s.code_id", (reviewer, run_id))}
