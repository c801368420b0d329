"""Issue 15: figures a methods reviewer accepts — generalised Fleiss/AC1 with n per statistic, the cluster
bootstrap by transcript (with a coverage simulation), and the caveats shown next to the figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.harness import EvalRequest, run_evaluation
from eval.metrics import agreement_table

N = np.nan
# Gwet (2014) 5-observer data (irrCAC raw_5observers; see test_published_values.py)
FIVE_OBSERVERS = np.array([
    [1, 1, 2, N, 0, 0, 1, 1, 2, 2, N, 0, 1, 3, 1],
    [1, 1, 3, 0, 0, 0, 0, N, 2, 1, 1, 0, 2, 3, 1],
    [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
    [N, 1, 3, N, N, N, N, 0, N, 1, 0, 0, 2, 2, N],
    [2, N, N, 0, 0, 0, 1, N, 2, N, N, N, N, 3, 1],
])


def no_project():
    raise AssertionError("segment-level files must not need a project")


def evaluate(tmp_path, rows, **options):
    path = tmp_path / "codes.csv"
    path.write_text("unit,coder,code\n" + "".join(f"{u},{c},{k}\n" for u, c, k in rows), encoding="utf-8")
    options.setdefault("out", tmp_path / "report")
    options.setdefault("bootstrap", 0)
    outcome = run_evaluation(EvalRequest(inputs=[path], **options), no_project)
    folder = outcome.files[0].parent
    return (json.loads((folder / "report.json").read_text(encoding="utf-8")),
            (folder / "report.md").read_text(encoding="utf-8"), (folder / "report.html").read_text(encoding="utf-8"))


def five_observer_rows():
    """Gwet's (2014) 5-observer data as a single-label segment-level file (no row = not rated)."""
    rows = []
    for i, ratings in enumerate(FIVE_OBSERVERS):
        for u, value in enumerate(ratings):
            if not np.isnan(value):
                rows.append((f"u{u + 1:02d}", f"obs{i + 1}", f"r{int(value)}"))
    return rows


def test_report_uses_the_generalised_form_with_n_per_statistic(tmp_path):
    data, md, html = evaluate(tmp_path, five_observer_rows(), missing="missing")
    nominal = data["overall"]["nominal"]
    # Gwet (2014) / irrCAC fleiss.kappa.raw on these data: 0.458 over all 15 units (not -0.25 over 1)
    assert round(nominal["kappa"], 3) == 0.458 and nominal["kappa_form"] == "generalised"
    assert nominal["n_units"] == 15 and nominal["n_units_complete"] == 1 and nominal["n_units_alpha"] == 15
    assert round(nominal["ac1"], 3) == 0.497
    assert "over 15 units; α =" in md and "over 1 units" not in md
    code = data["codes"]["r0"]
    assert code["kappa_form"] == "generalised" and code["n"]["kappa"] == code["n"]["alpha"] == 15
    assert code["kappa"] == code["fleiss_kappa"]
    assert data["overall"]["kappa_form"] == "generalised"
    assert "generalised form over every unit rated by two or more coders" in md and "generalised form" in html


def test_complete_units_by_option(tmp_path):
    data, md, _ = evaluate(tmp_path, five_observer_rows(), missing="missing", complete_units=True)
    nominal = data["overall"]["nominal"]
    assert nominal["kappa"] == pytest.approx(-0.25) and nominal["n_units"] == 1
    code = data["codes"]["r0"]
    assert code["kappa_form"] == "complete" and code["n"]["kappa"] == 1 and code["n"]["alpha"] == 15
    assert any(c.startswith("complete units only: 1 of the 15") for c in code["caveats"])
    assert "complete units only (--complete-units)" in md


