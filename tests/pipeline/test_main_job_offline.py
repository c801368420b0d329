"""The README's main job, run as a user runs it, with every network connection attempt recorded.

A sitecustomize module loaded into the subprocess wraps socket connect/getaddrinfo: any attempt to
reach a non-local address is written to a log and refused. The job must succeed with an empty log.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from pipeline.project import open_project

GUARD = '''
import socket

_LOG = {log!r}

def _record(what):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(what + "\\n")

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo

def _is_local(address):
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = str(address[0])
    return host in ("localhost", "::1") or host.startswith("127.")

def connect(self, address):
    if not _is_local(address):
        _record(f"connect {{address!r}}")
        raise OSError("network disabled by test")
    return _connect(self, address)

def connect_ex(self, address):
    if not _is_local(address):
        _record(f"connect_ex {{address!r}}")
        raise OSError("network disabled by test")
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "::1") and not str(host).startswith("127."):
        _record(f"getaddrinfo {{host!r}}")
        raise socket.gaierror("network disabled by test")
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
'''


def test_main_job_runs_offline_and_every_quote_checks_out(tmp_path: Path, sample_dir: Path):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    log = tmp_path / "network.log"
    (guard_dir / "sitecustomize.py").write_text(GUARD.format(log=str(log)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = str(guard_dir)
    project_dir = tmp_path / "my project — ünïcode"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", str(sample_dir), "--codebook", "nasss", "--project", str(project_dir)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert not log.exists(), f"network attempted: {log.read_text()}"
    export = project_dir / "export.csv"
    assert str(export) in result.stdout.replace("\n", "")

    project = open_project(project_dir)
    transcripts = {t.name: t for t in project.db.current_transcripts()}
    assert len(transcripts) == 9
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    assert len(rows) >= 100
    assert {r["transcript"] for r in rows} == set(transcripts)
    for row in rows:
        text = transcripts[row["transcript"]].text
        assert row["quote"].strip() and text[int(row["quote_start"]):int(row["quote_end"])] == row["quote"]
        assert row["grounding"] == "exact" and row["run_id"]
    # the chroma store in the path with spaces and non-ASCII characters holds the vectors
    assert any((project_dir / "chroma").iterdir())

    # running the same job again re-ingests nothing and encodes nothing
    again = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", str(sample_dir), "--codebook", "nasss", "--project", str(project_dir)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout and "ingested" not in again.stdout.replace("unchanged", "")
    latest = open_project(project_dir).db.run()
    assert latest.counts["quote_units_encoded"] == 0
    assert not log.exists()
