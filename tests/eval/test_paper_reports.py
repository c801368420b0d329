"""Reports a paper can use (issue 15 leftovers): `--reference`, human–human and machine–human sections,
disagreements split by who disagrees, Conger's kappa and ordinal weighted kappa / AC2 in the summary tables."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from eval.harness import EvalRequest, run_evaluation
from eval.metrics import weighted_multi_rater
from pipeline.errors import PrecodeError
from pipeline.project import open_project

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "data" / "sample" / "gold" / "gold.csv"
CATEGORIES = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def sample_default(built_project, tmp_path_factory):
    """The bundled sample: two gold coders and the similarity run, domain level, no --reference."""
    out = tmp_path_factory.mktemp("default") / "r"
    project = open_project(built_project[0])
    try:
        run_evaluation(EvalRequest(inputs=[GOLD], runs=["latest"], codebook="nasss", level="domain", bootstrap=20,
                                   out=out), lambda: project)
    finally:
        project.close()
    return out


def no_project() -> NoReturn:
    raise AssertionError("segment-level files must not need a project")


def read(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


def summary_rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(read(out, "summary.csv").splitlines()))


# -- 1. --reference ----------------------------------------------------------------------------------------------
def test_reference_compares_every_coder_with_the_reference_only(built_project, sample_default, cli, tmp_path):
    root, run_id = built_project
    machine = f"similarity@{run_id}"
    out = tmp_path / "ref"
    result = cli("eval", GOLD, "--run", "latest", "--reference", "coder_B", "--codebook", "nasss", "--level", "domain",
                 "--bootstrap", "20", "-p", root, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(read(out, "report.json"))
    assert data["reference"] == "coder_B" and data["coders"] == ["coder_B", "coder_A", machine]
    assert set(data["pairs"]) == {"coder_B|coder_A", f"coder_B|{machine}"}  # coder_A vs the machine is not compared
    assert set(data["by_level"]["domain"]["pairs"]) == set(data["pairs"])
    # the same figures as the all-pairs report (agreement is symmetric in the two coders)
    default = json.loads(read(sample_default, "report.json"))
    assert data["pairs"]["coder_B|coder_A"]["overall"]["kappa_micro"] == \
        default["pairs"]["coder_A|coder_B"]["overall"]["kappa_micro"]
    assert data["pairs"][f"coder_B|{machine}"]["codes"]["technology"]["kappa"] == \
        default["pairs"][f"coder_B|{machine}"]["codes"]["technology"]["kappa"]
    # summary tables: one row per coder against the reference, no all-coder row
    rows = summary_rows(out)
    assert [r["comparison"] for r in rows] == ["coder_B|coder_A (human–human)", f"coder_B|{machine} (machine vs human)"]
    assert rows[0]["n units"] == str(data["pairs"]["coder_B|coder_A"]["overall"]["n_units"])
    tex = read(out, "summary.tex")
    assert "Reference coder: coder\\_B" in tex and "all coders" not in tex
    md = read(out, "report.md")
    assert "Reference coder: coder_B. Every other coder is compared with coder_B only" in md
    assert "### Each coder against the reference (coder_B)" in md and "#### Pair coder_B|coder_A" in md
    assert "#### Pair coder_A|" not in md and "| all coders" not in md
    html = read(out, "report.html")
    assert "Reference coder: coder_B." in html and "<summary>Pair coder_B|coder_A</summary>" in html
    # disagreements: the units where a coder differs from the reference, which saw them
    for code, entries in data["disagreements"]["codes"].items():
        for e in entries:
            said = e["coders"]
            assert said["coder_B"] is not None, code
            assert any(v is not None and v != said["coder_B"] for c, v in said.items() if c != "coder_B"), code
    assert any(data["disagreements"]["codes"].values())


def test_reference_disagreements_leave_out_units_the_reference_did_not_see(tmp_path):
    path = tmp_path / "codes.csv"  # u2: only bob and carl saw it (ann has no row), and they disagree
    path.write_text("unit,coder,code\nu1,ann,x\nu1,bob,\nu1,carl,x\nu2,bob,x\nu2,carl,\n", encoding="utf-8")
    for reference, units in ((None, ["u1", "u2"]), ("ann", ["u1"]), ("bob", ["u1", "u2"])):
        out = tmp_path / str(reference)
        run_evaluation(EvalRequest(inputs=[path], missing="missing", bootstrap=0, reference=reference, out=out),
                       no_project)
        data = json.loads(read(out, "report.json"))
        assert [e["unit"] for e in data["disagreements"]["codes"]["x"]] == units, reference


def test_unknown_reference_is_one_line_exit_2_listing_the_coders(built_project, tmp_path):
    precode = Path(sys.executable).parent / "precode"
    done = subprocess.run([str(precode), "eval", str(GOLD), "--reference", "coder_Z", "-p", str(built_project[0]),
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "--reference 'coder_Z' is not one of the coders: coder_A, coder_B" in lines[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


# -- 2. human–human and machine–human as separate sections ------------------------------------------------------
def test_default_report_has_human_and_machine_sections(built_project, sample_default):
    machine = f"similarity@{built_project[1]}"
    md = read(sample_default, "report.md")
    heads = [md.index(h) for h in ("### All coders together", "### Human–human agreement",
                                   "### Machine vs each human", "## Disagreements")]
    assert heads == sorted(heads)
    human_part = md[heads[1]:heads[2]]
    machine_part = md[heads[2]:heads[3]]
    assert "#### Pair coder_A|coder_B" in human_part and machine not in human_part
    assert f"#### Pair coder_A|{machine}" in machine_part and f"#### Pair coder_B|{machine}" in machine_part
    assert "#### Pair coder_A|coder_B" not in machine_part
    html = read(sample_default, "report.html")
    h = [html.index(s) for s in ("<h3>All coders together</h3>", "<h3>Human–human agreement</h3>",
                                 "<h3>Machine vs each human</h3>")]
    assert h == sorted(h)
    assert "<summary>Pair coder_A|coder_B</summary>" in html[h[1]:h[2]]
    assert f"<summary>Pair coder_A|{machine}</summary>" in html[h[2]:]


# -- 3. disagreements split by who disagrees --------------------------------------------------------------------
def test_disagreements_among_humans_apart_from_machine_vs_humans(sample_default):
    data = json.loads(read(sample_default, "report.json"))
    machine = data["machine_coders"][0]
    n_humans = n_machine = 0
    for entries in data["disagreements"]["codes"].values():
        for e in entries:
            a, b, m = e["coders"]["coder_A"], e["coders"]["coder_B"], e["coders"][machine]
            if a is not None and b is not None and a != b:
                assert e["between"] == "humans"
                n_humans += 1
            else:
                people = {v for v in (a, b) if v is not None}
                assert e["between"] == "machine-human" and len(people) == 1 and m not in people
                n_machine += 1
    assert n_humans > 0 and n_machine > 0
    md = read(sample_default, "report.md")
    humans = md.index(f"### Among the human coders — {n_humans} unit(s)")
    versus = md.index(f"### Machine vs the humans (the humans who saw the unit agree) — {n_machine} unit(s)")
    assert humans < versus
    # every unit listed under the human heading is a disagreement between the two people
    for line in md[humans:versus].splitlines():
        if line.startswith("- **"):
            assert ("coder_A: applied; coder_B: not applied" in line
                    or "coder_A: not applied; coder_B: applied" in line), line
    for line in md[versus:md.index("## Groups")].splitlines():
        if line.startswith("- **"):
            assert ("coder_A: applied; coder_B: applied" in line or "coder_A: not applied; coder_B: not applied"
                    in line), line
    html = read(sample_default, "report.html")
    assert html.index(f"<h3>Among the human coders — {n_humans} unit(s)") < \
        html.index(f"<h3>Machine vs the humans (the humans who saw the unit agree) — {n_machine} unit(s)")


def test_people_only_disagreements_keep_one_list(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("unit,coder,code\nu1,ann,x\nu1,bob,\nu2,ann,x\nu2,bob,x\n", encoding="utf-8")
    run_evaluation(EvalRequest(inputs=[path], bootstrap=0, out=tmp_path / "r"), no_project)
    data = json.loads(read(tmp_path / "r", "report.json"))
    assert [e["between"] for e in data["disagreements"]["codes"]["x"]] == ["humans"]
    md = read(tmp_path / "r", "report.md")
    assert "### x — 1 unit(s)" in md and "Among the human coders" not in md


# -- 4. Conger's kappa and the units in the summary tables ------------------------------------------------------
def binary_rows(n_units: int = 40, seed: int = 5) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        truth = {k for k, p in (("trust", 0.4), ("cost", 0.25), ("time", 0.5)) if rng.random() < p}
        for coder, noise in (("r1", 0.1), ("r2", 0.2), ("r3", 0.3)):
            codes = {k for k in ("trust", "cost", "time") if (k in truth) != (rng.random() < noise)}
            rows += [(f"u{u}", coder, k) for k in sorted(codes)] or [(f"u{u}", coder, "")]
    return rows


def conger_from_pairs(pairs: dict[str, dict[str, int]]) -> float:
    """Conger's (1980) kappa as the mean pairwise Po against the mean pairwise Cohen chance term, from each
    pair's 2x2 counts (complete data), independently of eval.metrics."""
    po, pe = [], []
    for t in pairs.values():
        n = t["a"] + t["b"] + t["c"] + t["d"]
        p1, p2 = (t["a"] + t["b"]) / n, (t["a"] + t["c"]) / n
        po.append((t["a"] + t["d"]) / n)
        pe.append(p1 * p2 + (1 - p1) * (1 - p2))
    return (np.mean(po) - np.mean(pe)) / (1 - np.mean(pe))


