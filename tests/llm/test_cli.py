"""`precode code --coder llm` as a user types it: options, the run summary, exit codes, the guards."""

from __future__ import annotations

import pytest
from conftest import NETWORK_ATTEMPTS
from llm_helpers import USABILITY
from stub_server import Reply, answers, first_sentence
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import PrecodeError
from pipeline.models import RunStatus

runner = CliRunner()


def precode(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_code_with_the_llm_prints_calls_tokens_cost_and_grounding(stub, make_project):
    stub.handler = first_sentence(USABILITY)
    project = make_project(model="gpt-4o-mini")
    result = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root))
    assert result.exit_code == 0, result.output
    for expected in ("4 suggestions on 4 of 4 segments", "2 to the model, 0 from the cache, 0 failed",
                     "0 HTTP retries, 0 re-asks", "estimated cost", "$0.00", "4 exact, 0 normalized, 0 fuzzy, 0 ungrounded",
                     "4 of 4 coded, 0 failed"):
        assert expected in result.output, expected


def test_command_line_options_reach_the_requests(stub, make_project):
    stub.handler = first_sentence(USABILITY)
    project = make_project()
    result = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root), "--model", "other-model",
                     "--base-url", stub.url, "--temperature", "0.5", "--samples", "3", "--batch-size", "4",
                     "--concurrency", "1", "--propose-codes")
    assert result.exit_code == 0, result.output
    assert len(stub.requests) == 3  # one batch of four segments, three samples
    assert {b["model"] for b in stub.bodies} == {"other-model"} and {b["temperature"] for b in stub.bodies} == {0.5}
    assert all(len(answers(b)) == 4 for b in stub.bodies)
    assert "new_codes" in stub.bodies[0]["messages"][0]["content"]
    (run,) = project.db.runs()
    assert run.params["samples"] == 3 and run.params["propose_codes"] is True and run.model == "other-model"


def test_failed_segments_exit_1_and_say_how_to_finish(stub, make_project):
    stub.handler = lambda body: Reply(status=503)
    project = make_project(retries=0)
    result = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root))
    assert result.exit_code == 1
    assert "is not finished" in result.output and "Re-run the same command" in result.output
    assert "HTTP 503" in result.output
    stub.handler = first_sentence(USABILITY)
    again = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root))
    assert again.exit_code == 0 and "Resuming unfinished run" in again.output
    (run,) = project.db.runs()
    assert run.status is RunStatus.completed


def test_dry_run_prints_the_estimate_and_sends_nothing(stub, make_project):
    project = make_project(model="gpt-4o-mini")
    result = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run (nothing sent)" in result.output and "2 (0 answered from the cache)" in result.output
    assert "$0.0" in result.output and "context tokens" in result.output
    assert stub.requests == [] and project.db.runs() == []


def test_llm_options_are_refused_for_the_similarity_coder(make_project):
    project = make_project()
    result = precode("code", "-c", "nasss", "-p", str(project.root), "--model", "gpt-4o")
    assert isinstance(result.exception, PrecodeError) and "--coder llm only" in str(result.exception)


@pytest.mark.parametrize("flag", [[], ["--allow-remote"]])
def test_a_remote_endpoint_needs_allow_remote_and_a_key_and_nothing_is_contacted(make_project, monkeypatch, flag):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project = make_project(base_url="https://llm.example.invalid/v1")
    before = list(NETWORK_ATTEMPTS)
    result = precode("code", "-c", "nasss", "--coder", "llm", "-p", str(project.root), *flag)
    assert isinstance(result.exception, PrecodeError)
    expected = "OPENAI_API_KEY" if flag else "not on this machine"
    assert expected in str(result.exception)
    assert NETWORK_ATTEMPTS == before and project.db.runs() == []


def test_the_whole_job_with_the_llm_coder_exports_grounded_quotes(stub, make_project, tmp_path):
    import csv

    stub.handler = first_sentence(USABILITY)
    project = make_project()
    source = next(tmp_path.glob("interview_*.txt"))
    out = tmp_path / "coded.csv"
    result = precode("run", str(source), "--coder", "llm", "-p", str(project.root), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 4 and {r["coder"] for r in rows} == {"llm"} and {r["grounding"] for r in rows} == {"exact"}
    text = project.db.current_transcripts()[0].text
    assert all(text[int(r["quote_start"]):int(r["quote_end"])] == r["quote"] for r in rows)
