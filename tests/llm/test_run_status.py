"""How runs end (issue 11): completed, incomplete (N segments failed: reason) or failed — never
left 'running' — and what status, export and review make of an incomplete run."""

from __future__ import annotations

import server_profiles as servers
from llm_helpers import CAPACITY, DATA, MEANING, USABILITY, code, code_llm, coding
from stub_server import Reply, answers
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import PrecodeError
from pipeline.models import RunStatus
from pipeline.review.service import ReviewSession

runner = CliRunner()
GOOD = coding({
    "clicking through": [code(USABILITY, "By week three people were clicking through without reading anything.")],
    "how sure": [code(MEANING, "It never tells you how sure it is, so I can’t judge whether to believe it.")],
    "drop-down": [code(DATA, "A drop-down defaulted to zero for urine output.")],
    "vendor": [code(CAPACITY, "the vendor took four months to change a threshold.")],
})


def precode(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def _failing_drop_down(body):
    return Reply(status=500) if any("drop-down" in a for a in answers(body)) else GOOD(body)


def test_a_run_with_failed_segments_ends_incomplete_and_status_export_and_review_accept_it(stub, make_project):
    stub.handler = _failing_drop_down
    project = make_project(retries=0)
    run = code_llm(project)
    assert run.status is RunStatus.incomplete and run.ended_at is not None
    assert run.reason == "2 segments failed: HTTP 500: " + run.reason.split("HTTP 500: ", 1)[1]
    root = str(project.root)

    status = precode("status", "-p", root)
    assert status.exit_code == 0, status.output
    assert "incomplete (2 segments failed: HTTP 500" in status.output

    exported = precode("export", "-p", root)  # plain export: the latest run is incomplete, not missing
    assert exported.exit_code == 0, exported.output
    assert "no completed coding run" not in exported.output
    assert f"run {run.id} is incomplete (2 segments failed" in exported.output
    assert (project.root / "export.csv").read_text(encoding="utf-8").count("\n") == 1 + run.counts["suggestions"]

    from pipeline.interchange.qdpx_write import ExportOptions, write_qdpx

    summary = write_qdpx(project, project.root / "p.qdpx", options=ExportOptions(include_all=True))
    assert summary.run_id == run.id  # the project export carries the incomplete run's codings too

    session = ReviewSession.open(project, None, "alice")
    assert session.run.id == run.id
    assert project.db.incomplete_note() is not None and project.db.incomplete_note(run.id[:10]) is not None

    stub.handler = GOOD  # the same command again: the incomplete run is reopened and completed
    again = code_llm(project)
    assert again.id == run.id and again.status is RunStatus.completed and again.reason is None
    assert len(project.db.runs()) == 1 and project.db.incomplete_note() is None


def test_an_interrupted_resume_of_an_incomplete_run_leaves_it_running_for_the_next_re_run(stub, make_project):
    stub.handler = _failing_drop_down
    project = make_project(retries=0, concurrency=1)
    run = code_llm(project)
    assert run.status is RunStatus.incomplete
    stub.push(Reply(status=401))  # the re-run is refused before it stores anything new
    try:
        code_llm(project)
    except PrecodeError:
        pass
    (reopened,) = project.db.runs()
    assert reopened.id == run.id and reopened.status is RunStatus.running and reopened.reason is None


def test_a_fail_fast_stop_ends_the_run_as_failed_with_the_servers_message(stub, make_project):
    stub.server = servers.broken_template
    project = make_project(batch_size=1, concurrency=2)
    try:
        code_llm(project)
        raise AssertionError("the run should have stopped")
    except PrecodeError as exc:
        message = str(exc)
    (run,) = project.db.runs()
    assert run.status is RunStatus.failed and run.ended_at is not None
    assert run.reason and "chat template of this model does not support a system message" in run.reason
    assert run.reason.split(" — ")[0] in message
    status = precode("status", "-p", str(project.root))
    assert "failed (" in status.output and "chat template" in status.output


def test_an_empty_account_ends_the_run_as_failed_at_once(stub, make_project):
    stub.server = servers.insufficient_quota
    project = make_project(batch_size=1, concurrency=1, retries=4)
    try:
        code_llm(project)
        raise AssertionError("the run should have stopped")
    except PrecodeError:
        pass
    (run,) = project.db.runs()
    assert run.status is RunStatus.failed and run.reason and "no quota left" in run.reason
