"""The SQLite project database: schema migrations and typed reads/writes of pipeline records.

WAL mode and foreign keys are on for every connection. Schema changes are numbered SQL files in
`migrations/`; `schema_version` records which have been applied, so an older project database is
brought forward on open and a newer one is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from pipeline.errors import PrecodeError
from pipeline.models import utcnow
from pipeline.store.runs import RunStore
from pipeline.store.transcripts import TranscriptStore


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("pipeline.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(number for number, _ in _migrations())


class Database(TranscriptStore, RunStore):
    """A connection to a project's `precode.db` with the pipeline's queries."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise PrecodeError(f"cannot open the project database ({exc})", path=str(path)) from None
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: everything inside lands, or nothing does."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite may already have rolled back (disk full, interrupt)
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- schema ---------------------------------------------------------------------------
    def applied_migrations(self) -> set[int]:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        return {row[0] for row in self.conn.execute("SELECT version FROM schema_version")}

    def schema_version(self) -> int:
        return max(self.applied_migrations(), default=0)

    def migrate(self) -> None:
        """Apply every shipped migration not yet applied, each in its own transaction."""
        applied = self.applied_migrations()
        if max(applied, default=0) > SCHEMA_VERSION:
            raise PrecodeError(
                f"the project database has schema version {max(applied)}, newer than this precode "
                f"understands ({SCHEMA_VERSION})",
                path=str(self.path), hint="upgrade precode",
            )
        for number, script in _migrations():
            if number in applied:
                continue
            with self.transaction() as conn:
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (number, utcnow().isoformat()))

    def counts(self) -> dict[str, int]:
        def q(sql: str) -> int:
            return int(self.conn.execute(sql).fetchone()[0])

        return {
            "transcripts": q("SELECT COUNT(DISTINCT name) FROM transcripts"),
            "transcript_versions": q("SELECT COUNT(*) FROM transcripts"),
            "segments": q("SELECT COUNT(*) FROM segments"),
            "coded_segments": q("SELECT COUNT(*) FROM segments WHERE role = 'participant'"),
            "runs": q("SELECT COUNT(*) FROM runs"),
            "suggestions": q("SELECT COUNT(*) FROM suggestions"),
        }


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN … END;) whole."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") and not buffer:
            continue
        buffer.append(line)
        joined = "\n".join(buffer).strip()
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            buffer = []
    if "\n".join(buffer).strip():
        statements.append("\n".join(buffer))
    return statements
