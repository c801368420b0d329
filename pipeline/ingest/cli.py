"""`precode speakers`: list speakers and their roles across the project, and correct them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pipeline.errors import PrecodeError
from pipeline.models import SegmentRole
from pipeline.project import find_project
from pipeline.terminal import ProjectOption, console

speakers_app = typer.Typer(
    help="Speakers and their roles (interviewer turns are not coded): list them, or correct one with 'set'.",
    invoke_without_command=True,
)

_ROLES = {"interviewer": SegmentRole.interviewer, "moderator": SegmentRole.interviewer,
          "participant": SegmentRole.participant, "interviewee": SegmentRole.participant}


@speakers_app.callback()
def speakers_list(
    ctx: typer.Context,
    transcript: Annotated[list[str] | None, typer.Option(help="Only these transcripts (names as in 'precode status').")] = None,
    project: ProjectOption = None,
) -> None:
    """List every speaker of the current transcripts with its role, where the role came from and the evidence."""
    if ctx.invoked_subcommand is not None:
        return
    db = find_project(project).db
    transcripts = db.resolve_transcript_names(transcript) if transcript else db.current_transcripts()
    if not transcripts:
        raise PrecodeError("this project has no transcripts yet", hint="ingest some first: precode ingest PATH")
    table = Table("transcript", "speaker", "role", "from", "turns", "questions", "words", "evidence")
    for t in transcripts:
        for r in db.speakers(t.id):
            colour = "cyan" if r.role is SegmentRole.interviewer else "green"
            table.add_row(escape(t.name), escape(r.speaker), f"[{colour}]{r.role.value}[/]", r.source,
                          str(r.turns or ""), str(r.questions or ""), str(r.words or ""), escape(r.evidence))
    console.print(table)
    console.print("Change a role: precode speakers set \"NAME\" interviewer|participant [--transcript T]", highlight=False)


@speakers_app.command("set")
def speakers_set(
    speaker: Annotated[str, typer.Argument(help="The speaker as listed by 'precode speakers' (case-insensitive).")],
    role: Annotated[str, typer.Argument(help="interviewer | participant")],
    transcript: Annotated[list[str] | None, typer.Option(help="Only in these transcripts (default: every transcript "
                                                              "where the speaker appears).")] = None,
    project: ProjectOption = None,
) -> None:
    """Give a speaker a role; the affected transcripts' segments are re-derived and their runs marked stale.

    No file is read again and no other transcript changes; codes and review decisions stay on their
    segments. Later versions of the same transcript keep the role you set.
    """
    from pipeline.ingest.roles import set_speaker_role

    wanted = _ROLES.get(role.strip().casefold())
    if wanted is None:
        raise PrecodeError(f"unknown role '{role}'", hint="use interviewer or participant")
    changes = set_speaker_role(find_project(project), speaker, wanted, transcript)
    if not changes:
        console.print(f"'{escape(speaker)}' already is {wanted.value} there: nothing changed (recorded as set by you)")
    for c in changes:
        stale = f"; run(s) now stale: {', '.join(c.stale_runs)}" if c.stale_runs else ""
        console.print(f"{escape(c.transcript)}: '{escape(c.speaker)}' {c.old.value} -> {c.new.value}; "
                      f"{c.segments_changed} segment(s) re-derived{escape(stale)}", highlight=False)
    if any(c.stale_runs for c in changes):
        console.print("Stale runs are listed by 'precode status'; code again to get a run with the new roles.")
