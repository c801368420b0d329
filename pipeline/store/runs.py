"""Runs, their scope and progress, suggestions and codebook snapshots in the project database.

`RunStore` is mixed into `pipeline.store.database.Database` (every query uses `self.conn`); it is
the only code that reads or writes the tables `codebooks`, `runs`, `run_scope`, `run_segments`,
`run_resume` and `suggestions`. Writers that are part of a larger unit of work take the
connection of the caller's transaction. Every INSERT names its columns, so a migration that adds
a column cannot shift values into the wrong one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.models import (
    Grounding,
    Run,
    RunStatus,
    Segment,
    SegmentRole,
    Suggestion,
    TranscriptMetadata,
    utcnow,
)
from pipeline.store.transcripts import SegmentKey


class RunScope(BaseModel):
    """What a run set out to code, recorded when it starts."""

    run_id: str
    transcript_ids: list[str]
    segment_count: int
    segments_sha256: str
    codebook_hash: str
    codebook_version: str
    level: str

    @classmethod
    def of(cls, run: Run, codebook: Codebook, segments: Sequence[Segment] | Sequence[SegmentKey]) -> RunScope:
        ids = sorted(s.id for s in segments)
        return cls(run_id=run.id, transcript_ids=sorted({s.transcript_id for s in segments}), segment_count=len(ids),
                   segments_sha256=hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                   codebook_hash=codebook.content_hash, codebook_version=codebook.version, level=run.level or "")


class ResumeOwner(BaseModel):
    """The unfinished run of a command (`run_resume`) and the process last working on it."""

    run_id: str
    pid: int | None
    pid_started: float | None


class RunTotals(BaseModel):
    """Everything recorded for a run, counted: progress, suggestions and the LLM coder's records."""

    run_id: str
    status: str
    counts: dict[str, int]
    segments_done: int
    segments_failed: int
    grounding: dict[str, int]
    calls: int
    cache_hits: int
    failed_calls: int
    retries: int
    reasks: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None
    unpriced_calls: int
    rejections: dict[str, int]
    proposals: int
    failures: list[str]  # "segment id: error" of failed segments, the first ten


def suggestion_from_row(r: sqlite3.Row) -> Suggestion:
    return Suggestion(
        id=r["id"], run_id=r["run_id"], segment_id=r["segment_id"], transcript_id=r["transcript_id"],
        code_id=r["code_id"], quote=r["quote"], quote_start=r["quote_start"], quote_end=r["quote_end"],
        grounding=Grounding(r["grounding"]), score=r["score"], rationale=r["rationale"], created_at=r["created_at"],
    )


def insert_suggestions(conn: sqlite3.Connection, suggestions: Iterable[Suggestion]) -> int:
    """Store suggestions (an id already stored is kept as it is); returns how many were new."""
    cursor = conn.executemany(
        "INSERT OR IGNORE INTO suggestions (id, run_id, segment_id, transcript_id, code_id, quote, quote_start,"
        " quote_end, grounding, score, rationale, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(s.id, s.run_id, s.segment_id, s.transcript_id, s.code_id, s.quote, s.quote_start, s.quote_end,
          s.grounding.value, s.score, s.rationale, s.created_at.isoformat()) for s in suggestions],
    )
    return cursor.rowcount


def mark_segments(conn: sqlite3.Connection, run_id: str, done: Iterable[str], failed: dict[str, str]) -> None:
    """A run's per-segment progress: done, or failed with its error (attempts counted)."""
    now = utcnow().isoformat()
    conn.executemany(
        "INSERT INTO run_segments (run_id, segment_id, status, error, attempts, updated_at) VALUES (?,?,'done',NULL,1,?)"
        " ON CONFLICT (run_id, segment_id) DO UPDATE SET status = 'done', error = NULL, attempts = attempts + 1,"
        " updated_at = excluded.updated_at",
        [(run_id, segment_id, now) for segment_id in done])
    conn.executemany(
        "INSERT INTO run_segments (run_id, segment_id, status, error, attempts, updated_at) VALUES (?,?,'failed',?,1,?)"
        " ON CONFLICT (run_id, segment_id) DO UPDATE SET status = 'failed', error = excluded.error,"
        " attempts = attempts + 1, updated_at = excluded.updated_at",
        [(run_id, segment_id, error, now) for segment_id, error in failed.items()])


