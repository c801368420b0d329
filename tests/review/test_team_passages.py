"""Passage-first review (issue 13 #4): every participant passage is reachable, with all its suggestions,
including passages the machine suggested nothing on, where a missed code can be added."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.models import Grounding, Run, RunStatus, SegmentRole, Suggestion
from pipeline.review.errors import NotFound
from pipeline.review.models import DecisionIn, MissedIn, PassageFilter
from pipeline.review.service import ReviewSession

from .conftest import RUN_ID

SPARSE_RUN = "20260302-100000-sparse"


def sparse_run(project) -> tuple[str, set[str]]:
    """A run that suggests nothing on every fourth participant passage; returns it and those passages."""
    db = project.db
    base = db.run(RUN_ID)
    db.start_run(Run(id=SPARSE_RUN, coder="llm", model="stub-llm-1", codebook_id=base.codebook_id,
                     codebook_hash=base.codebook_hash, level="leaf"))
    empty, suggestions = set(), []
    for n, seg in enumerate(db.segments(role=SegmentRole.participant)):
        if n % 4 == 1:
            empty.add(seg.id)
            continue
        for code_id in ("adopters.staff", "adopters.relationships")[: 1 + n % 2]:
            suggestions.append(Suggestion(
                id=hashlib.sha256(f"{SPARSE_RUN}:{seg.id}:{code_id}".encode()).hexdigest()[:16], run_id=SPARSE_RUN,
                segment_id=seg.id, transcript_id=seg.transcript_id, code_id=code_id, quote=seg.text[:20],
                quote_start=seg.start, quote_end=seg.start + 20, grounding=Grounding.exact, score=0.5 + n % 5 / 10))
    with db.transaction() as conn:
        db.insert_suggestions(conn, suggestions)
    db.finish_run(SPARSE_RUN, RunStatus.completed, {"suggestions": len(suggestions)})
    return SPARSE_RUN, empty


def walk_passages(session: ReviewSession, f: PassageFilter) -> list[str]:
    seen, after = [], None
    while True:
        view = session.next_passage(f, after)
        if view.passage is None or view.passage.segment.id in seen:
            return seen
        seen.append(view.passage.segment.id)
        after = view.passage.segment.id


def test_every_passage_is_reachable_with_all_its_suggestions(project):
    run_id, empty = sparse_run(project)
    session = ReviewSession.open(project, run_id, "alice")
    participant = [s.id for s in project.db.segments(role=SegmentRole.participant)]
    every = walk_passages(session, PassageFilter())
    assert sorted(every) == sorted(participant)  # the queue of suggestions reaches only 3 in 4 of them
    assert set(walk_passages(session, PassageFilter(only="unsuggested"))) == empty
    # one passage, all its suggestions at once, in reading order
    two = next(s for s in every if s not in empty and len(session.passage(s).items) == 2)
    view = session.passage(two)
    assert {i.code.id for i in view.items} == {"adopters.staff", "adopters.relationships"}
    assert all(i.segment.id == two for i in view.items) and view.segment.text
    assert view.context is not None and view.context.speaker == "Interviewer"
    # accept one, reject the other: the passage drops out of "pending"
    pending = walk_passages(session, PassageFilter(only="pending"))
    assert two in pending
    session.decide(view.items[0].id, DecisionIn(action="accept"))
    assert two in walk_passages(session, PassageFilter(only="pending"))
    session.decide(view.items[1].id, DecisionIn(action="reject"))
    assert two not in walk_passages(session, PassageFilter(only="pending"))
    assert [i.mine.outcome for i in session.passage(two).items] == ["accepted", "rejected"]


def test_a_missed_code_can_be_added_on_a_passage_without_suggestions(project):
    run_id, empty = sparse_run(project)
    session = ReviewSession.open(project, run_id, "alice")
    first = session.next_passage(PassageFilter(only="unsuggested"))
    assert first.index == 1 and first.total == len(empty)
    bare = first.passage
    assert bare.items == [] and bare.added == [] and bare.segment.id in empty
    added = session.add_missed(MissedIn(segment_id=bare.segment.id, code_id="condition.nature"))
    shown = session.passage(bare.segment.id)
    assert [(c.code_id, c.outcome, c.added_by_reviewer) for c in shown.added] == [("condition.nature", "accepted",
                                                                                     True)]
    assert shown.added[0].suggestion_id == added.suggestion_id
    # next/previous and wrapping within a transcript
    t = bare.transcript.id
    in_t = walk_passages(session, PassageFilter(transcript=t))
    last = session.next_passage(PassageFilter(transcript=t), after=in_t[-1])
    assert last.wrapped and last.passage.segment.id == in_t[0]
    back = session.next_passage(PassageFilter(transcript=t), after=in_t[1], backwards=True)
    assert back.passage.segment.id == in_t[0] and back.index == 1
    with pytest.raises(NotFound):
        session.passage("nope")


def test_a_transcript_in_the_runs_scope_without_any_suggestion_is_reviewable_and_exported(project):
    """A run records its scope when it starts: a transcript it coded nothing on is still one of its
    transcripts, so its passages are walked and a code added there is one of the run's accepted codings."""
    from pipeline.codebook import load_codebook
    from pipeline.reviewed import accepted_codings
    from pipeline.store.runs import RunScope

    db = project.db
    base = db.run(RUN_ID)
    segments = db.segments(role=SegmentRole.participant)
    transcripts = sorted({s.transcript_id for s in segments})
    assert len(transcripts) > 1
    coded, silent = transcripts[0], transcripts[1]
    run = Run(id="20260303-100000-scoped", coder="llm", model="stub-llm-1", codebook_id=base.codebook_id,
              codebook_hash=base.codebook_hash, level="leaf")
    db.start_run(run, RunScope.of(run, load_codebook("nasss"), segments))
    with db.transaction() as conn:
        db.insert_suggestions(conn, [Suggestion(
            id=hashlib.sha256(f"{run.id}:{s.id}".encode()).hexdigest()[:16], run_id=run.id, segment_id=s.id,
            transcript_id=s.transcript_id, code_id="adopters.staff", quote=s.text[:20], quote_start=s.start,
            quote_end=s.start + 20, grounding=Grounding.exact, score=0.7) for s in segments if s.transcript_id == coded])
    db.finish_run(run.id, RunStatus.completed, {})
    session = ReviewSession.open(project, run.id, "alice")
    view = session.next_passage(PassageFilter(transcript=silent))
    assert view.passage is not None and view.passage.items == []
    assert view.total == sum(1 for s in segments if s.transcript_id == silent)
    added = session.add_missed(MissedIn(segment_id=view.passage.segment.id, code_id="condition.nature"))
    codings = accepted_codings(db, db.run(run.id), "alice")
    assert [(c.suggestion.id, c.added_by_reviewer) for c in codings] == [(added.suggestion_id, True)]
    assert session.claim(silent).transcript.id == silent  # and it can be claimed
