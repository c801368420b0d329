"""The similarity coder's default rule is calibrated on the codebook itself (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.coders.similarity import MIN_CALIBRATION_TEXTS, calibrate, held_out_scores, softmax, top_k_rule
from pipeline.project import find_project
from tests.learn.conftest import ANSWERS, CODEBOOK, transcript

DIM = 24


def _texts(rng: np.random.Generator, centres: np.ndarray, per_code: int, noise: float) -> list[np.ndarray]:
    out = []
    for centre in centres:
        v = centre + noise * rng.standard_normal((per_code, DIM))
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return out


def test_held_out_texts_are_scored_against_their_code_built_without_them() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 0.0], [1.0, 0.0]])
    scores, truth = held_out_scores([a, b])
    assert truth.tolist() == [0, 0, 1, 1]
    # a's first text against a's other text only (cosine 0), not against a's mean that contains it
    assert np.isclose(scores[0, 0], 0.0) and np.isclose(scores[1, 0], 0.0)
    assert np.isclose(scores[2, 1], 1.0)


def test_too_few_texts_to_hold_out_means_no_calibration() -> None:
    one_each = [np.eye(DIM)[[j]] for j in range(8)]  # definitions only: one text per code
    assert calibrate(one_each, top_k=3) is None
    few = [np.eye(DIM)[[0, 1]], np.eye(DIM)[[2, 3]]]
    assert len(held_out_scores(few)[1]) < MIN_CALIBRATION_TEXTS and calibrate(few, top_k=3) is None


def test_the_calibrated_rule_does_not_depend_on_the_absolute_cosine() -> None:
    """Talk worded unlike the codebook has low cosines to every code: the cosine rule suggests
    nothing, the calibrated rule (a probability over the codes) still finds the code that stands out."""
    rng = np.random.default_rng(0)
    centres = np.eye(DIM)[:4]
    calibration = calibrate(_texts(rng, centres, per_code=5, noise=0.3), top_k=1)
    assert calibration is not None and 0 <= calibration.p_min < 1 and calibration.top1 > 0.9
    # units: each mostly off-topic (a shared direction no code has), a little towards its code
    off = np.eye(DIM)[10]
    units = np.stack([0.95 * off + 0.3 * centres[j] for j in range(4) for _ in range(3)])
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    matrix = np.stack([c / np.linalg.norm(c) for c in centres])
    cosines = units @ matrix.T
    assert cosines.max() < 0.4  # the old default threshold: nothing would be suggested
    applied = top_k_rule(softmax(cosines, calibration.temperature), calibration.p_min, 1)
    assert applied.sum(axis=1).tolist() == [1] * 12
    assert applied.argmax(axis=1).tolist() == [j for j in range(4) for _ in range(3)]


def test_the_temperature_follows_the_codebooks_geometry() -> None:
    """A codebook whose codes' texts are hard to tell apart gets a flatter probability (higher temperature)."""
    rng = np.random.default_rng(1)
    centres = np.eye(DIM)[:4]
    sharp = calibrate(_texts(rng, centres, 5, noise=0.15), top_k=3)
    blurred = calibrate(_texts(rng, centres, 5, noise=1.5), top_k=3)
    assert sharp is not None and blurred is not None
    assert blurred.temperature > sharp.temperature and blurred.top1 < sharp.top1


EXAMPLES = {
    "money.cost": ["    include: [\"what the system costs, licences, running costs, budgets\"]",
                   "    examples: [\"The licence fee went up again this year.\", \"Who pays for the servers?\"]"],
    "people.training": ["    include: [\"courses, teaching and learning to use the system\"]",
                        "    examples: [\"We had a half-day course before go-live.\", \"Nobody taught the night staff.\"]"],
    "safety": ["    include: [\"errors, incidents, harm and near misses\"]",
               "    examples: [\"A patient got the wrong dose.\", \"There was a near miss on the ward.\"]"],
}


def _codebook_with_examples() -> str:
    out = []
    lines = CODEBOOK.splitlines()
    current = None
    for line in lines:
        out.append(line)
        if line.strip().startswith("- id:"):
            current = line.split(":", 1)[1].strip()
        if line.strip().startswith("definition:") and current in EXAMPLES:
            out.extend(EXAMPLES[current])
    return "\n".join(out) + "\n"


def _project(tmp_path: Path, codebook_text: str) -> tuple[Path, Path]:
    codebook = tmp_path / "clinic.yaml"
    codebook.write_text(codebook_text, encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "t1.txt").write_text(transcript([a for answers in ANSWERS.values() for a in answers]), encoding="utf-8")
    root = tmp_path / "p"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(folder), "--project", str(root)]).exit_code == 0
    return root, codebook


