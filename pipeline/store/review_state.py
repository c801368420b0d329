"""A reviewer's flags and saved places (migration 0017): rows of precode.db, one per flag and per place.

They used to be JSON files beside the database; keeping them as rows puts them in a backup of
precode.db, writes them in a transaction like every decision, and lets two reviewers (two
sessions, two processes) save at once without one overwriting the other: each writes its own row.
Writers take a connection inside `Database.transaction()`; times are stored as UTC ISO-8601.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from pipeline.models import utcnow

_FLAG_COLUMNS = "f.run_id, f.suggestion_id, f.reviewer, f.comment, f.flagged_at"


class ReviewFlag(BaseModel):
    """A reviewer's "come back to this" mark on a suggestion of a run, with a comment."""

    run_id: str
    suggestion_id: str
    reviewer: str
    comment: str = ""
    at: datetime = Field(default_factory=utcnow)


class ReviewPlace(BaseModel):
    """Where a reviewer left a run: the review page's URL fragment (filters, view and item)."""

    run_id: str
    reviewer: str
    place: str
    saved_at: datetime = Field(default_factory=utcnow)


def _utc(at: datetime) -> str:
    """One format for every stored time, so ORDER BY on the text is ORDER BY on the time."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _flag(row: sqlite3.Row) -> ReviewFlag:
    return ReviewFlag(run_id=row["run_id"], suggestion_id=row["suggestion_id"], reviewer=row["reviewer"],
                      comment=row["comment"], at=datetime.fromisoformat(row["flagged_at"]))


_UPSERT_FLAG = ("INSERT INTO review_flags (run_id, suggestion_id, reviewer, comment, flagged_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, suggestion_id, reviewer) DO ")


def set_flag(conn: sqlite3.Connection, flag: ReviewFlag) -> None:
    """Flag a suggestion as the flag's reviewer, or replace that reviewer's comment on it."""
    conn.execute(_UPSERT_FLAG + "UPDATE SET comment = excluded.comment, flagged_at = excluded.flagged_at",
                 (flag.run_id, flag.suggestion_id, flag.reviewer, flag.comment, _utc(flag.at)))


def remove_flag(conn: sqlite3.Connection, run_id: str, suggestion_id: str, reviewer: str) -> bool:
    """Remove the reviewer's flag on the suggestion; False if there was none."""
    done = conn.execute("DELETE FROM review_flags WHERE run_id = ? AND suggestion_id = ? AND reviewer = ?",
                        (run_id, suggestion_id, reviewer))
    return done.rowcount > 0


def flags(conn: sqlite3.Connection, run_id: str, suggestion_id: str | None = None) -> list[ReviewFlag]:
    """Every reviewer's flags on the run's suggestions (or on one), the latest first.

    Only flags on a suggestion this database holds: one imported from an old file for a run that is
    not here is kept, not listed."""
    sql = (f"SELECT {_FLAG_COLUMNS} FROM review_flags f JOIN suggestions s ON s.id = f.suggestion_id"
           " WHERE f.run_id = ?")
    params: tuple[str, ...] = (run_id,)
    if suggestion_id is not None:
        sql += " AND f.suggestion_id = ?"
        params += (suggestion_id,)
    return [_flag(r) for r in conn.execute(sql + " ORDER BY f.flagged_at DESC, f.suggestion_id, f.reviewer", params)]


def all_flags(conn: sqlite3.Connection) -> list[ReviewFlag]:
    """Every stored flag, of any run, whether or not its suggestion is in this database (oldest first)."""
    return [_flag(r) for r in conn.execute(
        f"SELECT {_FLAG_COLUMNS} FROM review_flags f ORDER BY f.flagged_at, f.run_id, f.suggestion_id, f.reviewer")]


def import_flags(conn: sqlite3.Connection, flags: Iterable[ReviewFlag]) -> int:
    """Add flags brought in from an old JSON file; a flag already stored (same run, suggestion and
    reviewer) is newer and stays as it is. Returns how many were added."""
    added = 0
    for flag in flags:
        added += conn.execute(_UPSERT_FLAG + "NOTHING", (flag.run_id, flag.suggestion_id, flag.reviewer,
                                                         flag.comment, _utc(flag.at))).rowcount
    return added


_UPSERT_PLACE = ("INSERT INTO review_places (run_id, reviewer, place, saved_at) VALUES (?, ?, ?, ?)"
                 " ON CONFLICT (run_id, reviewer) DO ")


def save_place(conn: sqlite3.Connection, place: ReviewPlace) -> None:
    """Remember where the reviewer is in the run (replacing where they were)."""
    conn.execute(_UPSERT_PLACE + "UPDATE SET place = excluded.place, saved_at = excluded.saved_at",
                 (place.run_id, place.reviewer, place.place, _utc(place.saved_at)))


def place(conn: sqlite3.Connection, run_id: str, reviewer: str) -> ReviewPlace | None:
    """Where the reviewer left the run, if anywhere."""
    row = conn.execute("SELECT run_id, reviewer, place, saved_at FROM review_places WHERE run_id = ? AND reviewer = ?",
                       (run_id, reviewer)).fetchone()
    if row is None:
        return None
    return ReviewPlace(run_id=row["run_id"], reviewer=row["reviewer"], place=row["place"],
                       saved_at=datetime.fromisoformat(row["saved_at"]))


def all_places(conn: sqlite3.Connection) -> list[ReviewPlace]:
    """Every stored place, of any run and reviewer."""
    return [ReviewPlace(run_id=r["run_id"], reviewer=r["reviewer"], place=r["place"],
                        saved_at=datetime.fromisoformat(r["saved_at"]))
            for r in conn.execute("SELECT run_id, reviewer, place, saved_at FROM review_places ORDER BY run_id, reviewer")]


def import_places(conn: sqlite3.Connection, places: Iterable[ReviewPlace]) -> int:
    """Add places brought in from an old JSON file; a place already stored is newer and stays.
    Returns how many were added."""
    added = 0
    for p in places:
        added += conn.execute(_UPSERT_PLACE + "NOTHING", (p.run_id, p.reviewer, p.place, _utc(p.saved_at))).rowcount
    return added
