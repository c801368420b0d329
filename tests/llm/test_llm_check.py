"""`precode llm check`: one small request, and what the endpoint accepts."""

from __future__ import annotations

import server_profiles as servers
from stub_server import Reply
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def test_check_reports_what_a_seed_rejecting_server_refused_and_the_setting_to_add(stub, make_project):
    stub.server = servers.azure_foundry_mistral
    stub.push(Reply('{"ok": true}'))
    project = make_project()
    result = runner.invoke(app, ["llm", "check", "-p", str(project.root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "refused: seed" in result.output and "Extra inputs are not permitted" in result.output
    assert "send_seed = false" in result.output and "valid JSON" in result.output
    assert len(stub.requests) == 2 and "transcript" not in str(stub.bodies)


def test_check_shows_a_reasoning_models_profile_and_reasoning_tokens(stub, make_project):
    stub.server = servers.openai_reasoning
    stub.push(Reply('{"ok": true}', usage=(30, 80), reasoning_tokens=64))
    project = make_project()
    result = runner.invoke(app, ["llm", "check", "-p", str(project.root), "--model", "gpt-5-mini"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "openai-reasoning" in result.output and "max_completion_tokens" in result.output
    assert "64 reasoning" in result.output and len(stub.requests) == 1


def test_check_of_an_empty_account_is_one_clear_error(stub, make_project):
    stub.server = servers.insufficient_quota
    project = make_project()
    result = runner.invoke(app, ["llm", "check", "-p", str(project.root)])
    assert result.exit_code != 0 and "no quota left" in str(result.exception)
    assert len(stub.requests) == 1
