"""User-caused storage failures worded as one clear line: read-only project, full disk, locked database,
an interrupted command (what was saved)."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.store.database import Database


def storage_error_message(exc: BaseException) -> str:
    """One line for an SQLite or OS error the user can fix; the cause is kept in brackets."""
    text = str(exc)
    low = text.lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}: nothing more was written — free some space and run the command again"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return (f"permission denied{where}: the project or output folder is read-only — check its permissions, "
                    "or copy the project somewhere writable")
        return f"{exc.strerror or text}{where}"
    if code == sqlite3.SQLITE_FULL or "disk is full" in low:
        return ("the disk is full: the project database could not grow, so the last step was rolled back — "
                "free some space and run the command again")
    if code == sqlite3.SQLITE_READONLY or "readonly" in low or "read-only" in low:
        return ("the project database is read-only (the project folder or precode.db cannot be written) — "
                "check its permissions, or copy the project somewhere writable")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in low:
        return ("the project database is locked by another precode process (or another program) — "
                "wait for it to finish and run the command again")
    if code == sqlite3.SQLITE_CANTOPEN or "unable to open" in low:
        return ("cannot open the project database (precode.db): the folder is missing or not writable — "
                "check the project path and its permissions")
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in low or "not a database" in low:
        return f"the project database is damaged ({text}) — restore precode.db from a backup"
    if code == sqlite3.SQLITE_IOERR or "disk i/o" in low:
        return f"the project database could not be read or written ({text}) — check the disk and run the command again"
    return f"project database error: {text}"


def interrupted_message(db: Database, before: set[str]) -> str:
    """What an interrupted `precode code` left: the run, its saved suggestions, how to go on."""
    rows = db.conn.execute("SELECT id, status FROM runs ORDER BY started_at DESC, rowid DESC").fetchall()
    run = next((r for r in rows if r["id"] not in before), None) or next(
        (r for r in rows if r["status"] == "running"), None)
    if run is None:
        return "interrupted before coding started: nothing was stored"
    saved = db.conn.execute("SELECT COUNT(*), COUNT(DISTINCT segment_id) FROM suggestions WHERE run_id = ?",
                            (run["id"],)).fetchone()
    done = db.conn.execute("SELECT COUNT(*) FROM run_segments WHERE run_id = ? AND status = 'done'",
                           (run["id"],)).fetchone()[0]
    what = f"{saved[0]} suggestions on {saved[1]} segments" + (f" ({done} segments done)" if done else "")
    if run["status"] == "running":
        return (f"interrupted: run {run['id']} kept {what}; run the same command again to continue "
                "where it stopped")
    return (f"interrupted: run {run['id']} is recorded as failed with the {what} saved before the stop; "
            "run 'precode code' again for a complete run")


@contextmanager
def report_interrupt(db: Database) -> Iterator[None]:
    """Around `precode code`: on Ctrl-C print which run stopped and what it saved, then exit 130.

    Everything stored is committed by then, so the process leaves at once (`os._exit`): a normal
    interpreter shutdown waits on the embedding runtime's and chromadb's threads, and a Ctrl-C landing
    there ended the process by the signal (exit -2) instead of with 130 and the message.
    """
    before = {r[0] for r in db.conn.execute("SELECT id FROM runs")}
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the message short
        sys.stderr.write(interrupted_message(db, before) + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
        db.close()
        os._exit(130)
