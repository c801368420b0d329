"""Per-reviewer export (issue 13 #5): two reviewers' decisions no longer collapse to whoever decided last."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import PrecodeError
from pipeline.review.models import DecisionIn, QueueFilter
from pipeline.review.service import ReviewSession

from .conftest import RUN_ID

runner = CliRunner()


def _rows(path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["suggestion_id"]: r for r in csv.DictReader(f)}


def test_export_one_reviewers_codings(project, tmp_path):
    alice = ReviewSession.open(project, RUN_ID, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    first = alice.queue(QueueFilter(grounding="exact")).item
    second = alice.queue(QueueFilter(grounding="exact"), after=first.id).item
    alice.decide(first.id, DecisionIn(action="edit", quote_start=first.quote_start + 4, quote_end=first.quote_end))
    alice.decide(second.id, DecisionIn(action="accept"))
    bob.decide(first.id, DecisionIn(action="accept"))    # bob decided last on both
    bob.decide(second.id, DecisionIn(action="reject"))
    root = str(project.root)
    out = {}
    for who in ("alice", "bob", None):
        path = tmp_path / f"{who or 'everyone'}.csv"
        args = ["export", "-p", root, "--run", RUN_ID, "-f", "csv", "--accepted", "--out", str(path)]
        result = runner.invoke(app, args + (["--reviewer", who] if who else []))
        assert result.exit_code == 0, result.output
        out[who] = _rows(path)
    # alice's own export keeps her corrected span and her accept that bob overrode
    assert set(out["alice"]) == {first.id, second.id}
    assert out["alice"][first.id]["reviewer"] == "alice" and out["alice"][first.id]["decision"] == "edit"
    assert int(out["alice"][first.id]["quote_start"]) > first.quote_start
    assert set(out["bob"]) == {first.id} and out["bob"][first.id]["decision"] == "accept"
    assert int(out["bob"][first.id]["quote_start"]) == first.quote_start
    # without --reviewer: the latest decision of anyone (bob's) as before
    assert set(out[None]) == {first.id} and out[None][first.id]["reviewer"] == "bob"
    # xlsx takes it too; a name with no decision, or a suggestions export, is one clear line and exit 2
    result = runner.invoke(app, ["export", "-p", root, "-f", "xlsx", "--reviewer", "alice",
                                 "--out", str(tmp_path / "a.xlsx")])
    assert result.exit_code == 0 and "Wrote 2 codings" in result.output
    # qdpx too: only alice's two codings, under her REFI-QDA user
    result = runner.invoke(app, ["export", "-p", root, "--run", RUN_ID, "-f", "qdpx", "--reviewer", "alice",
                                 "--out", str(tmp_path / "a.qdpx")])
    assert result.exit_code == 0, result.output
    assert "and 2 codings (accepted review decisions)" in result.output
    users = result.output.split("REFI-QDA users:")[1]
    assert "alice" in users and "bob" not in users
    # a name with no decision, or a suggestions export, is refused (in process here; exit 2 below)
    result = runner.invoke(app, ["export", "-p", root, "-f", "csv", "--accepted", "--reviewer", "zoe",
                                 "--out", str(tmp_path / "z.csv")])
    assert isinstance(result.exception, PrecodeError) and "reviewer 'zoe' has no decision" in str(result.exception)
    assert not (tmp_path / "z.csv").exists()


@pytest.mark.slow
def test_reviewer_export_mistakes_are_one_line_and_exit_2(project, tmp_path):
    for name in ("alice", "bob"):
        session = ReviewSession.open(project, RUN_ID, name)
        session.decide(session.queue(QueueFilter()).item.id, DecisionIn(action="accept"))
    root = str(project.root)
    cli = [sys.executable, "-c", "from pipeline.cli import main; main()", "export", "-p", root, "--run", RUN_ID]
    done = subprocess.run(cli + ["-f", "csv", "--accepted", "--reviewer", "zoe", "--out", str(tmp_path / "z.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "reviewer 'zoe' has no decision in run" in done.stderr
    assert "alice, bob" in done.stderr and not (tmp_path / "z.csv").exists()
    done = subprocess.run(cli + ["-f", "csv", "--reviewer", "alice", "--out", str(tmp_path / "s.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--reviewer applies to the codings exports" in done.stderr
