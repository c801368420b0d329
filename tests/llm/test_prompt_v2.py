"""Prompt code.v2 beside code.v1: rationale first, research question, participant, lead-in, near misses;
and exact OpenAI token counts and reasoning-model prices."""

from __future__ import annotations

import json

from llm_helpers import USABILITY, code, code_llm, coding
from stub_server import answers, user_message

from pipeline.codebook import load_codebook
from pipeline.llm.pricing import count_prompt_tokens, count_tokens, estimate_tokens, find_price
from pipeline.llm.prompt import SegmentView, lead_ins, load_prompt
from pipeline.models import RunStatus, Segment, SegmentRole
from pipeline.settings import LLMSettings

NASSS = load_codebook("nasss")
CODES = NASSS.at_level("leaf")


def test_v1_is_unchanged_and_v2_is_chosen_by_setting():
    v1, v2 = load_prompt("code.v1"), load_prompt("code.v2", "How do nurses judge sepsis alerts?")
    assert v1.version == "code.v1" and v2.version == "code.v2" and v1.hash != v2.hash
    system1 = v1.system(NASSS, CODES, "leaf", False, False)
    assert "research question" not in system1 and "Near misses" not in system1
    system2 = v2.system(NASSS, CODES, "leaf", False, False)
    assert "The study's research question: How do nurses judge sepsis alerts?" in system2
    assert "Near misses (talk that sounds like this code but is not it):" in system2
    assert CODES[0].exclude[0] in system2
    fmt = system2[system2.index('{"segments"'):].splitlines()[0]
    assert fmt.index('"rationale"') < fmt.index('"code_id"')
    assert "research question" not in load_prompt("code.v2").system(NASSS, CODES, "leaf", False, False)


def test_v2_user_message_shows_participant_and_lead_in_and_defuses_them():
    v2 = load_prompt("code.v2")
    user = v2.user(NASSS, [SegmentView("S1", "And then it stopped.", "What happened?", "It fired <answer> twice.",
                                       "nurse, ward 4")], None, False)
    assert '<segment id="S1" participant="nurse, ward 4">' in user
    assert "<lead_in>It fired \uff1canswer> twice.</lead_in>" in user
    assert "<lead_in>" not in load_prompt("code.v1").user(NASSS, [SegmentView("S1", "x", None, "lead")], None, False)


def seg(index: int, start: int, end: int, text: str, speaker: str = "P1", context_start: int | None = 0) -> Segment:
    return Segment(id=f"s{index}", transcript_id="t", index=index, start=start, end=end, speaker=speaker,
                   role=SegmentRole.participant, text=text, context_start=context_start)


def test_the_lead_in_is_the_last_sentence_of_the_same_answers_previous_piece():
    a = seg(0, 0, 40, "First it fired. Then we all stopped reading.")
    b = seg(1, 41, 60, "So nobody trusted it.")
    c = seg(2, 100, 120, "Another answer.", context_start=80)
    d = seg(3, 121, 140, "Someone else.", speaker="P2", context_start=80)
    assert lead_ins([a, b, c, d], [a, b, c, d]) == [None, "Then we all stopped reading.", None, None]


SPLIT = ("Interviewer: Tell me about the sepsis alert.\n\nP1: " + " ".join(
    f"Sentence {i} says the alert fired again on the ward and we clicked through it without reading." for i in range(20))
    + "\n")


def test_a_v2_run_sends_the_research_question_and_the_lead_in_and_completes(stub, make_project):
    stub.handler = coding({"Sentence 0 ": [code(USABILITY, "Sentence 0 says the alert fired again on the ward")]})
    project = make_project(text=SPLIT, prompt="code.v2", research_question="How do nurses judge alerts?",
                           batch_size=1)
    run = code_llm(project)
    assert run.status is RunStatus.completed and len(stub.requests) >= 2
    assert "How do nurses judge alerts?" in stub.bodies[0]["messages"][0]["content"]
    bodies = sorted(stub.bodies, key=lambda b: int(answers(b)[0].split()[1]))  # in transcript order (concurrency 2)
    assert "<lead_in>" not in user_message(bodies[0])
    for before, after in zip(bodies, bodies[1:]):  # each piece's lead-in is the previous piece's last sentence
        last = answers(before)[0].rsplit(". ", 1)[-1]
        assert f"<lead_in>{last}</lead_in>" in user_message(after)
    assert run.prompt_hash == load_prompt("code.v2").hash


def test_openai_token_counts_are_exact():
    # the OpenAI cookbook's example: "tiktoken is great!" is 6 cl100k_base tokens
    assert count_tokens("tiktoken is great!", "cl100k_base") == 6
    assert count_tokens("tiktoken is great!", None) == estimate_tokens(len("tiktoken is great!"))
    messages = [{"role": "system", "content": "tiktoken is great!"}, {"role": "user", "content": "tiktoken is great!"}]
    assert count_prompt_tokens(messages, "cl100k_base") == 2 * (3 + 6 + 1) + 3


def test_a_rendered_request_counts_fewer_tokens_than_the_chars_rule():
    v1 = load_prompt("code.v1")
    messages = [{"role": "system", "content": v1.system(NASSS, CODES, "leaf", False, False)}]
    exact = count_prompt_tokens(messages, "o200k_base")
    rough = estimate_tokens(len(messages[0]["content"]))
    assert exact < rough and abs(rough - exact) / exact > 0.1  # the chars/4 rule is off by more than 10 %


def test_reasoning_models_have_prices():
    prices = LLMSettings().prices
    for model, price in (("o3-mini-2025-01-31", 1.10), ("o4-mini", 1.10), ("gpt-5-mini", 0.25), ("gpt-5", 1.25),
                         ("o1", 15.00)):
        found = find_price(model, prices)
        assert found is not None and found.input == price, model
    assert json.dumps(sorted(prices))  # all serializable for precode.toml


def test_the_dry_run_counts_openai_prompt_tokens_within_10_percent(stub, make_project):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.coders import make_coder
    from pipeline.coders.llm import LLMOptions
    from pipeline.coding import coding_context, select_segments

    project = make_project(model="gpt-4o-mini")
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "-p", str(project.root), "--dry-run"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert stub.requests == []
    shown = int(result.output.split("prompt tokens")[1].split("(counted with o200k_base")[0].strip(" │|").replace(",", ""))
    segments = select_segments(project)
    context = coding_context(project, "", NASSS, CODES, "leaf", segments)
    prompts = make_coder("llm", project, llm=LLMOptions(), dry_run=True).prompts(segments, context)
    exact = sum(count_prompt_tokens(m, "o200k_base") for m in prompts)  # what OpenAI bills for these requests
    rough = sum(estimate_tokens(sum(len(x["content"]) for x in m)) for m in prompts)
    assert abs(shown - exact) / exact < 0.10 and abs(rough - exact) / exact > 0.10


def test_the_dry_run_of_a_reasoning_model_says_reasoning_tokens_are_not_included(stub, make_project):
    from typer.testing import CliRunner

    from pipeline.cli import app

    project = make_project(model="o4-mini")
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "-p", str(project.root), "--dry-run"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "reasoning tokens" in result.output and "reasoning_effort low" in result.output and not stub.requests
