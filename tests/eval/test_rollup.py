"""Roll-up along the codebook tree."""

from __future__ import annotations

import numpy as np
import pytest

from eval.rollup import AS_CODED, build_level, codebook_problems, levels_of, roll_up
from pipeline.codebook import load_codebook
from pipeline.errors import PrecodeError

NASSS = load_codebook("nasss")
APPLIED = [
    "technology.material_properties.usability",      # theme under technology.material_properties
    "technology.supply_model.data_quality",          # theme under technology.supply_model
    "technology.ip_ownership",                       # a leaf that is a subdomain (no theme above it)
    "value_proposition.demand_side",                 # not a leaf
    "made.up",                                       # not in the codebook
]


def test_levels_of():
    assert levels_of(NASSS, None) == ["domain", "subdomain", "theme", "leaf"]
    assert levels_of(NASSS, "all") == ["domain", "subdomain", "theme", "leaf"]
    assert levels_of(NASSS, "theme") == ["theme"]
    assert levels_of(None, None) == [AS_CODED]
    with pytest.raises(PrecodeError, match="has no level 'step'"):
        levels_of(NASSS, "step")
    with pytest.raises(PrecodeError, match="needs a codebook"):
        levels_of(None, "domain")


def test_mapping_per_level():
    domain = build_level(APPLIED, NASSS, "domain")
    assert domain.codes == [c.id for c in NASSS.at_level("domain")]
    assert [[domain.codes[i] for i in m] for m in domain.mapping] == [
        ["technology"], ["technology"], ["technology"], ["value_proposition"], []]
    subdomain = build_level(APPLIED, NASSS, "subdomain")
    assert [[subdomain.codes[i] for i in m] for m in subdomain.mapping] == [
        ["technology.material_properties"], ["technology.supply_model"], ["technology.ip_ownership"],
        ["value_proposition.demand_side"], []]
    theme = build_level(APPLIED, NASSS, "theme")
    assert [[theme.codes[i] for i in m] for m in theme.mapping] == [
        ["technology.material_properties.usability"], ["technology.supply_model.data_quality"], [], [], []]
    leaf = build_level(APPLIED, NASSS, "leaf")
    assert "technology.ip_ownership" in leaf.codes and "value_proposition.demand_side" not in leaf.codes
    assert [[leaf.codes[i] for i in m] for m in leaf.mapping] == [
        ["technology.material_properties.usability"], ["technology.supply_model.data_quality"],
        ["technology.ip_ownership"], [], []]
    as_coded = build_level(APPLIED, None, AS_CODED)
    assert as_coded.codes == APPLIED and as_coded.mapping == [[i] for i in range(5)]


def test_roll_up_any_code_below():
    # one coder, three units
    presence = np.zeros((1, 3, len(APPLIED)), dtype=bool)
    presence[0, 0, 0] = presence[0, 0, 1] = True   # two technology themes on unit 0
    presence[0, 1, 2] = True                       # a technology subdomain leaf on unit 1
    presence[0, 2, 4] = True                       # an unknown code on unit 2
    level = build_level(APPLIED, NASSS, "domain")
    rolled = roll_up(presence, level)
    tech = level.codes.index("technology")
    assert rolled.shape == (1, 3, len(level.codes))
    assert rolled[0, :, tech].tolist() == [True, True, False]
    assert rolled.sum() == 2  # each unit has technology once; the unknown code counts nowhere
    theme = build_level(APPLIED, NASSS, "theme")
    assert roll_up(presence, theme)[0].sum(axis=1).tolist() == [2, 0, 0]


def test_codebook_problems_name_the_code_and_source():
    presence = np.ones((2, 4, len(APPLIED)), dtype=bool)
    sources = {"made.up": "gold.csv:7", "value_proposition.demand_side": "gold.csv:9"}
    problems = codebook_problems(APPLIED, presence, NASSS, ["domain", "leaf"], sources)
    assert [(p.source, p.message.split(" (")[0]) for p in problems] == [
        ("gold.csv:9", "code 'value_proposition.demand_side'"), ("gold.csv:7", "unknown code id 'made.up'")]
    assert "applied 8 times" in problems[1].message and "not in codebook 'nasss'" in problems[1].message
    assert codebook_problems(APPLIED, presence, NASSS, ["domain"], sources)[0].message.startswith("unknown")
