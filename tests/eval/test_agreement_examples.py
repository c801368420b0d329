"""Hand-computed textbook examples, the prevalence paradox and degenerate inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.metrics import (
    ac1_from_confusion,
    ac1_from_counts,
    agreement_table,
    alpha_from_counts,
    binary_counts,
    categorical_agreement,
    encode_labels,
    fleiss_kappa_nominal,
    kappa_from_confusion,
    kappa_from_counts,
    krippendorff_alpha_nominal,
    landis_koch,
    pabak_from_counts,
    prf_from_counts,
)


def pair_from_table(a: int, b: int, c: int, d: int) -> np.ndarray:
    """Presence array (2 coders, a+b+c+d units, 1 code) realising the 2x2 table."""
    A = [1] * a + [1] * b + [0] * c + [0] * d
    B = [1] * a + [0] * b + [1] * c + [0] * d
    return np.array([A, B])[:, :, None]


# --------------------------------------------------------------------------- textbook


def test_textbook_2x2_kappa_040():
    # a=20, b=5, c=10, d=15, n=50
    # Po = (20+15)/50 = 0.70
    # p_A = (20+5)/50 = 0.50, p_B = (20+10)/50 = 0.60
    # Pe = 0.50*0.60 + 0.50*0.40 = 0.30 + 0.20 = 0.50
    # kappa = (0.70-0.50)/(1-0.50) = 0.40
    # PABAK = 2*0.70 - 1 = 0.40
    # AC1: pi = (0.50+0.60)/2 = 0.55, Pe = 2*0.55*0.45 = 0.495,
    #      AC1 = (0.70-0.495)/(1-0.495) = 0.205/0.505 = 0.405940594...
    # alpha: n.. = 100 values, n_1 = 2*20+5+10 = 55, n_0 = 2*15+5+10 = 45, o_01 = b+c = 15
    #        alpha = 1 - 99*15/(45*55) = 1 - 1485/2475 = 0.40
    r = agreement_table(pair_from_table(20, 5, 10, 15), coder_names=["A", "B"], code_ids=["x"])
    g = r.per_code["x"]
    assert g.counts.model_dump() == {"a": 20, "b": 5, "c": 10, "d": 15}
    assert g.n_units == 50
    assert g.po == pytest.approx(0.70, abs=1e-12)
    assert g.pe == pytest.approx(0.50, abs=1e-12)
    assert g.kappa == pytest.approx(0.40, abs=1e-12)
    assert g.pabak == pytest.approx(0.40, abs=1e-12)
    assert g.pe_ac1 == pytest.approx(0.495, abs=1e-12)
    assert g.ac1 == pytest.approx(0.205 / 0.505, abs=1e-12)
    assert g.alpha == pytest.approx(0.40, abs=1e-12)
    assert g.prevalence == {"A": 0.5, "B": 0.6}
    assert g.prevalence_mean == pytest.approx(0.55)
    assert g.kappa_label == "fair"
    assert g.undefined_reasons == {} and g.notes == {}
    # the count-level functions give the same numbers
    k, po, pe = kappa_from_counts(20, 5, 10, 15)
    assert (float(k), float(po), float(pe)) == pytest.approx((0.4, 0.7, 0.5))
    assert float(ac1_from_counts(20, 5, 10, 15)[0]) == pytest.approx(0.205 / 0.505)
    assert float(alpha_from_counts(20, 5, 10, 15)) == pytest.approx(0.4)


def test_hand_computed_ac1_and_pabak():
    # a=45, b=15, c=25, d=15, n=100
    # Po = 60/100 = 0.60; p_A = 0.60, p_B = 0.70
    # Pe = 0.60*0.70 + 0.40*0.30 = 0.42 + 0.12 = 0.54; kappa = 0.06/0.46 = 0.1304347826...
    # PABAK = 2*0.60 - 1 = 0.20
    # pi = (0.60+0.70)/2 = 0.65; Pe_AC1 = 2*0.65*0.35 = 0.455
    # AC1 = (0.60-0.455)/(1-0.455) = 0.145/0.545 = 0.2660550458...
    assert float(pabak_from_counts(45, 15, 25, 15)) == pytest.approx(0.20, abs=1e-12)
    ac1, pe = ac1_from_counts(45, 15, 25, 15)
    assert float(pe) == pytest.approx(0.455, abs=1e-12)
    assert float(ac1) == pytest.approx(0.145 / 0.545, abs=1e-12)
    g = agreement_table(pair_from_table(45, 15, 25, 15)).per_code["code_0"]
    assert g.kappa == pytest.approx(0.06 / 0.46, abs=1e-12)
    assert g.pabak == pytest.approx(0.20, abs=1e-12)
    assert g.ac1 == pytest.approx(0.145 / 0.545, abs=1e-12)


def test_hand_computed_precision_recall_f1():
    # gold = B (columns). a=20 TP, b=5 FP (A said 1, gold 0), c=10 FN.
    # P = 20/25 = 0.8, R = 20/30 = 0.666..., F1 = 40/(40+5+10) = 40/55 = 0.7272...
    g = agreement_table(pair_from_table(20, 5, 10, 15), coder_names=["A", "B"], gold="B").per_code[
        "code_0"
    ]
    assert (g.precision, g.recall, g.f1) == pytest.approx((0.8, 20 / 30, 40 / 55))
    # gold = A instead: FP and FN swap. P = 20/30, R = 20/25.
    g = agreement_table(pair_from_table(20, 5, 10, 15), coder_names=["A", "B"], gold="A").per_code[
        "code_0"
    ]
    assert (g.precision, g.recall, g.f1) == pytest.approx((20 / 30, 0.8, 40 / 55))
    assert [float(v) for v in prf_from_counts(20, 5, 10)] == pytest.approx([0.8, 20 / 30, 40 / 55])


def test_micro_and_macro_hand_computed():
    # code x: a=20,b=5,c=10,d=15 (kappa 0.40); code y: a=45,b=15,c=25,d=15 on other units.
    # Use the same 100 units: code x on units 0..49 and all-absent on 50..99 (d += 50).
    # code x over 100 units: a=20,b=5,c=10,d=65 -> Po=0.85, p_A=0.25, p_B=0.30,
    #   Pe = 0.075 + 0.525 = 0.60, kappa = 0.25/0.40 = 0.625
    # code y: a=45,b=15,c=25,d=15 -> kappa = 0.06/0.46
    # macro = (0.625 + 0.130434...)/2; pooled: a=65,b=20,c=35,d=80, n=200
    #   Po = 145/200 = 0.725, p_A = 85/200 = 0.425, p_B = 100/200 = 0.5,
    #   Pe = 0.2125 + 0.2875 = 0.5, kappa_micro = 0.225/0.5 = 0.45
    x = np.concatenate([pair_from_table(20, 5, 10, 15), np.zeros((2, 50, 1), int)], axis=1)
    y = pair_from_table(45, 15, 25, 15)
    ov = agreement_table(np.concatenate([x, y], axis=2), gold=1).overall
    assert ov.kappa_macro == pytest.approx((0.625 + 0.06 / 0.46) / 2)
    assert ov.n_kappa_defined == 2 and ov.n_codes == 2
    assert ov.counts.model_dump() == {"a": 65, "b": 20, "c": 35, "d": 80}
    assert ov.kappa_micro == pytest.approx(0.45)
    assert ov.po_micro == pytest.approx(0.725)
    # micro P/R/F1 from pooled counts: TP=65, FP=20, FN=35
    assert ov.precision_micro == pytest.approx(65 / 85)
    assert ov.recall_micro == pytest.approx(65 / 100)
    assert ov.f1_micro == pytest.approx(130 / 185)
    # macro: P = (20/25 + 45/60)/2, R = (20/30 + 45/70)/2
    assert ov.precision_macro == pytest.approx((0.8 + 0.75) / 2)
    assert ov.recall_macro == pytest.approx((20 / 30 + 45 / 70) / 2)


def test_multicategory_kappa_and_ac1_by_hand():
    # confusion (rows A, cols B), n=100, trace=85 -> Po=0.85
    # row = col = (30, 25, 45): Pe = (900+625+2025)/10000 = 0.355
    # kappa = (0.85-0.355)/(1-0.355) = 0.495/0.645 = 0.7674418...
    # AC1: pi = (0.30, 0.25, 0.45); sum pi(1-pi) = 0.21+0.1875+0.2475 = 0.645;
    #      Pe = 0.645/(3-1) = 0.3225; AC1 = (0.85-0.3225)/0.6775 = 0.7785977...
    cm = np.array([[25, 2, 3], [3, 20, 2], [2, 3, 40]])
    kappa, po, pe = kappa_from_confusion(cm)
    assert (kappa, po, pe) == pytest.approx((0.495 / 0.645, 0.85, 0.355))
    ac1, pe_ac1 = ac1_from_confusion(cm)
    assert (ac1, pe_ac1) == pytest.approx((0.5275 / 0.6775, 0.3225))
    # same via categorical_agreement on unit-level labels
    y1, y2 = [], []
    for i in range(3):
        for j in range(3):
            y1 += [i] * int(cm[i, j])
            y2 += [j] * int(cm[i, j])
    res = categorical_agreement(np.array([y1, y2]), categories=["a", "b", "c"])
    got = res.pairs["coder_0|coder_1"]
    assert got.confusion == cm.tolist()
    assert got.kappa == pytest.approx(0.495 / 0.645)
    assert got.ac1 == pytest.approx(0.5275 / 0.6775)
    assert got.kappa_label == "substantial"


def test_fleiss_1971_wikipedia_example():
    # Fleiss' (1971) worked layout as on Wikipedia: 10 subjects, 14 raters, 5 categories.
    # P_bar = 0.378, Pe = 0.213, kappa = (0.378-0.213)/(1-0.213) = 0.210
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    # rater r's label on subject s: the categories laid out in order (any layout works)
    labels = np.array([np.repeat(np.arange(5), row) for row in table]).T  # (14 raters, 10 units)
    assert fleiss_kappa_nominal(labels, n_categories=5) == pytest.approx(0.2099, abs=5e-4)


def test_krippendorff_2011_nominal_example_with_missing_data():
    # Krippendorff (2011), the 4 coders x 12 units example with missing values ('.');
    # nominal alpha = 0.743. Unit 12 has a single value and is not pairable.
    n = np.nan
    data = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
            [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
        ]
    )
    alpha = krippendorff_alpha_nominal(data - 1)  # indices 0..4, NaN missing
    assert alpha == pytest.approx(0.743, abs=5e-4)
    res = categorical_agreement(np.where(np.isnan(data), -1, data - 1).astype(int))
    assert res.multi.alpha == pytest.approx(alpha)
    assert res.multi.n_units_alpha == 11


# --------------------------------------------------------------------------- paradox


def test_prevalence_paradox():
    # a=118, b=5, c=2, d=0, n=125 (the code is almost always present)
    # Po = 118/125 = 0.944
    # p_A = 123/125 = 0.984, p_B = 120/125 = 0.96
    # Pe = 0.984*0.96 + 0.016*0.04 = 0.94464 + 0.00064 = 0.94528
    # kappa = (0.944-0.94528)/(1-0.94528) = -0.00128/0.05472 = -0.0233918...
    #       = 2(ad-bc)/((a+b)(b+d)+(a+c)(c+d)) = 2(0-10)/(123*5+120*2) = -20/855
    # AC1: pi = 0.972, Pe = 2*0.972*0.028 = 0.054432,
    #      AC1 = (0.944-0.054432)/(1-0.054432) = 0.940776...
    # PABAK = 2*0.944 - 1 = 0.888
    g = agreement_table(pair_from_table(118, 5, 2, 0)).per_code["code_0"]
    assert g.po > 0.9 and g.po == pytest.approx(0.944)
    assert g.kappa < 0.05 and g.kappa == pytest.approx(-20 / 855)
    assert g.ac1 > 0.9 and g.ac1 == pytest.approx(0.889568 / 0.945568)
    assert g.pabak == pytest.approx(0.888)
    assert "prevalence paradox" in g.notes["kappa"]
    assert g.kappa_label == "poor"


# --------------------------------------------------------------------------- degenerate


def test_code_never_used_by_either_coder():
    x = np.zeros((2, 30, 1), dtype=int)
    g = agreement_table(x, coder_names=["llm", "human"], gold="human").per_code["code_0"]
    assert math.isnan(g.kappa)
    assert g.undefined_reasons["kappa"].startswith("Pe = 1")
    assert g.po == 1.0 and g.pe == 1.0
    assert g.pabak == 1.0 and g.ac1 == 1.0  # defined, and honest: they do agree
    assert math.isnan(g.alpha) and "alpha" in g.undefined_reasons
    for k in ("precision", "recall", "f1"):
        assert math.isnan(getattr(g, k)) and k in g.undefined_reasons
    assert g.kappa_label == "undefined"
    dumped = json.loads(g.model_dump_json())
    assert dumped["kappa"] is None and dumped["po"] == 1.0 and dumped["f1"] is None


def test_both_coders_always_present_pe_one():
    g = agreement_table(np.ones((2, 12, 1), dtype=int)).per_code["code_0"]
    assert math.isnan(g.kappa) and "present in every" in g.undefined_reasons["kappa"]
    assert g.po == 1.0


def test_one_coder_constant_gives_kappa_zero_with_note():
    # A marks the code everywhere, B on 4 of 10 units: Po = 0.4 = Pe -> kappa = 0 (defined)
    A = np.ones(10, int)
    B = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    g = agreement_table(np.stack([A, B])[:, :, None], coder_names=["A", "B"]).per_code["code_0"]
    assert g.kappa == 0.0 and g.po == pytest.approx(0.4) and g.pe == pytest.approx(0.4)
    assert "kappa" not in g.undefined_reasons
    assert "kappa = 0 by construction" in g.notes["kappa"]


def test_opposite_constant_coders():
    x = np.stack([np.ones(8, int), np.zeros(8, int)])[:, :, None]
    g = agreement_table(x).per_code["code_0"]
    assert g.po == 0.0 and g.pe == 0.0 and g.kappa == 0.0 and g.pabak == -1.0


def test_zero_units_never_crashes():
    x = np.zeros((3, 0, 2), dtype=int)
    r = agreement_table(x, gold=0, bootstrap=20, seed=1)
    for pair in r.pairs.values():
        for g in pair.per_code.values():
            assert g.n_units == 0
            for name in ("po", "pe", "kappa", "pabak", "ac1", "alpha", "precision", "recall", "f1"):
                v = getattr(g, name)
                if v is not None:
                    assert math.isnan(v) and "no units" in g.undefined_reasons[name]
            assert all(v is None for v in g.ci.values())
        assert math.isnan(pair.overall.kappa_macro) and pair.overall.n_kappa_defined == 0
        assert (
            math.isnan(pair.overall.kappa_micro) and "kappa_micro" in pair.overall.undefined_reasons
        )
    assert math.isnan(r.multi.overall.alpha_micro)
    assert "no unit" in r.multi.per_code["code_0"].undefined_reasons["fleiss_kappa"]
    json.loads(r.model_dump_json())  # serializes (NaN -> null)


def test_no_overlap_between_coders():
    x = np.ones((2, 6, 1), dtype=int)
    obs = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=bool)
    g = agreement_table(x, observed=obs).per_code["code_0"]
    assert (
        g.n_units == 0
        and math.isnan(g.po)
        and "no units coded by both" in g.undefined_reasons["po"]
    )


def test_zero_codes():
    r = agreement_table(np.zeros((2, 5, 0), dtype=int))
    assert r.per_code == {} and math.isnan(r.overall.kappa_macro)
    assert "no codes" in r.overall.undefined_reasons["kappa_macro"]


def test_missing_data_counts_only_shared_units():
    x = pair_from_table(20, 5, 10, 15)
    obs = np.ones((2, 50), dtype=bool)
    obs[0, :20] = False  # coder A did not see the 20 'a' units
    g = agreement_table(x, observed=obs).per_code["code_0"]
    assert g.counts.model_dump() == {"a": 0, "b": 5, "c": 10, "d": 15}
    assert g.n_units == 30


def test_binary_counts_helper():
    a, b, c, d = binary_counts([1, 1, 0, 0, 1], [1, 0, 1, 0, 1], mask=[1, 1, 1, 1, 0])
    assert (int(a), int(b), int(c), int(d)) == (1, 1, 1, 1)


def test_categorical_degenerate_single_category():
    res = categorical_agreement(np.zeros((3, 10), dtype=int), categories=["only", "other"])
    g = res.pairs["coder_0|coder_1"]
    assert math.isnan(g.kappa) and "Pe = 1" in g.undefined_reasons["kappa"] and g.po == 1.0
    assert math.isnan(res.multi.fleiss_kappa) and math.isnan(res.multi.alpha)
    assert res.multi.fleiss_kappa_label == "undefined"


def test_encode_labels_with_missing():
    lab, obs, cats = encode_labels([["x", "y", None], ["y", "y", "z"]])
    assert cats == ["x", "y", "z"]
    assert lab.tolist() == [[0, 1, -1], [1, 1, 2]]
    assert obs.tolist() == [[True, True, False], [True, True, True]]
    res = categorical_agreement(lab, categories=cats, coder_names=["llm", "ann"])
    assert res.pairs["llm|ann"].n_units == 2


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((2, 3, 2), 2), "0 or 1"),
        (np.zeros((2, 3)), None),  # 2-D is fine: one code
        (np.zeros((2, 3, 2, 1)), "shape"),
    ],
)
def test_validation(bad, match):
    if match is None:
        agreement_table(bad)
    else:
        with pytest.raises(ValueError, match=match):
            agreement_table(bad)


def test_partial_nan_row_rejected_and_single_coder_rejected():
    x = np.zeros((2, 3, 2))
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="whole coder x unit row"):
        agreement_table(x)
    with pytest.raises(ValueError, match="two coders"):
        agreement_table(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="gold"):
        agreement_table(np.zeros((2, 3, 2)), coder_names=["a", "b"], gold="c")


def test_gold_by_index_and_pair_keys():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(3, 20, 2))
    r = agreement_table(x, coder_names=["llm", "ann", "bob"], gold=1)
    assert r.gold == "ann"
    assert list(r.pairs) == ["llm|ann", "llm|bob", "ann|bob"]
    assert r.pair("ann", "llm").predicted == "llm"
    assert r.pairs["llm|bob"].overall.f1_micro is None
    with pytest.raises(AttributeError):
        _ = r.per_code  # shortcut only for two coders


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "value, label",
    [
        (-0.01, "poor"),
        (0.0, "slight"),
        (0.20, "slight"),
        (0.21, "fair"),
        (0.40, "fair"),
        (0.41, "moderate"),
        (0.60, "moderate"),
        (0.61, "substantial"),
        (0.80, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
        (float("nan"), "undefined"),
        (None, "undefined"),
        (np.float64("nan"), "undefined"),
    ],
)
def test_landis_koch(value, label):
    assert landis_koch(value) == label
