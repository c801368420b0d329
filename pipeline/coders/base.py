"""The coder contract: what every coder (similarity baseline, LLM, a plugin's) gives the run orchestrator.

A coder turns a batch of segments, with the codebook, the codes of the chosen level and a
`CodingContext`, into suggestions. It yields `CodedBatch`es as parts of the batch finish; the
orchestrator (`pipeline.coding.run_coder`) owns everything around that: choosing the segments,
recording the run and its scope, resuming an unfinished run, progress, and storing each batch in
one transaction. A coder never opens the database, reads settings of the run back, or knows
about the command line: what it needs comes in through the context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.models import Code, Segment, Suggestion, TranscriptMetadata
from pipeline.store.llm import CacheEntry, LLMRecord
from pipeline.store.runs import RunTotals

if TYPE_CHECKING:
    from pipeline.indexing import EmbeddingIndex


def suggestion_id(run_id: str, segment_id: str, code_id: str) -> str:
    """The id of a run's suggestion of a code on a segment (the only place it is computed)."""
    return hashlib.sha256(f"{run_id}:{segment_id}:{code_id}".encode()).hexdigest()[:16]


class CoderSettingsError(PrecodeError):
    """A problem with a coder's settings (or the options laid over them).

    The message names settings; `kind` and `values` say which problem it is, so that the command
    line can word it with its own flags (pipeline.llm.cli.with_flags).
    """

    def __init__(self, kind: str, values: dict[str, Any], message: str, *, path: str | None = None,
                 hint: str | None = None):
        super().__init__(message, path=path, hint=hint)
        self.message = message
        self.kind = kind
        self.values = values


class AnswerCache(Protocol):
    """Read access to stored model answers by request key."""

    def get(self, key: str) -> CacheEntry | None: ...


class NoCache:
    """A cache that holds nothing (for coders run outside a project)."""

    def get(self, key: str) -> CacheEntry | None:
        return None


@dataclass
class CodingContext:
    """Everything a coder needs for one run, handed in by the orchestrator."""

    run_id: str
    codebook: Codebook
    codes: list[Code]  # the codes to apply (the chosen level of the tree)
    level: str
    embeddings: EmbeddingIndex  # the embedding stage of the project (nothing is opened until used)
    cache: AnswerCache = field(default_factory=NoCache)
    # transcript id -> every speaker label in it, the interviewer's included
    speakers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # transcript id -> who was interviewed (participant id, group, site, date, further sidecar columns)
    metadata: Mapping[str, TranscriptMetadata] = field(default_factory=dict)


@dataclass
class CodedBatch:
    """Part of a batch, coded: its suggestions, which segments it finished or failed, and the coder's
    own records (LLM calls, cache entries, rejections, proposals …), stored with it in one transaction."""

    suggestions: list[Suggestion] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    records: Sequence[LLMRecord] = field(default_factory=list)


class Coder(Protocol):
    """What the orchestrator needs from a coder. Read-only members, so that a coder may narrow their types."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def prompt_hash(self) -> str | None: ...

    @property
    def batch_segments(self) -> int:
        """How many segments the orchestrator hands `code` at a time (0: all of them at once)."""
        ...

    @property
    def embeds_quote_units(self) -> bool:
        """Whether `code` reads the segments' quote-unit vectors: the orchestrator then encodes the
        run's missing ones first, many chunks together in length order, so `code` finds them stored."""
        ...

    def params(self) -> dict[str, Any]:
        """Parameters recorded with the run (everything that changes the output)."""
        ...

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        """Code a batch of segments; yield each finished part (every segment ends up done or failed)."""
        ...

    def counts(self, totals: RunTotals) -> dict[str, int]:
        """Coder-specific counters for the run record, from what the run has stored so far."""
        ...
