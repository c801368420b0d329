"""The review service: queue, every decision, undo, missed codes, bulk, precision, proposals."""

from __future__ import annotations

import io

import pytest
import yaml
from rich.console import Console

from pipeline.codebook import load_codebook
from pipeline.decisions import Action, current_decisions
from pipeline.errors import PrecodeError
from pipeline.review.errors import Conflict, NotFound
from pipeline.review.models import ANYONE, AdoptIn, BulkIn, DecisionIn, MissedIn, Order, QueueFilter, Status
from pipeline.review.progress import wilson_interval
from pipeline.review.service import ReviewSession, check_reviewer
from pipeline.review.tui import Tui

from .conftest import RUN_ID


def walk(session: ReviewSession, f: QueueFilter) -> list[str]:
    """Every item id the queue yields from the start until it wraps."""
    seen, after = [], None
    while True:
        view = session.queue(f, after)
        if view.item is None or view.item.id in seen:
            return seen
        seen.append(view.item.id)
        after = view.item.id


def test_queue_reading_order_filters_and_wrap(session):
    db = session.project.db
    everything = walk(session, QueueFilter(status=Status.all))
    in_run = db.conn.execute("SELECT COUNT(*) FROM suggestions WHERE run_id = ?", (RUN_ID,)).fetchone()[0]
    assert len(everything) == in_run
    first = session.queue(QueueFilter())
    assert first.index == 1 and first.total == len(everything) and first.item.id == everything[0]
    # reading order: transcripts by name, then passages in order
    items = [session.item(i) for i in everything[:40]]
    keys = [(it.transcript.name, it.segment.index) for it in items]
    assert keys == sorted(keys)
    # wrap-around at the end, and backwards from the start
    last = session.queue(QueueFilter(status=Status.all), after=everything[-1])
    assert last.wrapped and last.item.id == everything[0]
    back = session.queue(QueueFilter(status=Status.all), after=everything[0], backwards=True)
    assert back.wrapped and back.item.id == everything[-1]
    # filters: transcript, code (with the codes below it), score range, grounding
    t = items[0].transcript
    in_t = walk(session, QueueFilter(transcript=t.id))
    assert in_t and all(session.item(i).transcript.id == t.id for i in in_t)
    tech = walk(session, QueueFilter(code="technology"))
    assert tech and all(session.item(i).code.id.startswith("technology.") for i in tech)
    scored = walk(session, QueueFilter(min_score=0.5, max_score=0.7))
    assert scored and all(0.5 <= session.item(i).score <= 0.7 for i in scored)
    ungrounded = walk(session, QueueFilter(grounding="ungrounded"))
    assert ungrounded and all(session.item(i).quote_start is None for i in ungrounded)
    # uncertainty order: lowest score first
    uncertain = walk(session, QueueFilter(order=Order.uncertainty))
    scores = [session.item(i).score for i in uncertain[:30]]
    assert scores == sorted(scores)
    with pytest.raises(PrecodeError, match="filter 'code'"):
        session.queue(QueueFilter(code="no.such.code"))


def test_item_shows_question_quote_code_and_evidence(session):
    view = session.queue(QueueFilter(grounding="exact"))
    item = view.item
    text = session.project.db.transcript(item.transcript.id).text
    assert text[item.segment.start:item.segment.end] == item.segment.text
    assert text[item.quote_start:item.quote_end] == item.quote
    assert item.context is not None and item.context.speaker == "Interviewer"
    assert text[item.context.start:item.context.end] == item.context.text
    assert item.code.include and item.code.exclude and " > " in item.code.path
    assert item.rationale and item.score_kind == "confidence" and item.coder == "llm" and item.model == "stub-llm-1"
    assert item.transcript.participant and item.mine is None


