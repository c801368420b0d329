"""A precode project directory: `precode.toml` settings, `precode.db` (SQLite), `chroma/` vectors.

Found like git finds a repository: the directory named by `--project` / `PRECODE_PROJECT`, else
the current directory or the nearest parent holding a `precode.toml`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import PrecodeError
from pipeline.settings import Settings, load_settings, write_settings
from pipeline.store.database import Database

if TYPE_CHECKING:
    from pipeline.indexing import EmbeddingIndex

SETTINGS_FILE = "precode.toml"
DATABASE_FILE = "precode.db"
CHROMA_DIR = "chroma"


@dataclass
class Project:
    root: Path
    settings: Settings = field(default_factory=Settings)

    @cached_property
    def db(self) -> Database:
        return Database(self.root / DATABASE_FILE)

    @property
    def chroma_path(self) -> Path:
        return self.root / CHROMA_DIR

    @cached_property
    def id(self) -> str:
        """The project's id, stored in its database; its vector collections are named after it."""
        return self.db.project_id()

    @cached_property
    def embeddings(self) -> EmbeddingIndex:
        """The embedding stage: the configured embedder and this project's vector collections."""
        from pipeline.indexing import EmbeddingIndex

        return EmbeddingIndex(self.settings.embedding, self.chroma_path, self.settings.chroma.url, self.id)

    def delete_vectors(self) -> list[str]:
        """Delete this project's vector collections (locally or on the Chroma server); returns their names."""
        return self.embeddings.delete()

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()


def init_project(root: Path) -> tuple[Project, bool]:
    """Create a project in `root` (made if missing). Returns (project, created)."""
    root = root.resolve()
    if (root / SETTINGS_FILE).is_file():
        return open_project(root), False
    if root.exists() and not root.is_dir():
        raise PrecodeError("exists and is not a directory", path=str(root))
    root.mkdir(parents=True, exist_ok=True)
    (root / CHROMA_DIR).mkdir(exist_ok=True)
    settings = Settings()
    write_settings(root / SETTINGS_FILE, settings)
    project = Project(root, settings)
    project.db  # noqa: B018 - creates the database and applies migrations
    return project, True


def open_project(root: Path) -> Project:
    root = root.resolve()
    if not root.is_dir():
        raise PrecodeError("project directory does not exist", path=str(root),
                           hint="create it with 'precode init DIR' or check --project / PRECODE_PROJECT")
    if not (root / SETTINGS_FILE).is_file():
        raise PrecodeError(f"not a precode project (no {SETTINGS_FILE})", path=str(root),
                           hint="run 'precode init' there, or point --project at a project directory")
    return Project(root, load_settings(root / SETTINGS_FILE))


def find_project(explicit: Path | None = None, start: Path | None = None) -> Project:
    """The project named explicitly or by PRECODE_PROJECT, else the nearest enclosing one."""
    if explicit is None and os.environ.get("PRECODE_PROJECT"):
        explicit = Path(os.environ["PRECODE_PROJECT"])
    if explicit is not None:
        return open_project(explicit)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS_FILE).is_file():
            return open_project(folder)
    raise PrecodeError(f"no precode project here or in any parent of {here}",
                       hint="run 'precode init' first, or pass --project DIR")
