"""Whole runs of `precode code --coder llm` against stub servers that answer like real ones.

Each test is one numbered problem of issue 11; each failed before: every request was sent with
the same refused parameter, all segments failed, or the account error was retried."""

from __future__ import annotations

import pytest
import server_profiles as servers
from llm_helpers import MEANING, USABILITY, code, code_llm, coding
from stub_server import Reply, answers

from pipeline.errors import PrecodeError
from pipeline.interchange.tabular import export_rows
from pipeline.models import Grounding, RunStatus

S1 = "The alert fired constantly on our unit."
S2 = "It never tells you how sure it is, so I can’t judge whether to believe it."
GOOD = coding({"clicking through": [code(USABILITY, S1)], "how sure": [code(MEANING, S2)]})


def test_a_reasoning_model_with_default_settings_completes(stub, make_project):
    stub.server, stub.handler = servers.openai_reasoning, GOOD
    run = code_llm(make_project(model="o3-mini"))
    assert run.status is RunStatus.completed and len(stub.requests) == 2  # no request refused
    assert all("max_completion_tokens" in b and "temperature" not in b for b in stub.bodies)


@pytest.mark.parametrize("profile", [servers.azure_foundry_mistral, servers.gemini_openai])
def test_a_seed_rejecting_server_completes(stub, make_project, profile):
    stub.server, stub.handler = profile, GOOD
    run = code_llm(make_project(concurrency=1))
    assert run.status is RunStatus.completed and len(stub.requests) == 3  # one refusal, then two requests
    assert "seed" not in stub.bodies[-1]


def test_lm_studio_with_defaults_completes(stub, make_project):
    stub.server, stub.handler = servers.lmstudio, GOOD
    run = code_llm(make_project(concurrency=1))
    assert run.status is RunStatus.completed and len(stub.requests) == 3
    fmt = stub.bodies[-1]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["properties"]["segments"]


def test_a_deterministic_400_stops_the_run_within_a_few_requests(stub, make_project):
    stub.server = servers.broken_template
    project = make_project(batch_size=1, concurrency=2)  # four requests to send
    with pytest.raises(PrecodeError, match="chat template of this model does not support a system message") as err:
        code_llm(project)
    assert len(stub.requests) <= 4 and "Re-run" not in str(err.value)
    assert err.value.hint and "llm check" in err.value.hint


def test_insufficient_quota_stops_at_once(stub, make_project):
    stub.server = servers.insufficient_quota
    project = make_project(batch_size=1, concurrency=1, retries=4)
    with pytest.raises(PrecodeError, match="no quota left"):
        code_llm(project)
    assert len(stub.requests) == 1


def test_stitched_first_last_and_one_word_quotes_are_never_exported_as_evidence(stub, make_project):
    first_last = "The alert fired constantly … without reading anything."
    stitched = "There is a panel ... how sure it is ... whether to believe it"
    stub.handler = coding({"clicking through": [code(USABILITY, first_last)], "how sure": [code(MEANING, stitched)],
                           "drop-down": [code("technology.supply_model.data_quality", "and")]})
    project = make_project()
    run = code_llm(project)
    stored = project.db.suggestions(run.id)
    assert len(stored) == 3 and all(s.grounding is Grounding.ungrounded and s.quote_start is None for s in stored)
    assert list(export_rows(project, run.id)) == []
    assert run.counts["grounding_ungrounded"] == 3


def test_a_quote_of_enough_words_is_still_exact(stub, make_project):
    stub.handler = GOOD
    project = make_project()
    run = code_llm(project)
    assert {s.grounding for s in project.db.suggestions(run.id)} == {Grounding.exact}
    assert len(list(export_rows(project, run.id))) == 2


def test_a_refused_parameter_costs_one_extra_request_not_one_per_segment(stub, make_project):
    stub.server, stub.handler = servers.azure_foundry_mistral, GOOD
    run = code_llm(make_project(batch_size=1, concurrency=1))
    assert run.status is RunStatus.completed and len(stub.requests) == 5  # 4 requests + 1 refusal


def test_proxy_variables_set_a_loopback_run_is_reached_directly(stub, make_project, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    stub.handler = GOOD
    run = code_llm(make_project(retries=0))
    assert run.status is RunStatus.completed and len(stub.requests) == 2


def test_server_message_in_a_failed_segment_is_the_servers_own(stub, make_project):
    stub.handler = GOOD
    stub.push(Reply('{"segments": []}'), Reply(status=400, raw='{"error": "Model is unloaded."}'))
    project = make_project(concurrency=1, retries=0)
    run = code_llm(project)
    failures = [r[0] for r in project.db.conn.execute("SELECT error FROM llm_calls WHERE run_id = ? AND error IS NOT "
                                                      "NULL", (run.id,))]
    assert failures == ["HTTP 400: Model is unloaded."]


def test_a_request_that_timed_out_records_its_estimated_prompt_tokens(stub, make_project):
    stub.handler = GOOD
    stub.push(Reply('{"segments": []}', delay=4.0))  # the first request times out once and is not retried
    project = make_project(concurrency=1, retries=0, timeout=1.5)  # room for a loaded machine's normal answers
    run = code_llm(project)
    rows = project.db.conn.execute("SELECT outcome, prompt_tokens FROM llm_calls WHERE run_id = ? ORDER BY id",
                                   (run.id,)).fetchall()
    assert [r[0] for r in rows] == ["failed", "ok"] and rows[0][1] > 100


def test_what_the_server_refused_is_recorded_in_the_run_and_printed(stub, make_project):
    from typer.testing import CliRunner

    from pipeline.cli import app

    stub.server, stub.handler = servers.gemini_openai, GOOD
    project = make_project(concurrency=1)
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "-p", str(project.root)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run,) = project.db.runs()
    rows = project.db.conn.execute("SELECT parameter, change, reason FROM llm_adaptations WHERE run_id = ?",
                                   (run.id,)).fetchall()
    assert [tuple(r) for r in rows] == [("seed", "not sent", 'Invalid JSON payload received. Unknown name "seed": '
                                                             "Cannot find field.")]
    assert "refused: seed" in result.output and "Unknown name" in result.output


def test_reasoning_tokens_are_recorded_and_shown(stub, make_project):
    from typer.testing import CliRunner

    from pipeline.cli import app

    def reasoning(body):
        reply = GOOD(body)
        return Reply(reply.content, reasoning_tokens=200)
    stub.handler = reasoning
    project = make_project(model="o4-mini")
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "-p", str(project.root)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (total,) = project.db.conn.execute("SELECT SUM(reasoning_tokens) FROM llm_calls").fetchone()
    assert total == 400 and "400 of them reasoning" in result.output


def test_the_summary_names_elided_and_short_quotes_and_permanent_failures(stub, make_project):
    from typer.testing import CliRunner

    from pipeline.cli import app

    def handler(body):
        if any("drop-down" in a for a in answers(body)):
            return Reply(status=400, raw='{"error": {"message": "The response was filtered due to the prompt '
                                         'triggering content management policy.", "code": "content_filter"}}')
        return coding({"clicking through": [code(USABILITY, "The alert fired … without reading anything.")],
                       "how sure": [code(MEANING, "and")]})(body)
    stub.handler = handler
    project = make_project(retries=0)
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "-p", str(project.root)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "1 elided with '...', 1 too short to be evidence" in result.output
    assert "re-running will not fix them" in result.output and "precode export --run" in result.output
    assert "content management policy" in result.output
