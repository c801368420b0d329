"""Find similar passages: the project's segments nearest in meaning to a text (`precode similar`).

The segments to search are those `precode code` would code (current transcript versions). Coding
stores only the quote units' vectors; the first search puts each segment's vector (the mean of its
units', encoded only if not yet stored: a coded project has them all) into the project's
`segments` collection, then chromadb answers one nearest-neighbour query there.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.coding import select_segments
from pipeline.errors import PrecodeError
from pipeline.project import Project


class SimilarPassage(BaseModel):
    segment_id: str
    transcript: str
    speaker: str
    start: int
    end: int
    text: str
    score: float  # cosine similarity


def similar_passages(project: Project, text: str, k: int = 5) -> list[SimilarPassage]:
    """The `k` segments of the project's current transcripts most similar to `text`, best first."""
    if not text.strip():
        raise PrecodeError("give a text to search for", hint="e.g. precode similar \"alerts nobody reads\"")
    if k < 1:
        raise PrecodeError(f"-k must be at least 1, not {k}")
    segments = select_segments(project)
    if not segments:
        raise PrecodeError("there are no segments in this project", hint="ingest transcripts first: precode ingest PATH")
    index = project.embeddings
    index.searchable(segments)
    by_id = {s.id: s for s in segments}
    names = {t.id: t.name for t in project.db.current_transcripts()}
    [hits] = index.similar([text], k, transcript_ids=sorted({s.transcript_id for s in segments}))
    return [SimilarPassage(segment_id=i, transcript=names[by_id[i].transcript_id], speaker=by_id[i].speaker,
                           start=by_id[i].start, end=by_id[i].end, text=by_id[i].text, score=round(score, 4))
            for i, score in hits if i in by_id]