class RunStore:
    """Runs and suggestions; mixed into `Database`, which provides `conn`."""

    conn: sqlite3.Connection

    # -- the project ------------------------------------------------------------------------------
    def project_id(self) -> str:
        """The project's id (made by migration 0007): names its vector collections apart from others'."""
        row = self.conn.execute("SELECT value FROM project_info WHERE key = 'project_id'").fetchone()
        if row is None:
            raise PrecodeError("the project database has no project id", hint="open it with this precode version")
        return str(row[0])

    # -- codebooks ----------------------------------------------------------------------------
    def save_codebook(self, codebook: Codebook) -> str:
        self.conn.execute(
            "INSERT OR IGNORE INTO codebooks (hash, id, name, version, content_json, created_at) VALUES (?,?,?,?,?,?)",
            (codebook.content_hash, codebook.id, codebook.name, codebook.version,
             codebook.model_dump_json(exclude={"source"}), utcnow().isoformat()),
        )
        return codebook.content_hash

    def codebook(self, content_hash: str) -> Codebook:
        row = self.conn.execute("SELECT content_json FROM codebooks WHERE hash = ?", (content_hash,)).fetchone()
        if row is None:
            raise PrecodeError(f"no codebook snapshot {content_hash[:12]} in this project")
        return Codebook.model_validate_json(row["content_json"])

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, run: Run, scope: RunScope | None = None) -> None:
        """Record a new run (and what it is about to code)."""
        self.conn.execute(
            "INSERT INTO runs (id, coder, model, params_json, prompt_hash, codebook_hash, level, started_at, ended_at,"
            " status, counts_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (run.id, run.coder, run.model, json.dumps(run.params, sort_keys=True), run.prompt_hash,
             run.codebook_hash, run.level, run.started_at.isoformat(), None, run.status.value,
             json.dumps(run.counts)),
        )
        if scope is not None:
            self.conn.execute(
                "INSERT INTO run_scope (run_id, transcript_ids_json, segment_count, segments_sha256, codebook_hash,"
                " codebook_version, level) VALUES (?,?,?,?,?,?,?)",
                (scope.run_id, json.dumps(scope.transcript_ids), scope.segment_count, scope.segments_sha256,
                 scope.codebook_hash, scope.codebook_version, scope.level),
            )

    def finish_run(self, run_id: str, status: RunStatus, counts: dict[str, int], reason: str | None = None) -> None:
        """End a run: completed, incomplete (`reason`: which segments failed and why) or failed (`reason`: why)."""
        self.conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, counts_json = ?, status_reason = ? WHERE id = ?",
            (status.value, utcnow().isoformat(), json.dumps(counts, sort_keys=True), reason, run_id),
        )

    def reopen_run(self, run_id: str) -> None:
        """An incomplete run taken up again by a re-run of its command: running until it ends anew."""
        self.conn.execute("UPDATE runs SET status = 'running', ended_at = NULL, status_reason = NULL"
                          " WHERE id = ? AND status = 'incomplete'", (run_id,))

    def failure_summary(self, run_id: str) -> str | None:
        """'N segments failed: <the most frequent error>' (None when no segment failed)."""
        rows = self.conn.execute(
            "SELECT error, COUNT(*) AS n FROM run_segments WHERE run_id = ? AND status = 'failed'"
            " GROUP BY error ORDER BY n DESC, error LIMIT 1", (run_id,)).fetchall()
        if not rows:
            return None
        failed = int(self.conn.execute("SELECT COUNT(*) FROM run_segments WHERE run_id = ? AND status = 'failed'",
                                       (run_id,)).fetchone()[0])
        error = (rows[0]["error"] or "failed").splitlines()[0]
        error = error if len(error) <= 160 else error[:157] + "..."
        return f"{failed} segment{'s' if failed != 1 else ''} failed: {error}"

    def incomplete_note(self, run_id: str | None = None) -> str | None:
        """One line for exports and review when the run (default: the latest finished one) is incomplete."""
        try:
            run = self.run(run_id)
        except PrecodeError:
            return None  # the command itself says what is missing
        if run.status is not RunStatus.incomplete:
            return None
        return (f"run {run.id} is incomplete ({run.reason or 'some segments failed'}); it holds the segments that "
                "were coded — re-run the same 'precode code' command to code the rest")

    def update_run_counts(self, run_id: str, counts: dict[str, int]) -> None:
        """The counts of a run that stays running (segments still pending, e.g. in a provider batch)."""
        self.conn.execute("UPDATE runs SET counts_json = ? WHERE id = ?", (json.dumps(counts, sort_keys=True), run_id))

    def _run_from_row(self, row: sqlite3.Row) -> Run:
        return Run(
            id=row["id"], coder=row["coder"], model=row["model"], params=json.loads(row["params_json"]),
            prompt_hash=row["prompt_hash"], codebook_id=self.codebook(row["codebook_hash"]).id,
            codebook_hash=row["codebook_hash"], level=row["level"], started_at=row["started_at"],
            ended_at=row["ended_at"], status=RunStatus(row["status"]), counts=json.loads(row["counts_json"]),
            reason=row["status_reason"],
        )

    def runs(self) -> list[Run]:
        return [self._run_from_row(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY started_at, rowid")]

    def run(self, run_id: str | None = None) -> Run:
        """A run by id (a unique prefix is enough), or the latest finished run: completed, or incomplete
        (every segment tried, some failed; `incomplete_note` words that for the user)."""
        if run_id is None:
            row = self.conn.execute(
                "SELECT * FROM runs WHERE status IN ('completed', 'incomplete') ORDER BY started_at DESC, rowid DESC"
                " LIMIT 1").fetchone()
            if row is None:
                raise PrecodeError("this project has no completed coding run yet", hint="run 'precode code' first")
            return self._run_from_row(row)
        rows = self.conn.execute("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)).fetchall()
        if len(rows) != 1:
            problem = "no run" if not rows else f"{len(rows)} runs"
            raise PrecodeError(f"{problem} matching '{run_id}'", hint="see 'precode status' for run ids")
        return self._run_from_row(rows[0])

    def run_scope(self, run_id: str) -> RunScope | None:
        """What the run recorded it would code; None for runs from before scopes were recorded."""
        row = self.conn.execute("SELECT * FROM run_scope WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return RunScope(run_id=row["run_id"], transcript_ids=json.loads(row["transcript_ids_json"]),
                        segment_count=row["segment_count"], segments_sha256=row["segments_sha256"],
                        codebook_hash=row["codebook_hash"], codebook_version=row["codebook_version"],
                        level=row["level"])

    def transcripts_current_at(self, moment: str, role: SegmentRole | None) -> tuple[list[str], int]:
        """The transcript versions current at `moment` (ISO time) and their number of segments (of `role`).

        Only for runs without a recorded scope, whose coverage has to be reconstructed.
        """
        ids = [r[0] for r in self.conn.execute(
            "SELECT id FROM transcripts t WHERE ingested_at <= ? AND version = (SELECT MAX(version) FROM transcripts "
            "WHERE name = t.name AND ingested_at <= ?)", (moment, moment))]
        if not ids:
            return [], 0
        sql = f"SELECT COUNT(*) FROM segments WHERE transcript_id IN ({','.join('?' * len(ids))})"
        params: list[str] = list(ids)
        if role is not None:
            sql += " AND role = ?"
            params.append(role.value)
        return ids, int(self.conn.execute(sql, params).fetchone()[0])

    # -- resuming -------------------------------------------------------------------------------
    def open_run_for(self, key: str) -> ResumeOwner | None:
        """The latest unfinished (running or incomplete) run started by the command with this resume key."""
        row = self.conn.execute(
            "SELECT r.id, k.pid, k.pid_started FROM run_resume k JOIN runs r ON r.id = k.run_id"
            " WHERE k.resume_key = ? AND r.status IN ('running', 'incomplete') ORDER BY r.started_at DESC LIMIT 1",
            (key,)
        ).fetchone()
        return ResumeOwner(run_id=row["id"], pid=row["pid"], pid_started=row["pid_started"]) if row else None

    def finished_run_for(self, key: str) -> str | None:
        """The latest completed run of the command with this resume key (an unchanged re-run reuses it)."""
        row = self.conn.execute(
            "SELECT r.id FROM run_resume k JOIN runs r ON r.id = k.run_id"
            " WHERE k.resume_key = ? AND r.status = 'completed' ORDER BY r.started_at DESC LIMIT 1", (key,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_run_owner(self, run_id: str, key: str, pid: int, pid_started: float) -> None:
        """Record (or take over) which process is coding the run of the command with this key."""
        self.conn.execute(
            "INSERT INTO run_resume (run_id, resume_key, pid, pid_started) VALUES (?,?,?,?)"
            " ON CONFLICT (run_id) DO UPDATE SET pid = excluded.pid, pid_started = excluded.pid_started",
            (run_id, key, pid, pid_started))

    def segments_done(self, run_id: str) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT segment_id FROM run_segments WHERE run_id = ? AND status = 'done'", (run_id,))}

    def suggested_segments(self, run_id: str) -> int:
        """How many segments of the run have at least one suggestion (counted in SQL, no rows loaded)."""
        return int(self.conn.execute("SELECT COUNT(DISTINCT segment_id) FROM suggestions WHERE run_id = ?",
                                     (run_id,)).fetchone()[0])

    def segments_touched(self, run_id: str) -> int:
        """Segments of the run that are done or failed (0: the run got nowhere)."""
        return int(self.conn.execute("SELECT COUNT(*) FROM run_segments WHERE run_id = ?", (run_id,)).fetchone()[0])

    # -- suggestions ----------------------------------------------------------------------------
    def insert_suggestions(self, conn: sqlite3.Connection, suggestions: Iterable[Suggestion]) -> int:
        return insert_suggestions(conn, suggestions)

    def suggestions(self, run_id: str, groundings: Iterable[Grounding] | None = None) -> list[Suggestion]:
        sql = "SELECT * FROM suggestions WHERE run_id = ?"
        params: list[str] = [run_id]
        if groundings is not None:
            values = [g.value for g in groundings]
            sql += f" AND grounding IN ({','.join('?' * len(values))})"
            params.extend(values)
        sql += " ORDER BY transcript_id, quote_start, code_id"
        return [suggestion_from_row(r) for r in self.conn.execute(sql, params)]

    def suggestions_by_id(self, ids: Iterable[str]) -> dict[str, Suggestion]:
        """The stored suggestions with these ids (of any run), by id; ids not stored are absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Suggestion] = {}
        for i in range(0, len(wanted), 900):  # below SQLite's smallest host-parameter limit
            chunk = wanted[i:i + 900]
            for r in self.conn.execute(f"SELECT * FROM suggestions WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                found[r["id"]] = suggestion_from_row(r)
        return found

    def suggested_transcripts(self, run_id: str) -> set[str]:
        """The transcript versions a run made suggestions on."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT transcript_id FROM suggestions WHERE run_id = ?",
                                                (run_id,))}

    # -- totals ---------------------------------------------------------------------------------
    def run_totals(self, run_id: str, rejection_kinds: Sequence[str] = ()) -> RunTotals:
        """The run's progress, suggestions by grounding and LLM records, counted over every attempt."""
        conn = self.conn
        run = conn.execute("SELECT status, counts_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        progress = {r[0]: int(r[1]) for r in conn.execute(
            "SELECT status, COUNT(*) FROM run_segments WHERE run_id = ? GROUP BY status", (run_id,))}
        grounding = {r[0]: int(r[1]) for r in conn.execute(
            "SELECT grounding, COUNT(*) FROM suggestions WHERE run_id = ? GROUP BY grounding", (run_id,))}
        c = conn.execute(
            "SELECT SUM(outcome != 'cache_hit'), SUM(outcome = 'cache_hit'), SUM(outcome = 'failed'), SUM(retries),"
            " SUM(reasks), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(cost_usd),"
            " SUM(outcome != 'cache_hit' AND cost_usd IS NULL) FROM llm_calls WHERE run_id = ?", (run_id,)).fetchone()
        rejections = {r[0]: int(r[1]) for r in conn.execute(
            "SELECT kind, COUNT(*) FROM llm_rejections WHERE run_id = ? GROUP BY kind", (run_id,))}
        failures = [f"{r[0]}: {r[1]}" for r in conn.execute(
            "SELECT segment_id, error FROM run_segments WHERE run_id = ? AND status = 'failed' ORDER BY segment_id"
            " LIMIT 10", (run_id,))]
        proposals = conn.execute("SELECT COUNT(*) FROM code_proposals WHERE run_id = ?", (run_id,)).fetchone()[0]
        return RunTotals(
            run_id=run_id, status=run["status"] if run else "unknown",
            counts=json.loads(run["counts_json"]) if run else {},
            segments_done=progress.get("done", 0), segments_failed=progress.get("failed", 0), grounding=grounding,
            calls=c[0] or 0, cache_hits=c[1] or 0, failed_calls=c[2] or 0, retries=c[3] or 0, reasks=c[4] or 0,
            prompt_tokens=c[5] or 0, completion_tokens=c[6] or 0, cached_tokens=c[7] or 0,
            cost_usd=round(c[8], 6) if c[8] is not None else None, unpriced_calls=c[9] or 0,
            rejections={**{k: 0 for k in rejection_kinds}, **rejections}, proposals=int(proposals), failures=failures,
        )


def transcript_speakers(conn: sqlite3.Connection, transcript_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """transcript id -> every speaker label of its turns, the interviewer's included."""
    ids = sorted(set(transcript_ids))
    found: dict[str, set[str]] = {i: set() for i in ids}
    if ids:
        for row in conn.execute(
                f"SELECT DISTINCT transcript_id, speaker FROM turns WHERE transcript_id IN ({','.join('?' * len(ids))})",
                ids):
            found[row[0]].add(row[1])
    return {i: frozenset(s) for i, s in found.items()}


def transcript_metadata(conn: sqlite3.Connection, transcript_ids: Iterable[str]) -> dict[str, TranscriptMetadata]:
    """transcript id -> its metadata (participant, group, site, date, further sidecar columns)."""
    ids = sorted(set(transcript_ids))
    found: dict[str, TranscriptMetadata] = {}
    for i in range(0, len(ids), 900):  # below SQLite's smallest host-parameter limit
        chunk = ids[i:i + 900]
        for row in conn.execute(
                f"SELECT id, metadata_json FROM transcripts WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            found[row[0]] = TranscriptMetadata.model_validate_json(row[1])
    return found
