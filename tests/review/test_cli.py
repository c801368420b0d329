"""`precode review` as a user runs it: a real process, its printed URL, a kill -9, the TUI, bad options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from pipeline.decisions import current_decisions
from pipeline.project import open_project

from .conftest import RUN_ID

CLI = [sys.executable, "-c", "from pipeline.cli import main; main()", "review"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(project, *args: str) -> tuple[subprocess.Popen, str, list[str]]:
    proc = subprocess.Popen([*CLI, "-p", str(project.root), "--run", RUN_ID, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Open "):
            return proc, line.split()[1], lines
    proc.kill()
    pytest.fail("no URL printed:\n" + "".join(lines))


def test_printed_url_works_and_a_killed_server_loses_nothing(project):
    project.close()
    proc, url, lines = _start(project, "--reviewer", "dana")
    try:
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        assert not any("Opened in your browser" in line for line in lines)  # no display here
        base, token = url.split("/?token=")
        with httpx.Client(base_url=base, headers={"x-precode-token": token}, timeout=30) as c:
            assert httpx.get(base + "/api/session").status_code == 401
            decided = []
            view = c.get("/api/queue").json()
            for action in ("accept", "reject", "accept", "edit"):
                body = {"action": action}
                if action == "edit":
                    body["code_id"] = "adopters.carers"
                r = c.post(f"/api/items/{view['item']['id']}/decisions", json=body)
                assert r.status_code == 200
                decided.append((view["item"]["id"], action))
                view = c.get("/api/queue", params={"after": view["item"]["id"]}).json()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    reopened = open_project(project.root)
    state = current_decisions(reopened.db, RUN_ID, "dana")
    assert {sid: d.action.value for sid, d in state.items()} == dict(decided)
    assert reopened.db.conn.execute("SELECT COUNT(*) FROM review_state WHERE reviewer = 'dana'").fetchone()[0] == 4
    reopened.close()


def test_another_host_still_needs_the_token(project):
    project.close()
    proc, url, lines = _start(project, "--host", "0.0.0.0", "--no-browser", "--reviewer", "eve")
    try:
        base = url.split("/?token=")[0]
        assert base.startswith("http://127.0.0.1:")
        assert httpx.get(base + "/api/session").status_code == 401
        assert httpx.get(url, follow_redirects=True).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    out = proc.stdout.read()
    assert "other machines can connect" in "".join(lines) + out


def test_tui_in_a_terminal_without_a_browser(project):
    project.close()
    done = subprocess.run([*CLI, "-p", str(project.root), "--run", RUN_ID, "--reviewer", "frank", "--tui"],
                          input="a\nr\n1\n\nq\n", capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Interviewer" in done.stdout and "your decision" in done.stdout
    reopened = open_project(project.root)
    actions = sorted(d.action.value for d in current_decisions(reopened.db, RUN_ID, "frank").values())
    assert actions == ["accept", "reject"]
    reopened.close()


@pytest.mark.parametrize("args, message", [
    (["--run", "no-such-run"], "no run matching 'no-such-run'"),
    (["--reviewer", "!!"], "reviewer name '!!' is not usable"),
    (["--host", "no-such-host.invalid"], "cannot resolve"),
])
def test_bad_options_are_one_clear_line(project, args, message):
    project.close()
    done = subprocess.run([*CLI, "-p", str(project.root), "--no-browser", *args], capture_output=True, text=True,
                          env=_env(), timeout=60)
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


def test_a_port_in_use_is_reported(project):
    import socket

    project.close()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        done = subprocess.run([*CLI, "-p", str(project.root), "--run", RUN_ID, "--no-browser", "--port",
                               str(taken.getsockname()[1])], capture_output=True, text=True, env=_env(), timeout=60)
    finally:
        taken.close()
    assert done.returncode == 2 and "cannot listen" in done.stderr and "choose another port" in done.stderr


def test_the_printed_url_returns_to_the_reviewers_place(project):
    from pipeline.review.app import save_place
    from pipeline.review.service import ReviewSession

    save_place(ReviewSession.open(project, RUN_ID, "gina"), "status=all&code=adopters.staff&item=abc&evil=<x>")
    project.close()
    proc, url, _ = _start(project, "--reviewer", "gina", "--no-browser")
    proc.terminate()
    proc.wait(10)
    assert url.endswith("#status=all&code=adopters.staff&item=abc") and "evil" not in url, url
