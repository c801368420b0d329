"""Read one suggestion with everything the review screen shows: passage, question, code, evidence."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pipeline.codebook import Codebook
from pipeline.models import Code, Grounding, Run
from pipeline.review.errors import NotFound
from pipeline.review.models import (
    CodeInfo,
    ContextInfo,
    DecisionView,
    Item,
    LearnedProvenance,
    SegmentCode,
    SegmentInfo,
    TranscriptInfo,
)
from pipeline.store import decisions as decision_store
from pipeline.store import proposals as proposal_store
from pipeline.store import review as review_store
from pipeline.store.decisions import StandingDecision
from pipeline.store.llm import evidence_notes
from pipeline.store.review import MANUAL_CODER, PassageRow

__all__ = ["MANUAL_CODER", "code_info", "decision_view", "load_item", "lookup_code", "passage", "scope_decision",
           "score_kind", "standing", "unknown_code_info"]


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


def score_kind(coder: str, params: dict[str, Any] | None = None) -> str:
    """What a run's scores are, for the reviewer: a cosine similarity, the similarity coder's calibrated
    share among the codes ('relative': ranks codes, not the chance the code is right), or a confidence."""
    if coder == MANUAL_CODER:
        return "manual"
    if coder != "similarity":
        return "confidence"
    params = params or {}
    calibrated = params.get("rule") == "calibrated" and "fallback" not in params.get("calibration", {})
    return "relative" if calibrated else "similarity"


def transcript_info(p: PassageRow) -> TranscriptInfo:
    meta = json.loads(p.metadata_json)
    return TranscriptInfo(id=p.transcript_id, name=p.transcript_name, version=p.transcript_version,
                          participant=meta.get("participant_id"), group=meta.get("group"), site=meta.get("site"))


def decision_view(found: StandingDecision | None) -> DecisionView | None:
    if found is None:
        return None
    d = found.decision
    assert d.id is not None
    return DecisionView(id=d.id, action=d.action.value, outcome=found.outcome, reviewer=d.reviewer, code_id=d.code_id,
                        quote_start=d.quote_start, quote_end=d.quote_end, reason=d.reason, note=d.note, at=d.at)


def passage(p: PassageRow) -> tuple[TranscriptInfo, SegmentInfo, ContextInfo | None]:
    segment = SegmentInfo(id=p.segment_id, index=p.index, start=p.start, end=p.end, speaker=p.speaker, text=p.text)
    context = None
    if p.context_start is not None and p.context_end is not None:
        context = ContextInfo(speaker=p.context_speaker or "Interviewer", start=p.context_start, end=p.context_end,
                              text=p.context_text or "")
    return transcript_info(p), segment, context


def standing(conn: sqlite3.Connection, reviewer: str, suggestion_id: str) -> DecisionView | None:
    """The reviewer's standing decision on a suggestion (its latest not withdrawn by an undo)."""
    return decision_view(decision_store.standing_decision(conn, reviewer, suggestion_id))


def scope_decision(conn: sqlite3.Connection, scope: str, suggestion_id: str) -> DecisionView | None:
    """The standing decision a reviewer scope sees: a named reviewer's, or anyone's latest ('*')."""
    return decision_view(decision_store.scope_decision(conn, scope, suggestion_id))


def segment_codes(conn: sqlite3.Connection, segment_id: str, run: Run, codebook: Codebook, reviewer: str,
                  manual_run_id: str | None, exclude: str | None = None) -> list[SegmentCode]:
    """The codes on a segment as this reviewer sees them: the run's suggestions and the codes they added."""
    return [
        SegmentCode(suggestion_id=r.id, code_id=r.code_id, label=lookup_code(codebook, r.code_id).label,
                    added_by_reviewer=r.run_id != run.id, quote_start=r.quote_start, quote_end=r.quote_end,
                    outcome=r.outcome)
        for r in review_store.segment_codes(conn, segment_id, [run.id, manual_run_id], reviewer)
        # a code the reviewer added and then withdrew is gone for them
        if r.id != exclude and (r.run_id == run.id or r.outcome is not None)
    ]


def load_item(conn: sqlite3.Connection, suggestion_id: str, run: Run, codebook: Codebook, reviewer: str,
              manual_run_id: str | None) -> Item:
    """The review screen's content for one suggestion, as this reviewer sees it."""
    row = review_store.suggestion_row(conn, suggestion_id)
    if row is None or row.run_id not in (run.id, manual_run_id):
        raise NotFound(f"no suggestion '{suggestion_id}' in run {run.id}")
    transcript, segment, context = passage(row.passage)
    mine = standing(conn, reviewer, suggestion_id)
    effective_code = effective_start = effective_end = None
    if mine and mine.action == "edit":
        if mine.code_id and mine.code_id != row.code_id:
            effective_code = lookup_code(codebook, mine.code_id)
        effective_start, effective_end = mine.quote_start, mine.quote_end
    others = segment_codes(conn, row.segment_id, run, codebook, reviewer, manual_run_id, exclude=suggestion_id)
    learned = proposal_store.learned_proposals(conn, [row.id]).get(row.id)
    proposed_by = None if learned is None else LearnedProvenance(
        model=learned.model, reviewer=learned.reviewer, training_segments=learned.training_segments,
        training_units=learned.training_units, probability=learned.probability, at=learned.created_at)
    return Item(
        id=row.id, run_id=row.run_id, position=row.position, transcript=transcript, segment=segment,
        context=context, code=lookup_code(codebook, row.code_id), quote=row.quote,
        quote_start=row.quote_start, quote_end=row.quote_end, grounding=Grounding(row.grounding),
        score=row.score, score_kind="confidence" if proposed_by else score_kind(row.coder, run.params if row.run_id == run.id else None),
        rationale=row.rationale or None, proposed_by=proposed_by,
        coder=row.coder, model=row.model, evidence=evidence_notes(conn, [row.id]).get(row.id), mine=mine,
        effective_code=effective_code,
        effective_start=effective_start, effective_end=effective_end, others_on_segment=others,
        version=decision_store.latest_decision_id(conn, suggestion_id),
    )
