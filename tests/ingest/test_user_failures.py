"""Failures a user can cause end in one clear line and exit 2 (or 130 after Ctrl-C), never a traceback.

Read-only and full disks are real: a small tmpfs mounted for the test (needs root; skipped otherwise).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.project import init_project
from pipeline.store.failures import storage_error_message

PRECODE = [sys.executable, "-m", "pipeline"]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"


def _precode(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PRECODE, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def _one_clear_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=900k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_read_only_project_is_one_clear_line(small_disk: Path):
    project, _ = init_project(small_disk / "p")
    project.close()
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode == 0
    proc = _precode("ingest", str(FIXTURES / "sites"), "--project", str(small_disk / "p"))
    assert proc.returncode == 2
    line = _one_clear_line(proc)
    assert "read-only" in line or "cannot open the project database" in line


def test_full_disk_is_one_clear_line_and_nothing_half_written(small_disk: Path, tmp_path: Path):
    project, _ = init_project(small_disk / "p")
    project.close()
    big = tmp_path / "big.txt"
    answer = " ".join(f"Sentence {i} about the alert fatigue on the night shift." for i in range(40))
    big.write_text("\n".join(f"Interviewer: Question {i}?\nP1: {answer}" for i in range(400)), encoding="utf-8")
    proc = _precode("ingest", str(big), "--project", str(small_disk / "p"))
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "disk is full" in proc.stderr + proc.stdout
    conn = sqlite3.connect(small_disk / "p" / "precode.db")
    assert conn.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0] == 0  # rolled back whole


def test_sqlite_full_and_locked_errors_are_worded(tmp_path: Path):
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.Error) as full:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    assert storage_error_message(full.value).startswith("the disk is full")
    conn.execute("PRAGMA max_page_count = 100000")
    conn.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(db, timeout=0)
    with pytest.raises(sqlite3.Error) as locked:
        other.execute("INSERT INTO t VALUES ('y')")
    assert "locked by another precode process" in storage_error_message(locked.value)
    conn.execute("ROLLBACK")


@pytest.mark.slow
def test_ctrl_c_during_code_says_what_was_saved(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    from pipeline.ingest import ingest_paths

    # and one long interview, so that coding lasts seconds after the run is recorded: a Ctrl-C that
    # lands after the work, while the interpreter shuts down, would test nothing
    long = tmp_path / "long" / "long_interview.txt"
    long.parent.mkdir()
    long.write_text("\n\n".join(f"Interviewer: What happened on day {n}?\n\nP1: On day {n} the nurses "
                                  f"tried the new alert system again, and {n % 7} of them found it slowed "
                                  "the ward round down. We talked about training and who pays for it."
                                  for n in range(600)), encoding="utf-8")
    ingest_paths(project, [FIXTURES, long.parent])
    project.close()
    proc = subprocess.Popen([*PRECODE, "code", "-c", "nasss", "--project", str(tmp_path / "p")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = sqlite3.connect(tmp_path / "p" / "precode.db", timeout=30)
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 130, errs
    assert "Traceback" not in errs
    assert "interrupted: run" in errs and "saved" in errs
