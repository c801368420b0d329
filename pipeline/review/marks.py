"""Flags and saved places of the review: what a reviewer marks to come back to, and where they left off.

Both are rows of precode.db (`pipeline.store.review_state`, migration 0017), per run and reviewer.
Older versions kept them in `review-flags.json` and `review-places.json` beside the database;
`import_old_files` brings such a file in when a review session opens, then renames it to
`*.migrated`. A file that cannot be read whole is left where it is, with a warning naming it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ValidationError

from pipeline.store import review_state
from pipeline.store.database import Database
from pipeline.store.review_state import ReviewFlag, ReviewPlace

if TYPE_CHECKING:
    from pipeline.review.service import ReviewSession

FLAG_FILE = "review-flags.json"  # the old files, read once and renamed
PLACE_FILE = "review-places.json"
PLACE_KEYS = ("transcript", "code", "status", "reviewer", "min_score", "max_score", "grounding", "order", "view", "item")


def clean_place(place: str) -> str:
    """Only the page's own keys, re-encoded (the fragment is stored and printed, never trusted as is)."""
    pairs = [(k, v) for k, v in parse_qsl(place.lstrip("#"), keep_blank_values=False) if k in PLACE_KEYS]
    return urlencode(pairs)


def saved_place(session: ReviewSession) -> str:
    """Where this reviewer left this run: '#filters&item=…' to append to the printed URL ('' if nowhere)."""
    stored = review_state.place(session.conn, session.run.id, session.reviewer)
    place = clean_place(stored.place) if stored else ""
    return f"#{place}" if place else ""


def save_place(session: ReviewSession, place: str) -> None:
    with session.project.db.transaction() as conn:
        review_state.save_place(conn, ReviewPlace(run_id=session.run.id, reviewer=session.reviewer,
                                                  place=clean_place(place)))


class Flag(BaseModel):
    """A reviewer's "come back to this" mark on a suggestion, with a comment. Kept in precode.db
    (review_flags), not in the decision record: a flag decides nothing and no export carries it."""

    suggestion_id: str
    reviewer: str
    comment: str
    at: datetime


def flags(session: ReviewSession, suggestion_id: str | None = None) -> list[Flag]:
    """Every reviewer's flags on the run under review (or on one suggestion of it), the latest first."""
    return [Flag(suggestion_id=f.suggestion_id, reviewer=f.reviewer, comment=f.comment, at=f.at)
            for f in review_state.flags(session.conn, session.run.id, suggestion_id)]


def set_flag(session: ReviewSession, suggestion_id: str, comment: str | None) -> None:
    """Flag (comment given) or unflag (None) a suggestion as the session's reviewer."""
    session.item(suggestion_id)  # NotFound for an unknown id
    with session.project.db.transaction() as conn:
        if comment is None:
            review_state.remove_flag(conn, session.run.id, suggestion_id, session.reviewer)
        else:
            review_state.set_flag(conn, ReviewFlag(run_id=session.run.id, suggestion_id=suggestion_id,
                                                   reviewer=session.reviewer, comment=comment.strip()))


# -- the old JSON files ------------------------------------------------------------------------------
class _Unreadable(Exception):
    pass


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unreadable(f"{what} is not an object")
    return value


def _old_flags(data: dict[str, Any], written: datetime) -> list[ReviewFlag]:
    """{run: {suggestion: {reviewer: {"comment", "at"}}}}; a flag without a readable time gets the
    file's modification time (it was flagged by then)."""
    out = []
    for run_id, by_suggestion in data.items():
        for sid, by_reviewer in _mapping(by_suggestion, f"run {run_id}").items():
            for reviewer, flag in _mapping(by_reviewer, f"suggestion {sid}").items():
                flag = _mapping(flag, f"{reviewer}'s flag on {sid}")
                comment = flag.get("comment", "")
                if not isinstance(comment, str):
                    raise _Unreadable(f"{reviewer}'s comment on {sid} is not text")
                try:
                    at = datetime.fromisoformat(str(flag["at"]))
                except (KeyError, ValueError):
                    at = written
                try:
                    out.append(ReviewFlag(run_id=run_id, suggestion_id=sid, reviewer=reviewer, comment=comment, at=at))
                except ValidationError as exc:
                    raise _Unreadable(f"{reviewer}'s flag on {sid}: {exc.errors()[0]['msg']}") from None
    return out


def _old_places(data: dict[str, Any], written: datetime) -> list[ReviewPlace]:
    """{run: {reviewer: "fragment"}}; the file does not say when, so its modification time."""
    out = []
    for run_id, by_reviewer in data.items():
        for reviewer, place in _mapping(by_reviewer, f"run {run_id}").items():
            if not isinstance(place, str):
                raise _Unreadable(f"{reviewer}'s place in run {run_id} is not text")
            out.append(ReviewPlace(run_id=run_id, reviewer=reviewer, place=place, saved_at=written))
    return out


def _set_aside(path: Path) -> None:
    """Rename to `<name>.migrated` (`<name>.2.migrated`… if an earlier one is there: keep both)."""
    target, n = path.with_name(path.name + ".migrated"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{n}.migrated")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another session opening at the same moment imported and renamed it
        pass


def import_old_files(db: Database, root: Path) -> list[str]:
    """Bring `review-flags.json` / `review-places.json` in `root` into the database, then rename each
    to `*.migrated`. Rows already in the database are newer and stay. A file that is not valid JSON of
    the old shape is left in place and named in the returned warnings; nothing of it is imported."""
    warnings = []
    for name, what, importer in ((FLAG_FILE, "flags", _import_flags), (PLACE_FILE, "saved places", _import_places)):
        path = root / name
        if not path.exists():
            continue
        with db.transaction() as conn:  # one importer at a time: a second session waits, then finds nothing to add
            try:
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                importer(conn, _mapping(json.loads(path.read_text(encoding="utf-8")), "the file"), written)
            except FileNotFoundError:
                continue  # imported and renamed by another session meanwhile
            except (OSError, ValueError, _Unreadable) as exc:
                warnings.append(f"cannot import {path} ({exc}); left in place: its {what} are not shown "
                                "until it is fixed or removed")
                continue
        _set_aside(path)
    return warnings


def _import_flags(conn: sqlite3.Connection, data: dict[str, Any], written: datetime) -> None:
    review_state.import_flags(conn, _old_flags(data, written))  # every entry read before the first insert


def _import_places(conn: sqlite3.Connection, data: dict[str, Any], written: datetime) -> None:
    review_state.import_places(conn, _old_places(data, written))
