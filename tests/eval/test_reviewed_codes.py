"""`precode eval --reviewed / --reviewer` count the codes reviewers added by hand ("add a missed code").

The codes are added through the real review service (`ReviewSession.add_missed`), which stores
them in the reviewer's manual run; the evaluation must read them as that reviewer's codings of
the reviewed run.
"""

from __future__ import annotations

import json

import pytest

from eval.sources import reviewed_codings
from pipeline.codebook import load_codebook
from pipeline.errors import PrecodeError
from pipeline.models import SegmentRole
from pipeline.review.models import DecisionIn, MissedIn
from pipeline.review.service import ReviewSession


@pytest.fixture
def reviewed(project_copy):
    """Ana accepts two suggestions and adds a missed code; Ben adds one; Cleo only adds one."""
    project, run_id = project_copy
    run = project.db.run(run_id)
    suggestions = project.db.suggestions(run_id)
    nasss = load_codebook("nasss")
    leaves = [c.id for c in nasss.codes if not nasss.children(c.id)]
    by_segment: dict[str, set[str]] = {}
    for s in suggestions:
        by_segment.setdefault(s.segment_id, set()).add(s.code_id)
    coded = {s.transcript_id for s in suggestions}
    segments = [g for g in project.db.segments(list(coded), role=SegmentRole.participant) if g.id in by_segment]
    taken = {s.code_id for s in suggestions[:2]}  # the codes of the two suggestions Ana accepts

    def free(segment, *exclude):
        """A leaf code the machine did not suggest on this segment (and none of `exclude`)."""
        return next(c for c in leaves if c not in by_segment[segment.id] and c not in taken and c not in exclude)

    ana = ReviewSession.open(project, run_id, "Ana Silva")
    for s in suggestions[:2]:
        ana.decide(s.id, DecisionIn(action="accept"))
    seg = segments[5]
    missed = free(seg)
    added = ana.add_missed(MissedIn(segment_id=seg.id, code_id=missed, note="the machine missed it"))
    ben = ReviewSession.open(project, run_id, "Ben Okafor")
    by_ben = ben.add_missed(MissedIn(segment_id=segments[6].id, code_id=free(segments[6], missed)))
    cleo = ReviewSession.open(project, run_id, "Cleo")
    by_cleo = cleo.add_missed(MissedIn(segment_id=segments[7].id, code_id=free(segments[7], missed)))
    return project, run, seg, added, by_ben, by_cleo, suggestions[:2]


def test_a_reviewers_coder_holds_the_codes_they_added(reviewed):
    project, run, seg, added, by_ben, by_cleo, accepted = reviewed
    ana = reviewed_codings(project, run, "Ana Silva")
    name = f"reviewed:Ana Silva@{run.id}"
    got = sorted((c.coder, c.segment_id, c.code) for c in ana.codings)
    assert got == sorted([(name, seg.id, added.code_id)] + [(name, s.segment_id, s.code_id) for s in accepted])
    hand = next(c for c in ana.codings if c.code == added.code_id)
    assert (hand.start, hand.end) == (seg.start, seg.end) == (added.quote_start, added.quote_end)
    assert "added by hand" in hand.source
    assert ana.summaries[-1].detail["added_by_hand"] == "1"
    # Ben's and Cleo's codes are theirs, not Ana's
    assert by_ben.code_id not in {c.code for c in ana.codings}
    ben = reviewed_codings(project, run, "Ben Okafor")
    assert [(c.coder, c.code, c.start, c.end) for c in ben.codings] == [
        (f"reviewed:Ben Okafor@{run.id}", by_ben.code_id, by_ben.quote_start, by_ben.quote_end)]


def test_reviewed_any_reviewer_holds_every_added_code(reviewed):
    project, run, seg, added, by_ben, by_cleo, accepted = reviewed
    anyone = reviewed_codings(project, run)
    codes = {(c.segment_id, c.code) for c in anyone.codings}
    assert (seg.id, added.code_id) in codes
    assert {by_ben.code_id, by_cleo.code_id} <= {c.code for c in anyone.codings}
    assert len(anyone.codings) == len(accepted) + 3
    assert {c.coder for c in anyone.codings} == {f"reviewed@{run.id}"}


def test_a_reviewer_who_only_added_codes_is_a_coder_and_is_named_in_errors(reviewed):
    project, run, *_, by_cleo, _accepted = reviewed
    cleo = reviewed_codings(project, run, "Cleo")
    assert [c.code for c in cleo.codings] == [by_cleo.code_id]
    with pytest.raises(PrecodeError, match="reviewer 'nobody' has no decisions") as caught:
        reviewed_codings(project, run, "nobody")
    assert "Ana Silva, Ben Okafor, Cleo" in caught.value.hint


def test_precode_eval_counts_the_added_code_for_the_reviewer(reviewed, cli, tmp_path):
    project, run, seg, added, *_ = reviewed
    out = tmp_path / "report"
    result = cli("eval", "--run", run.id, "--reviewer", "Ana Silva", "--level", "leaf", "--bootstrap", "0",
                 "--codebook", "nasss", "-p", project.root, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    machine, ana = f"similarity@{run.id}", f"reviewed:Ana Silva@{run.id}"
    assert data["coders"] == [machine, ana]
    summary = next(i for i in data["inputs"] if i["kind"] == "reviewed")
    assert summary["applications"] == 3 and summary["detail"]["added_by_hand"] == "1"
    # Ana applied the code on exactly one segment, the one she coded by hand, where the machine did not
    counts = data["codes"][added.code_id]["counts"]
    assert (counts["a"], counts["c"]) == (0, 1)
    units = data["disagreements"]["units"]
    mine = [e for e in data["disagreements"]["codes"][added.code_id] if e["coders"][ana]]
    assert len(mine) == 1 and mine[0]["coders"] == {machine: False, ana: True}
    unit = units[mine[0]["unit"]]
    assert (unit["start"], unit["end"]) == (seg.start, seg.end)
