"""`precode code --coder llm --batch` through a local server's offline batch entry point (`[llm] batch_command`),
against a stub of vLLM's run_batch (`run_batch_stub.py`: its documented input and output lines)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from llm_helpers import USABILITY, calls, code_llm
from stub_server import first_sentence
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import PrecodeError
from pipeline.llm.batch import BATCHES_DIR, load_states
from pipeline.llm.local_batch import command_argv
from pipeline.models import RunStatus
from pipeline.project import Project, open_project

STUB = Path(__file__).resolve().parent / "run_batch_stub.py"
HANDLER = first_sentence(USABILITY)  # the stub script answers with the same handler


def _result(project: Project, run_id: str) -> set[tuple]:
    return {(s.code_id, s.quote, s.quote_start, s.quote_end, s.grounding.value, s.score, s.rationale)
            for s in project.db.suggestions(run_id)}


def _command(*extra: str) -> str:
    return shlex.join([sys.executable, str(STUB), "-i", "{input}", "-o", "{output}", "--model", "{model}", *extra])


def _precode(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code in (0, 1), (result.output, result.exception)
    return result.output


def test_a_local_batch_command_codes_like_the_synchronous_path_and_a_failed_line_is_asked_again(
        stub, make_project, tmp_path):
    stub.handler = HANDLER
    sync_project = make_project()
    sync_run = code_llm(sync_project)
    expected = _result(sync_project, sync_run.id)
    assert expected and sync_run.status is RunStatus.completed
    sync_calls = calls(sync_project, sync_run)
    stub.clear()

    marker, record = tmp_path / "failed once", tmp_path / "bodies.jsonl"
    project = make_project(base_url="http://127.0.0.1:9/v1",  # nothing listens there: no HTTP may be sent
                           batch_command=_command("--fail-once", str(marker), "--record", str(record)))
    root = str(project.root)
    project.close()

    # the first run: one request fails (status 400 and an error message, as run_batch writes it)
    out = _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    assert "stub: the engine could not run this request" in out and "not finished" in out
    (first,) = load_states(Path(root) / BATCHES_DIR)
    assert first.id.startswith("local-") and first.collected and first.status == "completed"
    assert first.counts == {"total": 2, "completed": 1, "failed": 1}
    assert sorted(p.name for p in (Path(root) / BATCHES_DIR).iterdir()) == [f"{first.id}.json"]  # no prompts kept
    bodies = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert len(bodies) == 2 and all(b["model"] == "stub-model" and b["temperature"] == 0 for b in bodies)
    assert stub.requests == []  # the synchronous endpoint was never asked

    # the next run asks only the failed request again; the run completes with the synchronous path's suggestions
    _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    states = load_states(Path(root) / BATCHES_DIR)
    assert len(states) == 2 and states[1].custom_ids == [marker.read_text(encoding="utf-8")]
    assert len(record.read_text(encoding="utf-8").splitlines()) == 3
    done = open_project(Path(root))
    (run,) = done.db.runs()
    assert run.status is RunStatus.completed and run.params["batch"] is True
    assert _result(done, run.id) == expected
    ok = [c for c in calls(done, run) if c["outcome"] == "ok"]
    failed = [c for c in calls(done, run) if c["outcome"] == "failed"]
    assert len(ok) == 2 and len(failed) == 1 and "HTTP 400" in failed[0]["error"]
    # the same tokens recorded as for the synchronous calls (both stubs count characters / 4)
    assert sorted((c["prompt_tokens"], c["completion_tokens"]) for c in ok) == sorted(
        (c["prompt_tokens"], c["completion_tokens"]) for c in sync_calls if c["outcome"] == "ok")
    # the answers are in the shared cache: the synchronous coder on this project sends nothing
    again = code_llm(done)
    assert {c["outcome"] for c in calls(done, again)} == {"cache_hit"} and _result(done, again.id) == expected
    assert stub.requests == []
    done.close()
    sync_project.close()


def test_a_failing_batch_command_ends_in_one_line_naming_it_and_its_stderr(make_project):
    project = make_project(batch_command=_command("--exit", "3"))
    root = str(project.root)
    project.close()
    env = {**os.environ, "PRECODE_PROJECT": root, "COLUMNS": "400"}
    done = subprocess.run([sys.executable, "-m", "pipeline", "code", "-c", "nasss", "--coder", "llm", "--batch"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.strip()]
    assert line.startswith("error: the local batch command failed (exit 3): ")
    assert str(STUB) in line and "CUDA out of memory (stub)" in line and "Traceback" not in done.stderr
    (state,) = load_states(Path(root) / BATCHES_DIR)
    assert state.status == "failed" and state.collected
    assert sorted(p.name for p in (Path(root) / BATCHES_DIR).iterdir()) == [f"{state.id}.json"]


def test_the_command_is_split_without_a_shell_and_needs_its_placeholders(tmp_path):
    inp, out = tmp_path / "in put.jsonl", tmp_path / "out.jsonl"
    argv = command_argv("python -m vllm.entrypoints.openai.run_batch -i {input} -o {output} --model {model}; rm -rf x",
                        inp, out, "Qwen/Qwen2.5-7B")
    assert argv == ["python", "-m", "vllm.entrypoints.openai.run_batch", "-i", str(inp), "-o", str(out), "--model",
                    "Qwen/Qwen2.5-7B;", "rm", "-rf", "x"]  # one argument per word; ';' is no command separator
    with pytest.raises(PrecodeError, match="needs \\{output\\}"):
        command_argv("run_batch -i {input} --model {model}", inp, out, "m")
    with pytest.raises(PrecodeError, match="cannot be split"):
        command_argv("run_batch -i '{input} -o {output}", inp, out, "m")


def test_a_missing_batch_program_is_one_clear_error(make_project):
    project = make_project(batch_command="no-such-run-batch-program -i {input} -o {output} --model {model}")
    root = str(project.root)
    project.close()
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root])
    assert isinstance(result.exception, PrecodeError)  # the entry point prints it as one line, exit 2
    assert "the local batch command was not found: no-such-run-batch-program" in str(result.exception)


def test_more_requests_than_batch_max_requests_run_as_several_commands(stub, make_project, tmp_path):
    stub.handler = HANDLER
    sync_project = make_project()
    expected = _result(sync_project, code_llm(sync_project).id)
    sync_project.close()
    record = tmp_path / "bodies.jsonl"
    project = make_project(base_url="http://127.0.0.1:9/v1", batch_max_requests=1,
                           batch_command=_command("--record", str(record)))
    root = str(project.root)
    project.close()
    _precode("code", "-c", "nasss", "--coder", "llm", "--batch", "-p", root)
    states = load_states(Path(root) / BATCHES_DIR)
    assert [len(s.custom_ids) for s in states] == [1, 1] and all(s.collected for s in states)
    assert len(record.read_text(encoding="utf-8").splitlines()) == 2
    done = open_project(Path(root))
    (run,) = done.db.runs()
    assert run.status is RunStatus.completed and _result(done, run.id) == expected
    done.close()
