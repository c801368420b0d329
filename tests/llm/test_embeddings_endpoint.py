"""OpenAI-compatible embeddings, selected in precode.toml, over real HTTP to the loopback stub."""

from __future__ import annotations

import pytest

from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coding import run_coder, select_segments
from pipeline.errors import PrecodeError
from pipeline.project import open_project
from pipeline.settings import write_settings
from pipeline.store.vectors import VectorStore


def _use_remote_embeddings(project, base_url: str, allow_remote: bool = False):
    settings = project.settings.model_copy(deep=True)
    settings.embedding.backend = "openai"
    settings.embedding.model = "stub-embed"
    settings.embedding.base_url = base_url
    settings.embedding.batch_size = 3
    settings.embedding.allow_remote = allow_remote
    settings.similarity.threshold = 0.0
    settings.similarity.margin = 0.0
    write_settings(project.root / "precode.toml", settings)
    project.close()
    return open_project(project.root)


def test_openai_embeddings_code_a_project_and_are_reused(make_project, stub, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    project = _use_remote_embeddings(make_project(), stub.url)
    run = run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    calls = [r for r in stub.requests if r["path"] == "/v1/embeddings"]
    assert calls and all(len(r["body"]["input"]) <= 3 for r in calls)
    assert {r["body"]["model"] for r in calls} == {"stub-embed"}
    assert run.model == "openai-stub-embed" and run.counts["suggestions"] > 0
    suggestions = project.db.suggestions(run.id)
    text = project.db.current_transcripts()[0].text
    assert all(text[s.quote_start:s.quote_end] == s.quote for s in suggestions)
    project.embeddings.searchable(select_segments(project))  # `precode similar`'s vectors: from the stored units
    store = VectorStore(project.chroma_path, namespace=project.id)
    assert store.collection("segments", "openai-stub-embed").count() == run.counts["segments"]
    assert project.embeddings.units.count("openai-stub-embed") == run.counts["quote_units"]

    stub.clear()
    again = run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    assert again.counts["quote_units_encoded"] == 0
    assert [r for r in stub.requests if r["path"] == "/v1/embeddings"] == []  # everything came from the store


def test_remote_embedding_endpoint_refused_without_permission(make_project, stub):
    project = _use_remote_embeddings(make_project(), "https://embeddings.example.org/v1")
    with pytest.raises(PrecodeError, match="allow_remote"):
        make_coder("similarity", project)
    assert stub.requests == []