def test_conger_kappa_with_n_in_every_summary_table(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("unit,coder,code\n" + "".join(f"{u},{c},{k}\n" for u, c, k in binary_rows()), encoding="utf-8")
    out = tmp_path / "r"
    run_evaluation(EvalRequest(inputs=[path], bootstrap=50, out=out), no_project)
    data = json.loads(read(out, "report.json"))
    expected = np.mean([conger_from_pairs({k: p["codes"][code]["counts"] for k, p in data["pairs"].items()})
                        for code in ("cost", "time", "trust")])
    assert data["overall"]["gen_conger_kappa_macro"] == pytest.approx(expected, abs=1e-12)
    cell = f"{expected:.3f} (3/3 codes) ["
    rows = summary_rows(out)
    assert rows[0]["comparison"].startswith("all coders") and rows[0]["Conger κ macro"].startswith(cell)
    assert rows[0]["n units"] == "40" and all(r["n units"] == "40" for r in rows)
    assert all(r["Conger κ macro"] == "–" for r in rows[1:])
    assert "Conger $\\kappa$ macro" in read(out, "summary.tex") and cell in read(out, "summary.tex")
    assert "| Conger κ macro |" in read(out, "report.md") and cell in read(out, "report.md")
    assert "<th>Conger κ macro</th>" in read(out, "report.html") and cell in read(out, "report.html")


def test_two_coders_have_no_conger_column(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("unit,coder,code\n" + "".join(f"{u},{c},{k}\n" for u, c, k in binary_rows() if c != "r3"),
                    encoding="utf-8")
    run_evaluation(EvalRequest(inputs=[path], bootstrap=0, out=tmp_path / "r"), no_project)
    rows = summary_rows(tmp_path / "r")
    assert len(rows) == 1 and "Conger κ macro" not in rows[0] and rows[0]["n units"] == "40"


# -- 5. ordinal codes: weighted kappa and AC2 -------------------------------------------------------------------
def rating_rows(n_units: int = 30, seed: int = 3) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, size=n_units)
    return {c: np.clip(truth + rng.integers(-1, 2, size=n_units), 0, 2).tolist() for c in ("r1", "r2", "r3")}


def write_ratings(tmp_path: Path, ratings: dict[str, list[int]]) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text("unit,coder,code\n" + "".join(f"u{u},{c},{CATEGORIES[v]}\n" for c, vals in ratings.items()
                                                for u, v in enumerate(vals)), encoding="utf-8")
    return path


def ac2(x: list[int], y: list[int], q: int, weights: str) -> float:
    """Gwet's AC2 (Gwet 2014, ch. 3), written out for the test."""
    cm = np.zeros((q, q))
    for i, j in zip(x, y, strict=True):
        cm[i, j] += 1
    p = cm / cm.sum()
    d = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) / (q - 1)
    w = 1 - d if weights == "linear" else 1 - d * d
    pa = (w * p).sum()
    pi = (p.sum(0) + p.sum(1)) / 2
    pe = w.sum() / (q * (q - 1)) * (pi * (1 - pi)).sum()
    return (pa - pe) / (1 - pe)


