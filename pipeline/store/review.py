"""Reads and writes of the review screens: the queue order, one suggestion with its passage, manual runs.

Rows come back as typed records; `pipeline.review` turns them into what the web page and the TUI
show. The queue order (`review_queue`, migration 0005) is built here from a run's suggestions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.store.database import Database

MANUAL_CODER = "reviewer"  # the coder name of runs that hold codes reviewers added by hand

_READING_ORDER = "t.name, t.version, g.idx, COALESCE(s.quote_start, g.start), s.code_id, s.id"

# The segment, its transcript and the interviewer's question, for a suggestion or a proposal.
_PASSAGE_COLUMNS = (
    "g.id AS segment_id, g.idx, g.start AS seg_start, g.\"end\" AS seg_end, g.speaker, g.text AS seg_text,"
    " g.context_start, g.context_end, substr(t.text, g.context_start + 1, g.context_end - g.context_start) AS"
    " context_text, t.id AS transcript_id, t.name, t.version, t.metadata_json"
)


@dataclass(frozen=True)
class PassageRow:
    """A segment with its transcript and the question before it."""

    segment_id: str
    index: int
    start: int
    end: int
    speaker: str
    text: str
    transcript_id: str
    transcript_name: str
    transcript_version: int
    metadata_json: str
    context_start: int | None
    context_end: int | None
    context_text: str | None
    context_speaker: str | None  # None: no turn starts at the context (shown as 'Interviewer')


def passage_columns() -> str:
    """The SELECT list `passage_row` reads (joins `segments g` and `transcripts t`)."""
    return _PASSAGE_COLUMNS


def passage_row(conn: sqlite3.Connection, row: sqlite3.Row) -> PassageRow:
    """The passage part of a row selected with `passage_columns()`."""
    speaker = None
    if row["context_start"] is not None:
        turn = conn.execute("SELECT speaker FROM turns WHERE transcript_id = ? AND start = ?",
                            (row["transcript_id"], row["context_start"])).fetchone()
        speaker = str(turn["speaker"]) if turn else None
    return PassageRow(
        segment_id=row["segment_id"], index=row["idx"], start=row["seg_start"], end=row["seg_end"],
        speaker=row["speaker"], text=row["seg_text"], transcript_id=row["transcript_id"], transcript_name=row["name"],
        transcript_version=row["version"], metadata_json=row["metadata_json"], context_start=row["context_start"],
        context_end=row["context_end"], context_text=row["context_text"], context_speaker=speaker,
    )


@dataclass(frozen=True)
class SuggestionRow:
    """A suggestion as the review screen needs it: with its run's coder, its queue place and its passage."""

    id: str
    run_id: str
    segment_id: str
    transcript_id: str
    code_id: str
    quote: str
    quote_start: int | None
    quote_end: int | None
    grounding: str
    score: float
    rationale: str | None
    coder: str
    model: str | None
    position: int | None
    passage: PassageRow


def suggestion_row(conn: sqlite3.Connection, suggestion_id: str) -> SuggestionRow | None:
    row = conn.execute(
        "SELECT s.id, s.run_id, s.segment_id, s.transcript_id AS s_transcript_id, s.code_id, s.quote, s.quote_start,"
        f" s.quote_end, s.grounding, s.score, s.rationale, q.position, ru.coder, ru.model, {_PASSAGE_COLUMNS}"
        " FROM suggestions s JOIN segments g ON g.id = s.segment_id JOIN transcripts t ON t.id = s.transcript_id"
        " JOIN runs ru ON ru.id = s.run_id LEFT JOIN review_queue q ON q.suggestion_id = s.id WHERE s.id = ?",
        (suggestion_id,),
    ).fetchone()
    if row is None:
        return None
    return SuggestionRow(
        id=row["id"], run_id=row["run_id"], segment_id=row["segment_id"], transcript_id=row["s_transcript_id"],
        code_id=row["code_id"], quote=row["quote"], quote_start=row["quote_start"], quote_end=row["quote_end"],
        grounding=row["grounding"], score=row["score"], rationale=row["rationale"], coder=row["coder"],
        model=row["model"], position=row["position"], passage=passage_row(conn, row),
    )


@dataclass(frozen=True)
class SegmentCodeRow:
    """A suggestion on a segment with the reviewer's outcome on it (None: no standing decision)."""

    id: str
    run_id: str
    code_id: str
    quote_start: int | None
    quote_end: int | None
    score: float
    outcome: str | None


