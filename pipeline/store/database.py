"""The SQLite project database: schema migrations and typed reads/writes of pipeline records.

WAL mode and foreign keys are on for every connection. Schema changes are numbered SQL files in
`migrations/`; `schema_version` records which have been applied, so an older project database is
brought forward on open and a newer one is refused rather than misread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, RunStatus, Suggestion, utcnow
from pipeline.store.transcripts import TranscriptStore


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("pipeline.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(number for number, _ in _migrations())


class Database(TranscriptStore):
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
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (number, utcnow().isoformat()))

    # -- codebooks and runs -------------------------------------------------------------------
    def save_codebook(self, codebook: Codebook) -> str:
        self.conn.execute(
            "INSERT OR IGNORE INTO codebooks VALUES (?,?,?,?,?,?)",
            (codebook.content_hash, codebook.id, codebook.name, codebook.version,
             codebook.model_dump_json(exclude={"source"}), utcnow().isoformat()),
        )
        return codebook.content_hash

    def codebook(self, content_hash: str) -> Codebook:
        row = self.conn.execute("SELECT content_json FROM codebooks WHERE hash = ?", (content_hash,)).fetchone()
        if row is None:
            raise PrecodeError(f"no codebook snapshot {content_hash[:12]} in this project")
        return Codebook.model_validate_json(row["content_json"])

    def start_run(self, run: Run) -> None:
        self.conn.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (run.id, run.coder, run.model, json.dumps(run.params, sort_keys=True), run.prompt_hash,
             run.codebook_hash, run.level, run.started_at.isoformat(), None, run.status.value,
             json.dumps(run.counts)),
        )

    def finish_run(self, run_id: str, status: RunStatus, counts: dict[str, int]) -> None:
        self.conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, counts_json = ? WHERE id = ?",
            (status.value, utcnow().isoformat(), json.dumps(counts, sort_keys=True), run_id),
        )

    def _run_from_row(self, row: sqlite3.Row) -> Run:
        return Run(
            id=row["id"], coder=row["coder"], model=row["model"], params=json.loads(row["params_json"]),
            prompt_hash=row["prompt_hash"], codebook_id=self.codebook(row["codebook_hash"]).id,
            codebook_hash=row["codebook_hash"], level=row["level"], started_at=row["started_at"],
            ended_at=row["ended_at"], status=RunStatus(row["status"]), counts=json.loads(row["counts_json"]),
        )

    def runs(self) -> list[Run]:
        return [self._run_from_row(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY started_at, rowid")]

    def run(self, run_id: str | None = None) -> Run:
        """A run by id (a unique prefix is enough), or the latest completed run."""
        if run_id is None:
            row = self.conn.execute(
                "SELECT * FROM runs WHERE status = 'completed' ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise PrecodeError("this project has no completed coding run yet", hint="run 'precode code' first")
            return self._run_from_row(row)
        rows = self.conn.execute("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)).fetchall()
        if len(rows) != 1:
            problem = "no run" if not rows else f"{len(rows)} runs"
            raise PrecodeError(f"{problem} matching '{run_id}'", hint="see 'precode status' for run ids")
        return self._run_from_row(rows[0])

    # -- suggestions ----------------------------------------------------------------------------
    def insert_suggestions(self, conn: sqlite3.Connection, suggestions: Iterable[Suggestion]) -> int:
        cursor = conn.executemany(
            "INSERT OR IGNORE INTO suggestions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(s.id, s.run_id, s.segment_id, s.transcript_id, s.code_id, s.quote, s.quote_start, s.quote_end,
              s.grounding.value, s.score, s.rationale, s.created_at.isoformat()) for s in suggestions],
        )
        return cursor.rowcount

    def suggestions(self, run_id: str, groundings: Iterable[Grounding] | None = None) -> list[Suggestion]:
        sql = "SELECT * FROM suggestions WHERE run_id = ?"
        params: list = [run_id]
        if groundings is not None:
            values = [g.value for g in groundings]
            sql += f" AND grounding IN ({','.join('?' * len(values))})"
            params.extend(values)
        sql += " ORDER BY transcript_id, quote_start, code_id"
        return [
            Suggestion(
                id=r["id"], run_id=r["run_id"], segment_id=r["segment_id"], transcript_id=r["transcript_id"],
                code_id=r["code_id"], quote=r["quote"], quote_start=r["quote_start"], quote_end=r["quote_end"],
                grounding=Grounding(r["grounding"]), score=r["score"], rationale=r["rationale"],
                created_at=r["created_at"],
            )
            for r in self.conn.execute(sql, params)
        ]

    def counts(self) -> dict[str, int]:
        q = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
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
    statements, buffer = [], []
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