def test_caveats_next_to_the_figure(tmp_path):
    """A code with 2 positives in 54 units: kappa 1 with a degenerate CI used to show no warning."""
    rows = []
    for u in range(54):
        for coder in ("A", "B"):
            rows.append((f"u{u}", coder, "rare" if u < 2 else ""))
            if u % 3 == 0:
                rows.append((f"u{u}", coder, "common"))
    data, md, html = evaluate(tmp_path, rows, bootstrap=200)
    rare = data["codes"]["rare"]
    assert rare["kappa"] == 1.0
    assert any(c.startswith("CI: ") and "dropped" in c for c in rare["caveats"])
    assert any(c.startswith("few positives (A: 2, B: 2 of 54 units)") for c in rare["caveats"])
    for text in (md, html):
        assert "read with care" in text and "few positives (A: 2, B: 2 of 54 units)" in text
    assert "replicates dropped (undefined)" in md.replace("\\", "")
    assert data["codes"]["common"]["caveats"] == []


def test_prevalence_paradox_caveat(tmp_path):
    rows = []
    for u in range(100):
        a = "x" if u in (0, 1, 2) else ""
        b = "x" if u in (3, 4, 5) else ""
        rows += [(f"u{u}", "A", a), (f"u{u}", "B", b)]
    data, md, _ = evaluate(tmp_path, rows)
    assert any("prevalence paradox" in c for c in data["codes"]["x"]["caveats"])
    assert "prevalence paradox: high Po, low κ" in md


# -- cluster bootstrap -----------------------------------------------------------------------------------------
def _true_kappa(rng: np.random.Generator, n: int = 2_000_000) -> float:
    """Population kappa of the clustered model below (cell probabilities averaged over clusters)."""
    p, e = rng.uniform(0.05, 0.7, n), rng.uniform(0.0, 0.35, n)
    a = np.mean(p * (1 - e) ** 2 + (1 - p) * e ** 2)
    b = np.mean(p * (1 - e) * e + (1 - p) * e * (1 - e))
    d = np.mean(p * e ** 2 + (1 - p) * (1 - e) ** 2)
    po, marg = a + d, a + b
    pe = marg * marg + (1 - marg) * (1 - marg)
    return float((po - pe) / (1 - pe))


