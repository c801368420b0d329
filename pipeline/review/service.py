"""The review service: one reviewer working through one run. Both front ends (web, TUI) call this.

Every decision is appended to `decisions` in its own transaction the moment it is made, so a
closed browser or a killed server loses nothing already decided. Edits always carry the complete
corrected coding (code and span), so the latest edit alone says what the reviewer settled on.
"""

from __future__ import annotations

import getpass
import re
import sqlite3
from dataclasses import dataclass, field

import numpy as np

from pipeline.codebook import Codebook
from pipeline.coders.base import suggestion_id as make_suggestion_id
from pipeline.decisions import Action, Decision, record_decision
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, Suggestion, utcnow
from pipeline.project import Project
from pipeline.review import marks, proposals
from pipeline.review.active import ActiveLearner, LearnSettings
from pipeline.review.errors import Conflict, NotFound
from pipeline.review.items import MANUAL_CODER, code_info, load_item, scope_decision, score_kind, segment_codes, standing
from pipeline.review.items import passage as passage_parts
from pipeline.review.models import (
    REJECT_REASONS,
    AdjudicateIn,
    AdoptIn,
    AdoptResult,
    BulkIn,
    BulkPreview,
    ClaimView,
    DecisionIn,
    DecisionView,
    Disagreement,
    Item,
    LearnStatus,
    MissedIn,
    Order,
    PassageFilter,
    PassageQueueView,
    PassageView,
    Progress,
    ProposalView,
    QueueFilter,
    QueueView,
    RunInfo,
    SegmentCode,
    SessionInfo,
    TranscriptInfo,
    UndoResult,
)
from pipeline.review.progress import progress
from pipeline.review.queue import QueueIndex, ensure_queue
from pipeline.reviewed import run_transcript_ids
from pipeline.store import decisions as decision_store
from pipeline.store import review as review_store
from pipeline.store.review import SuggestionSpan

REVIEWER_PATTERN = re.compile(r"^\w[\w .@'-]{0,63}$")


def default_reviewer() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "reviewer"
    return name if REVIEWER_PATTERN.match(name) else "reviewer"


def check_reviewer(name: str) -> str:
    name = name.strip()
    if not REVIEWER_PATTERN.match(name):
        raise PrecodeError(f"reviewer name '{name}' is not usable",
                           hint="use 1-64 letters, digits, spaces or . _ - @ ' starting with a letter or digit")
    return name


