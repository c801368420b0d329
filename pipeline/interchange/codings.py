"""Which codings leave the project for QDA software and spreadsheets: reviewed ones, or every grounded one.

By default a coding is an accepted coding of the run as `pipeline.reviewed.accepted_codings`
gives it: a suggestion whose current review decision accepts it (accept, or edit with the
reviewer's corrected code and quote span), and the codes reviewers added by hand on the run's
transcripts (their manual runs). With `include_all`, every other suggestion of the run whose
quote was located in the transcript goes out as well; those are attributed to the machine coder
and carry their decision (rejected, or none) along.

`coding_rows` turns the codings into the one table that the XLSX and the accepted-codings
CSV/JSONL exports write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from pipeline.codebook import Codebook
from pipeline.decisions import Decision, current_decisions
from pipeline.errors import PrecodeError
from pipeline.models import Run, Suggestion, Transcript
from pipeline.project import Project
from pipeline.reviewed import accepted_codings, is_manual_run, manual_runs, run_reviewers, run_transcript_ids
from pipeline.store.exports import run_suggestions_of, transcript_names
from pipeline.store.llm import evidence_notes

_Chosen = tuple[Suggestion, Run, Decision | None, str, int | None, int | None]

CODING_COLUMNS = [
    "transcript", "transcript_version", "participant", "group", "site", "code_id", "code_label", "code_path",
    "quote", "quote_start", "quote_end", "reviewer", "decision", "decision_time_utc", "note", "suggested_code_id",
    "score", "grounding", "evidence", "coder", "model", "run_id", "suggestion_id",
]


class ExportCoding(BaseModel):
    """One coding as it goes out: a span of a transcript, a code, who stands behind it, and its provenance."""

    suggestion: Suggestion
    run: Run                # the run the suggestion belongs to: the exported run, or a reviewer's manual run
    decision: Decision | None = None
    code_id: str            # the reviewer's corrected code for an edit, else the suggested one
    start: int
    end: int
    quote: str              # transcript.text[start:end]

    @property
    def reviewer(self) -> str | None:
        """Who accepted it; None for a machine suggestion nobody accepted."""
        return self.decision.reviewer if self.decision is not None and self.decision.accepted else None

    @property
    def decided_at(self) -> datetime | None:
        return self.decision.at if self.decision is not None else None

    @property
    def added_by_reviewer(self) -> bool:
        """A code a reviewer added by hand, not a machine suggestion."""
        return is_manual_run(self.run)


class CodingSet(BaseModel):
    run: Run
    codebook: Codebook
    transcripts: dict[str, Transcript]   # every transcript the codings point at
    codings: list[ExportCoding]
    include_all: bool
    manual_runs: list[Run] = []          # reviewers' runs of hand-added codes that contributed codings
    evidence: dict[str, str] = {}        # suggestion id -> why the model's quote is no evidence (elided, too short)

    @property
    def added_by_reviewers(self) -> int:
        return sum(1 for c in self.codings if c.added_by_reviewer)


def _run_and_codebook(project: Project, run_id: str | None, reviewer: str | None) -> tuple[Run, Codebook]:
    """The run whose codings are wanted and its codebook; a reviewer with no decision on it is an error."""
    run = project.db.run(run_id)
    if reviewer is not None and reviewer not in (names := run_reviewers(project.db, run)):
        raise PrecodeError(f"reviewer '{reviewer}' has no decision in run {run.id}",
                           hint=f"reviewers of this run: {', '.join(names)}" if names else "review the run first")
    return run, project.db.codebook(run.codebook_hash)


def select_codings(project: Project, run_id: str | None = None, include_all: bool = False,
                   reviewer: str | None = None) -> CodingSet:
    """The codings of a run (default: the latest completed run), in transcript and text order.

    With `reviewer`, only that reviewer's decisions count (and only the codes they added), so two
    reviewers' codings can be exported side by side instead of collapsing to whoever decided last.
    """
    db = project.db
    run, codebook = _run_and_codebook(project, run_id, reviewer)
    chosen: list[_Chosen] = [
        (a.suggestion, a.run, a.decision, a.code_id, a.start, a.end) for a in accepted_codings(db, run, reviewer)
    ]
    if include_all:
        taken = {c[0].id for c in chosen}
        decisions = current_decisions(db, run.id, reviewer)
        chosen += [(s, run, decisions.get(s.id), s.code_id, s.quote_start, s.quote_end)
                   for s in db.suggestions(run.id) if s.id not in taken]
    transcript_ids = run_transcript_ids(db, run.id) | {c[0].transcript_id for c in chosen}
    transcripts = {tid: db.transcript(tid) for tid in sorted(transcript_ids)}
    codings = _codings(chosen, transcripts)
    used = {c.run.id for c in codings if c.added_by_reviewer}
    return CodingSet(run=run, codebook=codebook, transcripts=transcripts, codings=codings, include_all=include_all,
                     manual_runs=[r for r in manual_runs(db, run) if r.id in used],
                     evidence=evidence_notes(db.conn, (c.suggestion.id for c in codings)))


def _codings(chosen: list[_Chosen], transcripts: dict[str, Transcript]) -> list[ExportCoding]:
    """The chosen codings with their quote cut from the text, in transcript name and text order."""
    codings = []
    for s, owner, decision, code_id, start, end in chosen:
        if start is None or end is None:
            continue  # an ungrounded quote has no place in the text; the CSV/JSONL export carries those
        text = transcripts[s.transcript_id].text
        if not 0 <= start < end <= len(text):
            raise PrecodeError(f"suggestion {s.id}: the span {start}–{end} lies outside transcript "
                               f"'{transcripts[s.transcript_id].name}' ({len(text)} characters)",
                               hint="record a corrected decision for it, then export again")
        codings.append(ExportCoding(suggestion=s, run=owner, decision=decision, code_id=code_id, start=start,
                                    end=end, quote=text[start:end]))
    codings.sort(key=lambda c: (transcripts[c.suggestion.transcript_id].name, c.start, c.end, c.code_id,
                                c.suggestion.id))
    return codings


def coding_rows(codings: CodingSet) -> list[dict[str, Any]]:
    """One row per coding, keyed by CODING_COLUMNS (the XLSX sheet and the accepted-codings CSV/JSONL).

    `decision_time_utc` is a naive UTC datetime (None without a decision). A code added by hand has
    coder 'reviewer', the reviewer as model, its manual run's id, and no suggested code or score.
    """
    return list(iter_coding_rows(codings))


def iter_coding_rows(codings: CodingSet) -> Iterator[dict[str, Any]]:
    """`coding_rows` one at a time, for writers that stream (the exports never hold the rows as well)."""
    for c in codings.codings:
        yield _row(c, codings.transcripts[c.suggestion.transcript_id], codings.codebook, codings.evidence)


def _row(c: ExportCoding, t: Transcript, book: Codebook, evidence: dict[str, str]) -> dict[str, Any]:
    code = book.by_id.get(c.code_id)
    decided = c.decided_at.astimezone(UTC).replace(tzinfo=None) if c.decided_at else None
    manual = c.added_by_reviewer
    return {
        "transcript": t.name, "transcript_version": t.version, "participant": t.metadata.participant_id or "",
        "group": t.metadata.group or "", "site": t.metadata.site or "", "code_id": c.code_id,
        "code_label": code.label if code else "", "code_path": book.path(c.code_id) if code else "",
        "quote": c.quote, "quote_start": c.start, "quote_end": c.end, "reviewer": c.reviewer or "",
        "decision": c.decision.action.value if c.decision else "", "decision_time_utc": decided,
        "note": (c.decision.note or "") if c.decision else "",
        "suggested_code_id": "" if manual else c.suggestion.code_id,
        "score": None if manual else c.suggestion.score, "grounding": c.suggestion.grounding.value,
        "evidence": evidence.get(c.suggestion.id, ""), "coder": c.run.coder, "model": c.run.model or "",
        "run_id": c.run.id, "suggestion_id": c.suggestion.id,
    }


def stream_coding_rows(project: Project, run_id: str | None = None, include_all: bool = False,
                       reviewer: str | None = None) -> Iterator[dict[str, Any]]:
    """`coding_rows(select_codings(...))`, the same rows in the same order, one transcript name at a time.

    The accepted codings and the standing decisions (as many as people made) are read whole; the
    run's other suggestions (`include_all`), the transcript texts and the evidence notes are read
    for one transcript name (its versions) at a time, so memory follows the largest transcript,
    not the run. Rows sort by transcript name first, so name by name gives the global order.
    """
    db = project.db
    run, codebook = _run_and_codebook(project, run_id, reviewer)
    accepted: dict[str, list[_Chosen]] = {}
    for a in accepted_codings(db, run, reviewer):
        accepted.setdefault(a.suggestion.transcript_id, []).append(
            (a.suggestion, a.run, a.decision, a.code_id, a.start, a.end))
    taken = {c[0].id for chosen in accepted.values() for c in chosen}
    decisions = current_decisions(db, run.id, reviewer) if include_all else {}
    by_name: dict[str, list[str]] = {}
    for tid, name in transcript_names(db.conn, run_transcript_ids(db, run.id) | set(accepted)).items():
        by_name.setdefault(name, []).append(tid)
    for name in sorted(by_name):
        chosen = [c for tid in by_name[name] for c in accepted.get(tid, [])]
        if include_all:
            chosen += [(s, run, decisions.get(s.id), s.code_id, s.quote_start, s.quote_end)
                       for s in run_suggestions_of(db.conn, run.id, by_name[name]) if s.id not in taken]
        # one name's codings, texts and notes live only inside this call: never two names' at once
        yield from _name_rows(project, sorted(by_name[name]), chosen, codebook)
        del chosen


def _name_rows(project: Project, ids: list[str], chosen: list[_Chosen], codebook: Codebook) -> Iterator[dict[str, Any]]:
    transcripts = {tid: project.db.transcript(tid) for tid in ids}
    codings = _codings(chosen, transcripts)
    chosen.clear()
    evidence = evidence_notes(project.db.conn, (c.suggestion.id for c in codings))
    for c in codings:
        yield _row(c, transcripts[c.suggestion.transcript_id], codebook, evidence)
