"""A run that suggests nothing for most segments says so, and why."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.project import find_project
from tests.learn.conftest import ANSWERS, CODEBOOK, transcript

CHAT = ["Hello everyone, nice to meet you all!", "Hi, I'm Sam, how is your week going?", "lol same here",
        "Did anyone watch the match yesterday?", "Good night, see you tomorrow.", "Haha yes, that was funny."]


def _project(tmp_path: Path, lines: list[str]) -> tuple[Path, Path]:
    codebook = tmp_path / "clinic.yaml"
    codebook.write_text(CODEBOOK, encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "t1.txt").write_text(transcript(lines), encoding="utf-8")
    root = tmp_path / "p"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(folder), "--project", str(root)]).exit_code == 0
    return root, codebook


def test_a_sparse_similarity_run_says_so_and_why(tmp_path: Path):
    root, codebook = _project(tmp_path, CHAT)
    result = CliRunner().invoke(app, ["code", "--codebook", str(codebook), "--project", str(root)])
    assert result.exit_code == 0, result.output
    run = find_project(root).db.run(None)
    without = run.counts["segments"] - run.counts["segments_with_suggestions"]
    assert without >= 4
    out = " ".join(result.output.split())
    assert f"{without} of {run.counts['segments']} segments" in out and "got no suggestion" in out
    assert "no sentence reached 0.4" in out and "median best" in out
    assert "--coder learned" in out


def test_a_well_covered_run_prints_no_note(tmp_path: Path):
    root, codebook = _project(tmp_path, [a for answers in ANSWERS.values() for a in answers])
    result = CliRunner().invoke(app, ["code", "--codebook", str(codebook), "--single", "--threshold", "-1",
                                      "--project", str(root)])
    assert result.exit_code == 0, result.output
    run = find_project(root).db.run(None)
    assert run.params["top_k"] == 1  # --single is --top-k 1 for the similarity coder
    per_segment: dict[str, int] = {}
    for s in find_project(root).db.suggestions(run.id):
        per_segment[s.segment_id] = per_segment.get(s.segment_id, 0) + 1
    assert set(per_segment.values()) == {1}
    assert run.counts["segments_with_suggestions"] * 2 > run.counts["segments"]
    assert "got no suggestion" not in result.output
