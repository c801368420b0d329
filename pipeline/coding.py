"""Run a coder over a project's segments and record the run and its suggestions."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders import Coder, CodingContext
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, RunStatus, SegmentRole, utcnow
from pipeline.project import Project


def new_run_id() -> str:
    """Time-sortable and unique: 20261122-101501-3fa2."""
    return f"{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def select_segments(project: Project, transcript_names: list[str] | None = None):
    transcripts = project.db.current_transcripts()
    if transcript_names:
        unknown = set(transcript_names) - {t.name for t in transcripts}
        if unknown:
            raise PrecodeError(f"no transcript named {', '.join(sorted(unknown))} in this project",
                               hint="see 'precode status' for the names")
        transcripts = [t for t in transcripts if t.name in transcript_names]
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    return project.db.segments([t.id for t in transcripts], role=role)


def run_coder(
    project: Project, coder: Coder, codebook: Codebook, level: str | None = None,
    transcript_names: list[str] | None = None, on_start: Callable[[Run, int], None] | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> Run:
    """Code the current transcripts' segments; every batch is committed as it arrives."""
    db = project.db
    segments = select_segments(project, transcript_names)
    if not segments:
        raise PrecodeError("there are no segments to code in this project", hint="ingest transcripts first: precode ingest PATH")
    level = level or LEAF_LEVEL
    codes = codebook.at_level(level)
    db.save_codebook(codebook)
    run = Run(id=new_run_id(), coder=coder.name, model=coder.model, params={**coder.params(), "level": level},
              prompt_hash=coder.prompt_hash, codebook_id=codebook.id, codebook_hash=codebook.content_hash, level=level)
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
    suggestions = db.suggestions(run.id)
    counts = {
        "segments": len(segments),
        "suggestions": len(suggestions),
        "segments_with_suggestions": len({s.segment_id for s in suggestions}),
        **{f"grounding_{g.value}": sum(1 for s in suggestions if s.grounding is g) for g in Grounding},
        **coder.counts(),
    }
    db.finish_run(run.id, RunStatus.completed, counts)
    return db.run(run.id)
