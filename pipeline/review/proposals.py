"""The new-code proposals queue: adopt a proposed code into a new codebook version, or dismiss it.

Adopting never touches the codebook a run used: it writes a new version (minor version + 1) with
the code added under its parent, stores it as a codebook snapshot, records which version it
extends (`codebook_lineage`) and writes it as YAML into the project's `codebooks/` folder, ready
for `precode code --codebook FILE`. The snapshot, the lineage row and the decision land in one
transaction; the file is written to a temporary name and renamed into place inside it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pipeline.codebook import Codebook, parse_codebook
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, utcnow
from pipeline.project import Project
from pipeline.review.errors import Conflict, NotFound
from pipeline.review.items import passage
from pipeline.review.models import AdoptIn, AdoptResult, ProposalView
from pipeline.store import proposals as store
from pipeline.store.proposals import Lineage, ProposalDecision, ProposalRow

CODEBOOKS_DIR = "codebooks"


def _state_rows(conn: sqlite3.Connection, run_id: str, proposal_id: str | None) -> list[ProposalRow]:
    return store.proposal_rows(conn, run_id, proposal_id)


def slug(label: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")
    return words[:40].strip("_") or "new_code"


def suggest_code_id(codebook: Codebook, label: str, parent: str | None) -> str:
    """A code id not yet in the codebook: the label's slug, under the parent when it exists."""
    prefix = f"{parent}." if parent and parent in codebook.by_id else ""
    base = prefix + slug(label)
    candidate, n = base, 2
    while candidate in codebook.by_id:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _view(row: ProposalRow, codebook: Codebook) -> ProposalView:
    transcript, segment, context = passage(row.passage)
    parent = row.parent_code_id
    return ProposalView(
        id=row.id, run_id=row.run_id, label=row.label, definition=row.definition, parent_code_id=parent,
        parent_path=codebook.path(parent) if parent in codebook.by_id else None, quote=row.quote,
        quote_start=row.quote_start, quote_end=row.quote_end, grounding=Grounding(row.grounding),
        rationale=row.rationale or None, transcript=transcript, segment=segment, context=context,
        suggested_code_id=suggest_code_id(codebook, row.label, parent),
        state={"adopt": "adopted", "dismiss": "dismissed"}.get(row.action or "", "open"),
        decided_by=row.decided_by, new_code_id=row.new_code_id, note=row.note,
    )


def latest_version(conn: sqlite3.Connection, codebook_hash: str) -> str:
    """The newest codebook version adopted on top of `codebook_hash` (itself when there is none)."""
    current, seen = codebook_hash, set()
    while current not in seen:
        seen.add(current)
        child = store.latest_child(conn, current)
        if child is None:
            return current
        current = child
    return current


def list_proposals(project: Project, run: Run, state: str | None = None) -> list[ProposalView]:
    db = project.db
    codebook = db.codebook(latest_version(db.conn, run.codebook_hash))
    views = [_view(row, codebook) for row in _state_rows(db.conn, run.id, None)]
    return [v for v in views if state is None or v.state == state]


def count_open(conn: sqlite3.Connection, run_id: str) -> int:
    return store.count_open(conn, run_id)


def _proposal(conn: sqlite3.Connection, run: Run, proposal_id: str) -> ProposalRow:
    rows = _state_rows(conn, run.id, proposal_id)
    if not rows:
        raise NotFound(f"no new-code proposal '{proposal_id}' in run {run.id}")
    if rows[0].action == "adopt":
        raise Conflict(f"proposal '{proposal_id}' was already adopted as code '{rows[0].new_code_id}'")
    return rows[0]


def dismiss(project: Project, run: Run, proposal_id: str, reviewer: str, note: str | None) -> ProposalView:
    db = project.db
    with db.transaction() as conn:
        _proposal(conn, run, proposal_id)
        store.record_proposal_decision(conn, ProposalDecision(proposal_id=proposal_id, reviewer=reviewer,
                                                              action="dismiss", note=note))
    codebook = db.codebook(latest_version(db.conn, run.codebook_hash))
    return _view(_state_rows(db.conn, run.id, proposal_id)[0], codebook)


