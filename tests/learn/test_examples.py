"""Training examples from annotations and review decisions, at the coding level."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.coders.learned import create
from pipeline.coding import run_coder
from pipeline.decisions import Action, Decision, record_decision
from pipeline.errors import PrecodeError
from pipeline.learn.examples import examples_at_level, human_codes
from tests.learn.conftest import ANSWERS, segment_of


def test_a_coded_transcript_labels_every_segment(coded_project, codebook):
    people = human_codes(coded_project, ["ana"], reviews=False)
    examples = examples_at_level(people, codebook, codebook.at_level("leaf"))
    leaf_ids = [c.id for c in codebook.at_level("leaf")]
    assert leaf_ids == ["money.cost", "people.training", "safety"]
    assert len(examples.segments) == 12  # 6 participant answers in each of t1 and t2
    assert not np.isnan(examples.labels).any()
    assert (examples.labels.sum(axis=1) == 1).all()
    row = [s.id for s in examples.segments].index(segment_of(coded_project, ANSWERS["money.cost"][0]).id)
    assert examples.labels[row].tolist() == [1.0, 0.0, 0.0]
    t3 = {s.id for s in coded_project.db.segments() if s.transcript_id not in {e.transcript_id for e in examples.segments}}
    assert t3 and not t3 & {s.id for s in examples.segments}
    assert people.counts["annotations"] == 12


def test_codes_roll_up_to_the_level(coded_project, codebook):
    people = human_codes(coded_project, ["ana"], reviews=False)
    domains = codebook.at_level("domain")
    examples = examples_at_level(people, codebook, domains)
    assert [c.id for c in domains] == ["money", "people", "safety"]
    assert examples.labels.sum(axis=0).tolist() == [4.0, 4.0, 4.0]


def test_an_unknown_coder_is_one_clear_error(coded_project):
    with pytest.raises(PrecodeError, match="no annotations by coder"):
        human_codes(coded_project, ["bob"])


def test_review_decisions_become_labels(coded_project, codebook):
    coder = create(coded_project, from_coder="ana", codebook=codebook, level="leaf")
    run = run_coder(coded_project, coder, codebook, "leaf")
    suggestions = coded_project.db.suggestions(run.id)
    accepted, rejected = suggestions[0], suggestions[1]
    edited = next(s for s in suggestions if s.segment_id not in {accepted.segment_id, rejected.segment_id})
    new_code = next(c for c in ANSWERS if c != edited.code_id)
    with coded_project.db.transaction() as conn:
        record_decision(conn, Decision(suggestion_id=accepted.id, reviewer="rev", action=Action.accept))
        record_decision(conn, Decision(suggestion_id=rejected.id, reviewer="rev", action=Action.reject))
        record_decision(conn, Decision(suggestion_id=edited.id, reviewer="rev", action=Action.edit, code_id=new_code))
    people = human_codes(coded_project, [], reviews=True)
    examples = examples_at_level(people, codebook, codebook.at_level("leaf"))
    index = {c.id: j for j, c in enumerate(codebook.at_level("leaf"))}
    rows = {s.id: examples.labels[i] for i, s in enumerate(examples.segments)}
    assert rows[accepted.segment_id][index[accepted.code_id]] == 1.0
    assert rows[rejected.segment_id][index[rejected.code_id]] == 0.0
    assert rows[edited.segment_id][index[new_code]] == 1.0
    assert rows[edited.segment_id][index[edited.code_id]] == 0.0
    # the codes nobody decided on stay unknown
    decided = {(s.segment_id, s.code_id) for s in (accepted, rejected, edited)} | {(edited.segment_id, new_code)}
    for segment_id, row in rows.items():
        for code, j in index.items():
            if (segment_id, code) not in decided:
                assert np.isnan(row[j])


def test_quote_units_are_labelled_by_the_spans_that_cover_them(codebook):
    from pipeline.indexing import QuoteUnit
    from pipeline.learn.examples import HumanCodes, unit_labels
    from pipeline.models import Segment, SegmentRole

    seg = Segment(id="s1", transcript_id="t", index=0, start=0, end=100, speaker="P1", role=SegmentRole.participant,
                  text="x" * 100)
    reviewed = Segment(id="s2", transcript_id="t", index=1, start=100, end=200, speaker="P1",
                       role=SegmentRole.participant, text="y" * 100)
    people = HumanCodes({"s1": seg, "s2": reviewed}, labels={"s1": {"money.cost": 1.0}, "s2": {"safety": 0.0}},
                        full={"s1"}, spans={"s1": [(0, 45, "money.cost", 1.0)], "s2": [(150, 200, "safety", 0.0)]})
    units = [QuoteUnit("u1", "s1", 0, 50, "a"), QuoteUnit("u2", "s1", 50, 100, "b"),
             QuoteUnit("u3", "s2", 100, 150, "c"), QuoteUnit("u4", "s2", 150, 200, "d")]
    y = unit_labels(people, units, codebook, codebook.at_level("leaf"))
    assert y[0].tolist() == [1.0, 0.0, 0.0]  # the coded sentence
    assert y[1].tolist() == [0.0, 0.0, 0.0]  # the rest of a segment read in full
    assert np.isnan(y[2]).all()  # a reviewed segment: what the decision's quote does not cover is unknown
    assert np.isnan(y[3, 0]) and y[3, 2] == 0.0
    domains = unit_labels(people, units, codebook, codebook.at_level("domain"))
    assert domains[0].tolist() == [1.0, 0.0, 0.0]  # money.cost counts for money
