"""`precode code --coder llm --batch` against a stub of the OpenAI Files and Batches endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from batch_stub import BatchStub
from llm_helpers import USABILITY, calls, code_llm
from stub_server import first_sentence
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.llm.batch import BATCHES_DIR, load_states
from pipeline.models import RunStatus
from pipeline.project import Project, open_project

HANDLER = first_sentence(USABILITY)


@pytest.fixture
def batch_stub():
    server = BatchStub(HANDLER).start()
    yield server
    server.stop()


def _result(project: Project, run_id: str) -> set[tuple]:
    return {(s.code_id, s.quote, s.quote_start, s.quote_end, s.grounding.value, s.score, s.rationale)
            for s in project.db.suggestions(run_id)}


def _precode(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_batch_end_to_end_with_a_restart_and_failed_lines_equals_the_synchronous_path(stub, batch_stub, make_project):
    stub.handler = HANDLER
    sync_project = make_project(model="gpt-4o-mini")
    sync_run = code_llm(sync_project)
    expected = _result(sync_project, sync_run.id)
    assert expected and sync_run.status is RunStatus.completed

    project = make_project(model="gpt-4o-mini", base_url=batch_stub.url)
    root = str(project.root)
    project.close()
    failing: set[str] = set()
    batch_stub.fail = lambda custom_id: not failing and not failing.add(custom_id)  # the first line fails, once

    # submit in one process, which then exits (batch_wait 0): nothing is coded yet
    env = {**os.environ, "PRECODE_PROJECT": root}
    submitted = subprocess.run([sys.executable, "-m", "pipeline", "code", "-c", "nasss", "--coder", "llm", "--batch"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert submitted.returncode == 1, submitted.stderr  # not finished yet
    (state,) = load_states(Path(root) / BATCHES_DIR)
    assert state.status == "in_progress" and not state.collected and len(state.custom_ids) == 2
    assert [c for c in batch_stub.calls if c.startswith("POST")] == ["POST /v1/files", "POST /v1/batches"]
    assert all(b["model"] == "gpt-4o-mini" and b["temperature"] == 0 for b in batch_stub.chat_bodies)
    status = _precode("status", "-p", root)
    assert state.id in status and "in_progress" in status

    # another process (here: another command) polls; finalizing is not finished
    _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    assert load_states(Path(root) / BATCHES_DIR)[0].status == "finalizing"
    # the next one collects: one line failed (HTTP 500 in the error file), its segments stay open
    out = _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    first = load_states(Path(root) / BATCHES_DIR)[0]
    assert first.status == "completed" and first.collected and first.counts == {"total": 2, "completed": 1, "failed": 1}
    assert "HTTP 500" in out and "not finished" in out
    reopened = open_project(Path(root))
    (run,) = reopened.db.runs()
    assert run.status is RunStatus.incomplete and run.params["batch"] is True  # was "running" (issue 11)
    reopened.close()

    # the failed line is resubmitted alone in a new batch, then collected; the same run completes
    for _ in range(4):
        _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    states = load_states(Path(root) / BATCHES_DIR)
    assert len(states) == 2 and states[1].custom_ids == sorted(failing) and states[1].collected
    done = open_project(Path(root))
    (run,) = done.db.runs()
    assert run.status is RunStatus.completed
    assert _result(done, run.id) == expected  # the same suggestions as the synchronous path

    # cost at the batch price: half of the synchronous run's, for the same answers
    ok = [c for c in calls(done, run) if c["outcome"] == "ok"]
    failed = [c for c in calls(done, run) if c["outcome"] == "failed"]
    assert len(ok) == 2 and len(failed) == 1
    sync_cost = sum(c["cost_usd"] for c in calls(sync_project, sync_run))
    assert sum(c["cost_usd"] for c in ok) == pytest.approx(sync_cost / 2)
    # the answers are in the shared cache: the synchronous coder on this project sends nothing
    again = code_llm(done)
    assert {c["outcome"] for c in calls(done, again)} == {"cache_hit"} and _result(done, again.id) == expected
    done.close()


def test_an_expired_batch_and_a_cancelled_one_fail_only_the_lines_that_did_not_run(batch_stub, make_project):
    project = make_project(model="gpt-4o-mini", base_url=batch_stub.url, batch_size=1)  # 4 requests
    root = str(project.root)
    project.close()
    batch_stub.plan = ["validating", "in_progress", "expired"]
    batch_stub.runs_before_end = 3
    _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)  # submit -> in_progress
    out = _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)  # expired: 3 answered
    assert "because the batch expired" in out
    (state,) = load_states(Path(root) / BATCHES_DIR)
    assert state.status == "expired" and state.counts == {"total": 4, "completed": 3, "failed": 1}
    p = open_project(Path(root))
    (run,) = p.db.runs()
    assert p.db.run_totals(run.id).segments_done == 3 and p.db.run_totals(run.id).segments_failed == 1
    p.close()

    batch_stub.plan = ["validating", "in_progress", "finalizing", "completed"]
    batch_stub.runs_before_end = 0  # cancelled before it ran anything
    _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)  # resubmits the expired line
    second = load_states(Path(root) / BATCHES_DIR)[1]
    assert httpx.post(f"{batch_stub.url}/batches/{second.id}/cancel").json()["status"] == "cancelling"
    out = _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    assert "because the batch cancelled" in out
    assert load_states(Path(root) / BATCHES_DIR)[1].status == "cancelled"
    for _ in range(4):  # a third batch finishes the run
        _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    p = open_project(Path(root))
    (run,) = p.db.runs()
    assert run.status is RunStatus.completed and len(load_states(Path(root) / BATCHES_DIR)) == 3
    p.close()


def test_dry_run_estimates_the_synchronous_and_the_batch_cost(batch_stub, make_project):
    import re

    project = make_project(model="gpt-4o-mini", base_url=batch_stub.url)
    out = _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "--dry-run", "-p", str(project.root))
    assert batch_stub.calls == []  # nothing sent, nothing uploaded
    sync = re.search(r"│ cost\s+│ \$([0-9.]+)", out)
    batch = re.search(r"│ cost with --batch\s+│ \$([0-9.]+)", out)
    assert sync and batch, out
    assert float(batch.group(1)) == pytest.approx(float(sync.group(1)) / 2, abs=1e-4) and float(sync.group(1)) > 0


def test_requests_beyond_the_providers_limit_are_split_into_several_batches(stub, batch_stub, make_project):
    stub.handler = HANDLER
    sync_project = make_project(model="gpt-4o-mini")
    expected = _result(sync_project, code_llm(sync_project).id)
    project = make_project(model="gpt-4o-mini", base_url=batch_stub.url, batch_max_requests=1)
    root = str(project.root)
    project.close()
    for _ in range(3):  # submit two one-line batches; poll; collect both
        _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    states = load_states(Path(root) / BATCHES_DIR)
    assert [len(s.custom_ids) for s in states] == [1, 1] and all(s.collected for s in states)
    assert batch_stub.calls.count("POST /v1/batches") == 2
    done = open_project(Path(root))
    (run,) = done.db.runs()
    assert run.status is RunStatus.completed and _result(done, run.id) == expected
    done.close()