@pytest.mark.parametrize("weights", ["quadratic", "linear"])
def test_ordinal_codes_show_weighted_kappa_and_ac2(tmp_path, cli, weights):
    ratings = rating_rows()
    out = tmp_path / "r"
    result = cli("eval", write_ratings(tmp_path, ratings), "--ordinal", "low,medium,high", "--weights", weights,
                 "--bootstrap", "0", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(read(out, "report.json"))
    assert data["ordinal"]["categories"] == CATEGORIES and data["ordinal"]["weights"] == weights
    rows = {r["comparison"]: r for r in summary_rows(out)}
    for a, b in combinations(ratings, 2):
        kw = cohen_kappa_score(ratings[a], ratings[b], weights=weights)
        got = data["ordinal"]["pairs"][f"{a}|{b}"]
        assert got["weighted_kappa"] == pytest.approx(kw, abs=1e-12) and got["n_units"] == 30
        assert got["ac2"] == pytest.approx(ac2(ratings[a], ratings[b], 3, weights), abs=1e-12)
        assert rows[f"{a}|{b}"][f"κw ({weights})"] == f"{kw:.3f}"
        assert rows[f"{a}|{b}"][f"AC2 ({weights})"] == f"{got['ac2']:.3f}"
    # the all-coder row: weighted Fleiss' kappa and multi-rater AC2 (reproduced against irrCAC in
    # test_published_values.py)
    every = weighted_multi_rater(np.array([ratings[c] for c in ratings]), n_categories=3, weights=weights)
    assert data["ordinal"]["all_coders"]["fleiss_kappa"] == pytest.approx(every["fleiss_kappa"], abs=1e-12)
    first = rows[next(iter(rows))]
    assert first[f"κw ({weights})"] == f"{every['fleiss_kappa']:.3f} (Fleiss, n 30)"
    assert first[f"AC2 ({weights})"] == f"{every['ac2']:.3f}"
    md = read(out, "report.md")
    assert f"| κw ({weights}) | AC2 ({weights}) |" in md and "Ordinal categories, lowest first: low, medium, high" in md
    assert f"<th>κw ({weights})</th>" in read(out, "report.html")
    assert f"$\\kappa$w ({weights})" in read(out, "summary.tex")


def test_without_ordinal_no_weighted_columns_and_order_matters(tmp_path):
    ratings = {c: v for c, v in rating_rows().items() if c != "r3"}
    path = write_ratings(tmp_path, ratings)
    run_evaluation(EvalRequest(inputs=[path], bootstrap=0, out=tmp_path / "plain"), no_project)
    assert "κw" not in read(tmp_path / "plain", "summary.csv")
    # two coders: one row; the order given is the order used (reversed order, same weighted kappa; shuffled, not)
    kw = cohen_kappa_score(ratings["r1"], ratings["r2"], weights="quadratic")
    for order, same in (("high,medium,low", True), ("medium,low,high", False)):
        run_evaluation(EvalRequest(inputs=[path], bootstrap=0, ordinal=order.split(","), out=tmp_path / order),
                       no_project)
        row = summary_rows(tmp_path / order)[0]
        assert (row["κw (quadratic)"] == f"{kw:.3f}") is same


def test_ordinal_user_errors(tmp_path):
    path = write_ratings(tmp_path, rating_rows())
    with pytest.raises(PrecodeError, match="--ordinal: code\\(s\\) 'medium' are used but not in the order given"):
        run_evaluation(EvalRequest(inputs=[path], bootstrap=0, ordinal=["low", "high"], out=tmp_path / "r"),
                       no_project)
    multi = tmp_path / "multi.csv"
    multi.write_text("unit,coder,code\nu1,a,low\nu1,a,high\nu1,b,low\nu2,a,low\nu2,b,high\n", encoding="utf-8")
    with pytest.raises(PrecodeError, match="--ordinal needs a single-label scheme"):
        run_evaluation(EvalRequest(inputs=[multi], bootstrap=0, ordinal=CATEGORIES, out=tmp_path / "m"),
                       no_project)
    assert not (tmp_path / "r").exists() and not (tmp_path / "m").exists()