def _clustered_sample(rng: np.random.Generator, k: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """k interviews of m segments; each interview has its own prevalence and its own error rate."""
    p = np.repeat(rng.uniform(0.05, 0.7, k), m)
    e = np.repeat(rng.uniform(0.0, 0.35, k), m)
    truth = rng.random(k * m) < p
    x = truth ^ (rng.random(k * m) < e)
    y = truth ^ (rng.random(k * m) < e)
    return np.stack([x, y]).astype(int)[:, :, None], np.repeat(np.arange(k), m)


@pytest.mark.slow
def test_cluster_bootstrap_covers_the_true_kappa_where_the_unit_bootstrap_does_not():
    """200 simulated studies of 25 interviews x 30 segments: the cluster bootstrap's 95% CI covers the
    true kappa about 95% of the time, the unit bootstrap's (segments as independent) far less often.
    Measured: cluster 0.925, unit 0.745."""
    rng = np.random.default_rng(0)
    truth = _true_kappa(rng)
    hits = {"cluster": 0, "unit": 0}
    n_studies = 200
    for study in range(n_studies):
        presence, clusters = _clustered_sample(rng, 25, 30)
        for mode in hits:
            result = agreement_table(presence, bootstrap=300, seed=study,
                                     clusters=clusters if mode == "cluster" else None)
            low, high = result.per_code["code_0"].ci["kappa"]
            hits[mode] += low <= truth <= high
    coverage = {mode: n / n_studies for mode, n in hits.items()}
    print(f"coverage of the 95% CI: {coverage}")
    assert 0.88 <= coverage["cluster"] <= 0.99
    assert coverage["unit"] <= 0.85 and coverage["cluster"] - coverage["unit"] >= 0.1


def test_cluster_bootstrap_resamples_whole_clusters():
    """Two clusters whose units agree perfectly within each: any resample of whole clusters keeps Po = 1,
    while a unit bootstrap would too — so use clusters of opposite agreement and check the interval only
    takes the values the cluster mixtures allow."""
    presence = np.array([[1, 0] * 10 + [1, 0] * 10, [1, 0] * 10 + [0, 1] * 10])[:, :, None]
    clusters = ["t1"] * 20 + ["t2"] * 20
    res = agreement_table(presence, bootstrap=200, seed=1, clusters=clusters)
    # resamples: {t1,t1} Po 1, {t1,t2} Po .5, {t2,t2} Po 0 — the interval ends are among these
    low, high = res.per_code["code_0"].ci["po"]
    assert low in (0.0, 0.5) and high in (0.5, 1.0)
    unit = agreement_table(presence, bootstrap=200, seed=1)
    u_low, u_high = unit.per_code["code_0"].ci["po"]
    assert u_low > 0.2 and u_high < 0.8  # independent units: a much narrower interval
    with pytest.raises(ValueError, match="clusters must have shape"):
        agreement_table(presence, clusters=["t1"])


# -- on the sample project: transcripts as clusters, people and machine apart ----------------------------------
def test_sample_project_clusters_by_transcript_and_separates_people_from_machine(built_project, tmp_path):
    from pathlib import Path

    from pipeline.project import open_project

    gold = Path(__file__).resolve().parents[2] / "data" / "sample" / "gold" / "gold.csv"
    project = open_project(built_project[0])
    try:
        out = tmp_path / "r"
        outcome = run_evaluation(EvalRequest(inputs=[gold], runs=["latest"], codebook="nasss", level="domain",
                                             bootstrap=50, out=out), lambda: project)
        unit_out = tmp_path / "u"
        run_evaluation(EvalRequest(inputs=[gold], runs=["latest"], codebook="nasss", level="domain", bootstrap=50,
                                   resample="unit", out=unit_out), lambda: project)
    finally:
        project.close()
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    machine = data["coders"][2]
    assert data["machine_coders"] == [machine]
    assert data["bootstrap"]["cluster"] == "transcript" and data["bootstrap"]["n_clusters"] == 9
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "cluster bootstrap — whole transcripts resampled (9 transcripts" in md
    rows = [line for line in md.splitlines() if line.startswith("| all coders") or "(human–human)" in line
            or "(machine vs human)" in line]
    assert rows[0].startswith("| all coders, people and machine together")
    assert "coder_A\\|coder_B (human–human)" in rows[1] and "(machine vs human)" in rows[2]
    summary = (out / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert summary[2].startswith("coder_A|coder_B (human–human)")
    assert "\\begin{tabular}" in (out / "summary.tex").read_text(encoding="utf-8")
    unit = json.loads((unit_out / "report.json").read_text(encoding="utf-8"))
    assert unit["bootstrap"]["cluster"] is None
    assert "unit bootstrap (--resample unit)" in (unit_out / "report.md").read_text(encoding="utf-8")
    # the point estimates do not depend on the resampling; the intervals do
    pair = f"coder_A|{machine}"
    assert unit["pairs"][pair]["overall"]["kappa_micro"] == data["pairs"][pair]["overall"]["kappa_micro"]
    assert unit["pairs"][pair]["overall"]["ci"] != data["pairs"][pair]["overall"]["ci"]
    assert outcome.report.machine_coders == [machine]


def test_run_latest_without_suggestions_is_refused(project_copy, tmp_path):
    """Issue 15 #5: `--run latest` must not silently pick an empty run (e.g. a run that coded nothing)."""
    from pathlib import Path

    from pipeline.errors import PrecodeError
    from pipeline.models import Run, RunStatus

    project, run_id = project_copy
    template = project.db.run(run_id)
    project.db.start_run(Run(id="20991231-000000-empty", coder="similarity", codebook_id=template.codebook_id,
                             codebook_hash=template.codebook_hash))
    project.db.finish_run("20991231-000000-empty", RunStatus.completed, {"segments": 0})
    gold = Path(__file__).resolve().parents[2] / "data" / "sample" / "gold" / "gold.csv"
    with pytest.raises(PrecodeError, match="--run latest is run 20991231-000000-empty .* which has no suggestions"):
        run_evaluation(EvalRequest(inputs=[gold], runs=["latest"], codebook="nasss", bootstrap=0, out=tmp_path / "r"),
                       lambda: project)
