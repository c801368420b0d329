"""Run a coder over a project's segments and record the run, its scope, progress and suggestions.

One loop for every coder (`run_coder`): the segments are chosen, the run is recorded with its
scope (or the unfinished run of the same command is resumed), the segments not yet done are
handed to the coder `coder.batch_segments` at a time, and every `CodedBatch` it yields is stored
in one transaction with its progress and the coder's own records. The loop holds the segments'
ids only and reads each chunk's texts from the store when it is coded, and the run's counts are
made in SQL, so its memory does not grow with the corpus or with one long transcript (a coder
with `batch_segments = 0`, the LLM coder, still gets all its segments at once). A run ends `completed` once
every segment is done; `incomplete` (reason: "N segments failed: …") when every segment was tried
and some failed — the next re-run of the same command reopens it and codes only what is left;
`failed` when nothing was coded or an error no re-run fixes stopped it (`RunStopped`: fail-fast,
quota). Segments still pending (a provider batch) keep it `running`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator, Sequence

import psutil

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import Coder, CodingContext
from pipeline.errors import PrecodeError, RunStopped
from pipeline.models import Code, Grounding, Run, RunStatus, Segment, SegmentRole, utcnow
from pipeline.project import Project
from pipeline.store.llm import StoredAnswers, write_records
from pipeline.store.runs import RunScope, insert_suggestions, mark_segments, transcript_metadata, transcript_speakers
from pipeline.store.transcripts import SegmentKey

CHUNK_IDS = 512  # segments read from the store at a time (SQLite's host parameters stay below 999)


def new_run_id() -> str:
    """Time-sortable and unique: 20261122-101501-3fa2."""
    return f"{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _scope(project: Project, transcript_names: list[str] | None) -> tuple[list[str], SegmentRole | None]:
    # names as 'precode status' lists them (siteA/P01), NFC/NFD-insensitive; a bare file name when unique
    transcripts = (project.db.resolve_transcript_names(transcript_names) if transcript_names
                   else project.db.current_transcript_headers())
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    return [t.id for t in transcripts], role


def select_segments(project: Project, transcript_names: list[str] | None = None) -> list[Segment]:
    """The segments a run codes: those of the current transcripts (or the named ones), participants' by default."""
    transcript_ids, role = _scope(project, transcript_names)
    return project.db.segments(transcript_ids, role=role)


def select_segment_keys(project: Project, transcript_names: list[str] | None = None) -> list[SegmentKey]:
    """The same segments as `select_segments`, in the same order, as (id, transcript id) only."""
    transcript_ids, role = _scope(project, transcript_names)
    return project.db.segment_keys(transcript_ids, role=role)


def segment_chunks(project: Project, keys: Sequence[SegmentKey], size: int) -> Iterator[list[Segment]]:
    """The segments of `keys`, `size` at a time in the order of `keys`, each chunk read from the store when needed."""
    for start in range(0, len(keys), size):
        chunk = keys[start:start + size]
        by_id: dict[str, Segment] = {}
        for part in range(0, len(chunk), CHUNK_IDS):  # one query per CHUNK_IDS ids
            by_id.update((s.id, s) for s in project.db.segments(segment_ids=[k.id for k in chunk[part:part + CHUNK_IDS]]))
        yield [by_id[k.id] for k in chunk]


def coding_context(project: Project, run_id: str, codebook: Codebook, codes: list[Code], level: str,
                   segments: Sequence[Segment] | Sequence[SegmentKey]) -> CodingContext:
    """What a coder gets to code `segments` of the project (also for estimates, with run id '')."""
    return CodingContext(
        run_id=run_id, codebook=codebook, codes=codes, level=level, embeddings=project.embeddings,
        cache=StoredAnswers(project.db.conn),
        speakers=transcript_speakers(project.db.conn, {s.transcript_id for s in segments}),
        metadata=transcript_metadata(project.db.conn, {s.transcript_id for s in segments}),
    )