def bump_version(version: str) -> str:
    """1.0.0 -> 1.1.0 (a code was added: a minor change); anything else gets '.1' appended."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", version)
    if match:
        return f"{match[1]}.{int(match[2]) + 1}.0"
    return f"{version}.1"


def _codebook_document(base: Codebook, code: dict[str, Any], version: str) -> dict[str, Any]:
    """The YAML document of `base` with `code` inserted after its parent's last descendant."""
    entries = [{k: v for k, v in {"id": c.id, "label": c.label, "parent": c.parent, "definition": c.definition,
                                  "include": c.include, "exclude": c.exclude, "examples": c.examples}.items()
                if v is not None} for c in base.codes]
    at = len(entries)
    if code.get("parent") in base.by_id:
        family = {code["parent"], *(c.id for c in base.descendants(code["parent"]))}
        at = max(i for i, c in enumerate(base.codes) if c.id in family) + 1
    entries.insert(at, code)
    return {"schema_version": 1, "id": base.id, "name": base.name, "version": version,
            "description": base.description, "levels": base.levels, "references": base.references, "codes": entries}


def adopt(project: Project, run: Run, proposal_id: str, reviewer: str, form: AdoptIn) -> AdoptResult:
    """Add the proposed code (as the reviewer finalised it) to a new codebook version."""
    folder = project.root / CODEBOOKS_DIR
    folder.mkdir(exist_ok=True)
    result: AdoptResult | None = None
    try:
        with project.db.transaction() as conn:
            result = _adopt(project, conn, run, proposal_id, reviewer, form, folder)
    except BaseException:
        if result is not None:  # the commit itself failed after the file went into place
            Path(result.path).unlink(missing_ok=True)
        raise
    return result


def _adopt(project: Project, conn: sqlite3.Connection, run: Run, proposal_id: str, reviewer: str, form: AdoptIn,
           folder: Path) -> AdoptResult:
    db = project.db
    row = _proposal(conn, run, proposal_id)
    base_hash = latest_version(conn, run.codebook_hash)
    base = db.codebook(base_hash)
    code_id = form.code_id.strip()
    if code_id in base.by_id:
        raise Conflict(f"field 'code_id': code '{code_id}' already exists in {base.id} {base.version}",
                       hint="choose another id")
    if form.parent and form.parent not in base.by_id:
        raise PrecodeError(f"field 'parent': no code '{form.parent}' in {base.id} {base.version}",
                           hint="pick a parent from the codebook, or none for a top-level code")
    code = {"id": code_id, "label": form.label.strip(), "parent": form.parent or None,
            "definition": form.definition.strip(), "include": [x.strip() for x in form.include if x.strip()],
            "exclude": [x.strip() for x in form.exclude if x.strip()],
            "examples": [x.strip() for x in form.examples if x.strip()]}
    if not code["include"]:  # codebook files may leave it out; a code adopted in review says what it covers
        raise PrecodeError("field 'include': empty — write at least one inclusion rule",
                           hint="say what the new code covers")
    if code["parent"] is None:
        del code["parent"]
    version = bump_version(base.version)
    taken = store.codebook_versions(conn, base.id)
    while version in taken or (folder / f"{base.id}-{version}.yaml").exists():
        version = bump_version(version)
    path = folder / f"{base.id}-{version}.yaml"
    document = _codebook_document(base, code, version)
    new = parse_codebook(document, source=f"new version of {base.id}")  # the checks a hand-written one gets
    new_hash = db.save_codebook(new)
    store.record_lineage(conn, Lineage(hash=new_hash, parent_hash=base_hash, proposal_id=row.id, path=str(path)))
    store.record_proposal_decision(conn, ProposalDecision(proposal_id=proposal_id, reviewer=reviewer, action="adopt",
                                                          new_code_id=code_id, codebook_hash=new_hash,
                                                          note=form.note))
    header = (f"# {base.name} {version}: {base.version} plus code '{code_id}', adopted by {reviewer} on "
              f"{utcnow():%Y-%m-%d} from new-code proposal {proposal_id} (precode review).\n")
    _write_atomically(path, header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))
    return AdoptResult(code_id=code_id, codebook_hash=new_hash, codebook_version=version, path=str(path))


def _write_atomically(path: Path, text: str) -> None:
    """Temp file + rename, so a failure never leaves a half-written codebook."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
