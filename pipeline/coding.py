"""Run a coder over a project's segments and record the run and its suggestions."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders import Coder, CodingContext
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, RunStatus, SegmentRole, Suggestion, utcnow
from pipeline.project import Project


def new_run_id() -> str:
    """Time-sortable and unique: 20261122-101501-3fa2."""
    return f"{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def select_segments(project: Project, transcript_names: list[str] | None = None):
    # names as 'precode status' lists them (siteA/P01), NFC/NFD-insensitive; a bare file name when unique
    transcripts = (project.db.resolve_transcript_names(transcript_names) if transcript_names
                   else project.db.current_transcripts())
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    return project.db.segments([t.id for t in transcripts], role=role)


@dataclass
class CodedBatch:
    """What a resumable coder yields: its suggestions and which segments it finished or failed.

    `write` adds the coder's own records (calls, rejections, proposals …) in the same transaction
    as the suggestions, so a batch lands whole or not at all.
    """

    suggestions: list[Suggestion]
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    write: Callable[[sqlite3.Connection], None] | None = None


def run_coder(
    project: Project, coder: Coder, codebook: Codebook, level: str | None = None,
    transcript_names: list[str] | None = None, on_start: Callable[[Run, int], None] | None = None,
    progress: Callable[[int], None] = lambda n: None,
    on_resume: Callable[[Run, int, int], None] | None = None,
) -> Run:
    """Code the current transcripts' segments; every batch is committed as it arrives.

    A coder with `resumable = True` (the LLM coder) yields `CodedBatch`es, and a re-run of the same
    command (same coder, model, parameters, prompt hash, codebook hash, level and segments) continues
    its unfinished run instead of starting another: `on_resume(run, done, total)` is called and only
    the segments not yet done are coded. Such a run is completed once every segment is done; if some
    failed it stays open (status running) for the next re-run, and is returned as it is.
    """
    db = project.db
    segments = select_segments(project, transcript_names)
    if not segments:
        raise PrecodeError("there are no segments to code in this project", hint="ingest transcripts first: precode ingest PATH")
    level = level or LEAF_LEVEL
    codes = codebook.at_level(level)
    db.save_codebook(codebook)
    run = Run(id=new_run_id(), coder=coder.name, model=coder.model, params={**coder.params(), "level": level},
              prompt_hash=coder.prompt_hash, codebook_id=codebook.id, codebook_hash=codebook.content_hash, level=level)
    if getattr(coder, "resumable", False):
        return _run_resumable(project, coder, codebook, codes, segments, run, on_start, progress, on_resume)
    db.start_run(run)
    if on_start:
        on_start(run, len(segments))
    stored = 0
    try:
        context = CodingContext(project, run.id, codebook, codes, segments, progress)
        for batch in coder.code(context):
            with db.transaction() as conn:
                stored += db.insert_suggestions(conn, batch)
    except BaseException:
        db.finish_run(run.id, RunStatus.failed, {"segments": len(segments), "suggestions": stored})
        raise
    db.finish_run(run.id, RunStatus.completed, _counts(project, run.id, len(segments), coder))
    return db.run(run.id)


def _counts(project: Project, run_id: str, n_segments: int, coder: Coder) -> dict[str, int]:
    suggestions = project.db.suggestions(run_id)
    return {
        "segments": n_segments,
        "suggestions": len(suggestions),
        "segments_with_suggestions": len({s.segment_id for s in suggestions}),
        **{f"grounding_{g.value}": sum(1 for s in suggestions if s.grounding is g) for g in Grounding},
        **coder.counts(),
    }


def resume_key(run: Run, segment_ids: list[str]) -> str:
    """What makes a re-run the same command: coder, model, parameters, hashes, level and segments."""
    payload = {"coder": run.coder, "model": run.model, "params": run.params, "prompt_hash": run.prompt_hash,
               "codebook_hash": run.codebook_hash, "level": run.level, "segments": sorted(segment_ids)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _this_process() -> tuple[int, float]:
    return os.getpid(), psutil.Process().create_time()


def _alive(pid: int | None, started: float | None) -> bool:
    """Is that process still running (and not a new process that reused its pid)?"""
    if pid is None:
        return False
    try:
        return abs(psutil.Process(pid).create_time() - (started or 0)) < 1e-3
    except psutil.Error:
        return False


def _claim_run(project: Project, new: Run, key: str) -> Run | None:
    """The unfinished run of the same command, now owned by this process, or None (then `new` is started)."""
    db = project.db
    pid, started = _this_process()
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT r.id, k.pid, k.pid_started FROM run_resume k JOIN runs r ON r.id = k.run_id"
            " WHERE k.resume_key = ? AND r.status = 'running' ORDER BY r.started_at DESC LIMIT 1", (key,)
        ).fetchone()
        if row is not None and (row["pid"], row["pid_started"]) != (pid, started) and _alive(row["pid"], row["pid_started"]):
            raise PrecodeError(f"run {row['id']} of this same command is still being coded by process {row['pid']}",
                               hint="wait for it to finish, or stop it; a re-run then continues where it stopped")
        if row is not None:
            conn.execute("UPDATE run_resume SET pid = ?, pid_started = ? WHERE run_id = ?", (pid, started, row["id"]))
            return db.run(row["id"])
        db.start_run(new)
        conn.execute("INSERT INTO run_resume VALUES (?,?,?,?)", (new.id, key, pid, started))
    return None


def _store_batch(db, run_id: str, batch: CodedBatch) -> None:
    """A batch's suggestions, segment progress and the coder's own records, in one transaction."""
    now = utcnow().isoformat()
    with db.transaction() as conn:
        db.insert_suggestions(conn, batch.suggestions)
        conn.executemany(
            "INSERT INTO run_segments VALUES (?,?,'done',NULL,1,?) ON CONFLICT (run_id, segment_id) DO UPDATE"
            " SET status = 'done', error = NULL, attempts = attempts + 1, updated_at = excluded.updated_at",
            [(run_id, segment_id, now) for segment_id in batch.done])
        conn.executemany(
            "INSERT INTO run_segments VALUES (?,?,'failed',?,1,?) ON CONFLICT (run_id, segment_id) DO UPDATE"
            " SET status = 'failed', error = excluded.error, attempts = attempts + 1, updated_at = excluded.updated_at",
            [(run_id, segment_id, error, now) for segment_id, error in batch.failed.items()])
        if batch.write:
            batch.write(conn)


def _run_resumable(project: Project, coder: Coder, codebook: Codebook, codes, segments, run: Run,
                   on_start, progress, on_resume) -> Run:
    db = project.db
    resumed = _claim_run(project, run, resume_key(run, [s.id for s in segments]))
    if resumed is not None:
        run = resumed
        done = {r[0] for r in db.conn.execute(
            "SELECT segment_id FROM run_segments WHERE run_id = ? AND status = 'done'", (run.id,))}
        if on_resume:
            on_resume(run, len(done), len(segments))
        todo = [s for s in segments if s.id not in done]
    else:
        todo = segments
    if on_start:
        on_start(run, len(todo))
    context = CodingContext(project, run.id, codebook, codes, todo, progress)
    try:
        for batch in coder.code(context):
            _store_batch(db, run.id, batch)
    except BaseException:
        # Interrupted or stopped by an error: a run with progress stays open for the re-run to finish;
        # one that got nowhere is closed, so that no empty unfinished runs pile up.
        if db.conn.execute("SELECT COUNT(*) FROM run_segments WHERE run_id = ?", (run.id,)).fetchone()[0] == 0:
            db.finish_run(run.id, RunStatus.failed, {"segments": len(segments), "suggestions": 0})
        raise
    counts = _counts(project, run.id, len(segments), coder)
    done = db.conn.execute("SELECT COUNT(*) FROM run_segments WHERE run_id = ? AND status = 'done'",
                           (run.id,)).fetchone()[0]
    if done < len(segments):
        db.conn.execute("UPDATE runs SET counts_json = ? WHERE id = ?", (json.dumps(counts, sort_keys=True), run.id))
    else:
        db.finish_run(run.id, RunStatus.completed, counts)
    return db.run(run.id)
