"""Reports from segment-level files (no project): report.json structure, single-label schemes, html, md."""

from __future__ import annotations

import json
import re

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from eval.harness import EvalRequest, run_evaluation
from pipeline.errors import PrecodeError

CODE_KEYS = {"kappa", "po", "pe", "pabak", "ac1", "alpha", "n_units", "counts"}


def no_project():
    raise AssertionError("segment-level files must not need a project")


def write_units(tmp_path, rows, name="codes.csv"):
    path = tmp_path / name
    path.write_text("unit,coder,code\n" + "".join(f"{u},{c},{k}\n" for u, c, k in rows), encoding="utf-8")
    return path


def two_coder_rows():
    rng = np.random.default_rng(11)
    rows = []
    for u in range(40):
        for coder in ("alice", "bob"):
            codes = [k for k, p in (("trust", 0.5), ("cost", 0.3)) if rng.random() < p]
            rows += [(f"u{u}", coder, k) for k in codes] or [(f"u{u}", coder, "")]
    return rows


def evaluate(tmp_path, **options):
    options.setdefault("out", tmp_path / "report")
    options.setdefault("bootstrap", 100)
    return run_evaluation(EvalRequest(**options), no_project)


def load(outcome):
    return json.loads((outcome.files[0].parent / "report.json").read_text(encoding="utf-8"))


def test_two_coders_with_gold_json_structure(tmp_path):
    path = write_units(tmp_path, two_coder_rows() + [("u0", "alice", "never_both")])
    outcome = evaluate(tmp_path, inputs=[path], gold="alice")
    names = {p.name for p in outcome.files}
    assert {"report.json", "report.md", "report.html"} <= names
    data = load(outcome)
    assert data["coders"] == ["alice", "bob"] and data["gold"] == "alice"
    assert data["unit"]["kind"] == "unit" and data["unit"]["n_units"] == 40
    assert data["level"] == "codes" and data["levels"] == ["codes"] and data["codebook"] is None
    assert "pairs" not in data or data["pairs"] is None
    assert set(data["codes"]) == {"cost", "never_both", "trust"}
    for entry in data["codes"].values():
        assert CODE_KEYS | {"precision", "recall", "f1", "ci", "undefined_reasons"} <= set(entry)
        assert set(entry["counts"]) == {"a", "b", "c", "d"}
    # the statistics are those of the two coders, checked against scikit-learn
    alice = {u: set() for u in range(40)}
    bob = {u: set() for u in range(40)}
    for u, c, k in two_coder_rows():
        (alice if c == "alice" else bob)[int(u[1:])].add(k)
    x = [int("trust" in alice[u]) for u in range(40)]
    y = [int("trust" in bob[u]) for u in range(40)]
    assert data["codes"]["trust"]["kappa"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-9)
    # a code only the gold coder used once: recall defined, precision undefined -> null with a reason
    rare = data["codes"]["never_both"]
    assert rare["precision"] is None and "never marked" in rare["undefined_reasons"]["precision"]
    assert rare["recall"] == 0.0
    overall = data["overall"]
    assert {"kappa_macro", "kappa_micro", "po_micro", "f1_micro", "f1_macro", "n_kappa_defined"} <= set(overall)
    assert data["bootstrap"] == {"replicates": 100, "seed": 0, "confidence": 0.95, "resampling": "units"}
    assert len(data["codes"]["trust"]["ci"]["kappa"]) == 2


def test_three_coders_pairs_and_fleiss(tmp_path):
    rows = two_coder_rows() + [(u, "carol", k) for u, c, k in two_coder_rows() if c == "alice"]
    data = load(evaluate(tmp_path, inputs=[write_units(tmp_path, rows)], gold="alice"))
    assert set(data["pairs"]) == {"alice|bob", "alice|carol", "bob|carol"}
    for pair in data["pairs"].values():
        for entry in pair["codes"].values():
            assert CODE_KEYS <= set(entry) and entry["kappa_statistic"] == "cohen"
    assert data["pairs"]["alice|carol"]["codes"]["trust"]["kappa"] == 1.0  # carol copies alice
    assert data["pairs"]["alice|carol"]["overall"]["f1_micro"] == 1.0
    assert "precision" not in data["pairs"]["bob|carol"]["codes"]["trust"]  # no gold in that pair
    assert {"fleiss_kappa_macro", "fleiss_kappa_micro", "alpha_macro", "alpha_micro"} <= set(data["overall"])
    trust = data["codes"]["trust"]
    assert trust["kappa_statistic"] == "fleiss" and trust["kappa"] == trust["fleiss_kappa"]
    assert CODE_KEYS <= set(trust) and set(trust["counts"]) == {"alice", "bob", "carol"}
    assert set(trust["f1"]) == {"bob", "carol"} and trust["f1"]["carol"] == 1.0
    assert set(data["overall"]["vs_gold"]) == {"bob", "carol"}


