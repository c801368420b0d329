"""The learned coder in a project: trains on a person's codes, codes the rest, verbatim quotes, a report."""

from __future__ import annotations

from pipeline.coders.learned import create
from pipeline.coding import run_coder
from pipeline.learn.model import MIN_EXAMPLES
from tests.learn.conftest import ANSWERS


def _t3(project):
    t3 = next(t for t in project.db.current_transcripts() if t.name == "t3")
    return t3, [s for s in project.db.segments([t3.id]) if s.role.value == "participant"]


def test_codes_only_what_nobody_coded_with_verbatim_quotes(coded_project, codebook):
    coder = create(coded_project, from_coder="ana", codebook=codebook, level="leaf")
    run = run_coder(coded_project, coder, codebook, "leaf")
    t3, segments = _t3(coded_project)
    suggestions = coded_project.db.suggestions(run.id)
    assert suggestions and {s.transcript_id for s in suggestions} == {t3.id}
    assert run.counts["human_coded_segments_skipped"] == 12
    by_segment = {s.id: s for s in segments}
    for s in suggestions:
        assert t3.text[s.quote_start:s.quote_end] == s.quote
        seg = by_segment[s.segment_id]
        assert seg.start <= s.quote_start < s.quote_end <= seg.end
        assert 0.0 <= s.score <= 1.0
    truth = {seg.id: code for seg in segments for code, answers in ANSWERS.items() if any(a in seg.text for a in answers)}
    best = {}
    for s in sorted(suggestions, key=lambda s: s.score):
        best[s.segment_id] = s.code_id
    assert sum(best.get(i) == code for i, code in truth.items()) >= 5  # of 6 answers


def test_the_run_records_what_it_learned_from(coded_project, codebook):
    coder = create(coded_project, from_coder="ana", codebook=codebook, level="leaf")
    run = run_coder(coded_project, coder, codebook, "leaf")
    training = run.params["training"]
    assert run.params["from_coders"] == ["ana"] and run.params["level"] == "leaf"
    assert {c: v["positives"] for c, v in training["codes"].items()} == {"money.cost": 4, "people.training": 4, "safety": 4}
    assert all(v["negatives"] == 8 for v in training["codes"].values())
    assert all(v["cv_kappa"] is not None for v in training["codes"].values())  # 4 positives: enough for CV
    assert training["few_examples"] == sorted(ANSWERS)  # all below MIN_EXAMPLES
    assert MIN_EXAMPLES > 4
    assert training["labelled_segments"] == 12


def test_single_mode_one_code_per_segment(coded_project, codebook):
    coder = create(coded_project, from_coder="ana", single=True, codebook=codebook, level="leaf")
    run = run_coder(coded_project, coder, codebook, "leaf")
    _, segments = _t3(coded_project)
    per_segment: dict[str, int] = {}
    for s in coded_project.db.suggestions(run.id):
        per_segment[s.segment_id] = per_segment.get(s.segment_id, 0) + 1
    assert per_segment == {s.id: 1 for s in segments}


def test_with_no_human_codes_it_codes_from_the_codebook(coded_project, codebook):
    coder = create(coded_project, codebook=codebook, level="leaf", single=True, reviews=False)
    run = run_coder(coded_project, coder, codebook, "leaf")
    assert run.params["training"]["labelled_segments"] == 0
    assert run.params["training"]["few_examples"] == sorted(ANSWERS)
    suggestions = coded_project.db.suggestions(run.id)
    assert len({s.segment_id for s in suggestions}) == len(suggestions) >= 12  # of 18, one code at most
    texts = {s.id: s.text for s in coded_project.db.segments()}
    right = sum(any(a in texts[s.segment_id] for a in ANSWERS[s.code_id]) for s in suggestions)
    assert right >= 0.8 * len(suggestions)