def test_a_run_records_its_calibration_and_scores_are_probabilities(tmp_path: Path) -> None:
    root, codebook = _project(tmp_path, _codebook_with_examples())
    result = CliRunner().invoke(app, ["code", "--codebook", str(codebook), "--project", str(root)])
    assert result.exit_code == 0, result.output
    project = find_project(root)
    run = project.db.run(None)
    assert run.params["rule"] == "calibrated"
    calibration = run.params["calibration"]
    assert calibration["texts"] == 3 * 4 and calibration["codes"] == 3 and calibration["temperature"] > 0
    suggestions = project.db.suggestions(run.id)
    assert suggestions and all(calibration["p_min"] <= s.score <= 1 for s in suggestions)
    right = sum(1 for s in suggestions if s.quote in ANSWERS.get(s.code_id, []))
    assert right >= 0.75 * len(suggestions)  # what the coder proposes is mostly the human's code
    assert run.counts["segments_with_suggestions"] * 2 > run.counts["segments"]


def test_an_explicit_threshold_selects_the_cosine_rule(tmp_path: Path) -> None:
    root, codebook = _project(tmp_path, _codebook_with_examples())
    result = CliRunner().invoke(app, ["code", "--codebook", str(codebook), "--threshold", "0.3", "--project", str(root)])
    assert result.exit_code == 0, result.output
    run = find_project(root).db.run(None)
    assert run.params["rule"] == "cosine" and run.params["threshold"] == 0.3 and "calibration" not in run.params
    assert all(s.score >= 0.3 for s in find_project(root).db.suggestions(run.id))


def test_a_codebook_of_definitions_only_keeps_the_cosine_rule_and_says_why(tmp_path: Path) -> None:
    root, codebook = _project(tmp_path, CODEBOOK)  # one text per code: nothing to hold out
    result = CliRunner().invoke(app, ["code", "--codebook", str(codebook), "--project", str(root)])
    assert result.exit_code == 0, result.output
    run = find_project(root).db.run(None)
    assert run.params["rule"] == "calibrated"
    assert run.params["calibration"]["fallback"] == "cosine" and "include criteria or examples" in run.params["calibration"]["why"]
    assert all(s.score >= run.params["threshold"] for s in find_project(root).db.suggestions(run.id))


def test_a_codebook_whose_texts_are_all_told_apart_keeps_probabilities_between_0_and_1() -> None:
    """Maximum likelihood alone would drive the temperature to 0 (every p 0 or 1); smoothed targets stop it."""
    from pipeline.coders.similarity import TEMPERATURES

    rng = np.random.default_rng(2)
    calibration = calibrate(_texts(rng, np.eye(DIM)[:3], per_code=4, noise=0.05), top_k=3)
    assert calibration is not None and calibration.top1 == 1.0
    assert calibration.temperature > TEMPERATURES[0] * 10
    scores, _ = held_out_scores(_texts(rng, np.eye(DIM)[:3], per_code=4, noise=0.05))
    assert softmax(scores, calibration.temperature).max() < 0.999


def test_the_sparse_note_explains_the_calibrated_rule(tmp_path: Path) -> None:
    from pipeline.codebook import load_codebook
    from pipeline.coding import select_segments
    from pipeline.learn.zeroshot import sparse_run_note
    from pipeline.models import Run

    root, codebook_path = _project(tmp_path, _codebook_with_examples())
    project = find_project(root)
    codebook = load_codebook(str(codebook_path))
    segments = select_segments(project, None)
    run = Run(id="none", coder="similarity", codebook_id=codebook.id, codebook_hash=codebook.content_hash, level="leaf",
              params={"rule": "calibrated", "threshold": 0.4, "margin": 0.1, "top_k": 3,
                      "calibration": {"temperature": 1.0, "p_min": 0.99, "texts": 12, "codes": 3}},
              counts={"segments": len(segments), "segments_with_suggestions": 0})
    note = " ".join(sparse_run_note(project, run, codebook, lambda: segments))
    assert f"{len(segments)} of {len(segments)} segments" in note
    assert "probability among the codebook's codes is >= 0.99" in note and "12 held-out texts" in note
    assert f"In {len(segments)} of these segments no sentence's best code reached it" in note, note
    assert "cosine" not in note and "--coder learned" in note


def test_a_run_with_enough_suggestions_reads_no_segment_for_the_note(tmp_path: Path) -> None:
    from pipeline.codebook import load_codebook
    from pipeline.learn.zeroshot import sparse_run_note
    from pipeline.models import Run

    root, codebook_path = _project(tmp_path, _codebook_with_examples())
    codebook = load_codebook(str(codebook_path))
    run = Run(id="none", coder="similarity", codebook_id=codebook.id, codebook_hash=codebook.content_hash, level="leaf",
              params={"rule": "calibrated"}, counts={"segments": 10, "segments_with_suggestions": 9})
    read: list[int] = []
    assert sparse_run_note(find_project(root), run, codebook, lambda: read.append(1) or []) == []
    assert read == []  # the segments are read only to diagnose a sparse run
    run.counts["segments_with_suggestions"] = 1
    assert sparse_run_note(find_project(root), run, codebook, lambda: read.append(1) or [])[0].startswith("Note: 9 of 10")
    assert read == [1]