def test_single_label_scheme_reports_nominal_kappa_and_alpha(tmp_path):
    rng = np.random.default_rng(5)
    labels = {c: rng.choice(["a", "b", "c"], size=30) for c in ("A", "B")}
    labels["B"][:20] = labels["A"][:20]
    rows = [(f"u{i}", c, labels[c][i]) for c in labels for i in range(30)]
    data = load(evaluate(tmp_path, inputs=[write_units(tmp_path, rows)]))
    nominal = data["overall"]["nominal"]
    assert nominal["kappa"] == pytest.approx(cohen_kappa_score(labels["A"], labels["B"]), abs=1e-9)
    index = {"a": 0, "b": 1, "c": 2}
    matrix = np.array([[index[v] for v in labels[c]] for c in ("A", "B")], dtype=float)
    assert nominal["alpha"] == pytest.approx(krippendorff.alpha(matrix, level_of_measurement="nominal"), abs=1e-9)
    assert nominal["categories"] == ["a", "b", "c"]


def test_multi_label_has_no_nominal(tmp_path):
    data = load(evaluate(tmp_path, inputs=[write_units(tmp_path, two_coder_rows())]))
    assert "nominal" not in data["overall"]


def test_units_file_and_missing_mode(tmp_path):
    rows = [("u1", "A", "x"), ("u1", "B", "x"), ("u2", "A", "x")]
    units = tmp_path / "units.txt"
    units.write_text("u1\nu2\nu3\n", encoding="utf-8")
    absent = load(evaluate(tmp_path, inputs=[write_units(tmp_path, rows)], units_file=units, bootstrap=0))
    assert absent["codes"]["x"]["n_units"] == 3 and absent["codes"]["x"]["counts"] == {"a": 1, "b": 1, "c": 0, "d": 1}
    missing = load(evaluate(tmp_path, inputs=[write_units(tmp_path, rows)], missing="missing", bootstrap=0,
                            out=tmp_path / "m"))
    assert missing["codes"]["x"]["n_units"] == 1 and missing["unit"]["missing"] == "missing"


def test_degenerate_code_is_null_with_reason_in_json(tmp_path):
    rows = [("u1", "A", "x"), ("u1", "B", "x"), ("u2", "A", "x"), ("u2", "B", "x")]
    outcome = evaluate(tmp_path, inputs=[write_units(tmp_path, rows)])
    text = (outcome.files[0].parent / "report.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    entry = json.loads(text)["codes"]["x"]
    assert entry["kappa"] is None and entry["kappa_label"] == "undefined"
    assert entry["undefined_reasons"]["kappa"].startswith("Pe = 1")
    assert entry["po"] == 1.0


def test_html_is_self_contained_and_md_states_the_unit(tmp_path):
    outcome = evaluate(tmp_path, inputs=[write_units(tmp_path, two_coder_rows())], gold="alice")
    folder = outcome.files[0].parent
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert "Landis" in html and re.search(r'<td class="lk-[a-z-]+">', html)
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "Unit of analysis: the units of the segment-level input (40 units" in md
    assert (folder / "kappa_codes.png").read_bytes()[:4] == b"\x89PNG"


def test_table_sorted_by_kappa(tmp_path):
    outcome = evaluate(tmp_path, inputs=[write_units(tmp_path, two_coder_rows())])
    html = (outcome.files[0].parent / "report.html").read_text(encoding="utf-8")
    data = load(outcome)
    order = sorted(data["codes"], key=lambda c: -data["codes"][c]["kappa"])
    positions = [html.index(f"<td>{code}</td>") for code in order]
    assert positions == sorted(positions)


@pytest.mark.parametrize("options, match", [
    (dict(gold="carol"), "--gold 'carol' is not one of the coders: alice, bob"),
    (dict(unit="char"), "--unit char needs transcript-based inputs"),
    (dict(runs=["x"]), "cannot be mixed"),
])
def test_request_errors(tmp_path, options, match):
    with pytest.raises(PrecodeError, match=match):
        evaluate(tmp_path, inputs=[write_units(tmp_path, two_coder_rows())], **options)


def test_one_coder_is_not_enough(tmp_path):
    with pytest.raises(PrecodeError, match="at least two coders; the inputs have 1: A"):
        evaluate(tmp_path, inputs=[write_units(tmp_path, [("u1", "A", "x")])])
    with pytest.raises(PrecodeError, match="nothing to evaluate"):
        evaluate(tmp_path)


def test_segment_level_file_rolled_up_with_a_codebook(tmp_path):
    rows = [("u1", "A", "adopters.staff"), ("u1", "B", "adopters.patients"),  # same domain, different leaves
            ("u2", "A", "condition.nature"), ("u2", "B", "condition.nature"), ("u3", "A", ""), ("u3", "B", "")]
    data = load(evaluate(tmp_path, inputs=[write_units(tmp_path, rows)], codebook="nasss", bootstrap=0))
    assert data["levels"] == ["domain", "subdomain", "theme", "leaf"] and data["level"] == "leaf"
    assert data["codes"]["adopters.staff"]["counts"] == {"a": 0, "b": 1, "c": 0, "d": 2}
    adopters = data["by_level"]["domain"]["codes"]["adopters"]
    assert adopters["counts"] == {"a": 1, "b": 0, "c": 0, "d": 2} and adopters["label"] == "Adopter system"
    assert data["by_level"]["domain"]["codes"]["condition"]["kappa"] == 1.0
    assert data["groups"] is None and data["codebook"]["id"] == "nasss"