def segment_codes(conn: sqlite3.Connection, segment_id: str, run_ids: Sequence[str | None],
                  reviewer: str) -> list[SegmentCodeRow]:
    """The suggestions of these runs on a segment, highest score first, with `reviewer`'s outcome."""
    ids = [r for r in run_ids if r is not None]
    if not ids:
        return []
    return [SegmentCodeRow(id=r["id"], run_id=r["run_id"], code_id=r["code_id"], quote_start=r["quote_start"],
                           quote_end=r["quote_end"], score=r["score"], outcome=r["outcome"])
            for r in conn.execute(
                "SELECT s.id, s.code_id, s.run_id, s.quote_start, s.quote_end, s.score, r.outcome FROM suggestions s"
                " LEFT JOIN review_state r ON r.reviewer = ? AND r.suggestion_id = s.id"
                f" WHERE s.segment_id = ? AND s.run_id IN ({','.join('?' * len(ids))}) ORDER BY s.score DESC, s.id",
                (reviewer, segment_id, *ids))]


@dataclass(frozen=True)
class SegmentRow:
    id: str
    transcript_id: str
    index: int
    start: int
    end: int
    text: str


def segment(conn: sqlite3.Connection, segment_id: str) -> SegmentRow | None:
    row = conn.execute('SELECT id, transcript_id, idx, start, "end", text FROM segments WHERE id = ?',
                       (segment_id,)).fetchone()
    if row is None:
        return None
    return SegmentRow(id=row["id"], transcript_id=row["transcript_id"], index=row["idx"], start=row["start"],
                      end=row["end"], text=row["text"])


def passage_of_segment(conn: sqlite3.Connection, segment_id: str) -> PassageRow | None:
    row = conn.execute(
        f"SELECT {_PASSAGE_COLUMNS} FROM segments g JOIN transcripts t ON t.id = g.transcript_id WHERE g.id = ?",
        (segment_id,)).fetchone()
    return passage_row(conn, row) if row else None


def participant_segments(conn: sqlite3.Connection, transcript_ids: Sequence[str]) -> list[SegmentRow]:
    """The participant segments of these transcripts, in reading order (transcript name, version, index)."""
    if not transcript_ids:
        return []
    return [SegmentRow(id=r["id"], transcript_id=r["transcript_id"], index=r["idx"], start=r["start"], end=r["end"],
                       text=r["text"])
            for r in conn.execute(
                'SELECT g.id, g.transcript_id, g.idx, g.start, g."end", g.text FROM segments g'
                " JOIN transcripts t ON t.id = g.transcript_id"
                f" WHERE g.role = 'participant' AND g.transcript_id IN ({','.join('?' * len(transcript_ids))})"
                " ORDER BY t.name, t.version, g.idx", tuple(transcript_ids))]


def suggestion_exists(conn: sqlite3.Connection, suggestion_id: str) -> bool:
    return conn.execute("SELECT 1 FROM suggestions WHERE id = ?", (suggestion_id,)).fetchone() is not None


def suggested_on_segment(conn: sqlite3.Connection, run_id: str, segment_id: str, code_id: str) -> bool:
    """Whether the run suggested this code on this segment."""
    return conn.execute("SELECT 1 FROM suggestions WHERE run_id = ? AND segment_id = ? AND code_id = ?",
                        (run_id, segment_id, code_id)).fetchone() is not None


@dataclass(frozen=True)
class TranscriptRow:
    id: str
    name: str
    version: int


def transcripts(conn: sqlite3.Connection, ids: Sequence[str]) -> list[TranscriptRow]:
    """These transcript versions, by name and version."""
    if not ids:
        return []
    return [TranscriptRow(id=r["id"], name=r["name"], version=r["version"]) for r in conn.execute(
        f"SELECT id, name, version FROM transcripts WHERE id IN ({','.join('?' * len(ids))}) ORDER BY name, version",
        tuple(ids))]


def run_transcript_ids(conn: sqlite3.Connection, run_id: str) -> set[str]:
    """The transcript versions a run made suggestions on."""
    return {str(r[0]) for r in conn.execute("SELECT DISTINCT transcript_id FROM suggestions WHERE run_id = ?",
                                            (run_id,))}


# -- manual runs (codes reviewers added by hand) ---------------------------------------------------
def manual_run_ids(conn: sqlite3.Connection, codebook_hash: str, exclude: str | None = None) -> list[str]:
    """The reviewers' manual runs with this codebook, oldest first."""
    return [str(r[0]) for r in conn.execute(
        "SELECT id FROM runs WHERE coder = ? AND codebook_hash = ? AND id IS NOT ? ORDER BY started_at, rowid",
        (MANUAL_CODER, codebook_hash, exclude))]


