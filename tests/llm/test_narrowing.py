"""Candidate narrowing with the codes collection in chromadb (loads the offline embedding model once)."""

from __future__ import annotations

import re

from llm_helpers import DATA, code_llm, participant_segments

from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coders.llm import LLMOptions
from pipeline.coding import coding_context
from pipeline.llm.narrowing import candidates


def test_narrowed_requests_carry_all_labels_and_only_the_candidates_full_entries(stub, make_project):
    project = make_project(candidates_top_k=3)
    nasss = load_codebook("nasss")
    leaves = nasss.at_level("leaf")
    segments = participant_segments(project)
    shortlist = candidates(project.embeddings, nasss, leaves, segments, 3)
    assert all(len(ids) == 3 for ids in shortlist.values())
    data_segment = next(s for s in segments if "drop-down" in s.text)
    assert DATA in shortlist[data_segment.id]

    run = code_llm(project)
    assert run.params["candidates_top_k"] == 3
    for body in stub.bodies:
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        assert all(f"- {c.id}: {nasss.path(c.id)}" in system for c in leaves)  # every label, stable prefix
        assert all(c.definition not in system for c in leaves)
        entries = re.findall(r"^## (\S+)$", user, re.MULTILINE)
        assert 3 <= len(entries) <= 6 and set(entries) <= {c.id for c in leaves}
        assert entries == [c.id for c in leaves if c.id in entries]  # codebook order
    assert len({b["messages"][0]["content"] for b in stub.bodies}) == 1

    stub.clear()
    exhaustive = code_llm(project, exhaustive=True)
    assert exhaustive.params["candidates_top_k"] == 0
    assert all(c.definition in stub.bodies[0]["messages"][0]["content"] for c in leaves)


def test_narrowing_cuts_the_estimated_prompt(make_project):
    project = make_project()
    nasss = load_codebook("nasss")
    leaves, segments = nasss.at_level("leaf"), participant_segments(project)
    context = coding_context(project, "", nasss, leaves, "leaf", segments)
    full = make_coder("llm", project, llm=LLMOptions(), dry_run=True).estimate(segments, context)
    narrow = make_coder("llm", project, llm=LLMOptions(candidates=3), dry_run=True).estimate(segments, context)
    assert narrow.narrowed and not full.narrowed
    assert narrow.prompt_chars < full.prompt_chars / 2
