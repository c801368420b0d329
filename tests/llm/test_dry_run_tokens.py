"""`--dry-run` counts prompt tokens with the model's real tokenizer (issue 11): within 10% of what an
OpenAI-like server reports for the same requests; models without a known tokenizer keep 4 characters a token."""

from __future__ import annotations

import warnings

import bpe_openai
from llm_helpers import USABILITY, code, code_llm, coding, participant_segments
from stub_server import Reply

from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coders.llm import LLMOptions
from pipeline.coding import coding_context

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    O200K = bpe_openai.get_encoding("o200k_base")

ANSWER = coding({"clicking through": [code(USABILITY, "By week three people were clicking through without reading anything.")]})


def openai_counting(body: dict) -> Reply:
    """Answer, reporting usage as OpenAI counts a gpt-4o request: o200k_base tokens of every message's
    content and role, 3 tokens per message and 3 for the reply (the server's count, not precode's)."""
    reply = ANSWER(body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prompt = sum(3 + len(O200K.encode_ordinary(m["content"])) + len(O200K.encode_ordinary(m["role"]))
                     for m in body["messages"]) + 3
    reply.usage = (prompt, 50)
    return reply


def _estimate(project, model: str | None = None):
    nasss = load_codebook("nasss")
    segments = participant_segments(project)
    coder = make_coder("llm", project, llm=LLMOptions(model=model), dry_run=True)
    return coder.estimate(segments, coding_context(project, "", nasss, nasss.at_level("leaf"), "leaf", segments))


def test_the_dry_run_is_within_10_percent_of_the_servers_prompt_tokens(stub, make_project):
    stub.handler = openai_counting
    project = make_project(model="gpt-4o-mini", batch_size=1)
    est = _estimate(project)
    assert est.tokenizer == "o200k_base" and est.requests == 4
    run = code_llm(project)
    billed = project.db.run_totals(run.id).prompt_tokens  # what the server reported, summed over the run
    assert billed > 0 and abs(est.prompt_tokens - billed) / billed < 0.10
    assert abs(est.prompt_chars / 4 - billed) / billed > 0.10  # the old 4-characters rule was not


def test_a_model_without_a_known_tokenizer_is_estimated_at_4_characters_a_token(stub, make_project):
    est = _estimate(make_project(model="stub-model"))
    assert est.tokenizer is None
    assert abs(est.prompt_tokens - est.prompt_chars / 4) <= est.requests  # rounded up per request
