"""Answer parsing (what is re-asked and why), the majority vote, and prices."""

from __future__ import annotations

import json

import pytest

from pipeline.grounding import QuoteMatch
from pipeline.llm.answer import InvalidAnswer, answer_schema, parse_answer
from pipeline.llm.checks import CheckedCode, CheckedSegment, Evidence
from pipeline.llm.pricing import cost_usd, estimate_tokens, find_price
from pipeline.llm.vote import majority
from pipeline.models import Grounding
from pipeline.settings import Price

VALID = {"segments": [{"segment": "S1", "codes": [{"code_id": "a.b", "quote": "q", "rationale": "r", "confidence": 0.5}]},
                      {"segment": "S2", "codes": []}]}


@pytest.mark.parametrize("content", [
    json.dumps(VALID),
    "```json\n" + json.dumps(VALID) + "\n```",
    "Here is the coding:\n" + json.dumps(VALID) + "\nHope this helps.",
])
def test_valid_answers_parse_with_or_without_fences_and_prose(content):
    answer = parse_answer(content, ["S1", "S2"])
    assert answer.by_label()["S1"].codes[0].code_id == "a.b" and answer.by_label()["S2"].codes == []


@pytest.mark.parametrize("content, finish, message", [
    ("", "stop", "empty"),
    (None, "stop", "empty"),
    ('{"segments": [{"segment": "S1", "co', "length", "cut off at the token limit"),
    ('{"segments": [oops]}', "stop", "not valid JSON"),
    (json.dumps({"segments": [{"segment": "S1", "codes": [{"code_id": "x", "quote": "q", "rationale": "r",
                                                          "confidence": 80}]}]}), "stop",
     "less than or equal to 1"),
    (json.dumps({"segments": [{"segment": "S1", "codes": [{"code_id": "x", "quote": "", "rationale": "r",
                                                          "confidence": 0.1}]}]}), "stop", "quote"),
    (json.dumps({"segments": [{"segment": "S1", "codes": []}, {"segment": "S1", "codes": []}]}), "stop",
     "S1 appear more than once"),
    (json.dumps({"segments": [{"segment": "S1", "codes": []}, {"segment": "S3", "codes": []}]}), "stop",
     "S3 were not in the request"),
    (json.dumps({"codes": []}), "stop", "segments: Field required"),
])
def test_unusable_answers_raise_a_message_for_the_re_ask(content, finish, message):
    with pytest.raises(InvalidAnswer, match=message):
        parse_answer(content, ["S1", "S2"], finish)


def test_a_schema_error_also_names_the_missing_segments():
    content = json.dumps({"segments": [{"segment": "S1", "codes": [{"code_id": "x"}]}]})
    with pytest.raises(InvalidAnswer) as err:
        parse_answer(content, ["S1", "S2"])
    assert "quote" in str(err.value) and "S2 are missing" in str(err.value)


def test_the_strict_schema_lists_segments_and_codes():
    schema = answer_schema(["S1"], ["a", "b"], propose_codes=True)
    segment = schema["properties"]["segments"]["items"]
    assert segment["properties"]["segment"]["enum"] == ["S1"]
    assert segment["properties"]["codes"]["items"]["properties"]["code_id"]["enum"] == ["a", "b"]
    assert segment["required"] == ["segment", "codes", "new_codes"]
    assert "new_codes" not in answer_schema(["S1"], ["a"], propose_codes=False)["properties"]["segments"]["items"][
        "properties"]


def checked(sample: int, *codes: tuple[str, Grounding, float]) -> CheckedSegment:
    return CheckedSegment(segment_id="seg", sample=sample, proposals=[], rejections=[], codes=[
        CheckedCode(code_id=code_id, rationale=f"sample {sample}", confidence=confidence,
                    evidence=Evidence(model_quote="q", text="q", match=QuoteMatch(
                        grounding=grounding, score=100, start=None if grounding is Grounding.ungrounded else 0,
                        end=None if grounding is Grounding.ungrounded else 1)))
        for code_id, grounding, confidence in codes])


def test_majority_vote_needs_more_than_half_and_keeps_the_best_grounded_quote():
    samples = [
        checked(0, ("a", Grounding.ungrounded, 0.9), ("b", Grounding.exact, 0.9)),
        checked(1, ("a", Grounding.fuzzy, 0.4)),
        checked(2, ("a", Grounding.fuzzy, 0.8), ("c", Grounding.exact, 0.9)),
        checked(3, ("b", Grounding.exact, 0.5)),
    ]
    voted = {v.code.code_id: v for v in majority(samples)}
    assert set(voted) == {"a"}  # b has 2 of 4: not more than half
    assert voted["a"].votes == 3 and voted["a"].score == 0.75
    assert voted["a"].sample == 2 and voted["a"].code.rationale == "sample 2"  # fuzzy beats ungrounded; then confidence


def test_one_sample_keeps_the_models_confidence():
    (only,) = majority([checked(0, ("a", Grounding.exact, 0.42))])
    assert only.score == 0.42 and only.votes == 1


def test_prices_match_by_longest_prefix_and_charge_cached_tokens_at_their_rate():
    prices = {"gpt-4o": Price(input=2.5, output=10), "gpt-4o-mini": Price(input=0.15, output=0.6, cached_input=0.075)}
    assert find_price("gpt-4o-mini-2024-07-18", prices) is prices["gpt-4o-mini"]
    assert find_price("gpt-4o-2024-08-06", prices) is prices["gpt-4o"]
    assert find_price("llama3.1:8b", prices) is None and cost_usd(None, 10, 10) is None
    assert cost_usd(prices["gpt-4o-mini"], 1_000_000, 1_000_000, cached_tokens=400_000) == \
        pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.6)
    assert cost_usd(prices["gpt-4o"], 1_000_000, 0, cached_tokens=500_000) == pytest.approx(2.5)  # no cached rate
    assert estimate_tokens(9) == 3 and estimate_tokens(8) == 2