def manual_run_reviewers(conn: sqlite3.Connection, codebook_hash: str) -> list[tuple[str, str]]:
    """(run id, reviewer) of every manual run with this codebook."""
    return [(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT id, model FROM runs WHERE coder = ? AND codebook_hash = ?", (MANUAL_CODER, codebook_hash))]


def open_manual_run(conn: sqlite3.Connection, reviewer: str, codebook_hash: str) -> str | None:
    """The reviewer's (running) manual run for this codebook, if there is one."""
    row = conn.execute(
        "SELECT id FROM runs WHERE coder = ? AND model = ? AND codebook_hash = ? AND status = 'running'"
        " ORDER BY started_at, rowid LIMIT 1", (MANUAL_CODER, reviewer, codebook_hash),
    ).fetchone()
    return str(row[0]) if row else None


# -- the queue order ------------------------------------------------------------------------------
def ensure_queue(db: Database, run_id: str) -> int:
    """Build (or rebuild) the run's queue order if it is missing or stale; return its size."""
    wanted = int(db.conn.execute("SELECT COUNT(*) FROM suggestions WHERE run_id = ?", (run_id,)).fetchone()[0])
    have = int(db.conn.execute("SELECT COUNT(*) FROM review_queue WHERE run_id = ?", (run_id,)).fetchone()[0])
    if wanted == have:
        return have
    with db.transaction() as conn:
        conn.execute("DELETE FROM review_queue WHERE run_id = ?", (run_id,))
        conn.execute(
            "INSERT INTO review_queue (run_id, position, suggestion_id, uncertainty_rank, transcript_id, code_id,"
            " score, grounding)"
            f" SELECT s.run_id, ROW_NUMBER() OVER (ORDER BY {_READING_ORDER}), s.id,"
            # uncertainty: the lowest score first; a learned run's score is a probability, so closest to 0.5 first
            f" ROW_NUMBER() OVER (ORDER BY CASE WHEN r.coder = 'learned' THEN ABS(s.score - 0.5) ELSE s.score END,"
            f" {_READING_ORDER}), s.transcript_id, s.code_id, s.score, s.grounding"
            " FROM suggestions s JOIN segments g ON g.id = s.segment_id JOIN transcripts t ON t.id = s.transcript_id"
            " JOIN runs r ON r.id = s.run_id WHERE s.run_id = ?",
            (run_id,),
        )
    return wanted


@dataclass(frozen=True)
class QueueRows:
    """A run's queue, column by column, in reading order."""

    suggestion_ids: list[str]
    uncertainty_ranks: list[int]
    transcript_ids: list[str]
    code_ids: list[str]
    scores: list[float]
    groundings: list[str]


def queue_rows(conn: sqlite3.Connection, run_id: str) -> QueueRows:
    rows = conn.execute(
        "SELECT suggestion_id, uncertainty_rank, transcript_id, code_id, score, grounding FROM review_queue"
        " WHERE run_id = ? ORDER BY position", (run_id,),
    ).fetchall()
    return QueueRows(suggestion_ids=[r[0] for r in rows], uncertainty_ranks=[r[1] for r in rows],
                     transcript_ids=[r[2] for r in rows], code_ids=[r[3] for r in rows], scores=[r[4] for r in rows],
                     groundings=[r[5] for r in rows])


def queue_segment_ids(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The segment of each suggestion in the run's queue, in queue order (for the passage walk)."""
    return [str(r[0]) for r in conn.execute(
        "SELECT s.segment_id FROM review_queue q JOIN suggestions s ON s.id = q.suggestion_id WHERE q.run_id = ?"
        " ORDER BY q.position", (run_id,))]


@dataclass(frozen=True)
class SuggestionSpan:
    """What checking a decision needs: the suggestion's run, code and span, and its segment's bounds and text."""

    id: str
    run_id: str
    transcript_id: str
    code_id: str
    quote_start: int | None
    quote_end: int | None
    seg_start: int
    seg_end: int
    seg_text: str


def suggestion_span(conn: sqlite3.Connection, suggestion_id: str) -> SuggestionSpan | None:
    row = conn.execute(
        "SELECT s.id, s.run_id, s.transcript_id, s.code_id, s.quote_start, s.quote_end, g.start, g.\"end\", g.text"
        " FROM suggestions s JOIN segments g ON g.id = s.segment_id WHERE s.id = ?", (suggestion_id,),
    ).fetchone()
    if row is None:
        return None
    return SuggestionSpan(id=row[0], run_id=row[1], transcript_id=row[2], code_id=row[3], quote_start=row[4],
                          quote_end=row[5], seg_start=row[6], seg_end=row[7], seg_text=row[8])


def durable_writes(db: Database) -> None:
    """synchronous=FULL: a decision survives a power cut too (WAL + NORMAL survives a killed process)."""
    db.conn.execute("PRAGMA synchronous=FULL")


# -- team review: claims and adjudications (migration 0009) ------------------------------------------
@dataclass(frozen=True)
class Claim:
    run_id: str
    transcript_id: str
    reviewer: str
    claimed_at: datetime


def claims(conn: sqlite3.Connection, run_id: str) -> list[Claim]:
    """Who holds which transcript of the run, oldest claim first."""
    return [Claim(run_id=r["run_id"], transcript_id=r["transcript_id"], reviewer=r["reviewer"],
                  claimed_at=datetime.fromisoformat(r["claimed_at"]))
            for r in conn.execute("SELECT run_id, transcript_id, reviewer, claimed_at FROM review_claims"
                                  " WHERE run_id = ? ORDER BY claimed_at, transcript_id", (run_id,))]


def claim_holder(conn: sqlite3.Connection, run_id: str, transcript_id: str) -> str | None:
    row = conn.execute("SELECT reviewer FROM review_claims WHERE run_id = ? AND transcript_id = ?",
                       (run_id, transcript_id)).fetchone()
    return str(row[0]) if row else None


def add_claim(conn: sqlite3.Connection, claim: Claim) -> None:
    conn.execute("INSERT INTO review_claims (run_id, transcript_id, reviewer, claimed_at) VALUES (?,?,?,?)",
                 (claim.run_id, claim.transcript_id, claim.reviewer, claim.claimed_at.isoformat()))


def remove_claim(conn: sqlite3.Connection, run_id: str, transcript_id: str) -> None:
    conn.execute("DELETE FROM review_claims WHERE run_id = ? AND transcript_id = ?", (run_id, transcript_id))


@dataclass(frozen=True)
class Adjudication:
    suggestion_id: str
    adjudicator: str
    decision_id: int
    first_reviewer: str
    first_decision_id: int
    second_reviewer: str
    second_decision_id: int
    at: datetime
    id: int | None = None


def record_adjudication(conn: sqlite3.Connection, a: Adjudication) -> int:
    cursor = conn.execute(
        "INSERT INTO adjudications (suggestion_id, adjudicator, decision_id, first_reviewer, first_decision_id,"
        " second_reviewer, second_decision_id, at) VALUES (?,?,?,?,?,?,?,?)",
        (a.suggestion_id, a.adjudicator, a.decision_id, a.first_reviewer, a.first_decision_id, a.second_reviewer,
         a.second_decision_id, a.at.isoformat()),
    )
    return int(cursor.lastrowid or 0)


def adjudications(conn: sqlite3.Connection, suggestion_ids: Sequence[str]) -> dict[str, Adjudication]:
    """suggestion id → its latest adjudication, for those that have one."""
    found: dict[str, Adjudication] = {}
    for start in range(0, len(suggestion_ids), 500):
        chunk = suggestion_ids[start:start + 500]
        for r in conn.execute(
            "SELECT id, suggestion_id, adjudicator, decision_id, first_reviewer, first_decision_id, second_reviewer,"
            f" second_decision_id, at FROM adjudications WHERE suggestion_id IN ({','.join('?' * len(chunk))})"
            " ORDER BY id", tuple(chunk),
        ):
            found[r["suggestion_id"]] = Adjudication(
                id=r["id"], suggestion_id=r["suggestion_id"], adjudicator=r["adjudicator"],
                decision_id=r["decision_id"], first_reviewer=r["first_reviewer"],
                first_decision_id=r["first_decision_id"], second_reviewer=r["second_reviewer"],
                second_decision_id=r["second_decision_id"], at=datetime.fromisoformat(r["at"]))
    return found


def both_decided(conn: sqlite3.Connection, run_id: str, first: str, second: str) -> list[tuple[str, int, int]]:
    """(suggestion id, first's decision id, second's decision id) where both reviewers have a standing decision."""
    return [(str(r[0]), int(r[1]), int(r[2])) for r in conn.execute(
        "SELECT a.suggestion_id, a.decision_id, b.decision_id FROM review_state a"
        " JOIN review_state b ON b.suggestion_id = a.suggestion_id AND b.reviewer = ?"
        " JOIN review_queue q ON q.suggestion_id = a.suggestion_id"
        " WHERE a.reviewer = ? AND q.run_id = ? ORDER BY q.position", (second, first, run_id))]


def suggested_pairs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(segment id, code id) of every suggestion of these runs (proposals are never made twice)."""
    ids = list(run_ids)
    if not ids:
        return set()
    return {(str(r[0]), str(r[1])) for r in conn.execute(
        f"SELECT segment_id, code_id FROM suggestions WHERE run_id IN ({','.join('?' * len(ids))})", ids)}
