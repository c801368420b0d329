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

import yaml

from pipeline.codebook import Codebook, parse_codebook
from pipeline.errors import PrecodeError
from pipeline.models import Grounding, Run, utcnow
from pipeline.project import Project
from pipeline.review.errors import Conflict, NotFound
from pipeline.review.items import PASSAGE_COLUMNS, passage
from pipeline.review.models import AdoptIn, AdoptResult, ProposalView

CODEBOOKS_DIR = "codebooks"


def _state_rows(conn: sqlite3.Connection, run_id: str, proposal_id: str | None) -> list[sqlite3.Row]:
    sql = (f"SELECT p.*, pd.action, pd.reviewer AS decided_by, pd.new_code_id, pd.note, {PASSAGE_COLUMNS}"
           " FROM code_proposals p JOIN segments g ON g.id = p.segment_id JOIN transcripts t ON t.id = p.transcript_id"
           " LEFT JOIN proposal_decisions pd"
           " ON pd.id = (SELECT MAX(id) FROM proposal_decisions WHERE proposal_id = p.id)"
           " WHERE p.run_id = ?")
    params = [run_id]
    if proposal_id is not None:
        sql += " AND p.id = ?"
        params.append(proposal_id)
    return conn.execute(sql + " ORDER BY t.name, t.version, g.idx, p.created_at, p.id", params).fetchall()


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


def _view(conn: sqlite3.Connection, row: sqlite3.Row, codebook: Codebook) -> ProposalView:
    transcript, segment, context = passage(conn, row)
    parent = row["parent_code_id"]
    return ProposalView(
        id=row["id"], run_id=row["run_id"], label=row["label"], definition=row["definition"], parent_code_id=parent,
        parent_path=codebook.path(parent) if parent in codebook.by_id else None, quote=row["quote"],
        quote_start=row["quote_start"], quote_end=row["quote_end"], grounding=Grounding(row["grounding"]),
        rationale=row["rationale"] or None, transcript=transcript, segment=segment, context=context,
        suggested_code_id=suggest_code_id(codebook, row["label"], parent),
        state={"adopt": "adopted", "dismiss": "dismissed"}.get(row["action"], "open"),
        decided_by=row["decided_by"], new_code_id=row["new_code_id"], note=row["note"],
    )


def latest_version(conn: sqlite3.Connection, codebook_hash: str) -> str:
    """The newest codebook version adopted on top of `codebook_hash` (itself when there is none)."""
    current, seen = codebook_hash, set()
    while current not in seen:
        seen.add(current)
        row = conn.execute("SELECT hash FROM codebook_lineage WHERE parent_hash = ?"
                           " ORDER BY created_at DESC, rowid DESC LIMIT 1", (current,)).fetchone()
        if row is None:
            return current
        current = row["hash"]
    return current


def list_proposals(project: Project, run: Run, state: str | None = None) -> list[ProposalView]:
    db = project.db
    codebook = db.codebook(latest_version(db.conn, run.codebook_hash))
    views = [_view(db.conn, row, codebook) for row in _state_rows(db.conn, run.id, None)]
    return [v for v in views if state is None or v.state == state]


def count_open(conn: sqlite3.Connection, run_id: str) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM code_proposals p WHERE p.run_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM proposal_decisions pd WHERE pd.proposal_id = p.id)", (run_id,),
    ).fetchone()[0]


def _proposal(conn: sqlite3.Connection, run: Run, proposal_id: str) -> sqlite3.Row:
    rows = _state_rows(conn, run.id, proposal_id)
    if not rows:
        raise NotFound(f"no new-code proposal '{proposal_id}' in run {run.id}")
    if rows[0]["action"] == "adopt":
        raise Conflict(f"proposal '{proposal_id}' was already adopted as code '{rows[0]['new_code_id']}'")
    return rows[0]


def dismiss(project: Project, run: Run, proposal_id: str, reviewer: str, note: str | None) -> ProposalView:
    db = project.db
    with db.transaction() as conn:
        _proposal(conn, run, proposal_id)
        conn.execute("INSERT INTO proposal_decisions (proposal_id, reviewer, action, note, at) VALUES (?,?,?,?,?)",
                     (proposal_id, reviewer, "dismiss", note, utcnow().isoformat()))
    codebook = db.codebook(latest_version(db.conn, run.codebook_hash))
    return _view(db.conn, _state_rows(db.conn, run.id, proposal_id)[0], codebook)


def bump_version(version: str) -> str:
    """1.0.0 -> 1.1.0 (a code was added: a minor change); anything else gets '.1' appended."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", version)
    if match:
        return f"{match[1]}.{int(match[2]) + 1}.0"
    return f"{version}.1"


def _codebook_document(base: Codebook, code: dict, version: str) -> dict:
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
    if code["parent"] is None:
        del code["parent"]
    version = bump_version(base.version)
    taken = {r[0] for r in conn.execute("SELECT version FROM codebooks WHERE id = ?", (base.id,))}
    while version in taken or (folder / f"{base.id}-{version}.yaml").exists():
        version = bump_version(version)
    path = folder / f"{base.id}-{version}.yaml"
    document = _codebook_document(base, code, version)
    new = parse_codebook(document, source=f"new version of {base.id}")  # the checks a hand-written one gets
    new_hash = db.save_codebook(new)
    conn.execute("INSERT INTO codebook_lineage VALUES (?,?,?,?,?)",
                 (new_hash, base_hash, row["id"], str(path), utcnow().isoformat()))
    conn.execute(
        "INSERT INTO proposal_decisions (proposal_id, reviewer, action, new_code_id, codebook_hash, note, at)"
        " VALUES (?,?,?,?,?,?,?)",
        (proposal_id, reviewer, "adopt", code_id, new_hash, form.note, utcnow().isoformat()),
    )
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
