"""Kill -9 in the middle of `precode code --coder llm`, run the same command again: the run completes,
nothing is stored twice, and no finished segment is asked again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from llm_helpers import USABILITY, participant_segments
from stub_server import answers, first_sentence

from pipeline.models import RunStatus

N = 12
TRANSCRIPT = "".join(
    f"Interviewer: What happened in week {i}?\n\nP1: In week {i} the alert fired {i} times on the unit. "
    f"Nobody had time to read alert number {i}.\n\n"
    for i in range(1, N + 1)
)


def precode(root, *args, **kwargs):
    command = [sys.executable, "-m", "pipeline", "code", "--codebook", "nasss", "--coder", "llm", "-p", str(root), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def done_segments(db_path) -> set[str]:
    with sqlite3.connect(db_path, timeout=30) as conn:
        return {r[0] for r in conn.execute("SELECT segment_id FROM run_segments WHERE status = 'done'")}


def test_a_killed_run_is_completed_by_the_same_command_without_duplicates_or_repeated_calls(stub, make_project):
    stub.handler = first_sentence(USABILITY)
    stub.latency = 0.4
    project = make_project(TRANSCRIPT, batch_size=1, concurrency=2)
    segments = participant_segments(project)
    assert len(segments) == N
    db_path = project.root / "precode.db"

    first = precode(project.root)
    deadline = time.monotonic() + 90
    while len(done_segments(db_path)) < 3:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    finished = done_segments(db_path)
    assert 3 <= len(finished) < N
    sent_before = len(stub.requests)

    second = precode(project.root)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "Resuming unfinished run" in err

    project.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    (run,) = project.db.runs()  # the same run, completed; no duplicate run
    assert run.status is RunStatus.completed
    stored = project.db.suggestions(run.id)
    assert len(stored) == N and len({(s.segment_id, s.code_id) for s in stored}) == N
    assert {s.segment_id for s in stored} == {s.id for s in segments}
    requests_per_segment = {s.id: sum(s.text in a for body in stub.bodies for a in answers(body)) for s in segments}
    for segment_id in finished:
        assert requests_per_segment[segment_id] == 1, "a finished segment was asked again"
    assert all(n >= 1 for n in requests_per_segment.values())
    # only requests still in flight when the process died (at most `concurrency`) were sent twice
    assert len(stub.requests) <= N + 2 and len(stub.requests) > sent_before
    calls = project.db.conn.execute("SELECT outcome, COUNT(*) FROM llm_calls GROUP BY outcome").fetchall()
    assert dict(calls).get("failed", 0) == 0
