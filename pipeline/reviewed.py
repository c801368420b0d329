"""What a review settled on: the accepted codings of a reviewed run, with the codes reviewers added by hand.

A suggestion is accepted when its current review decision is `accept`, or `edit` with the
reviewer's corrected code and quote span (see `pipeline.decisions`). A code a reviewer adds by
hand while reviewing ("add a missed code") is stored as a suggestion of that reviewer's *manual
run* (coder 'reviewer', model = the reviewer's name, the codebook hash of the run under review)
with an accept decision. One manual run serves every run with that codebook the reviewer
reviews, so the hand-added codes of a reviewed run are the accepted suggestions of the manual
runs with the run's codebook hash that lie on the run's transcripts (the transcript versions it
made suggestions on).

`accepted_codings` is the one place that knows this: the REFI-QDA, XLSX and accepted-codings
CSV/JSONL exports and `precode eval --reviewed/--reviewer` all read it, so they agree on what
a review accepted.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.decisions import Decision, current_decisions
from pipeline.models import Run, Suggestion
from pipeline.store import decisions as decision_store
from pipeline.store import review as review_store
from pipeline.store.database import Database
from pipeline.store.review import MANUAL_CODER


class AcceptedCoding(BaseModel):
    """One accepted coding: the suggestion, the run it belongs to, the decision accepting it, the settled code and span."""

    suggestion: Suggestion
    run: Run                # the reviewed run, or a reviewer's manual run for a code added by hand
    decision: Decision      # the standing accept or edit
    code_id: str            # an edit's corrected code, else the suggested one
    start: int | None       # an edit's corrected span, else the suggestion's (None: quote not located)
    end: int | None

    @property
    def reviewer(self) -> str:
        return self.decision.reviewer

    @property
    def added_by_reviewer(self) -> bool:
        """A code a reviewer added by hand (the machine did not suggest it)."""
        return self.run.coder == MANUAL_CODER

    @property
    def span_corrected(self) -> bool:
        """The reviewer set the span (an edit): it may not lie within the suggestion's segment."""
        return self.decision.quote_start is not None and self.decision.quote_end is not None


def is_manual_run(run: Run) -> bool:
    return run.coder == MANUAL_CODER


def run_transcript_ids(db: Database, run_id: str) -> set[str]:
    """The transcript versions a run covers: those it recorded in its scope when it started (runs
    since migration 0007), and those it made suggestions on (the only evidence for older runs)."""
    found = review_store.run_transcript_ids(db.conn, run_id)
    scope = db.run_scope(run_id)
    return found | set(scope.transcript_ids) if scope is not None else found


def manual_runs(db: Database, run: Run) -> list[Run]:
    """The reviewers' manual runs that can hold hand-added codes for `run` (same codebook hash).

    None for a run that is itself a manual run: exporting one reviewer's manual run gives just that run.
    """
    if is_manual_run(run):
        return []
    return [db.run(run_id) for run_id in review_store.manual_run_ids(db.conn, run.codebook_hash, exclude=run.id)]


def _accepted(run: Run, suggestions: dict[str, Suggestion], decisions: dict[str, Decision],
              transcripts: set[str] | None) -> list[AcceptedCoding]:
    out = []
    for suggestion_id, decision in decisions.items():
        s = suggestions.get(suggestion_id)
        if s is None or not decision.accepted or (transcripts is not None and s.transcript_id not in transcripts):
            continue
        start, end = s.quote_start, s.quote_end
        if decision.quote_start is not None and decision.quote_end is not None:
            start, end = decision.quote_start, decision.quote_end
        out.append(AcceptedCoding(suggestion=s, run=run, decision=decision, code_id=decision.code_id or s.code_id,
                                  start=start, end=end))
    return out


def accepted_codings(db: Database, run: Run, reviewer: str | None = None,
                     include_manual: bool = True) -> list[AcceptedCoding]:
    """The accepted codings of a reviewed run, with the codes reviewers added by hand on its transcripts.

    With `reviewer`, only that reviewer's standing decisions count (and only the codes they added);
    else each suggestion's latest standing decision of any reviewer. The run's own codings come
    first, then each manual run's, each in suggestion id order. `include_manual=False` leaves the
    hand-added codes out.
    """
    decisions = current_decisions(db, run.id, reviewer)  # only decided suggestions are read: not the whole run
    codings = _accepted(run, db.suggestions_by_id(decisions), decisions, None)
    if include_manual:
        transcripts = run_transcript_ids(db, run.id)
        for manual in manual_runs(db, run):
            decided = current_decisions(db, manual.id, reviewer)
            codings += _accepted(manual, db.suggestions_by_id(decided), decided, transcripts)
    return codings


def run_reviewers(db: Database, run: Run) -> list[str]:
    """Everyone with a decision on the run's suggestions or a code added by hand on its transcripts."""
    names = decision_store.run_reviewers(db.conn, run.id)
    transcripts = run_transcript_ids(db, run.id)
    for manual in manual_runs(db, run):
        names |= decision_store.run_reviewers(db.conn, manual.id, transcripts)
    return sorted(names)
