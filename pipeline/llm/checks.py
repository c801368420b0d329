"""Judge each item of a valid answer: keep it with its grounded quote, or reject it with a reason.

Rejected (stored in `llm_rejections` and counted in the run report, never dropped silently):
- `unknown_code`: a code id that is not one of the codes being applied (a typo, an invented id, or a
  code of another level of the tree);
- `duplicate_code`: the same code twice for one segment (the first is kept);
- `wrong_segment`: a quote that is not in its segment but is in another segment of the request or in
  the interviewer's question;
- `unrequested_proposal`: a new-code proposal when `--propose-codes` was not given;
- `proposal_existing_code`: a proposal whose label is an existing code's label.
A quote found nowhere is not rejected: its code is kept as `ungrounded` (see pipeline.grounding),
which the review and default exports leave out, and which the run report counts.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.grounding import QuoteMatch, ground_quote
from pipeline.llm.answer import SegmentAnswer
from pipeline.llm.pseudonym import Pseudonyms
from pipeline.models import Grounding, Segment

LOCATED = (Grounding.exact, Grounding.normalized)


class Rejection(BaseModel):
    segment_id: str
    sample: int
    kind: str
    code_id: str | None = None
    quote: str | None = None
    detail: str


class Evidence(BaseModel):
    """A quote as the model wrote it (pseudonyms restored) and where it was found in the segment."""

    model_quote: str
    match: QuoteMatch
    text: str  # the transcript's own text of the span when grounded, else the model's quote

    @classmethod
    def locate(cls, quote: str, segment: Segment, min_words: int = 1) -> Evidence:
        match = ground_quote(quote, segment.text, offset=segment.start, min_words=min_words)
        if match.start is None or match.end is None:
            text = quote
        else:
            text = segment.text[match.start - segment.start:match.end - segment.start]
        return cls(model_quote=quote, match=match, text=text)


class CheckedCode(BaseModel):
    code_id: str
    evidence: Evidence
    rationale: str
    confidence: float


class CheckedProposal(BaseModel):
    label: str
    definition: str
    parent_code_id: str | None
    evidence: Evidence
    rationale: str


class CheckedSegment(BaseModel):
    segment_id: str
    sample: int
    codes: list[CheckedCode]
    proposals: list[CheckedProposal]
    rejections: list[Rejection]


def _found_elsewhere(quote: str, segment: Segment, others: list[Segment]) -> str | None:
    """Where a quote that is not in its segment comes from: another segment, or the question."""
    for other in others:
        if other.id != segment.id and ground_quote(quote, other.text).grounding in LOCATED:
            return f"the quote is from another segment of the request ({other.id})"
    if segment.context and ground_quote(quote, segment.context).grounding in LOCATED:
        return "the quote is from the interviewer's question, not the answer"
    return None


def check_segment(answer: SegmentAnswer, segment: Segment, batch: list[Segment], code_ids: set[str],
                  labels: dict[str, str], all_ids: set[str], pseudonyms: Pseudonyms, propose_codes: bool,
                  sample: int = 0, min_words: int = 1) -> CheckedSegment:
    """`code_ids`: the codes being applied; `labels`: casefolded label -> id of every codebook code;
    `min_words`: a shorter quote is not evidence (kept ungrounded, see pipeline.grounding)."""
    codes: list[CheckedCode] = []
    proposals: list[CheckedProposal] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()

    def reject(kind: str, detail: str, code_id: str | None = None, quote: str | None = None) -> None:
        rejections.append(Rejection(segment_id=segment.id, sample=sample, kind=kind, code_id=code_id, quote=quote,
                                    detail=detail))

    for item in answer.codes:
        quote = pseudonyms.restore(item.quote)
        if item.code_id not in code_ids and labels.get(item.code_id.strip().casefold()) in code_ids:
            item = item.model_copy(update={"code_id": labels[item.code_id.strip().casefold()]})  # a label for its id
        if item.code_id not in code_ids:
            reject("unknown_code", f"'{item.code_id}' is not a code of this run's level", item.code_id, quote)
            continue
        if item.code_id in seen:
            reject("duplicate_code", f"'{item.code_id}' was given more than once for this segment", item.code_id, quote)
            continue
        evidence = Evidence.locate(quote, segment, min_words)
        if evidence.match.grounding is Grounding.ungrounded and evidence.match.note is None:
            elsewhere = _found_elsewhere(quote, segment, batch)
            if elsewhere:
                reject("wrong_segment", elsewhere, item.code_id, quote)
                continue
        seen.add(item.code_id)
        codes.append(CheckedCode(code_id=item.code_id, evidence=evidence, rationale=pseudonyms.restore(item.rationale),
                                 confidence=item.confidence))

    for new in answer.new_codes:
        label, quote = pseudonyms.restore(new.label).strip(), pseudonyms.restore(new.quote)
        if not propose_codes:
            reject("unrequested_proposal", f"proposed new code '{label}' without --propose-codes", quote=quote)
            continue
        if label.casefold() in labels:
            reject("proposal_existing_code", f"'{label}' is the existing code {labels[label.casefold()]}",
                   labels[label.casefold()], quote)
            continue
        proposals.append(CheckedProposal(
            label=label, definition=pseudonyms.restore(new.definition), evidence=Evidence.locate(quote, segment, min_words),
            parent_code_id=new.parent_code_id if new.parent_code_id in all_ids else None,
            rationale=pseudonyms.restore(new.rationale),
        ))
    return CheckedSegment(segment_id=segment.id, sample=sample, codes=codes, proposals=proposals, rejections=rejections)
