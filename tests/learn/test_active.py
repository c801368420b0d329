"""Review learns: the uncertainty order of a learned run puts the suggestions the model is least sure of first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from pipeline.coders.base import CodedBatch, CodingContext, suggestion_id
from pipeline.coding import run_coder
from pipeline.models import Grounding, Segment, Suggestion
from pipeline.review.models import Order, QueueFilter
from pipeline.review.service import ReviewSession

SCORES = [0.1, 0.45, 0.9, 0.55, 0.3, 0.97]


class FixedScores:
    """A coder through the public contract that proposes the first code with given scores (one per segment)."""

    model = None
    prompt_hash = None
    batch_segments = 0
    embeds_quote_units = False

    def __init__(self, name: str):
        self.name = name

    def params(self) -> dict[str, Any]:
        return {}

    def counts(self, totals: Any) -> dict[str, int]:
        return {}

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        out = [Suggestion(id=suggestion_id(context.run_id, s.id, context.codes[0].id), run_id=context.run_id,
                          segment_id=s.id, transcript_id=s.transcript_id, code_id=context.codes[0].id, quote=s.text,
                          quote_start=s.start, quote_end=s.end, grounding=Grounding.exact, score=score)
               for s, score in zip(segments, SCORES, strict=False)]
        yield CodedBatch(out, done=[s.id for s in segments])


def _walk(session: ReviewSession, order: Order) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        view = session.queue(QueueFilter(order=order), after=after)
        if view.item is None or view.wrapped or view.item.id in out:
            return out
        out.append(view.item.id)
        after = view.item.id


@pytest.mark.parametrize(("coder", "expected"), [
    ("learned", [0.45, 0.55, 0.3, 0.1, 0.9, 0.97]),  # a probability: closest to even odds first
    ("similarity", [0.1, 0.3, 0.45, 0.55, 0.9, 0.97]),  # a similarity: lowest first, as before
])
def test_uncertainty_order(coded_project, codebook, coder, expected):
    run = run_coder(coded_project, FixedScores(coder), codebook, "leaf", ["t3"])
    scores = {s.id: s.score for s in coded_project.db.suggestions(run.id)}
    assert sorted(scores.values()) == sorted(SCORES)
    session = ReviewSession.open(coded_project, run.id, reviewer="rev")
    assert [scores[i] for i in _walk(session, Order.uncertainty)] == expected
