"""Who interviews and who is interviewed: speaker roles inferred at ingest, with the evidence.

In order, for each transcript:
1. a role the user set by hand on an earlier version of the same transcript is kept;
2. a speaker whose label is in `[ingest] interviewer_labels` ("Interviewer", "I", "Moderator" …) or
   whose name is in `[ingest] interviewer_names` is an interviewer;
3. otherwise, with two or more speakers (and `[ingest] infer_interviewer` on), the speaker who asked
   most of the questions while speaking least is the interviewer (real Teams/Zoom exports carry
   names such as "Maria Gonzalez", never "Interviewer");
4. when no speaker clearly asked the questions, the first speaker (who is not labelled like a
   participant id, e.g. P01) is the interviewer, and the evidence says the guess is weak.
Every other speaker is a participant. A focus group works the same way: one moderator, several
participants. `precode speakers` lists the result; `precode speakers set` corrects it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import PrecodeError
from pipeline.models import SegmentRole, Turn
from pipeline.project import Project
from pipeline.segment import rederive_roles
from pipeline.settings import IngestSettings
from pipeline.store.transcripts import SpeakerRecord, roles_by_speaker, speaker_key

_PARTICIPANT_LIKE = re.compile(r"^(?:[a-z]{1,4}[ _-]?\d{1,3}|[rbp]|resp|participant\b.*|respondent\b.*|interviewee\b.*|"
                               r"deltagare\b.*|osallistuja\b.*|teilnehmer\w*\b.*|unknown|speaker ?\d+)$")
_MIN_QUESTION_SHARE = 0.5
_MIN_MARGIN = 0.2  # question share minus word share


@dataclass
class _Stats:
    speaker: str
    first: int
    turns: int = 0
    questions: int = 0
    words: int = 0


def _stats(text: str, turns: list[Turn]) -> list[_Stats]:
    found: dict[str, _Stats] = {}
    for i, turn in enumerate(turns):
        s = found.setdefault(turn.speaker, _Stats(turn.speaker, i))
        body = text[turn.start:turn.end]
        s.turns += 1
        s.questions += 1 if ("?" in body or "¿" in body) else 0
        s.words += len(body.split())
    return sorted(found.values(), key=lambda s: s.first)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def infer_roles(text: str, turns: list[Turn], settings: IngestSettings,
                previous: Mapping[str, SpeakerRecord] | None = None) -> list[SpeakerRecord]:
    """One record per speaker (in order of first appearance) with its role, source and evidence."""
    stats = _stats(text, turns)
    total_q = sum(s.questions for s in stats)
    total_w = sum(s.words for s in stats) or 1
    labels = {speaker_key(x) for x in settings.interviewer_labels}
    names = {speaker_key(x) for x in settings.interviewer_names}
    previous = previous or {}

    def record(s: _Stats, role: SegmentRole, source: str, evidence: str) -> SpeakerRecord:
        return SpeakerRecord(s.speaker, role, source, evidence, s.turns, s.questions, s.words)

    def counts(s: _Stats) -> str:
        return f"asked {s.questions} of {total_q} questions, spoke {_pct(s.words, total_w)} of the words"

    fixed: dict[str, SpeakerRecord] = {}
    for s in stats:
        key = speaker_key(s.speaker)
        if key in previous:
            fixed[s.speaker] = record(s, previous[key].role, "user", "set with 'precode speakers set' on an earlier version")
        elif key in labels or key.startswith("interviewer"):
            fixed[s.speaker] = record(s, SegmentRole.interviewer, "label", "an interviewer label ([ingest] interviewer_labels)")
        elif key in names:
            fixed[s.speaker] = record(s, SegmentRole.interviewer, "name", "in [ingest] interviewer_names")
    if any(r.role is SegmentRole.interviewer for r in fixed.values()) or len(stats) < 2 or not settings.infer_interviewer:
        why = ("the only speaker" if len(stats) < 2 else
               "not an interviewer label or name" if any(r.role is SegmentRole.interviewer for r in fixed.values())
               else "no interviewer label or name matched ([ingest] infer_interviewer is off)")
        return [fixed.get(s.speaker) or record(s, SegmentRole.participant, "default", why) for s in stats]

    open_ = [s for s in stats if s.speaker not in fixed]
    interviewer: _Stats | None = None
    source, evidence = "inferred", ""
    if total_q:
        best = max(open_, key=lambda s: (s.questions / total_q - s.words / total_w, -s.first))
        share = best.questions / total_q
        if share >= _MIN_QUESTION_SHARE and share - best.words / total_w >= _MIN_MARGIN:
            interviewer = best
            evidence = "asks most, speaks least: " + counts(best)
    if interviewer is None:
        candidates = [s for s in open_ if not _PARTICIPANT_LIKE.match(speaker_key(s.speaker))] or open_
        interviewer = candidates[0]
        source = "first"
        evidence = (f"spoke first; no speaker asked most of the questions ({counts(interviewer)}) — "
                    "a weak guess: check it with 'precode speakers'")
    out = []
    for s in stats:
        if s.speaker in fixed:
            out.append(fixed[s.speaker])
        elif s is interviewer:
            out.append(record(s, SegmentRole.interviewer, source, evidence))
        else:
            out.append(record(s, SegmentRole.participant, "inferred", counts(s)))
    return out


def describe(name: str, records: list[SpeakerRecord]) -> str:
    """One line for the ingest report: who was taken as interviewer, and why."""
    interviewers = [r for r in records if r.role is SegmentRole.interviewer]
    participants = [r.speaker for r in records if r.role is SegmentRole.participant]
    if not interviewers:
        return f"no interviewer: all {len(participants)} speaker(s) coded as participants"
    who = "; ".join(f"interviewer '{r.speaker}' ({r.evidence})" for r in interviewers)
    others = ", ".join(f"'{p}'" for p in participants[:6]) + (" …" if len(participants) > 6 else "")
    return f"{who}; participants: {others or 'none'}"


@dataclass
class RoleChange:
    transcript: str
    speaker: str
    old: SegmentRole
    new: SegmentRole
    segments_changed: int
    stale_runs: list[str]


def set_speaker_role(project: Project, speaker: str, role: SegmentRole,
                     transcript_names: list[str] | None = None) -> list[RoleChange]:
    """Give `speaker` (case-insensitive) `role` in the current transcripts (or only those named).

    Each affected transcript's segments get their roles and context questions re-derived from the
    stored turns (no file is read again; segment ids and thus codes and decisions stay); the runs
    that coded it are marked stale. Other transcripts are not touched.
    """
    db = project.db
    transcripts = db.resolve_transcript_names(transcript_names) if transcript_names else db.current_transcripts()
    key = speaker_key(speaker)
    changes: list[RoleChange] = []
    matched = False
    with db.transaction() as conn:
        for transcript in transcripts:
            records = db.speakers(transcript.id)
            hit = next((r for r in records if speaker_key(r.speaker) == key), None)
            if hit is None:
                continue
            matched = True
            old = hit.role
            hit.role, hit.source, hit.evidence = role, "user", "set with 'precode speakers set'"
            db.set_speaker_roles(conn, transcript.id, [hit])
            if old is role:
                continue
            updates = rederive_roles(transcript.turns, db.segments([transcript.id]), roles_by_speaker(records))
            n = db.update_segment_roles(conn, updates)
            stale = db.mark_runs_stale(conn, transcript.id, f"'{hit.speaker}' changed from {old.value} to {role.value}")
            changes.append(RoleChange(transcript.name, hit.speaker, old, role, n, stale))
    if not matched:
        known = sorted({r.speaker for t in transcripts for r in db.speakers(t.id)}, key=str.casefold)
        raise PrecodeError(f"no speaker '{speaker}' in " + ("these transcripts" if transcript_names else "this project"),
                           hint="speakers: " + ", ".join(known[:12]) + (" …" if len(known) > 12 else ""))
    return changes


def refresh_roles(project: Project, transcript_id: str) -> str:
    """Re-infer an unchanged transcript's roles under the current settings (roles set by hand stay).

    Returns a note for the ingest report when a role changed ('' when nothing did): the segments are
    re-derived in place and the runs that coded the transcript are marked stale, as with
    'precode speakers set'.
    """
    db = project.db
    transcript = db.transcript(transcript_id)
    stored = db.speakers(transcript_id)
    by_key = {speaker_key(r.speaker): r for r in stored if r.source == "user"}
    fresh = infer_roles(transcript.text, transcript.turns, project.settings.ingest, by_key)
    old_roles = roles_by_speaker(stored)
    changed = [r for r in fresh if old_roles.get(r.speaker) is not r.role]
    if not changed:
        return ""
    with db.transaction() as conn:
        db.set_speaker_roles(conn, transcript_id, fresh)
        db.update_segment_roles(conn, rederive_roles(transcript.turns, db.segments([transcript_id]), roles_by_speaker(fresh)))
        reason = "roles re-derived from the settings: " + ", ".join(f"'{r.speaker}' is now {r.role.value}" for r in changed)
        stale = db.mark_runs_stale(conn, transcript_id, reason)
    return reason + (f"; run(s) now stale: {', '.join(stale)}" if stale else "")
