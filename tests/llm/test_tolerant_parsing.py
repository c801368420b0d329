"""What small local models write is taken as they meant it before any re-ask (issue 11, problem 5)."""

from __future__ import annotations

import json

import pytest
from llm_helpers import MEANING, USABILITY, code, code_llm
from stub_server import Reply, answer, labels

from pipeline.llm.answer import InvalidAnswer, parse_answer
from pipeline.models import Grounding, RunStatus

GOOD = {"segments": [{"segment": "S1", "codes": [{"code_id": "a.b", "quote": "q", "rationale": "r",
                                                  "confidence": 0.8}]}, {"segment": "S2", "codes": []}]}


@pytest.mark.parametrize("content", [
    "<think>The schema is {\"segments\": [...]}; S1 fits {a.b}.</think>\n" + json.dumps(GOOD),
    "Okay, so {S1} is about usability.\n</think>\n\n" + json.dumps(GOOD),  # the server dropped <think>
    "<think>{</think>```json\n" + json.dumps(GOOD) + "\n```",
    json.dumps(GOOD).replace("]}]", "],}],").replace("0.8}", "0.8,}"),  # trailing commas
    json.dumps(GOOD).replace('"', "'"),  # single quotes
    "// my answer\n" + json.dumps(GOOD),
])
def test_small_model_output_parses_without_a_re_ask(content):
    parsed = parse_answer(content, ["S1", "S2"])
    assert parsed.by_label()["S1"].codes[0].code_id == "a.b" and parsed.by_label()["S2"].codes == []


@pytest.mark.parametrize("word, value", [("high", 0.9), ("Medium", 0.6), ("low", 0.3), ("85%", 0.85)])
def test_confidence_words_are_numbers(word, value):
    content = json.dumps(GOOD).replace("0.8", json.dumps(word))
    assert parse_answer(content, ["S1", "S2"]).segments[0].codes[0].confidence == value


def test_a_cut_off_answer_is_not_repaired_into_fewer_codes():
    cut = json.dumps(GOOD)[:-30]
    with pytest.raises(InvalidAnswer, match="cut off at the token limit"):
        parse_answer(cut, ["S1", "S2"], "length")


def test_an_empty_answer_at_the_token_limit_says_so():
    with pytest.raises(InvalidAnswer, match="token limit was reached"):
        parse_answer("<think>" + "hmm " * 50 + "</think>", ["S1"], "length")


def test_a_think_block_with_braces_codes_the_run_without_re_asks(stub, make_project):
    def thinking(body: dict) -> Reply:
        out = [{"segment": label, "codes": [code(USABILITY, "The alert fired constantly on our unit.")]
                if label == "S1" else []} for label in labels(body)]
        return Reply("<think>Codes look like {\"code_id\": ...}; S1 {alert} fits.</think>\n" + answer(out))
    stub.handler = thinking
    project = make_project()
    run = code_llm(project)
    assert run.status is RunStatus.completed and run.counts["reasks"] == 0 and len(stub.requests) == 2


def test_code_labels_given_instead_of_ids_are_mapped_to_their_ids(stub, make_project):
    def by_label(body: dict) -> Reply:
        out = [{"segment": label, "codes": [code("Usability", "The alert fired constantly on our unit."),
                                            code("Communicate meaning effectively", "The alert fired constantly on our unit.")]
                if label == "S1" else []} for label in labels(body)]
        return Reply(answer(out))
    stub.handler = by_label
    project = make_project(batch_size=4)
    run = code_llm(project)
    stored = {s.code_id: s for s in project.db.suggestions(run.id)}
    assert set(stored) == {USABILITY, MEANING} and stored[USABILITY].grounding is Grounding.exact
    assert not project.db.conn.execute("SELECT 1 FROM llm_rejections WHERE run_id = ?", (run.id,)).fetchall()