@dataclass
class ReviewSession:
    """A reviewer reviewing a run; not thread-safe (the web app serialises calls with a lock)."""

    project: Project
    run: Run
    reviewer: str
    codebook: Codebook
    _manual_run_id: str | None = field(default=None, repr=False)
    _index: QueueIndex | None = field(default=None, repr=False)
    _scope: tuple[list[str], QueueIndex] | None = field(default=None, repr=False)
    _passages: tuple[list[review_store.SegmentRow], dict[str, int], np.ndarray, QueueIndex] | None = field(
        default=None, repr=False)
    learner: ActiveLearner | None = field(default=None, repr=False)
    _learned_for: tuple[QueueIndex, int] | None = field(default=None, repr=False)  # (queue, training) ranked
    _trainings: int = field(default=0, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)  # for the front end to show on start

    @classmethod
    def open(cls, project: Project, run_id: str | None = None, reviewer: str | None = None,
             learn: LearnSettings | None = None) -> ReviewSession:
        """A review session; with `learn`, it retrains the learned model as it goes (trained once now)."""
        run = project.db.run(run_id)
        # WAL + synchronous=NORMAL already survives a killed process; FULL also survives a power cut,
        # for a fraction of a millisecond per decision (see docs/benchmarks/review.md)
        review_store.durable_writes(project.db)
        session = cls(project, run, check_reviewer(reviewer or default_reviewer()),
                      project.db.codebook(run.codebook_hash))
        ensure_queue(project.db, run.id)
        session.warnings = marks.import_old_files(project.db, project.root)  # flags/places of older versions
        session._manual_run_id = session._find_manual_run(project.db.conn)
        session._queue().statuses(project.db.conn, session.reviewer)  # load now, not on the first keystroke
        if learn is not None:
            session.learner = ActiveLearner(project, run, session.codebook, session.reviewer, learn)
            session.retrain()
        return session

    @property
    def conn(self) -> sqlite3.Connection:
        return self.project.db.conn

    # -- what there is ----------------------------------------------------------------------------
    def info(self) -> SessionInfo:
        total = ensure_queue(self.project.db, self.run.id)
        reviewers = decision_store.run_reviewers(self.conn, self.run.id)
        transcripts = [TranscriptInfo(id=t.id, name=t.name, version=t.version)
                       for t in review_store.transcripts(self.conn, self._queue().transcripts)]
        run = self.run
        return SessionInfo(
            run=RunInfo(id=run.id, coder=run.coder, model=run.model, codebook_id=self.codebook.id,
                        codebook_name=self.codebook.name, codebook_version=self.codebook.version, level=run.level,
                        status=run.status.value, started_at=run.started_at, suggestions=total),
            reviewer=self.reviewer, reviewers=sorted(reviewers | {self.reviewer}), score_kind=score_kind(run.coder, run.params),
            codes=[code_info(self.codebook, c) for c in self.codebook.codes], transcripts=transcripts,
            reasons=REJECT_REASONS, proposals_open=proposals.count_open(self.conn, run.id), learn=self.learn_status(),
        )

    def item(self, suggestion_id: str) -> Item:
        item = load_item(self.conn, suggestion_id, self.run, self.codebook, self.reviewer, self._manual_run_id)
        if self.learner is not None:
            item.learned_probability = self.learner.probability(item.segment.id, item.code.id)
        return item

    def _queue(self) -> QueueIndex:
        """The run's queue in memory, rebuilt when a run that is still being coded has grown."""
        if self._index is None or (self.run.status.value in ("running", "incomplete")
                                   and ensure_queue(self.project.db, self.run.id) != len(self._index)):
            self._index = QueueIndex(self.conn, self.run.id)
        if self.learner is not None and self._learned_for != (self._index, self._trainings):
            self._rank(self._index)
        return self._index

    # -- review learns (--learn) ------------------------------------------------------------------
    def _rank(self, queue: QueueIndex) -> None:
        """The learned order: the model least sure first (|p - 0.5|), then reading order."""
        assert self.learner is not None
        u = self.learner.uncertainty(queue.segment_ids(self.conn), queue.code_ids())
        queue.set_order(Order.learned, np.lexsort((np.arange(len(u)), u)))
        self.learner.status.ranked = int(np.isfinite(u).sum())
        self._learned_for = (queue, self._trainings)

    def learn_status(self) -> LearnStatus:
        if self.learner is None:
            return LearnStatus(enabled=False)
        return self.learner.status

    def retrain(self) -> LearnStatus:
        """Retrain the learned model on the decisions so far, re-rank the queue, propose codes (review --learn)."""
        if self.learner is None:
            raise PrecodeError("this review session does not learn",
                               hint="start it with: precode review --learn")
        status = self.learner.retrain()
        self._trainings += 1
        self._index = None  # proposals may have joined the run
        self._queue()
        return status

    def _learned(self, decisions: int) -> None:
        """Count decisions toward the next retrain; retrain when `every` of them were made."""
        if self.learner is None or decisions <= 0:
            return
        status = self.learner.status
        status.decisions_since += decisions
        if status.every and status.decisions_since >= status.every:
            self.retrain()

    def _check_order(self, order: Order) -> None:
        if order is Order.learned and self.learner is None:
            raise PrecodeError("order 'learned' needs a review session that learns",
                               hint="start it with: precode review --learn (or pick another order)")

    def _matching(self, queue_filter: QueueFilter) -> tuple[QueueIndex, np.ndarray]:
        self._check_order(queue_filter.order)
        queue = self._queue()
        keep = queue.matches(self.conn, queue_filter, self.reviewer, self.codebook)
        if queue_filter.reviewer in (None, self.reviewer):  # transcripts others claimed are theirs to decide
            others = [queue.transcripts.index(t) for t in self._claimed_by_others(self.conn) if t in queue.transcripts]
            if others:
                keep &= ~np.isin(queue.transcript, others)
        return queue, keep

    def queue(self, queue_filter: QueueFilter, after: str | None = None, backwards: bool = False) -> QueueView:
        """The next (or previous) matching suggestion after `after` (the first when None)."""
        queue, keep = self._matching(queue_filter)
        suggestion_id, wrapped = queue.neighbour(keep, queue_filter.order, after, backwards)
        if suggestion_id is None:
            return QueueView(item=None, total=0)
        index, total = queue.place(keep, queue_filter.order, suggestion_id)
        return QueueView(item=self.item(suggestion_id), index=index, total=total, wrapped=wrapped,
                         theirs=self._theirs(queue_filter, suggestion_id))

    def locate(self, queue_filter: QueueFilter, suggestion_id: str) -> QueueView:
        """A given suggestion with its place in the filtered queue (None when it does not match)."""
        queue, keep = self._matching(queue_filter)
        index, total = queue.place(keep, queue_filter.order, suggestion_id)
        return QueueView(item=self.item(suggestion_id), index=index, total=total,
                         theirs=self._theirs(queue_filter, suggestion_id))

    def _theirs(self, queue_filter: QueueFilter, suggestion_id: str) -> DecisionView | None:
        """The decision of the scope the filter looks at, when that is not this reviewer (adjudication)."""
        if queue_filter.reviewer in (None, self.reviewer):
            return None
        return scope_decision(self.conn, queue_filter.reviewer, suggestion_id)

    # -- decisions --------------------------------------------------------------------------------
    def _suggestion(self, conn: sqlite3.Connection, suggestion_id: str) -> SuggestionSpan:
        row = review_store.suggestion_span(conn, suggestion_id)
        if row is None or row.run_id not in (self.run.id, self._manual_run_id):
            raise NotFound(f"no suggestion '{suggestion_id}' in run {self.run.id}")
        return row

    def _check_code(self, code_id: str) -> str:
        if code_id not in self.codebook.by_id:
            raise PrecodeError(f"field 'code_id': no code '{code_id}' in codebook '{self.codebook.id}'",
                               hint="pick a code from the codebook")
        return code_id

    @staticmethod
    def _span(seg_start: int, seg_end: int, seg_text: str, start: int, end: int) -> tuple[int, int]:
        """A quote span inside the segment, trimmed of surrounding whitespace."""
        if not (seg_start <= start < end <= seg_end):
            raise PrecodeError(f"fields 'quote_start'/'quote_end': span {start}-{end} is not inside the segment "
                               f"({seg_start}-{seg_end})", hint="select text inside the passage")
        piece = seg_text[start - seg_start:end - seg_start]
        if not piece.strip():
            raise PrecodeError("fields 'quote_start'/'quote_end': the selected span is only whitespace",
                               hint="select some words of the passage")
        start += len(piece) - len(piece.lstrip())
        end -= len(piece) - len(piece.rstrip())
        return start, end

    def decide(self, suggestion_id: str, decision: DecisionIn) -> Item:
        """Record accept, reject or edit (a changed code and/or quote span) for this reviewer."""
        with self.project.db.transaction() as conn:
            row = self._suggestion(conn, suggestion_id)
            self._check_unchanged(conn, suggestion_id, decision.seen)
            self._check_claim(conn, row.transcript_id)
            self._record(conn, row, decision)
        self._learned(1)
        return self.item(suggestion_id)

    def _record(self, conn: sqlite3.Connection, row: SuggestionSpan, decision: DecisionIn) -> Decision:
        """Check a decision against the suggestion and this reviewer's standing one, and append it."""
        suggestion_id = row.id
        action = Action(decision.action)
        code_id = quote_start = quote_end = reason = None
        mine = standing(conn, self.reviewer, suggestion_id)
        if action is Action.accept and mine is not None and mine.action == "edit":
            # accepting after correcting the span or code accepts the correction, not the machine's version
            action, code_id, quote_start, quote_end = Action.edit, mine.code_id, mine.quote_start, mine.quote_end
        elif action is Action.reject:
            if decision.reason is not None and decision.reason not in REJECT_REASONS:
                raise PrecodeError(f"field 'reason': unknown reason '{decision.reason}'",
                                   hint=f"use one of: {', '.join(REJECT_REASONS)}")
            reason = decision.reason
        elif action is Action.edit:
            current = mine if mine and mine.action == "edit" else None
            code_id = self._check_code(decision.code_id or (current.code_id if current else None) or row.code_id)
            if decision.quote_start is not None or decision.quote_end is not None:
                if decision.quote_start is None or decision.quote_end is None:
                    raise PrecodeError("fields 'quote_start'/'quote_end': give both ends of the span")
                quote_start, quote_end = self._span(row.seg_start, row.seg_end, row.seg_text,
                                                    decision.quote_start, decision.quote_end)
            elif current is not None:
                quote_start, quote_end = current.quote_start, current.quote_end
            else:
                quote_start, quote_end = row.quote_start, row.quote_end
            if (code_id, quote_start, quote_end) == (row.code_id, row.quote_start, row.quote_end):
                action, code_id, quote_start, quote_end = Action.accept, None, None, None  # nothing changed
        return record_decision(conn, Decision(
            suggestion_id=suggestion_id, reviewer=self.reviewer, action=action, code_id=code_id,
            quote_start=quote_start, quote_end=quote_end, reason=reason, note=(decision.note or "").strip() or None,
        ))

    def _check_unchanged(self, conn: sqlite3.Connection, suggestion_id: str, seen: int | None) -> None:
        """Refuse a decision made on a stale view: someone (another tab, another reviewer) decided since."""
        if seen is None:
            return
        latest = decision_store.latest_decision_id(conn, suggestion_id)
        if latest == seen:
            return
        history = decision_store.decision_history(conn, suggestion_id)
        last = history[-1] if history else None
        who = "you (in another tab or window)" if last and last.reviewer == self.reviewer else (
            last.reviewer if last else "someone")
        what = f"{last.action.value} at {last.at:%H:%M:%S}" if last else "a change"
        raise Conflict(f"suggestion '{suggestion_id}' changed since it was shown: {who} recorded {what}",
                       hint="look at it again (reload) and decide on what it is now")

    def undo(self, suggestion_id: str | None = None) -> UndoResult:
        """Withdraw this reviewer's decision on a suggestion, or their latest decision in this run."""
        with self.project.db.transaction() as conn:
            if suggestion_id is None:
                suggestion_id = decision_store.latest_decided_suggestion(conn, self.reviewer,
                                                                         [self.run.id, self._manual_run_id])
                if suggestion_id is None:
                    raise Conflict(f"{self.reviewer} has no decision in run {self.run.id} to undo")
            row = self._suggestion(conn, suggestion_id)
            mine = standing(conn, self.reviewer, suggestion_id)
            if mine is None:
                raise Conflict(f"{self.reviewer} has no decision on suggestion '{suggestion_id}' to undo")
            record_decision(conn, Decision(suggestion_id=suggestion_id, reviewer=self.reviewer, action=Action.undo))
        self._learned(1)
        in_queue = row.run_id == self.run.id
        return UndoResult(suggestion_id=suggestion_id, undone=mine, in_queue=in_queue,
                          item=self.item(suggestion_id) if in_queue else None)

    # -- codes the machine missed -----------------------------------------------------------------
    def _find_manual_run(self, conn: sqlite3.Connection) -> str | None:
        return review_store.open_manual_run(conn, self.reviewer, self.run.codebook_hash)

    def _manual_run(self, conn: sqlite3.Connection) -> str:
        """This reviewer's run for hand-added codes with this codebook, created on first use."""
        run_id = self._find_manual_run(conn)
        if run_id is None:
            from pipeline.coding import new_run_id

            run_id = new_run_id()
            self.project.db.start_run(Run(
                id=run_id, coder=MANUAL_CODER, model=self.reviewer, params={"added_while_reviewing": self.run.id},
                codebook_id=self.codebook.id, codebook_hash=self.run.codebook_hash,
            ))
        self._manual_run_id = run_id
        return run_id

    def add_missed(self, missed: MissedIn) -> SegmentCode:
        """Code a span (default: the whole segment) with a code the machine did not suggest there."""
        with self.project.db.transaction() as conn:
            seg = review_store.segment(conn, missed.segment_id)
            if seg is None:
                raise NotFound(f"no segment '{missed.segment_id}' in this project")
            self._check_claim(conn, seg.transcript_id)
            code_id = self._check_code(missed.code_id)
            if review_store.suggested_on_segment(conn, self.run.id, seg.id, code_id):
                raise Conflict(f"the machine already suggested '{self.codebook.by_id[code_id].label}' on this segment",
                               hint="review that suggestion (accept it, or correct its span) instead")
            if missed.quote_start is None and missed.quote_end is None:
                start, end = self._span(seg.start, seg.end, seg.text, seg.start, seg.end)
            elif missed.quote_start is None or missed.quote_end is None:
                raise PrecodeError("fields 'quote_start'/'quote_end': give both ends of the span, or neither")
            else:
                start, end = self._span(seg.start, seg.end, seg.text, missed.quote_start, missed.quote_end)
            run_id = self._manual_run(conn)
            suggestion_id = make_suggestion_id(run_id, seg.id, code_id)  # the coders' scheme: one per run, segment, code
            note = (missed.note or "").strip() or None
            if review_store.suggestion_exists(conn, suggestion_id):
                # added before (perhaps withdrawn since): this records the span now wanted
                decision = Decision(suggestion_id=suggestion_id, reviewer=self.reviewer, action=Action.edit,
                                    code_id=code_id, quote_start=start, quote_end=end, note=note)
            else:
                self.project.db.insert_suggestions(conn, [Suggestion(
                    id=suggestion_id, run_id=run_id, segment_id=seg.id, transcript_id=seg.transcript_id,
                    code_id=code_id, quote=seg.text[start - seg.start:end - seg.start], quote_start=start,
                    quote_end=end, grounding=Grounding.exact, score=1.0, rationale=note,
                )])
                decision = Decision(suggestion_id=suggestion_id, reviewer=self.reviewer, action=Action.accept,
                                    note=note)
            record_decision(conn, decision)
        self._learned(1)
        return SegmentCode(suggestion_id=suggestion_id, code_id=code_id, label=self.codebook.by_id[code_id].label,
                           added_by_reviewer=True, quote_start=start, quote_end=end, outcome="accepted")

    # -- bulk -------------------------------------------------------------------------------------
    def bulk_preview(self, queue_filter: QueueFilter) -> BulkPreview:
        """How many suggestions a bulk decision would cover, and how many of them already have mine."""
        queue, keep = self._matching(queue_filter)
        decided = keep & (queue.statuses(self.conn, self.reviewer) != 0)
        return BulkPreview(count=int(keep.sum()), already_decided=int(decided.sum()))

    def bulk(self, request: BulkIn) -> int:
        """Decide every suggestion the filter matches, if it still matches as many as confirmed."""
        if request.action == "reject" and request.reason is not None and request.reason not in REJECT_REASONS:
            raise PrecodeError(f"field 'reason': unknown reason '{request.reason}'",
                               hint=f"use one of: {', '.join(REJECT_REASONS)}")
        note = (request.note or "").strip() or None
        with self.project.db.transaction() as conn:  # the write lock first: then the set cannot change
            queue, keep = self._matching(request.filter)
            ids = queue.ids_of(keep, request.filter.order)
            if len(ids) != request.expected:
                raise Conflict(f"the filter now matches {len(ids)} suggestions, not the {request.expected} "
                               "confirmed", hint="look at the filtered queue again and confirm the new number")
            for suggestion_id in ids:
                record_decision(conn, Decision(
                    suggestion_id=suggestion_id, reviewer=self.reviewer, action=Action(request.action),
                    reason=request.reason if request.action == "reject" else None, note=note,
                ))
        self._learned(len(ids))
        return len(ids)

    # -- team review: claims ----------------------------------------------------------------------
    def _run_transcripts(self) -> list[str]:
        """The transcript versions of the run: its recorded scope and those it suggested codes on."""
        queue = self._queue()
        if self._scope is None or self._scope[1] is not queue:
            self._scope = (sorted(set(queue.transcripts) | run_transcript_ids(self.project.db, self.run.id)), queue)
        return self._scope[0]

    def _transcript(self, transcript_id: str) -> TranscriptInfo:
        if transcript_id in self._run_transcripts():
            for t in review_store.transcripts(self.conn, [transcript_id]):
                return TranscriptInfo(id=t.id, name=t.name, version=t.version)
        raise NotFound(f"no transcript '{transcript_id}' in run {self.run.id}")

    def _claimed_by_others(self, conn: sqlite3.Connection) -> set[str]:
        return {c.transcript_id for c in review_store.claims(conn, self.run.id) if c.reviewer != self.reviewer}

    def _check_claim(self, conn: sqlite3.Connection, transcript_id: str) -> None:
        holder = review_store.claim_holder(conn, self.run.id, transcript_id)
        if holder is not None and holder != self.reviewer:
            names = [t.name for t in review_store.transcripts(conn, [transcript_id])] or [transcript_id]
            raise Conflict(f"transcript '{names[0]}' is claimed by {holder}: only they decide its suggestions",
                           hint="work on another transcript, or ask them to release it")

    def claims(self) -> list[ClaimView]:
        """Who holds which transcript of this run."""
        return [ClaimView(transcript=self._transcript(c.transcript_id), reviewer=c.reviewer, claimed_at=c.claimed_at,
                          mine=c.reviewer == self.reviewer) for c in review_store.claims(self.conn, self.run.id)]

    def claim(self, transcript_id: str | None = None) -> ClaimView:
        """Claim a transcript (default: the first, by name, that nobody holds and I have suggestions pending in)."""
        with self.project.db.transaction() as conn:
            held = {c.transcript_id: c.reviewer for c in review_store.claims(conn, self.run.id)}
            if transcript_id is None:
                queue = self._queue()
                pending = queue.statuses(conn, self.reviewer) == 0
                free = [t for t in dict.fromkeys(queue.transcripts[i] for i in queue.transcript[pending])
                        if t not in held]
                if not free:
                    raise Conflict("every transcript with suggestions still pending for you is claimed",
                                   hint="ask a colleague to release one, or review without claiming")
                transcript_id = review_store.transcripts(conn, free)[0].id
            info = self._transcript(transcript_id)
            holder = held.get(transcript_id)
            if holder is not None and holder != self.reviewer:
                raise Conflict(f"transcript '{info.name}' is already claimed by {holder}",
                               hint="claim another transcript, or ask them to release it")
            if holder is None:
                review_store.add_claim(conn, review_store.Claim(run_id=self.run.id, transcript_id=transcript_id,
                                                                reviewer=self.reviewer, claimed_at=utcnow()))
        return next(c for c in self.claims() if c.transcript.id == transcript_id)

    def release(self, transcript_id: str, force: bool = False) -> None:
        """Give back a transcript this reviewer claimed (`force`: someone else's, e.g. a colleague who left)."""
        info = self._transcript(transcript_id)
        with self.project.db.transaction() as conn:
            holder = review_store.claim_holder(conn, self.run.id, transcript_id)
            if holder is None:
                raise Conflict(f"transcript '{info.name}' is not claimed")
            if holder != self.reviewer and not force:
                raise Conflict(f"transcript '{info.name}' is claimed by {holder}, not by {self.reviewer}",
                               hint="ask them to release it, or release it for them with force")
            review_store.remove_claim(conn, self.run.id, transcript_id)

    # -- passage-first review ---------------------------------------------------------------------
    def _passage_index(self) -> tuple[list[review_store.SegmentRow], dict[str, int], np.ndarray]:
        """The participant passages of the run's transcripts in reading order, and each queue item's passage."""
        queue = self._queue()
        if self._passages is None or self._passages[3] is not queue:
            segs = review_store.participant_segments(self.conn, self._run_transcripts())
            place = {s.id: i for i, s in enumerate(segs)}
            of_item = np.array([place.get(sid, -1) for sid in queue.segment_ids(self.conn)], dtype=np.int64)
            self._passages = (segs, place, of_item, queue)
        return self._passages[0], self._passages[1], self._passages[2]

    def _passage_matches(self, f: PassageFilter) -> np.ndarray:
        segs, _, of_item = self._passage_index()
        queue = self._queue()
        n = len(segs)
        keep = np.ones(n, dtype=bool)
        transcript_of = [s.transcript_id for s in segs]
        if f.transcript:
            keep &= np.array([t == f.transcript for t in transcript_of], dtype=bool)
        others = self._claimed_by_others(self.conn)
        if others:
            keep &= np.array([t not in others for t in transcript_of], dtype=bool)
        on_passage = of_item >= 0
        suggested = np.bincount(of_item[on_passage], minlength=n)
        if f.only == "unsuggested":
            keep &= suggested == 0
        elif f.only == "pending":
            undecided = on_passage & (queue.statuses(self.conn, self.reviewer) == 0)
            keep &= np.bincount(of_item[undecided], minlength=n) > 0
        return keep

    def passage(self, segment_id: str) -> PassageView:
        """One passage with all the run's suggestions on it, as this reviewer sees them (none is fine)."""
        _, place, of_item = self._passage_index()
        if segment_id not in place:
            raise NotFound(f"no participant passage '{segment_id}' in the transcripts of run {self.run.id}")
        queue = self._queue()
        items = [self.item(queue.ids[i]) for i in np.flatnonzero(of_item == place[segment_id])]
        found = review_store.passage_of_segment(self.conn, segment_id)
        assert found is not None
        transcript, segment, context = passage_parts(found)
        added = [c for c in segment_codes(self.conn, segment_id, self.run, self.codebook, self.reviewer,
                                          self._manual_run_id) if c.added_by_reviewer]
        return PassageView(transcript=transcript, segment=segment, context=context, items=items, added=added,
                           claimed_by=review_store.claim_holder(self.conn, self.run.id, found.transcript_id))

    def next_passage(self, f: PassageFilter, after: str | None = None, backwards: bool = False) -> PassageQueueView:
        """The next (or previous) matching passage after the passage `after` (the first when None), wrapping."""
        segs, place, _ = self._passage_index()
        places = np.flatnonzero(self._passage_matches(f))
        if len(places) == 0:
            return PassageQueueView(passage=None, total=0)
        here = place.get(after) if after is not None else None
        wrapped = False
        if here is None:
            at = len(places) - 1 if backwards else 0
        elif backwards:
            at = int(np.searchsorted(places, here, side="left")) - 1
            if at < 0:
                at, wrapped = len(places) - 1, True
        else:
            at = int(np.searchsorted(places, here, side="right"))
            if at >= len(places):
                at, wrapped = 0, True
        return PassageQueueView(passage=self.passage(segs[int(places[at])].id), index=at + 1, total=len(places),
                                wrapped=wrapped)

    # -- adjudication -----------------------------------------------------------------------------
    @staticmethod
    def _settled(d: DecisionView) -> tuple[str | None, str | None, int | None, int | None]:
        """What a decision settles on: its outcome, and for an edit the corrected code and span."""
        if d.action == "edit":
            return d.outcome, d.code_id, d.quote_start, d.quote_end
        return d.outcome, None, None, None

    def disagreements(self, first: str, second: str) -> list[Disagreement]:
        """The run's suggestions on which two reviewers' standing decisions differ, side by side."""
        if first == second:
            raise PrecodeError("compare two different reviewers", hint="name two reviewers")
        found = []
        rows = review_store.both_decided(self.conn, self.run.id, first, second)
        adjudicated = review_store.adjudications(self.conn, [r[0] for r in rows])
        for suggestion_id, _, _ in rows:
            a = standing(self.conn, first, suggestion_id)
            b = standing(self.conn, second, suggestion_id)
            if a is None or b is None or self._settled(a) == self._settled(b):
                continue
            adj = adjudicated.get(suggestion_id)
            found.append(Disagreement(
                item=self.item(suggestion_id), first=a, second=b, adjudicated_by=adj.adjudicator if adj else None,
                adjudication=standing(self.conn, adj.adjudicator, suggestion_id) if adj else None))
        return found

    def adjudicate(self, suggestion_id: str, request: AdjudicateIn) -> Disagreement:
        """A third reviewer settles a disagreement: their decision is recorded, with whom it adjudicates."""
        if self.reviewer in (request.first, request.second):
            raise Conflict(f"{self.reviewer} is one of the two reviewers: adjudication needs a third reviewer")
        with self.project.db.transaction() as conn:
            row = self._suggestion(conn, suggestion_id)
            self._check_unchanged(conn, suggestion_id, request.decision.seen)
            a = standing(conn, request.first, suggestion_id)
            b = standing(conn, request.second, suggestion_id)
            if a is None or b is None:
                missing = request.first if a is None else request.second
                raise Conflict(f"{missing} has no decision on suggestion '{suggestion_id}': nothing to adjudicate")
            recorded = self._record(conn, row, request.decision)
            assert recorded.id is not None
            review_store.record_adjudication(conn, review_store.Adjudication(
                suggestion_id=suggestion_id, adjudicator=self.reviewer, decision_id=recorded.id,
                first_reviewer=request.first, first_decision_id=a.id, second_reviewer=request.second,
                second_decision_id=b.id, at=recorded.at))
        return Disagreement(item=self.item(suggestion_id), first=a, second=b, adjudicated_by=self.reviewer,
                            adjudication=standing(self.conn, self.reviewer, suggestion_id))

    # -- progress and proposals -------------------------------------------------------------------
    def progress(self, scope: str | None = None) -> Progress:
        """Progress and per-code precision by `scope`'s decisions (default me; '*' = anyone's latest)."""
        scope = scope or self.reviewer
        queue = self._queue()
        return progress(self.conn, queue, queue.statuses(self.conn, scope), self.codebook, self.run.codebook_hash,
                        scope)

    def proposals(self, state: str | None = None) -> list[ProposalView]:
        return proposals.list_proposals(self.project, self.run, state)

    def adopt(self, proposal_id: str, form: AdoptIn) -> AdoptResult:
        return proposals.adopt(self.project, self.run, proposal_id, self.reviewer, form)

    def dismiss(self, proposal_id: str, note: str | None) -> ProposalView:
        return proposals.dismiss(self.project, self.run, proposal_id, self.reviewer, note)

