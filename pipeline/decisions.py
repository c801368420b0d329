"""Review decisions: recorded append-only, read back as each suggestion's current state.

A decision is never updated or deleted. A reviewer's `undo` withdraws that reviewer's most recent
standing decision on the suggestion. The current state of a suggestion is the latest standing
decision of any reviewer (or of the one reviewer asked for).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from pipeline.models import utcnow
from pipeline.store.database import Database


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


def record_decision(conn: sqlite3.Connection, decision: Decision) -> Decision:
    """Append one decision (commit is the caller's: pass a connection inside a transaction or autocommit)."""
    cursor = conn.execute(
        "INSERT INTO decisions (suggestion_id, reviewer, action, code_id, quote_start, quote_end, reason, note, at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (decision.suggestion_id, decision.reviewer, decision.action.value, decision.code_id, decision.quote_start,
         decision.quote_end, decision.reason, decision.note, decision.at.isoformat()),
    )
    return decision.model_copy(update={"id": cursor.lastrowid})


def _standing(rows: list[sqlite3.Row]) -> list[Decision]:
    """Replay one suggestion's decisions in order, applying undos; return those still standing."""
    stacks: dict[str, list[Decision]] = {}
    order: list[Decision] = []
    for row in rows:
        decision = Decision(**{k: row[k] for k in row.keys()})
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
    sql = "SELECT d.* FROM decisions d"
    params: list = []
    if run_id is not None:
        sql += " JOIN suggestions s ON s.id = d.suggestion_id WHERE s.run_id = ?"
        params.append(run_id)
    sql += " ORDER BY d.suggestion_id, d.id"
    grouped: dict[str, list[sqlite3.Row]] = {}
    for row in db.conn.execute(sql, params):
        grouped.setdefault(row["suggestion_id"], []).append(row)
    state: dict[str, Decision] = {}
    for suggestion_id, rows in grouped.items():
        standing = [d for d in _standing(rows) if reviewer is None or d.reviewer == reviewer]
        if standing:
            state[suggestion_id] = standing[-1]
    return state
