"""Codings stored in the project: a run's suggestions, review decisions, human annotations, .qdpx files.

All of them become `SpanCoding`s on the current transcript versions. Codings on an older version
of a transcript (it was re-ingested after coding) cannot be placed on the current text and are
reported, not silently moved.
"""

from __future__ import annotations

from pathlib import Path

from eval.inputs import InputSummary, Problem, SpanCoding, SpanInput
from pipeline.decisions import current_decisions
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, SegmentRole, Transcript
from pipeline.project import Project
from pipeline.reviewed import accepted_codings, run_reviewers
from pipeline.store.annotations import annotation_coders, annotations_of
from pipeline.store.proposals import run_learned_proposals

LATEST = "latest"


def current_transcripts(project: Project) -> dict[str, Transcript]:
    """Latest version of every transcript, keyed by name."""
    return {t.name: t for t in project.db.current_transcripts()}


def run_coder_name(run: Run) -> str:
    return f"{run.coder}@{run.id}"


def run_coverage(project: Project, run: Run, current_ids: set[str]) -> set[str]:
    """The current transcript versions a run coded: those in the scope it recorded when it started.

    Runs from before scopes were recorded have none, so for them it is reconstructed: the
    transcripts current when the run started if their segment count matches the run's, else those
    it made suggestions on (a transcript on which it proposed nothing then counts as not coded).
    """
    db = project.db
    scope = db.run_scope(run.id)
    if scope is not None:
        return set(scope.transcript_ids) & current_ids
    suggested = db.suggested_transcripts(run.id)
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    before, n_segments = db.transcripts_current_at(run.started_at.isoformat(), role)
    coded = set(before) | suggested if n_segments == run.counts.get("segments") else suggested
    return coded & current_ids


def run_codings(project: Project, run_id: str, include_ungrounded: bool = False) -> tuple[Run, SpanInput]:
    """A run's suggestions as codings of the coder '<coder>@<run id>'; grounded ones only by default.

    `run_id` is an id, a unique prefix, or 'latest' (the latest completed run). Codes the learned
    model proposed while the run was reviewed (`precode review --learn`) are not the run's coder's
    output: they are left out here (and counted in the summary), and count only once a reviewer
    accepts them, in the reviewed codings.
    """
    db = project.db
    run = db.run(None if run_id == LATEST else run_id)
    name = run_coder_name(run)
    current = {t.id for t in db.current_transcripts()}
    groundings = None if include_ungrounded else [g for g in Grounding if g is not Grounding.ungrounded]
    learned = {p.suggestion_id for p in run_learned_proposals(db.conn, run.id)}
    suggestions = [s for s in db.suggestions(run.id, groundings) if s.id not in learned]
    segments = {s.id: s for s in db.segments({s.transcript_id for s in suggestions} & current)}
    result = SpanInput(coverage={name: run_coverage(project, run, current)})
    stale = 0
    for s in suggestions:
        segment = segments.get(s.segment_id)
        if segment is None:
            stale += 1
            continue
        start, end = (s.quote_start, s.quote_end) if s.quote_start is not None else (segment.start, segment.end)
        result.codings.append(SpanCoding(coder=name, code=s.code_id, transcript_id=s.transcript_id, start=start,
                                         end=end, segment_id=s.segment_id, source=f"run {run.id}"))
    if stale:
        result.problems.append(Problem(source=f"run {run.id}", message=f"{stale} suggestion(s) are on an older "
                                       "version of their transcript and were left out"))
    result.summaries.append(InputSummary(
        kind="run", source=run.id, coders=[name], rows=len(suggestions), applications=len(result.codings),
        detail={"coder": run.coder, "model": run.model or "", "codebook": run.codebook_id, "level": run.level or "",
                "groundings": "all" if include_ungrounded else "grounded only (exact, normalized, fuzzy)",
                **({"left_out": f"{len(learned)} code(s) the learned model proposed during review (not the coder's "
                                "output)"} if learned else {})},
    ))
    return run, result