def test_accept_reject_edit_and_status_filters(session):
    db = session.project.db
    ids = walk(session, QueueFilter(grounding="exact"))[:4]
    session.decide(ids[0], DecisionIn(action="accept", note="clear case"))
    session.decide(ids[1], DecisionIn(action="reject", reason="exclusion_rule", note="see rule 2"))
    changed = session.decide(ids[2], DecisionIn(action="edit", code_id="adopters.staff"))
    item3 = session.item(ids[3])
    spanned = session.decide(ids[3], DecisionIn(action="edit", quote_start=item3.quote_start + 4,
                                                quote_end=item3.quote_end - 1))
    assert changed.mine.outcome == "changed" and changed.effective_code.id == "adopters.staff"
    # the changed code keeps the original span; a span edit keeps the code
    assert (changed.effective_start, changed.effective_end) == (changed.quote_start, changed.quote_end)
    assert spanned.mine.outcome == "accepted" and spanned.effective_code is None
    piece = item3.segment.text[item3.quote_start + 4 - item3.segment.start:item3.quote_end - 1 - item3.segment.start]
    assert spanned.effective_start == item3.quote_start + 4 + len(piece) - len(piece.lstrip())
    assert spanned.effective_end == item3.quote_end - 1 - (len(piece) - len(piece.rstrip()))
    state = current_decisions(db, RUN_ID, "alice")
    assert state[ids[0]].action is Action.accept and state[ids[0]].note == "clear case"
    assert state[ids[1]].reason == "exclusion_rule"
    assert state[ids[2]].code_id == "adopters.staff"
    assert state[ids[3]].action is Action.edit and state[ids[3]].code_id == item3.code.id
    # a later span edit on the changed item keeps the changed code: edits carry the whole correction
    again = session.decide(ids[2], DecisionIn(action="edit", quote_start=changed.quote_start,
                                              quote_end=changed.quote_end - 3))
    assert again.effective_code.id == "adopters.staff" and again.effective_end == changed.quote_end - 3
    # an "edit" that changes nothing is an accept
    same = session.decide(ids[0], DecisionIn(action="edit", code_id=session.item(ids[0]).code.id))
    assert same.mine.action == "accept"
    assert set(walk(session, QueueFilter(status=Status.accepted))) == {ids[0], ids[3]}
    assert walk(session, QueueFilter(status=Status.rejected)) == [ids[1]]
    assert walk(session, QueueFilter(status=Status.changed)) == [ids[2]]
    assert set(walk(session, QueueFilter(status=Status.reviewed))) == set(ids)
    assert not set(ids) & set(walk(session, QueueFilter()))  # pending for alice


def test_decision_input_is_checked(session):
    item = session.queue(QueueFilter(grounding="exact")).item
    seg = item.segment
    with pytest.raises(PrecodeError, match="reason"):
        session.decide(item.id, DecisionIn(action="reject", reason="because"))
    with pytest.raises(PrecodeError, match="code_id"):
        session.decide(item.id, DecisionIn(action="edit", code_id="nope"))
    with pytest.raises(PrecodeError, match="not inside the segment"):
        session.decide(item.id, DecisionIn(action="edit", quote_start=seg.start - 5, quote_end=seg.start + 5))
    with pytest.raises(PrecodeError, match="give both ends"):
        session.decide(item.id, DecisionIn(action="edit", quote_start=seg.start))
    with pytest.raises(NotFound):
        session.decide("0000000000000000", DecisionIn(action="accept"))
    # whitespace around a selected span is trimmed
    padded = seg.text.index(" ") + seg.start
    trimmed = session.decide(item.id, DecisionIn(action="edit", quote_start=padded, quote_end=padded + 6))
    assert trimmed.effective_start == padded + 1
    assert session.project.db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
    with pytest.raises(PrecodeError, match="reviewer name"):
        check_reviewer("  ")


def test_undo_here_and_undo_last(session):
    ids = walk(session, QueueFilter(grounding="exact"))[:3]
    session.decide(ids[0], DecisionIn(action="accept"))
    session.decide(ids[1], DecisionIn(action="reject"))
    session.decide(ids[1], DecisionIn(action="accept"))
    result = session.undo(ids[1])  # back to the reject
    assert result.in_queue and result.item.mine.outcome == "rejected" and result.undone.action == "accept"
    last = session.undo()  # the latest standing decision is now ids[1]'s reject
    assert last.suggestion_id == ids[1] and last.item.mine is None
    last = session.undo()
    assert last.suggestion_id == ids[0] and last.item.mine is None
    with pytest.raises(Conflict):
        session.undo()
    with pytest.raises(Conflict):
        session.undo(ids[2])
    actions = [r[0] for r in session.project.db.conn.execute("SELECT action FROM decisions ORDER BY id")]
    assert actions == ["accept", "reject", "accept", "undo", "undo", "undo"]


