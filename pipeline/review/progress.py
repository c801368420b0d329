"""Review progress and the machine coder's per-code precision, from the current decisions.

precision(code) = accepted / reviewed, over the run's suggestions of that code that have a
current decision. Accepted = accepted as is, or edited keeping the code (a corrected quote span
still confirms the code). An edit that changes the code counts as a rejection of the original
code. The 95% interval is Wilson's score interval (Wilson 1927, J Am Stat Assoc 22:209-212;
recommended for proportions by Brown, Cai & DasGupta 2001, Stat Sci 16:101-133).
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

from pipeline.codebook import Codebook
from pipeline.review.items import lookup_code
from pipeline.review.models import ANYONE, CodePrecision, Progress
from pipeline.review.queue import OUTCOMES, QueueIndex
from pipeline.store import decisions as decision_store
from pipeline.store import review as review_store

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion; (None, None) when n = 0."""
    if n == 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _precision(code_id: str, label: str, path: str, suggested: int, accepted: int, changed: int, rejected: int,
               added: int) -> CodePrecision:
    reviewed = accepted + changed + rejected
    low, high = wilson_interval(accepted, reviewed)
    return CodePrecision(code_id=code_id, label=label, path=path, suggested=suggested, reviewed=reviewed,
                         accepted=accepted, changed=changed, rejected=rejected, added=added,
                         precision=accepted / reviewed if reviewed else None, ci_low=low, ci_high=high)


def _added_by_reviewers(conn: sqlite3.Connection, codebook_hash: str, scope: str) -> dict[str, int]:
    """Codes reviewers added by hand (standing, with this codebook): what the machine missed."""
    added: dict[str, int] = {}
    for run_id, reviewer in review_store.manual_run_reviewers(conn, codebook_hash):
        if scope not in (ANYONE, reviewer):
            continue
        for code_id, n in decision_store.added_code_counts(conn, reviewer, run_id).items():
            added[code_id] = added.get(code_id, 0) + n
    return added


def progress(conn: sqlite3.Connection, queue: QueueIndex, statuses: np.ndarray, codebook: Codebook,
             codebook_hash: str, scope: str) -> Progress:
    """Reviewed/remaining and per-code precision, from `scope`'s statuses ('*' = latest of anyone's)."""
    n = len(queue.codes)
    suggested = np.bincount(queue.code, minlength=n)
    accepted, changed, rejected = (np.bincount(queue.code[statuses == k + 1], minlength=n) for k in range(len(OUTCOMES)))
    counts: dict[str, tuple[int, int, int, int]] = {
        code_id: (int(suggested[i]), int(accepted[i]), int(changed[i]), int(rejected[i]))
        for i, code_id in enumerate(queue.codes)}
    added = _added_by_reviewers(conn, codebook_hash, scope)
    order = {code.id: i for i, code in enumerate(codebook.codes)}
    per_code = []
    for code_id in sorted(set(counts) | set(added), key=lambda c: (order.get(c, len(order)), c)):
        info = lookup_code(codebook, code_id)
        per_code.append(_precision(code_id, info.label, info.path, *counts.get(code_id, (0, 0, 0, 0)),
                                   added.get(code_id, 0)))
    overall = _precision("*", "All codes", "", *(sum(getattr(p, f) for p in per_code) for f in
                                                 ("suggested", "accepted", "changed", "rejected", "added")))
    return Progress(scope=scope, total=overall.suggested, reviewed=overall.reviewed,
                    remaining=overall.suggested - overall.reviewed, overall=overall, per_code=per_code)
