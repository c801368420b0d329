"""Read one suggestion with everything the review screen shows: passage, question, code, evidence."""

from __future__ import annotations

import json
import sqlite3

from pipeline.codebook import Codebook
from pipeline.models import Code, Grounding, Run
from pipeline.review.errors import NotFound
from pipeline.review.models import (
    ANYONE, CodeInfo, ContextInfo, DecisionView, Item, SegmentCode, SegmentInfo, TranscriptInfo,
)

MANUAL_CODER = "reviewer"  # the coder name of runs that hold codes reviewers added by hand


def code_info(codebook: Codebook, code: Code) -> CodeInfo:
    return CodeInfo(id=code.id, label=code.label, path=codebook.path(code.id), level=code.level, depth=code.depth,
                    definition=code.definition, include=code.include, exclude=code.exclude, examples=code.examples)


def unknown_code_info(code_id: str) -> CodeInfo:
    """A code id that is not in the codebook (it should not happen; show it rather than fail)."""
    return CodeInfo(id=code_id, label=code_id, path=code_id, level="", depth=0, definition="(not in this codebook)",
                    include=[], exclude=[], examples=[])


def lookup_code(codebook: Codebook, code_id: str) -> CodeInfo:
    code = codebook.by_id.get(code_id)
    return code_info(codebook, code) if code else unknown_code_info(code_id)


def score_kind(coder: str) -> str:
    if coder == MANUAL_CODER:
        return "manual"
    return "similarity" if coder == "similarity" else "confidence"


def transcript_info(row: sqlite3.Row) -> TranscriptInfo:
    meta = json.loads(row["metadata_json"])
    return TranscriptInfo(id=row["transcript_id"], name=row["name"], version=row["version"],
                          participant=meta.get("participant_id"), group=meta.get("group"), site=meta.get("site"))


def decision_view(row: sqlite3.Row | None, outcome: str | None = None) -> DecisionView | None:
    if row is None:
        return None
    return DecisionView(id=row["id"], action=row["action"], outcome=outcome, reviewer=row["reviewer"],
                        code_id=row["code_id"], quote_start=row["quote_start"], quote_end=row["quote_end"],
                        reason=row["reason"], note=row["note"], at=row["at"])


# The segment, its transcript and the interviewer's question, for a suggestion or a proposal.
PASSAGE_COLUMNS = (
    "g.id AS segment_id, g.idx, g.start AS seg_start, g.\"end\" AS seg_end, g.speaker, g.text AS seg_text,"
    " g.context_start, g.context_end, substr(t.text, g.context_start + 1, g.context_end - g.context_start) AS"
    " context_text, t.id AS transcript_id, t.name, t.version, t.metadata_json"
)


def passage(conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[TranscriptInfo, SegmentInfo, ContextInfo | None]:
    segment = SegmentInfo(id=row["segment_id"], index=row["idx"], start=row["seg_start"], end=row["seg_end"],
                          speaker=row["speaker"], text=row["seg_text"])
    context = None
    if row["context_start"] is not None:
        turn = conn.execute("SELECT speaker FROM turns WHERE transcript_id = ? AND start = ?",
                            (row["transcript_id"], row["context_start"])).fetchone()
        context = ContextInfo(speaker=turn["speaker"] if turn else "Interviewer", start=row["context_start"],
                              end=row["context_end"], text=row["context_text"])
    return transcript_info(row), segment, context


def standing(conn: sqlite3.Connection, reviewer: str, suggestion_id: str) -> DecisionView | None:
    """The reviewer's standing decision on a suggestion (its latest not withdrawn by an undo)."""
    row = conn.execute(
        "SELECT d.*, r.outcome FROM review_state r JOIN decisions d ON d.id = r.decision_id"
        " WHERE r.reviewer = ? AND r.suggestion_id = ?", (reviewer, suggestion_id),
    ).fetchone()
    return decision_view(row, row["outcome"]) if row else None


def scope_decision(conn: sqlite3.Connection, scope: str, suggestion_id: str) -> DecisionView | None:
    """The standing decision a reviewer scope sees: a named reviewer's, or anyone's latest ('*')."""
    if scope != ANYONE:
        return standing(conn, scope, suggestion_id)
    row = conn.execute("SELECT d.*, r.outcome FROM review_current r JOIN decisions d ON d.id = r.decision_id"
                       " WHERE r.suggestion_id = ?", (suggestion_id,)).fetchone()
    return decision_view(row, row["outcome"]) if row else None


def load_item(conn: sqlite3.Connection, suggestion_id: str, run: Run, codebook: Codebook, reviewer: str,
              manual_run_id: str | None) -> Item:
    """The review screen's content for one suggestion, as this reviewer sees it."""
    row = conn.execute(
        f"SELECT s.*, q.position, ru.coder, ru.model, {PASSAGE_COLUMNS} FROM suggestions s"
        " JOIN segments g ON g.id = s.segment_id JOIN transcripts t ON t.id = s.transcript_id"
        " JOIN runs ru ON ru.id = s.run_id LEFT JOIN review_queue q ON q.suggestion_id = s.id WHERE s.id = ?",
        (suggestion_id,),
    ).fetchone()
    if row is None or row["run_id"] not in (run.id, manual_run_id):
        raise NotFound(f"no suggestion '{suggestion_id}' in run {run.id}")
    transcript, segment, context = passage(conn, row)
    mine = standing(conn, reviewer, suggestion_id)
    effective_code = effective_start = effective_end = None
    if mine and mine.action == "edit":
        if mine.code_id and mine.code_id != row["code_id"]:
            effective_code = lookup_code(codebook, mine.code_id)
        effective_start, effective_end = mine.quote_start, mine.quote_end
    others = [
        SegmentCode(suggestion_id=r["id"], code_id=r["code_id"], label=lookup_code(codebook, r["code_id"]).label,
                    added_by_reviewer=r["run_id"] != run.id, quote_start=r["quote_start"],
                    quote_end=r["quote_end"], outcome=r["outcome"])
        for r in conn.execute(
            "SELECT s.id, s.code_id, s.run_id, s.quote_start, s.quote_end, r.outcome FROM suggestions s"
            " LEFT JOIN review_state r ON r.reviewer = ? AND r.suggestion_id = s.id"
            " WHERE s.segment_id = ? AND s.id <> ? AND (s.run_id = ? OR s.run_id = ?) ORDER BY s.score DESC",
            (reviewer, row["segment_id"], suggestion_id, run.id, manual_run_id),
        )
        # a code the reviewer added and then withdrew is gone for them
        if r["run_id"] == run.id or r["outcome"] is not None
    ]
    return Item(
        id=row["id"], run_id=row["run_id"], position=row["position"], transcript=transcript, segment=segment,
        context=context, code=lookup_code(codebook, row["code_id"]), quote=row["quote"],
        quote_start=row["quote_start"], quote_end=row["quote_end"], grounding=Grounding(row["grounding"]),
        score=row["score"], score_kind=score_kind(row["coder"]), rationale=row["rationale"] or None,
        coder=row["coder"], model=row["model"], mine=mine, effective_code=effective_code,
        effective_start=effective_start, effective_end=effective_end, others_on_segment=others,
    )
