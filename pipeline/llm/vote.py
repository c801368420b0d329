"""Self-consistency: the majority vote over N sampled answers for one segment.

A code is suggested when more than half of the N samples applied it (with N = 2 both must). Its
confidence is the agreement, votes / N. Its quote and rationale are those of the sample whose quote
is grounded best (exact, then normalized, fuzzy, ungrounded; ties go to the higher model
confidence, then the earlier sample). With N = 1 the sample's own code list is the answer and the
model's stated confidence is kept.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.llm.checks import CheckedCode, CheckedSegment
from pipeline.models import Grounding

_RANK = {Grounding.exact: 0, Grounding.normalized: 1, Grounding.fuzzy: 2, Grounding.ungrounded: 3}


class Voted(BaseModel):
    code: CheckedCode
    sample: int  # the sample whose quote and rationale are kept
    votes: int
    samples: int

    @property
    def score(self) -> float:
        return self.code.confidence if self.samples == 1 else round(self.votes / self.samples, 4)


def majority(samples: list[CheckedSegment]) -> list[Voted]:
    """The codes a strict majority of samples applied, in order of first appearance."""
    n = len(samples)
    applied: dict[str, list[tuple[int, CheckedCode]]] = {}
    for sample in samples:
        for code in sample.codes:
            applied.setdefault(code.code_id, []).append((sample.sample, code))
    out = []
    for votes in applied.values():
        if 2 * len(votes) > n:
            chosen, best = min(votes, key=lambda v: (_RANK[v[1].evidence.match.grounding], -v[1].confidence))
            out.append(Voted(code=best, sample=chosen, votes=len(votes), samples=n))
    return out
