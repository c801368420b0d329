"""`precode vectors`: where a project's vectors are, move them to or from a Chroma server, drop them."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.errors import PrecodeError
from pipeline.terminal import ProjectOption, console

vectors_app = typer.Typer(help="The project's vector collections (local chroma/ folder or a Chroma server).",
                          no_args_is_help=True)


@vectors_app.command("list")
def list_vectors(project_dir: ProjectOption = None) -> None:
    """List this project's collections and their sizes, where they are now."""
    from pipeline.project import find_project
    from pipeline.vector_move import _store, project_collections

    project = find_project(project_dir)
    store = _store(project, project.settings.chroma.url)
    console.print(f"vectors in {project.settings.chroma.url or project.chroma_path}", highlight=False)
    for name in project_collections(store):
        console.print(f"  {name}: {store.client.get_collection(name).count()}", highlight=False)


@vectors_app.command("move")
def move(
    to_server: Annotated[str | None, typer.Option("--to-server", help="Chroma server URL, e.g. http://10.0.0.5:8000")] = None,
    to_local: Annotated[bool, typer.Option("--to-local", help="into the project's chroma/ folder")] = False,
    project_dir: ProjectOption = None,
) -> None:
    """Move the project's vectors to a Chroma server (or back), then use them there (precode.toml chroma url is updated)."""
    from pipeline.project import find_project
    from pipeline.vector_move import move_vectors

    if bool(to_server) == to_local:
        raise PrecodeError("say where to move the vectors: --to-server URL or --to-local (one of them)")
    project = find_project(project_dir)
    moved = move_vectors(project, to_server)
    for item in moved:
        console.print(f"moved {item.collection}: {item.vectors} vectors", highlight=False)
    console.print(f"{len(moved)} collections now in {to_server or project.chroma_path}", highlight=False)


@vectors_app.command("drop")
def drop(
    yes: Annotated[bool, typer.Option("--yes", help="really delete them")] = False,
    project_dir: ProjectOption = None,
) -> None:
    """Delete this project's vector collections (and only those); a later run rebuilds what it needs."""
    from pipeline.project import find_project
    from pipeline.vector_move import drop_vectors

    if not yes:
        raise PrecodeError("dropping deletes this project's vectors (and the participant texts stored with them)",
                           hint="add --yes to confirm")
    project = find_project(project_dir)
    names = drop_vectors(project)
    console.print(f"deleted {len(names)} collections of project {project.id}", highlight=False)