def reviewed_codings(project: Project, run: Run, reviewer: str | None = None) -> SpanInput:
    """What review accepted on a run, as one coder: accepted suggestions (an edit with its correction)
    and the codes reviewers added by hand on the run's transcripts (`pipeline.reviewed.accepted_codings`).

    With a reviewer, only that reviewer's decisions and added codes count (coder
    'reviewed:<name>@<run id>'); else every reviewer's latest standing decision and every
    reviewer's added codes (coder 'reviewed@<run id>'). Suggestions nobody has reviewed count as
    not accepted.
    """
    db = project.db
    name = f"reviewed:{reviewer}@{run.id}" if reviewer else f"reviewed@{run.id}"
    accepted = accepted_codings(db, run, reviewer)
    decisions = current_decisions(db, run.id, reviewer)
    if reviewer and not decisions and not accepted:
        known = run_reviewers(db, run)
        raise PrecodeError(f"reviewer '{reviewer}' has no decisions on run {run.id}",
                           hint=f"reviewers of this run: {', '.join(known) or 'none yet'}")
    current = {t.id for t in db.current_transcripts()}
    segments = {s.id: s for s in db.segments({a.suggestion.transcript_id for a in accepted} & current)}
    result = SpanInput(coverage={name: run_coverage(project, run, current)})
    stale = 0
    for a in accepted:
        s = a.suggestion
        segment = segments.get(s.segment_id)
        if segment is None:
            stale += 1
            continue
        source = f"decision {a.decision.id}" + (f" (added by hand, run {a.run.id})" if a.added_by_reviewer else "")
        if a.span_corrected:
            # an edited span may have moved: map it by overlap like any other span
            coding = SpanCoding(coder=name, code=a.code_id, transcript_id=s.transcript_id, start=a.start, end=a.end,
                                source=source)
        else:
            start, end = (a.start, a.end) if a.start is not None else (segment.start, segment.end)
            coding = SpanCoding(coder=name, code=a.code_id, transcript_id=s.transcript_id, start=start, end=end,
                                segment_id=s.segment_id, source=source)
        result.codings.append(coding)
    if stale:
        result.problems.append(Problem(source=f"run {run.id}", message=f"{stale} accepted suggestion(s) are on an "
                                       "older version of their transcript and were left out"))
    added = sum(1 for a in accepted if a.added_by_reviewer)
    result.summaries.append(InputSummary(
        kind="reviewed", source=run.id, coders=[name], rows=len(decisions) + added, applications=len(result.codings),
        detail={"reviewer": reviewer or "any (latest standing decision)",
                "counts": "accepted and edited only, and codes added by hand", "added_by_hand": str(added)},
    ))
    return result


def annotation_codings(project: Project, coders: list[str] | None = None, source: str | None = None) -> SpanInput:
    """Human codings stored in the project's `annotations` table (for example from a REFI-QDA import).

    `source` keeps only the annotations of one origin (e.g. 'qdpx:study.qdpx').
    """
    conn = project.db.conn
    known = annotation_coders(conn)
    if coders:
        missing = [c for c in coders if c not in known]
        if missing:
            raise PrecodeError(f"no annotations by coder(s) {', '.join(missing)} in this project",
                               hint=f"annotation coders: {', '.join(known) or 'none (import a .qdpx first)'}")
    elif not known:
        raise PrecodeError("this project has no annotations", hint="import human codings first: precode import FILE.qdpx")
    wanted = coders or known
    current = {t.id for t in project.db.current_transcripts()}
    rows = annotations_of(conn, wanted, source)
    result = SpanInput(coverage={c: set() for c in wanted})
    stale: dict[str, int] = {}
    for r in rows:
        if r.transcript_id not in current:
            stale[r.coder] = stale.get(r.coder, 0) + 1
            continue
        result.coverage[r.coder].add(r.transcript_id)
        if r.end > r.start:
            result.codings.append(SpanCoding(coder=r.coder, code=r.code_id, transcript_id=r.transcript_id,
                                             start=r.start, end=r.end, source=f"annotation {r.id}"))
    for coder, n in stale.items():
        result.problems.append(Problem(source="annotations", message=f"{n} annotation(s) of {coder} are on an older "
                                       "version of their transcript and were left out"))
    sources = sorted({r.source for r in rows})
    result.summaries.append(InputSummary(kind="annotations", source="project annotations", coders=list(wanted),
                                         rows=len(rows), applications=len(result.codings),
                                         detail={"sources": ", ".join(sources)}))
    return result


def qdpx_codings(project: Project, path: Path, codebook: str | None = None) -> SpanInput:
    """A REFI-QDA project as input: imported into the project (as `precode import` does), then read back.

    Each REFI user is a coder. The import is stored (one transaction), so the transcripts and
    annotations it brings stay in the project for later evaluations (`--annotations`).
    """
    from pipeline.interchange.qdpx_import import import_qdpx, import_summary

    if not path.is_file():
        raise PrecodeError("input file not found", path=str(path))
    imported = import_qdpx(project, path, codebook)
    if not imported.coders:
        raise PrecodeError("the project file holds no text codings", path=str(path),
                           hint="export the coded documents from the QDA software with their codings")
    result = annotation_codings(project, sorted(imported.coders), source=f"qdpx:{path.name}")
    summary = result.summaries[-1]
    result.summaries[-1] = summary.model_copy(update={"kind": "qdpx", "source": str(path),
                                                      "detail": {"import": import_summary(imported)}})
    result.problems += [Problem(source=path.name, message=m) for m in [*imported.skipped, *imported.warnings]]
    return result
