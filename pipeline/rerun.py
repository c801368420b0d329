"""An unchanged re-run: the same command on the same segments and codebook finds its finished run.

`run_coder` records every run with a resume key (coder, model, parameters, prompt hash, codebook
hash, level and the ids of the segments, which change with any new transcript version). When a
completed run with that key exists, coding again would store a complete duplicate of it (about
11 MB at 400 interviews); `precode code` reports the existing run instead, in seconds, unless
`--new-run` is given.
"""

from __future__ import annotations

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import Coder
from pipeline.coding import resume_key, select_segment_keys
from pipeline.models import Run
from pipeline.project import Project


def finished_run(project: Project, coder: Coder, codebook: Codebook, level: str | None = None,
                 transcript_names: list[str] | None = None) -> Run | None:
    """The completed run that this exact command already produced on these segments, if any."""
    segments = select_segment_keys(project, transcript_names)  # ids only, not every text
    if not segments:
        return None
    level = level or LEAF_LEVEL
    probe = Run(id="", coder=coder.name, model=coder.model, params={**coder.params(), "level": level},
                prompt_hash=coder.prompt_hash, codebook_id=codebook.id, codebook_hash=codebook.content_hash,
                level=level)
    found = project.db.finished_run_for(resume_key(probe, [s.id for s in segments]))
    return project.db.run(found) if found else None