def run_coder(
    project: Project, coder: Coder, codebook: Codebook, level: str | None = None,
    transcript_names: list[str] | None = None, on_start: Callable[[Run, int], None] | None = None,
    progress: Callable[[int], None] = lambda n: None,
    on_resume: Callable[[Run, int, int], None] | None = None,
    encode_progress: Callable[[int], None] = lambda n: None,
) -> Run:
    """Code the current transcripts' segments; every batch is committed as it arrives.

    A re-run of the same command (same coder, model, parameters, prompt hash, codebook hash, level
    and segments) continues its unfinished run instead of starting another: `on_resume(run, done,
    total)` is called and only the segments not yet done are coded. For a coder that reads quote-unit
    vectors, the missing ones are encoded first (`encode_progress` counts those segments).
    """
    db = project.db
    segments = select_segment_keys(project, transcript_names)
    if not segments:
        raise PrecodeError("there are no segments to code in this project", hint="ingest transcripts first: precode ingest PATH")
    level = level or LEAF_LEVEL
    codes = codebook.at_level(level)
    db.save_codebook(codebook)
    new = Run(id=new_run_id(), coder=coder.name, model=coder.model, params={**coder.params(), "level": level},
              prompt_hash=coder.prompt_hash, codebook_id=codebook.id, codebook_hash=codebook.content_hash, level=level)
    run = _claim_run(project, new, RunScope.of(new, codebook, segments), resume_key(new, [s.id for s in segments]))
    todo = segments
    if run.id != new.id:
        done = db.segments_done(run.id)
        if on_resume:
            on_resume(run, len(done), len(segments))
        todo = [s for s in segments if s.id not in done]
    if on_start:
        on_start(run, len(todo))
    context = coding_context(project, run.id, codebook, codes, level, todo)
    step = coder.batch_segments or max(len(todo), 1)  # 0: all at once (one chunk)
    encoded = 0
    try:
        if coder.embeds_quote_units:
            encoded = project.embeddings.encode(segment_chunks(project, todo, CHUNK_IDS), encode_progress)
        for chunk in segment_chunks(project, todo, step):
            for batch in coder.code(chunk, context):
                with db.transaction() as conn:
                    insert_suggestions(conn, batch.suggestions)
                    mark_segments(conn, run.id, batch.done, batch.failed)
                    write_records(conn, batch.records)
                progress(len(batch.done) + len(batch.failed))
    except RunStopped as exc:
        # an error the same command would meet again (fail-fast, quota): the run ends as failed, with why
        db.finish_run(run.id, RunStatus.failed, _counts(project, run.id, len(segments), coder), str(exc))
        raise
    except BaseException as exc:
        # Interrupted or stopped by an error: a run with progress stays open for the re-run to finish;
        # one that got nowhere is closed, so that no empty unfinished runs pile up.
        if db.segments_touched(run.id) == 0:
            reason = "nothing was coded" + (f": {exc}" if isinstance(exc, PrecodeError) else "")
            db.finish_run(run.id, RunStatus.failed, {"segments": len(segments), "suggestions": 0}, reason)
        raise
    counts = _counts(project, run.id, len(segments), coder)
    if coder.embeds_quote_units:
        counts["quote_units_encoded"] = encoded
    if len(db.segments_done(run.id)) == len(segments):
        db.finish_run(run.id, RunStatus.completed, counts)
    elif db.segments_touched(run.id) < len(segments):
        db.update_run_counts(run.id, counts)  # segments still pending (a provider batch): the run stays running
    else:  # every segment tried, some failed (even all of them: a re-run may well get through)
        db.finish_run(run.id, RunStatus.incomplete, counts, db.failure_summary(run.id))
    return db.run(run.id)


def _counts(project: Project, run_id: str, n_segments: int, coder: Coder) -> dict[str, int]:
    """The run's counts, made in SQL (no suggestion is loaded)."""
    totals = project.db.run_totals(run_id)
    return {
        "segments": n_segments,
        "suggestions": sum(totals.grounding.values()),
        "segments_with_suggestions": project.db.suggested_segments(run_id),
        **{f"grounding_{g.value}": totals.grounding.get(g.value, 0) for g in Grounding},
        **coder.counts(totals),
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
        return bool(abs(psutil.Process(pid).create_time() - (started or 0)) < 1e-3)
    except psutil.Error:
        return False


def _claim_run(project: Project, new: Run, scope: RunScope, key: str) -> Run:
    """The unfinished run of the same command, now owned by this process; else `new`, started."""
    db = project.db
    pid, started = _this_process()
    with db.transaction():
        owner = db.open_run_for(key)
        if owner is not None and (owner.pid, owner.pid_started) != (pid, started) \
                and _alive(owner.pid, owner.pid_started):
            raise PrecodeError(f"run {owner.run_id} of this same command is still being coded by process {owner.pid}",
                               hint="wait for it to finish, or stop it; a re-run then continues where it stopped")
        if owner is None:
            db.start_run(new, scope)
        else:
            db.reopen_run(owner.run_id)  # an incomplete run is running again until it ends anew
        run_id = owner.run_id if owner is not None else new.id
        db.set_run_owner(run_id, key, pid, started)
    return db.run(run_id) if owner is not None else new
