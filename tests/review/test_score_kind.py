"""What the reviewer is told a score is: the similarity coder's calibrated default gives each code's
share among the codes (it ranks codes; it is not the chance the code is right), its cosine rule a
cosine similarity, other coders a confidence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.project import open_project
from pipeline.review.items import score_kind
from pipeline.review.service import ReviewSession

REPO = Path(__file__).resolve().parents[2]


def test_score_kind_follows_the_runs_rule():
    assert score_kind("similarity", {"rule": "calibrated", "calibration": {"temperature": 0.05}}) == "relative"
    assert score_kind("similarity", {"rule": "calibrated", "calibration": {"fallback": "cosine", "why": "x"}}) \
        == "similarity"
    assert score_kind("similarity", {"rule": "cosine"}) == "similarity"
    assert score_kind("similarity", {}) == "similarity"  # runs from before the calibrated rule
    assert score_kind("llm", {"rule": "calibrated"}) == "confidence"
    assert score_kind("learned") == "confidence"


@pytest.mark.slow  # two similarity runs on a sample interview (loads the embedder)
def test_the_review_screen_names_the_score_of_each_similarity_rule(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(REPO / "data" / "sample" / "int01_icu_nurse.txt", folder)
    root = tmp_path / "p"
    runner = CliRunner()
    for command in (["run", str(folder)], ["code", "--threshold", "0.4"]):
        result = runner.invoke(app, [*command, "--codebook", "nasss", "-p", str(root)])
        assert result.exit_code == 0, result.output
    project = open_project(root)
    try:
        calibrated, cosine = sorted(project.db.runs(), key=lambda r: r.started_at)
        assert calibrated.params["rule"] == "calibrated" and "temperature" in str(calibrated.params["calibration"])
        for run, kind in ((calibrated, "relative"), (cosine, "similarity")):
            session = ReviewSession.open(project, run.id, "rev")
            assert session.info().score_kind == kind
            first = project.db.suggestions(run.id)[0]
            assert session.item(first.id).score_kind == kind
    finally:
        project.close()
