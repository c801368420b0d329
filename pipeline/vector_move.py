"""Move a project's vector collections between its local `chroma/` folder and a Chroma server, or drop them.

A project's collections are those named `<project id>__…` (pipeline.store.vectors). Moving copies
each collection whole (ids, vectors, documents, metadata, cosine space), checks the counts, then
deletes the source collections and points `[chroma] url` in precode.toml at the target, so the
project's data lives in exactly one place afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import PrecodeError
from pipeline.project import SETTINGS_FILE, Project
from pipeline.settings import write_settings
from pipeline.store.vectors import VectorStore

PAGE = 2000


@dataclass
class Moved:
    collection: str
    vectors: int


def _store(project: Project, url: str | None) -> VectorStore:
    return VectorStore(project.chroma_path, url, namespace=project.id)


def project_collections(store: VectorStore) -> list[str]:
    prefix = f"{store.namespace}__"
    names = [c if isinstance(c, str) else c.name for c in store.client.list_collections()]
    return sorted(n for n in names if n.startswith(prefix))


def _copy(source: Any, target: Any) -> int:
    total = source.count()
    for offset in range(0, total, PAGE):
        page = source.get(limit=PAGE, offset=offset, include=["embeddings", "documents", "metadatas"])
        if not page["ids"]:
            break
        documents = page["documents"]
        target.upsert(ids=page["ids"], embeddings=page["embeddings"],
                      documents=documents if documents and any(d is not None for d in documents) else None,
                      metadatas=page["metadatas"] if page["metadatas"] and any(page["metadatas"]) else None)
    return int(total)


def move_vectors(project: Project, to_url: str | None) -> list[Moved]:
    """Copy every collection of the project to `to_url` (None: the local chroma/ folder), then delete the source."""
    from_url = project.settings.chroma.url
    if (from_url or None) == (to_url or None):
        where = to_url or "the local chroma/ folder"
        raise PrecodeError(f"the project's vectors are already in {where}",
                           hint="name another place: --to-server URL or --to-local")
    source, target = _store(project, from_url), _store(project, to_url)
    moved: list[Moved] = []
    names = project_collections(source)
    clash = [n for n in names if n in project_collections(target)]
    if clash:
        raise PrecodeError(f"the target already holds collections of this project: {', '.join(clash)}",
                           hint="drop them there first (precode vectors drop with [chroma] url set to it)")
    for name in names:
        src = source.client.get_collection(name)
        dst = target.client.get_or_create_collection(name, configuration={"hnsw": {"space": "cosine"}},
                                                     embedding_function=None)
        count = _copy(src, dst)
        if dst.count() != count:
            raise PrecodeError(f"copying {name} stored {dst.count()} of {count} vectors; the source is kept",
                               hint="run the move again")
        moved.append(Moved(name, count))
    for item in moved:
        source.client.delete_collection(item.collection)
    project.settings.chroma.url = to_url
    write_settings(project.root / SETTINGS_FILE, project.settings)
    project.__dict__.pop("embeddings", None)
    return moved


def drop_vectors(project: Project) -> list[str]:
    """Delete the project's collections where they are now, and its cached vectors (quote units, texts); rebuilt when needed."""
    project.embeddings.units.delete_namespace()
    return _store(project, project.settings.chroma.url).delete_namespace()
