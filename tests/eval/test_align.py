"""Units and alignment: the overlap rule, missing data, and character level against hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from eval.align import align_chars, align_segments, align_units, overlap_hits
from eval.inputs import SpanCoding, SpanInput, UnitCoding
from eval.metrics import agreement_table
from pipeline.errors import PrecodeError
from pipeline.models import Segment, SegmentRole

# segments [0,100) [100,110) [110,300) of one transcript
SEG_STARTS, SEG_ENDS = np.array([0, 100, 110]), np.array([100, 110, 300])


def hits(start, end, min_overlap=0.5):
    return overlap_hits(np.array([start]), np.array([end]), SEG_STARTS, SEG_ENDS, min_overlap)[0].tolist()


@pytest.mark.parametrize("span, expected", [
    ((10, 20), [True, False, False]),     # a quote inside one segment
    ((90, 110), [True, True, False]),     # 10/20 of the span in seg 0 (50%: counts) and all of the short seg 1
    ((95, 100), [True, False, False]),    # ending on a boundary: nothing in seg 1
    ((60, 112), [True, True, False]),     # 2 trailing chars in seg 2 (4% of span, 1% of seg) do not count
    ((99, 140), [False, True, True]),     # 1 char in seg 0 does not count; 30/41 of the span in seg 2 does
    ((50, 150), [True, True, False]),     # exactly 50% of seg 0; 40% of the span and 21% of seg 2 is too little
    ((0, 300), [True, True, True]),       # a whole answer covers every piece
    ((250, 400), [False, False, False]),  # mostly outside every segment (e.g. on interviewer text): no unit
])
def test_overlap_rule(span, expected):
    assert hits(*span) == expected


def test_overlap_threshold_is_inclusive_and_tunable():
    assert hits(100, 104) == [False, True, False]            # 4/4 of the span in seg 1
    assert hits(106, 114) == [False, True, True]             # 4/8 of the span in each: exactly 50% counts twice
    assert hits(106, 114, min_overlap=0.6) == [False, False, False]
    assert hits(300, 310) == [False, False, False]           # after the last segment: no overlap at all


def _segments(tid="t1"):
    return [Segment(id=f"s{i}", transcript_id=tid, index=i, start=int(a), end=int(b), speaker="P",
                    role=SegmentRole.participant, text="x" * int(b - a), context="Q?")
            for i, (a, b) in enumerate(zip(SEG_STARTS, SEG_ENDS, strict=True))]


def test_align_segments_presence_missing_and_unmapped(make_transcript):
    t1 = make_transcript("one", "y" * 300).model_copy(update={"id": "t1"})
    t2 = make_transcript("two", "z" * 50).model_copy(update={"id": "t2"})
    segments = _segments("t1") + [Segment(id="s9", transcript_id="t2", index=0, start=0, end=50, speaker="P",
                                          role=SegmentRole.participant, text="z" * 50)]
    spans = SpanInput(
        codings=[SpanCoding(coder="A", code="x", transcript_id="t1", start=10, end=20, source="f:2"),
                 SpanCoding(coder="A", code="y", transcript_id="t1", start=0, end=300, source="f:3"),
                 SpanCoding(coder="B", code="x", transcript_id="t1", start=500, end=600, source="f:4"),
                 SpanCoding(coder="B", code="x", transcript_id="t2", start=0, end=1, segment_id="s9", source="run"),
                 SpanCoding(coder="B", code="y", transcript_id="t1", start=120, end=130, source="f:5")],
        coverage={"A": {"t1"}, "B": {"t1", "t2"}},
    )
    aligned = align_segments(spans, segments, {"t1": t1, "t2": t2})
    assert aligned.coders == ["A", "B"] and aligned.codes == ["x", "y"]
    assert aligned.presence[0, :, 0].tolist() == [True, False, False, False]
    assert aligned.presence[0, :, 1].tolist() == [True, True, True, False]
    assert aligned.presence[1, :, 0].tolist() == [False, False, False, True]  # the given segment id wins
    assert aligned.presence[1, :, 1].tolist() == [False, False, True, False]
    assert aligned.observed.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert len(aligned.problems) == 1 and aligned.problems[0].source == "f:4"
    assert aligned.units.transcript == ["one", "one", "one", "two"]
    assert aligned.units.context[0] == "Q?"
    assert aligned.sources == {"x": "f:2", "y": "f:3"}
    assert "50% of the span or at least 50% of the segment" in aligned.description
    absent = align_segments(spans, segments, {"t1": t1, "t2": t2}, missing="absent")
    assert absent.observed.all()
    with pytest.raises(PrecodeError, match="--min-overlap"):
        align_segments(spans, segments, {"t1": t1, "t2": t2}, min_overlap=0)


def test_align_units_universe_and_missing_modes():
    codings = [UnitCoding(unit="u1", coder="A", code="x", source="f:2"),
               UnitCoding(unit="u2", coder="A", code=None, source="f:3"),
               UnitCoding(unit="u1", coder="B", code="y", source="f:4")]
    aligned = align_units(codings)
    assert aligned.units.ids == ["u1", "u2"] and aligned.codes == ["x", "y"]
    assert aligned.observed.all()  # absent: B applied no code to u2
    assert aligned.presence.sum() == 2
    missing = align_units(codings, missing="missing")
    assert missing.observed.tolist() == [[True, True], [True, False]]
    listed = align_units(codings, universe=["u0", "u1", "u2"])
    assert listed.units.ids == ["u0", "u1", "u2"] and listed.presence[:, 0].sum() == 0
    with pytest.raises(PrecodeError, match=r"unit\(s\) not in the --units file: 'u2' \(f:3\)"):
        align_units(codings, universe=["u1"])
    with pytest.raises(PrecodeError, match="unknown --missing mode"):
        align_units(codings, missing="skip")


def _char_spans(spans, coverage):
    return SpanInput(codings=[SpanCoding(coder=c, code=k, transcript_id=t, start=s, end=e, source="f")
                              for c, k, t, s, e in spans], coverage=coverage)


def test_char_level_matches_hand_computation(make_transcript):
    # one transcript of 20 characters; code x: A marks [0,12), B marks [4,10)
    #   a = |A ∩ B| = 6, b = |A \ B| = 6, c = |B \ A| = 0, d = 20 - 12 = 8
    #   Po = 14/20 = 0.70; p_A = 0.60, p_B = 0.30; Pe = 0.18 + 0.28 = 0.46
    #   kappa = (0.70 - 0.46) / 0.54 = 0.444...
    t = make_transcript("t", "abcdefghijklmnopqrst")
    spans = _char_spans([("A", "x", t.id, 0, 12), ("B", "x", t.id, 4, 10)], {"A": {t.id}, "B": {t.id}})
    aligned = align_chars(spans, {t.id: t})
    assert aligned.units.size() == 20
    assert aligned.units.weights.tolist() == [4, 6, 2, 8]  # runs [0,4) [4,10) [10,12) [12,20)
    assert aligned.units.text == ["abcd", "efghij", "kl", "mnopqrst"]
    r = agreement_table(aligned.presence, aligned.observed, code_ids=aligned.codes, coder_names=aligned.coders,
                        unit_weights=aligned.units.weights)
    g = r.per_code["x"]
    assert g.counts.model_dump() == {"a": 6, "b": 6, "c": 0, "d": 8}
    assert g.po == pytest.approx(0.70) and g.pe == pytest.approx(0.46)
    assert g.kappa == pytest.approx(0.24 / 0.54, abs=1e-12)
    assert "NVivo" in aligned.description


def test_char_level_equals_per_character_brute_force(make_transcript):
    rng = np.random.default_rng(7)
    texts = {"t1": "a" * 137, "t2": "b" * 61}
    transcripts = {tid: make_transcript(tid, text).model_copy(update={"id": tid}) for tid, text in texts.items()}
    spans = []
    for _ in range(40):
        tid = rng.choice(list(texts))
        s = int(rng.integers(0, len(texts[tid]) - 1))
        e = int(rng.integers(s + 1, len(texts[tid]) + 1))
        spans.append((str(rng.choice(["A", "B", "C"])), str(rng.choice(["x", "y"])), tid, s, e))
    coverage = {"A": {"t1", "t2"}, "B": {"t1", "t2"}, "C": {"t1"}}
    aligned = align_chars(_char_spans(spans, coverage), transcripts)
    # brute force: one unit per character
    brute = np.zeros((3, 198, 2), dtype=bool)
    offset = {"t1": 0, "t2": 137}
    for c, k, tid, s, e in spans:
        brute["ABC".index(c), offset[tid] + s:offset[tid] + e, "xy".index(k)] = True
    observed = np.ones((3, 198), dtype=bool)
    observed[2, 137:] = False  # C did not code t2
    coder_rows = ["ABC".index(c) for c in aligned.coders]
    code_cols = ["xy".index(k) for k in aligned.codes]
    names = dict(code_ids=aligned.codes, coder_names=aligned.coders, gold="A")
    fast = agreement_table(aligned.presence, aligned.observed, unit_weights=aligned.units.weights, **names)
    slow = agreement_table(brute[coder_rows][:, :, code_cols], observed[coder_rows], **names)
    assert fast.n_units == slow.n_units == 198
    for key, pair in slow.pairs.items():
        for code, expected in pair.per_code.items():
            got = fast.pairs[key].per_code[code]
            assert got.counts == expected.counts
            for stat in ("kappa", "po", "ac1", "alpha", "f1"):
                assert getattr(got, stat) == pytest.approx(getattr(expected, stat), nan_ok=True, abs=1e-12)
    for code, expected in slow.multi.per_code.items():
        got = fast.multi.per_code[code]
        assert (got.n_units_fleiss, got.n_units_alpha) == (expected.n_units_fleiss, expected.n_units_alpha)
        for stat in ("fleiss_kappa", "alpha", "po", "ac1"):
            assert getattr(got, stat) == pytest.approx(getattr(expected, stat), nan_ok=True, abs=1e-12)
        assert got.prevalence == pytest.approx(expected.prevalence)


def test_char_level_transcript_without_codes(make_transcript):
    t1, t2 = make_transcript("a", "x" * 10), make_transcript("b", "y" * 5)
    spans = _char_spans([("A", "k", t1.id, 2, 4)], {"A": {t1.id, t2.id}, "B": {t1.id, t2.id}})
    aligned = align_chars(spans, {t1.id: t1, t2.id: t2})
    assert aligned.units.size() == 15
    assert aligned.units.ids == ["a:0-2", "a:2-4", "a:4-10", "b:0-5"]
    assert aligned.presence[:, :, 0].tolist() == [[False, True, False, False], [False] * 4]