def test_reviewers_are_independent(project):
    alice = ReviewSession.open(project, RUN_ID, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    first = alice.queue(QueueFilter()).item.id
    alice.decide(first, DecisionIn(action="accept"))
    assert bob.queue(QueueFilter()).item.id == first  # still pending for bob
    assert bob.queue(QueueFilter(reviewer=ANYONE)).item.id != first  # reviewed by someone
    bob.decide(first, DecisionIn(action="reject", reason="not_supported"))
    assert alice.item(first).mine.outcome == "accepted" and bob.item(first).mine.outcome == "rejected"
    assert walk(bob, QueueFilter(status=Status.accepted, reviewer="alice")) == [first]
    # adjudication: looking at bob's rejections, alice sees bob's decision beside her own
    view = alice.queue(QueueFilter(status=Status.rejected, reviewer="bob"))
    assert view.item.id == first and view.item.mine.outcome == "accepted"
    assert (view.theirs.reviewer, view.theirs.outcome, view.theirs.reason) == ("bob", "rejected", "not_supported")
    assert alice.locate(QueueFilter(reviewer=ANYONE, status=Status.all), first).theirs.reviewer == "bob"
    assert alice.queue(QueueFilter(status=Status.all)).theirs is None
    assert current_decisions(project.db, RUN_ID)[first].reviewer == "bob"
    assert alice.info().reviewers == ["alice", "bob"]


def test_add_missed_code_goes_into_the_reviewers_manual_run(session):
    db = session.project.db
    item = session.queue(QueueFilter(grounding="exact")).item
    seg = item.segment
    with pytest.raises(Conflict, match="already suggested"):
        session.add_missed(MissedIn(segment_id=seg.id, code_id=item.code.id))
    added = session.add_missed(MissedIn(segment_id=seg.id, code_id="condition.nature",
                                        quote_start=seg.start, quote_end=seg.start + 20, note="missed it"))
    whole = session.add_missed(MissedIn(segment_id=seg.id, code_id="organization.capacity"))
    runs = [r for r in db.runs() if r.coder == "reviewer"]
    assert len(runs) == 1 and runs[0].model == "alice" and runs[0].status.value == "running"
    assert runs[0].codebook_hash == session.run.codebook_hash
    manual = {s.id: s for s in db.suggestions(runs[0].id)}
    assert manual[added.suggestion_id].quote == seg.text[:20].strip()
    assert manual[added.suggestion_id].grounding.value == "exact"
    assert (manual[whole.suggestion_id].quote_start, manual[whole.suggestion_id].quote_end) == (seg.start, seg.end)
    state = current_decisions(db, runs[0].id, "alice")
    assert {state[added.suggestion_id].action, state[whole.suggestion_id].action} == {Action.accept}
    shown = session.item(item.id).others_on_segment
    assert {o.code_id for o in shown if o.added_by_reviewer} == {"condition.nature", "organization.capacity"}
    # undo removes the added code from the passage; adding it again re-accepts it with the new span
    session.undo(added.suggestion_id)
    assert "condition.nature" not in {o.code_id for o in session.item(item.id).others_on_segment}
    session.add_missed(MissedIn(segment_id=seg.id, code_id="condition.nature", quote_start=seg.start,
                                quote_end=seg.start + 10))
    again = current_decisions(db, runs[0].id, "alice")[added.suggestion_id]
    assert again.action is Action.edit and again.quote_end - again.quote_start <= 10
    # the same reviewer in a new session finds the same manual run
    assert ReviewSession.open(session.project, RUN_ID, "alice")._manual_run_id == runs[0].id
    with pytest.raises(NotFound):
        session.add_missed(MissedIn(segment_id="nope", code_id="condition"))



def test_a_missed_code_has_the_id_every_coder_gives(session):
    """One suggestion id scheme (pipeline.coders.base.suggestion_id) for coders and reviewers alike."""
    from pipeline.coders.base import suggestion_id

    seg = session.queue(QueueFilter(grounding="exact")).item.segment
    added = session.add_missed(MissedIn(segment_id=seg.id, code_id="condition.nature"))
    manual_run = next(r for r in session.project.db.runs() if r.coder == "reviewer")
    assert added.suggestion_id == suggestion_id(manual_run.id, seg.id, "condition.nature")

def test_bulk_needs_the_confirmed_count(session):
    f = QueueFilter(code="technology.material_properties.usability")
    preview = session.bulk_preview(f)
    assert preview.count > 2 and preview.already_decided == 0
    with pytest.raises(Conflict, match="not the"):
        session.bulk(BulkIn(filter=f, action="accept", expected=preview.count + 1))
    assert session.project.db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    recorded = session.bulk(BulkIn(filter=f, action="reject", expected=preview.count, reason="too_vague"))
    assert recorded == preview.count
    assert session.bulk_preview(f).count == 0
    assert session.bulk_preview(QueueFilter(code=f.code, status=Status.all)).already_decided == preview.count
    state = current_decisions(session.project.db, RUN_ID, "alice")
    assert len(state) == preview.count and {d.reason for d in state.values()} == {"too_vague"}


def test_precision_counts_a_changed_code_as_a_rejection(session):
    usability = "technology.material_properties.usability"
    ids = walk(session, QueueFilter(code=usability, status=Status.all))[:5]
    session.decide(ids[0], DecisionIn(action="accept"))
    session.decide(ids[1], DecisionIn(action="edit", quote_start=session.item(ids[1]).segment.start,
                                      quote_end=session.item(ids[1]).segment.start + 15))  # span fix: accepted
    session.decide(ids[2], DecisionIn(action="edit", code_id="adopters.staff"))  # changed: rejection of usability
    session.decide(ids[3], DecisionIn(action="reject"))
    progress = session.progress()
    row = next(p for p in progress.per_code if p.code_id == usability)
    assert (row.reviewed, row.accepted, row.changed, row.rejected) == (4, 2, 1, 1)
    assert row.precision == pytest.approx(0.5)
    assert (row.ci_low, row.ci_high) == pytest.approx(wilson_interval(2, 4))
    assert progress.reviewed == 4 and progress.remaining == progress.total - 4
    assert progress.overall.precision == pytest.approx(0.5)
    assert session.progress("bob").reviewed == 0 and session.progress(ANYONE).reviewed == 4


def test_wilson_interval_textbook_values():
    # Brown, Cai & DasGupta (2001): 2 of 4 → (0.150, 0.850); 0 of 10 → (0, 0.278)
    assert wilson_interval(2, 4) == pytest.approx((0.1500, 0.8500), abs=5e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_proposals_adopt_writes_a_new_codebook_version(session):
    project = session.project
    open_ = session.proposals("open")
    assert [p.id for p in open_] == ["prop1", "prop2"]
    first = open_[0]
    assert first.suggested_code_id == "technology.material_properties.alert_fatigue"
    assert first.parent_path == session.codebook.path("technology.material_properties")
    form = AdoptIn(code_id=first.suggested_code_id, label=first.label, definition=first.definition,
                   parent=first.parent_code_id, include=["Complaints about too many alerts."],
                   exclude=["Accuracy of a single alert belongs to usability."], examples=[first.quote])
    with pytest.raises(PrecodeError, match="include"):
        session.adopt(first.id, form.model_copy(update={"include": [" "]}))
    assert not (project.root / "codebooks").exists() or not list((project.root / "codebooks").iterdir())
    result = session.adopt(first.id, form)
    assert result.codebook_version == "1.1.0"
    written = load_codebook(result.path)  # a valid codebook file
    assert written.by_id[result.code_id].parent == first.parent_code_id
    assert written.content_hash == result.codebook_hash == project.db.codebook(result.codebook_hash).content_hash
    assert len(written.codes) == len(session.codebook.codes) + 1
    codes = [c.id for c in written.codes]
    assert codes.index(result.code_id) > codes.index("technology.material_properties.usability")
    assert codes.index(result.code_id) < codes.index("technology.knowledge_generated")
    with pytest.raises(Conflict, match="already adopted"):
        session.adopt(first.id, form)
    # the second adoption builds on the first new version
    second = session.proposals("open")[0]
    dismissed = session.dismiss(second.id, "covered by supply model")
    assert dismissed.state == "dismissed" and session.proposals("open") == []
    result2 = session.adopt(second.id, AdoptIn(code_id="vendor_lock_in", label="Vendor lock-in", definition="d",
                                               include=["i"], exclude=["e"], examples=["x"]))
    assert result2.codebook_version == "1.2.0"
    v2 = load_codebook(result2.path)
    assert {"vendor_lock_in", result.code_id} <= set(v2.by_id)
    assert yaml.safe_load(open(result2.path, encoding="utf-8"))["version"] == "1.2.0"
    # the run's own codebook is untouched
    assert project.db.codebook(session.run.codebook_hash).version == "1.0.0"
    states = {p.id: (p.state, p.decided_by) for p in session.proposals()}
    assert states == {"prop1": ("adopted", "alice"), "prop2": ("adopted", "alice")}


def test_tui_records_the_same_decisions(session):
    """Scripted keys: accept, reject with a reason and a note, change the code, quit."""
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    keys = "\n".join(["a", "r", "2", "overlaps another code", "c", "staff roles", "1", "j", "p", "u", "q"]) + "\n"
    first, second = walk(session, QueueFilter())[:2]
    Tui(session, console, stream=io.StringIO(keys)).run()
    out = console.file.getvalue()
    state = current_decisions(session.project.db, RUN_ID, "alice")
    assert state[first].action is Action.accept
    assert state[second].action is Action.reject and state[second].reason == "exclusion_rule"
    assert state[second].note == "overlaps another code"
    third = walk(session, QueueFilter(status=Status.all))[2]
    assert third not in state  # changed to staff roles, then undone with u
    assert "machine precision" in out and "undone" in out and "Staff roles" in out


def test_queue_sees_decisions_recorded_elsewhere(project):
    """Another process's decisions (a second connection) reach this session's queue and precision."""
    from pipeline.project import open_project

    alice = ReviewSession.open(project, RUN_ID, "alice")
    everything = alice.bulk_preview(QueueFilter(status=Status.all)).count
    assert alice.queue(QueueFilter(reviewer=ANYONE)).total == everything  # loads the 'anyone' scope
    other = open_project(project.root)
    bob = ReviewSession.open(other, RUN_ID, "bob")
    first = bob.queue(QueueFilter()).item.id
    bob.decide(first, DecisionIn(action="reject"))  # one change: applied suggestion by suggestion
    view = alice.queue(QueueFilter(reviewer=ANYONE))
    assert view.total == everything - 1 and view.item.id != first
    assert alice.queue(QueueFilter()).item.id == first  # still pending for alice herself
    bob.bulk(BulkIn(filter=QueueFilter(status=Status.all), action="accept", expected=everything))  # many: reload
    assert alice.queue(QueueFilter(reviewer=ANYONE)).item is None
    assert alice.progress(ANYONE).overall.accepted == everything
    assert alice.progress("bob").reviewed == everything and alice.progress().reviewed == 0
    bob.undo(first)  # back to bob's reject of the first
    assert alice.progress(ANYONE).overall.rejected == 1
    other.close()


def test_accept_after_a_span_correction_keeps_the_correction(session):
    """Issue 13 #3: correcting the quote span and then pressing accept accepted the machine's span."""
    db = session.project.db
    item = session.queue(QueueFilter(grounding="exact")).item
    corrected = session.decide(item.id, DecisionIn(action="edit", quote_start=item.quote_start + 4,
                                                   quote_end=item.quote_end - 1))
    span = (corrected.effective_start, corrected.effective_end)
    assert span != (item.quote_start, item.quote_end)
    accepted = session.decide(item.id, DecisionIn(action="accept", note="right code"))
    assert (accepted.effective_start, accepted.effective_end) == span
    assert accepted.mine.outcome == "accepted" and accepted.mine.note == "right code"
    state = current_decisions(db, RUN_ID, "alice")[item.id]
    assert state.accepted and (state.quote_start, state.quote_end) == span
    # what the exports read: the accepted coding carries the corrected span
    from pipeline.reviewed import accepted_codings
    coding = next(c for c in accepted_codings(db, session.run, "alice") if c.suggestion.id == item.id)
    assert (coding.start, coding.end) == span
    # a changed code survives an accept too
    other = session.queue(QueueFilter(grounding="exact"), after=item.id).item
    session.decide(other.id, DecisionIn(action="edit", code_id="adopters.staff"))
    assert session.decide(other.id, DecisionIn(action="accept")).effective_code.id == "adopters.staff"
    # undo goes back one step: to the correction, then to the machine's version
    session.undo(item.id)
    assert (session.item(item.id).effective_start, session.item(item.id).effective_end) == span
