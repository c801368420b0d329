"""Find similar passages: the project's segments nearest in meaning to a text (`precode similar`).

The segments to search are those `precode code` would code (current transcript versions). Coding
stores only the quote units' vectors; the first search puts each segment's vector (the mean of its
units', encoded only if not yet stored: a coded project has them all) into the project's
`segments` collection (a chunk of segments at a time), then chromadb answers one nearest-neighbour
query there and only the hits' texts are read.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.coding import segment_chunks, select_segment_keys
from pipeline.errors import PrecodeError
from pipeline.indexing import ENCODE_CHUNK
from pipeline.project import Project
from pipeline.store.vectors import SEGMENTS


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
    keys = select_segment_keys(project)
    if not keys:
        raise PrecodeError("there are no segments in this project", hint="ingest transcripts first: precode ingest PATH")
    index = project.embeddings
    missing = set(index.store.missing(SEGMENTS, index.embedder.name, [k.id for k in keys]))
    for chunk in segment_chunks(project, [k for k in keys if k.id in missing], ENCODE_CHUNK):  # bounded memory
        index.searchable(chunk)
    names = {t.id: t.name for t in project.db.current_transcript_headers()}
    [hits] = index.similar([text], k, transcript_ids=sorted({k.transcript_id for k in keys}))
    in_scope = {k.id for k in keys}
    by_id = {s.id: s for s in project.db.segments(segment_ids=[i for i, _ in hits if i in in_scope])}
    return [SimilarPassage(segment_id=i, transcript=names[by_id[i].transcript_id], speaker=by_id[i].speaker,
                           start=by_id[i].start, end=by_id[i].end, text=by_id[i].text, score=round(score, 4))
            for i, score in hits if i in by_id]
