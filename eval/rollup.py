"""Roll codes up the codebook tree: agreement at leaf, theme, subdomain and domain level.

A unit has a code of level L when the coder applied that code or any code below it (a unit has
a domain code if it has any code in the domain). Each level compares every codebook code of that
level, used or not: a code nobody used is reported with its undefined kappa rather than hidden.
At the leaf level (codes with no children) a code applied above the leaves (say a whole domain)
has no place and counts only at its own and coarser levels; codes that are not in the codebook
count at no level. Both are reported.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from eval.inputs import Problem
from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.errors import PrecodeError

AS_CODED = "codes"  # the level name when there is no codebook: the codes as the coders applied them


class Level(BaseModel):
    """The codes of one level and, for each applied code, which of them it counts for."""

    name: str
    codes: list[str]
    mapping: list[list[int]]  # per applied code: indices into `codes`


def levels_of(codebook: Codebook | None, requested: str | None) -> list[str]:
    """The level names to report: the requested one, else every level of the codebook (coarse first) and leaf."""
    if codebook is None:
        if requested not in (None, AS_CODED):
            raise PrecodeError(f"--level {requested} needs a codebook", hint="pass --codebook nasss|qif|FILE or --run")
        return [AS_CODED]
    names = [*codebook.levels, LEAF_LEVEL]
    if requested is None or requested == "all":
        return names
    if requested not in names:
        raise PrecodeError(f"codebook '{codebook.id}' has no level '{requested}'",
                           hint=f"choose one of: {', '.join(names)}, all")
    return [requested]


def build_level(applied: list[str], codebook: Codebook | None, name: str) -> Level:
    """Map the applied codes onto the codes of level `name`."""
    if codebook is None:
        return Level(name=name, codes=list(applied), mapping=[[i] for i in range(len(applied))])
    codes = [c.id for c in codebook.at_level(name)]
    index = {c: i for i, c in enumerate(codes)}
    mapping: list[list[int]] = []
    for code in applied:
        if code not in codebook.by_id:
            mapping.append([])
        elif name == LEAF_LEVEL:
            mapping.append([index[code]] if code in index else [])
        else:
            target = codebook.ancestor_at_level(code, name)
            mapping.append([index[target.id]] if target is not None else [])
    return Level(name=name, codes=codes, mapping=mapping)


def roll_up(presence: np.ndarray, level: Level) -> np.ndarray:
    """(n_coders, n_units, n_level_codes) bool: any applied code mapped to the level code is present."""
    matrix = np.zeros((presence.shape[2], len(level.codes)), dtype=np.int64)
    for applied, targets in enumerate(level.mapping):
        matrix[applied, targets] = 1
    return np.tensordot(presence.astype(np.int64), matrix, axes=([2], [0])) > 0


def codebook_problems(applied: list[str], presence: np.ndarray, codebook: Codebook, levels: list[str],
                      sources: dict[str, str]) -> list[Problem]:
    """Applied codes that are unknown to the codebook, or that sit above the leaves when leaf is reported.

    `sources` names where each code was first applied (file:line, run), so the report can point at it.
    """
    uses = presence.sum(axis=(0, 1))
    problems = []
    for i, code in enumerate(applied):
        where = sources.get(code, f"codebook {codebook.id}")
        if code not in codebook.by_id:
            problems.append(Problem(source=where, message=(
                f"unknown code id '{code}' (applied {int(uses[i])} times) is not in codebook '{codebook.id}' "
                f"and counts at no level")))
        elif LEAF_LEVEL in levels and codebook.children(code):
            problems.append(Problem(source=where, message=(
                f"code '{code}' (applied {int(uses[i])} times) is not a leaf: it counts at its own level "
                f"({codebook.by_id[code].level}) and coarser ones, not at leaf level")))
    return problems
