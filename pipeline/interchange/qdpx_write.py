"""Export the whole project as a REFI-QDA project (.qdpx) for MAXQDA, NVivo, ATLAS.ti, QualCoder and others.

No coding run is needed: what was imported from QDA software goes back as it came, and
precode's own work goes in beside it. The archive holds `project.qde` and one UTF-8 plain-text
file per transcript under `Sources/`. The text is precode's stored (normalized: LF line ends,
NFC) transcript text, so selection positions are precode's offsets as they are. Contents, in the
order the schema requires:

- Users: every imported user under its own GUID, a user per other human coder, and one per
  machine coder ("precode similarity (all-MiniLM-L6-v2)") and per reviewer (a reviewer's
  accepted codings and the codes they added by hand are theirs);
- CodeBook: the imported code tree as it came (GUIDs, colours, isCodable, descriptions, any
  depth), with the codes of the run's codebook that it lacks (see `qdc`);
- Variables and Cases: imported variables with their types and imported cases with their own
  values and sources; for other transcripts participant, group, site, date and further
  metadata as text variables, and one case per participant;
- Sources: every current transcript (and any older version that a coding points at) under its
  imported GUID, name and description, with its own variable values; the imported codings
  (selection and coding GUIDs, user, memo as the selection's Description) and then the run's
  codings as PlainTextSelections. Each machine selection's Description holds the quote,
  rationale, confidence, the review decision and the run's provenance (coder, model, prompt hash);
- Notes: imported notes, whole.

`ExportOptions` chooses what goes in: the run (default: the latest completed one, if any),
`include_all` (every grounded suggestion, not only accepted ones), `coders` (only codings by these
users), `machine=False` (no suggestions or decisions of precode at all).

GUIDs are deterministic, so exporting the same state twice gives the same project.qde (apart
from the export time).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lxml import etree
from pydantic import BaseModel

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CodingSet, ExportCoding, select_codings
from pipeline.interchange.qdc import code_colors, codebook_code_guid
from pipeline.interchange.qdpx_import import imported_colors
from pipeline.interchange.refi import PROJECT_NS, code_description, guid, local, machine_user_name, sub
from pipeline.models import RunStatus, Transcript
from pipeline.project import Project
from pipeline.store.annotations import Annotation
from pipeline.store.refi import ImportedState, all_annotations, imported_state

_QUOTE_NAME_CHARS = 60


class QdpxSummary(BaseModel):
    path: str
    sources: int
    codings: int
    users: list[str]
    imported_codings: int = 0     # codings by people (imported from QDA software or a table)
    run_id: str | None = None


class ExportOptions(BaseModel):
    """What a .qdpx export holds besides the sources, code tree, users, variables, cases and notes."""

    run_id: str | None = None      # the run whose suggestions and decisions go in (default: the latest, if any)
    include_all: bool = False      # every grounded suggestion of the run, not only the accepted ones
    coders: list[str] = []         # only codings by these users (imported users, reviewers, machine users)
    machine: bool = True           # False: none of precode's suggestions or decisions
    reviewer: str | None = None    # only this reviewer's decisions and added codes (default: the latest of anyone's)


_VALUE_TAGS = {"text": "TextValue", "boolean": "BooleanValue", "integer": "IntegerValue", "float": "FloatValue",
               "date": "DateValue", "datetime": "DateTimeValue"}
_VARIABLE_TYPES = {"text": "Text", "boolean": "Boolean", "integer": "Integer", "float": "Float", "date": "Date",
                   "datetime": "DateTime"}


_WRITE_PIECE = 1 << 20   # bytes of a source written to the archive at a time


def precode_origin() -> str:
    try:
        return f"precode {version('precode')}"
    except PackageNotFoundError:
        return "precode"


def _timestamp(value: datetime | None = None) -> str:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_of(coding: ExportCoding, machine: str) -> str:
    return coding.reviewer or machine


def _selection_description(coding: ExportCoding, codings: CodingSet) -> str:
    s, run, decision = coding.suggestion, coding.run, coding.decision
    book = f"codebook {codings.codebook.id} {codings.codebook.version}"
    lines = [f"Quote: {coding.quote}"]
    if coding.added_by_reviewer:
        # a code added by hand: its rationale is the reviewer's note (in the Review line), its score a placeholder
        lines.append(f"Added by reviewer {run.model}: a code the machine did not suggest here "
                     f"(reviewer run {run.id}, {book})")
    else:
        if s.rationale:
            lines.append(f"Rationale: {s.rationale}")
        lines.append(f"Confidence: {s.score:.4f} ({run.coder} score)")
        provenance = f"Suggested by precode {run.coder}"
        if run.model:
            provenance += f", model {run.model}"
        provenance += f", prompt hash {run.prompt_hash or '—'}, run {run.id}, {book}, grounding {s.grounding.value}"
        lines.append(provenance)
        if coding.code_id != s.code_id:
            lines.append(f"Suggested code: {s.code_id} (changed by the reviewer)")
    if decision is None:
        lines.append("Review: not reviewed")
    else:
        lines.append(f"Review: {decision.action.value} by {decision.reviewer} at {_timestamp(decision.at)}"
                     + (f" (reason: {decision.reason})" if decision.reason else "")
                     + (f"; note: {decision.note}" if decision.note else ""))
    lines.append(f"precode-suggestion: {s.id}")
    return "\n".join(lines)


def _transcripts(project: Project, codings: CodingSet | None, annotations: list[Annotation]) -> list[Transcript]:
    """Every current transcript, and older versions that codings point at, in name order.

    The current ones are read without their text and turns (`_text` gives a text when a selection
    needs a name from it): a book-length source is not held as a string, 4 bytes a character,
    while the whole project is built.
    """
    chosen = {t.id: t for t in project.db.current_transcript_headers()}
    if codings is not None:
        chosen.update(codings.transcripts)
    for tid in {a.transcript_id for a in annotations} - set(chosen):
        chosen[tid] = project.db.transcript(tid)
    return sorted(chosen.values(), key=lambda t: (t.name, t.version))


def _source_names(transcripts: list[Transcript]) -> dict[str, str]:
    counts: dict[str, int] = {}
    for t in transcripts:
        counts[t.name] = counts.get(t.name, 0) + 1
    return {t.id: t.name if counts[t.name] == 1 else f"{t.name} (version {t.version})" for t in transcripts}


def _metadata(transcript: Transcript) -> dict[str, str]:
    meta = transcript.metadata
    values = {"participant_id": meta.participant_id, "group": meta.group, "site": meta.site, "date": meta.date,
              **meta.extra}
    return {k: v for k, v in values.items() if v not in (None, "")}


def _machine_codings(project: Project, options: ExportOptions) -> CodingSet | None:
    if not options.machine:
        return None
    if options.run_id is None and not any(r.status in (RunStatus.completed, RunStatus.incomplete) for r in project.db.runs()):
        return None  # nothing coded by precode yet: the export holds the imported project alone
    return select_codings(project, options.run_id, options.include_all, options.reviewer)


class _Code(BaseModel):
    guid: str
    parent_guid: str | None
    name: str
    codable: bool = True
    color: str | None = None
    description: str = ""


def _code_tree(state: ImportedState, codebook: Codebook | None, colors: dict[str, str],
               annotations: list[Annotation]) -> tuple[list[_Code], dict[str, str]]:
    """The codes to write (tree order) and code id → GUID: imported codes first, then the run's codebook."""
    codes: dict[str, _Code] = {}
    by_id: dict[str, str] = {}
    for row in state.codes:
        codes[row.guid] = _Code(guid=row.guid, parent_guid=row.parent_guid, name=row.name, codable=row.is_codable,
                                color=row.color, description=row.description)
        by_id[row.code_id] = row.guid
    for code in codes.values():
        if code.parent_guid not in codes:
            code.parent_guid = None
    for c in codebook.codes if codebook is not None else []:
        if c.id in by_id:
            continue
        g = codebook_code_guid(codebook, c.id)  # type: ignore[arg-type]
        codes[g] = _Code(guid=g, parent_guid=by_id.get(c.parent) if c.parent else None, name=c.label,
                         codable=c.id not in codebook.uncodable, color=colors.get(c.id),  # type: ignore[union-attr]
                         description=code_description(c.definition, c.include, c.exclude, c.examples, c.id))
        by_id[c.id] = g
    for a in annotations:  # codes of codings from a table, known to no code tree here
        if a.code_id not in by_id:
            g = guid("code", a.code_id)
            codes[g] = _Code(guid=g, parent_guid=None, name=a.code_label or a.code_id,
                             description=f"precode-id: {a.code_id}")
            by_id[a.code_id] = g
    return list(codes.values()), by_id


def _add_code_tree(parent: etree._Element, codes: list[_Code]) -> None:
    kids: dict[str | None, list[_Code]] = {}
    for code in codes:
        kids.setdefault(code.parent_guid, []).append(code)

    def add(element: etree._Element, parent_guid: str | None) -> None:
        for code in kids.get(parent_guid, []):
            node = sub(element, PROJECT_NS, "Code", guid=code.guid, name=code.name,
                       isCodable="true" if code.codable else "false", color=code.color)
            if code.description:
                sub(node, PROJECT_NS, "Description", code.description)
            add(node, code.guid)

    add(sub(parent, PROJECT_NS, "Codes"), None)


def _value(parent: etree._Element, variable_guid: str, type_: str, value: str) -> None:
    value_el = sub(parent, PROJECT_NS, "VariableValue")
    sub(value_el, PROJECT_NS, "VariableRef", targetGUID=variable_guid)
    sub(value_el, PROJECT_NS, _VALUE_TAGS.get(type_.casefold(), "TextValue"), value)


def _reparent(element: etree._Element) -> etree._Element:
    """A stored <Note> in the project namespace, whatever namespace its tool wrote it in."""
    for node in element.iter():
        if isinstance(node.tag, str):
            node.tag = f"{{{PROJECT_NS}}}{local(node)}"
    etree.cleanup_namespaces(element)
    return element


def build_project(project: Project, options: ExportOptions | None = None) -> tuple[bytes, dict[str, str], QdpxSummary]:
    """project.qde as bytes, the archive's source files (member name → UTF-8 text), and what went in."""
    options = options or ExportOptions()
    db = project.db
    codings = _machine_codings(project, options)
    state = imported_state(db.conn)
    wanted = set(options.coders)
    annotations = [a for a in all_annotations(db.conn) if not wanted or a.coder in wanted]
    transcripts = _transcripts(project, codings, annotations)
    names = _source_names(transcripts)
    machine = machine_user_name(codings.run.coder, codings.run.model) if codings is not None else None
    machine_codings = [c for c in (codings.codings if codings is not None else [])
                       if not wanted or _user_of(c, machine or "") in wanted]

    # users: imported ones under their own GUIDs, then other human coders, the machine and reviewers
    user_guids: dict[str, str] = {}
    users_out: list[tuple[str, str | None]] = []
    for u in state.users:
        if u.coder not in user_guids:
            user_guids[u.coder] = u.guid
            users_out.append((u.guid, u.name))
    precode_users = sorted({a.coder for a in annotations} | ({machine} if machine and machine_codings else set())
                           | {c.reviewer for c in machine_codings if c.reviewer})
    if machine and codings is not None and not wanted:
        precode_users = sorted(set(precode_users) | {machine})
    for name in precode_users:
        if name not in user_guids:
            user_guids[name] = guid("user", name)
            users_out.append((user_guids[name], name))

    root = etree.Element(f"{{{PROJECT_NS}}}Project", nsmap={None: PROJECT_NS})
    root.set("name", project.root.name)
    root.set("origin", precode_origin())
    if machine:
        root.set("creatingUserGUID", user_guids.get(machine, guid("user", machine)))
    root.set("creationDateTime", _timestamp())
    if users_out:
        users_el = sub(root, PROJECT_NS, "Users")
        for user_guid, user_name in users_out:
            sub(users_el, PROJECT_NS, "User", guid=user_guid, name=user_name)

    codebook = codings.codebook if codings is not None else None
    colors = code_colors(codebook, imported_colors(project)) if codebook is not None else {}
    codes, code_guids = _code_tree(state, codebook, colors, annotations)
    if codes:
        _add_code_tree(sub(root, PROJECT_NS, "CodeBook"), codes)

    # variables: imported ones with their types; precode metadata as Text for the other transcripts
    imported_sources = {t.id: state.sources[t.id] for t in transcripts if t.id in state.sources}
    source_guids = {t.id: imported_sources[t.id].guid if t.id in imported_sources else guid("source", t.id)
                    for t in transcripts}
    variable_types = {v.guid: v.type for v in state.variables}
    variables: list[tuple[str, str, str, str]] = [(v.guid, v.name, _VARIABLE_TYPES.get(v.type.casefold(), "Text"),
                                                   v.description) for v in state.variables]
    text_by_name = {v.name: v.guid for v in state.variables if v.type.casefold() == "text"}
    own_names = sorted({k for t in transcripts if t.id not in imported_sources for k in _metadata(t)})
    metadata_guids: dict[str, str] = {}
    for name in own_names:
        metadata_guids[name] = text_by_name.get(name) or guid("variable", name)
        if name not in text_by_name:
            variables.append((metadata_guids[name], name, "Text", ""))
    if variables:
        variables_el = sub(root, PROJECT_NS, "Variables")
        for variable_guid, name, type_, description in variables:
            variable = sub(variables_el, PROJECT_NS, "Variable", guid=variable_guid, name=name, typeOfVariable=type_)
            if description:
                sub(variable, PROJECT_NS, "Description", description)

    # cases: imported ones with their own values; one per participant for the other transcripts
    exported_sources = set(source_guids.values())
    cases: list[tuple[str, str | None, str, dict[str, str], list[str]]] = [
        (c.guid, c.name, c.description, state.values.get(c.guid, {}), [g for g in c.source_guids if g in exported_sources])
        for c in state.cases]
    participants: dict[str, list[str]] = {}
    for t in transcripts:
        if t.id not in imported_sources and t.metadata.participant_id:
            participants.setdefault(t.metadata.participant_id, []).append(source_guids[t.id])
    cases += [(guid("case", p), p, "", {}, refs) for p, refs in sorted(participants.items())]
    if cases:
        cases_el = sub(root, PROJECT_NS, "Cases")
        for case_guid, case_name, description, values, refs in cases:
            case = sub(cases_el, PROJECT_NS, "Case", guid=case_guid, name=case_name)
            if description:
                sub(case, PROJECT_NS, "Description", description)
            for variable_guid, value in values.items():
                _value(case, variable_guid, variable_types.get(variable_guid, "Text"), value)
            for ref in refs:
                sub(case, PROJECT_NS, "SourceRef", targetGUID=ref)

    by_transcript: dict[str, list[ExportCoding]] = {}
    for coding in machine_codings:
        if codebook is not None and coding.code_id not in codebook.by_id:
            raise PrecodeError(f"suggestion {coding.suggestion.id} is coded '{coding.code_id}', which is not in "
                               f"codebook {codebook.id} {codebook.version}",
                               hint="correct the decision to a code of the run's codebook, then export again")
        by_transcript.setdefault(coding.suggestion.transcript_id, []).append(coding)
    human: dict[str, list[Annotation]] = {}
    for a in annotations:
        human.setdefault(a.transcript_id, []).append(a)

    files: dict[str, str] = {}   # archive member → the transcript whose text it holds
    sources_el = sub(root, PROJECT_NS, "Sources")
    for t in transcripts:
        source_guid = source_guids[t.id]
        imported = imported_sources.get(t.id)
        source = sub(sources_el, PROJECT_NS, "TextSource", guid=source_guid,
                     name=imported.name if imported else names[t.id], plainTextPath=f"internal://{source_guid}.txt")
        description = (imported.description if imported else
                       f"precode transcript {t.id}, version {t.version}, from {Path(t.source_path).name} ({t.format})")
        if description:
            sub(source, PROJECT_NS, "Description", description)
        _human_selections(source, t, _text(project, t), human.get(t.id, []), state, user_guids, code_guids)
        for coding in by_transcript.get(t.id, []):
            user_guid = user_guids[_user_of(coding, machine or "")]
            created = coding.decided_at if coding.reviewer else coding.suggestion.created_at
            selection = sub(source, PROJECT_NS, "PlainTextSelection", guid=guid("selection", coding.suggestion.id),
                            name=" ".join(coding.quote.split())[:_QUOTE_NAME_CHARS],
                            startPosition=str(coding.start), endPosition=str(coding.end),
                            creatingUser=user_guid, creationDateTime=_timestamp(created))
            sub(selection, PROJECT_NS, "Description", _selection_description(coding, codings))  # type: ignore[arg-type]
            coding_el = sub(selection, PROJECT_NS, "Coding", guid=guid("coding", coding.suggestion.id),
                            creatingUser=user_guid, creationDateTime=_timestamp(created))
            sub(coding_el, PROJECT_NS, "CodeRef", targetGUID=code_guids[coding.code_id])
        if imported:
            for variable_guid, value in state.values.get(imported.guid, {}).items():
                _value(source, variable_guid, variable_types.get(variable_guid, "Text"), value)
        else:
            for name, value in sorted(_metadata(t).items()):
                _value(source, metadata_guids[name], "Text", value)
        files[f"Sources/{source_guid}.txt"] = t.id   # its text is streamed from SQLite by write_qdpx

    if state.notes:
        notes_el = sub(root, PROJECT_NS, "Notes")
        for xml in state.notes:
            notes_el.append(_reparent(etree.fromstring(xml)))

    parts = []
    if annotations:
        parts.append(f"{len(annotations)} coding(s) by {len({a.coder for a in annotations})} person(s) imported "
                     "from QDA software or tables")
    if codings is not None:
        what = "all grounded suggestions" if codings.include_all else "accepted review decisions"
        added = codings.added_by_reviewers
        run = codings.run
        parts.append(f"{what} of run {run.id} ({machine}, codebook {codings.codebook.id} "
                     f"{codings.codebook.version}, level {run.level or '—'})"
                     + (f", and {added} code(s) reviewers added by hand (runs "
                        f"{', '.join(r.id for r in codings.manual_runs)})" if added else ""))
    sub(root, PROJECT_NS, "Description",
        f"Exported by {precode_origin()}: " + ("; ".join(parts) if parts else "the sources and code tree") + ".")
    summary = QdpxSummary(path="", sources=len(files), codings=len(machine_codings) + len(annotations),
                          users=sorted({name or "" for _, name in users_out}), imported_codings=len(annotations),
                          run_id=codings.run.id if codings is not None else None)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True), files, summary


def _text(project: Project, transcript: Transcript) -> Callable[[], str]:
    """The transcript's text, read from SQLite on first use (one transcript's text at a time)."""
    loaded: list[str] = []

    def text() -> str:
        if not loaded:
            loaded.append(transcript.text or project.db.transcript_text(transcript.id))
        return loaded[0]
    return text


def _human_selections(source: etree._Element, transcript: Transcript, text: Callable[[], str],
                      annotations: list[Annotation],
                      state: ImportedState, user_guids: dict[str, str], code_guids: dict[str, str]) -> None:
    """The people's codings of one transcript, one PlainTextSelection per imported selection (several codings each)."""
    groups: dict[tuple[str, int, int], list[Annotation]] = {}
    taken: dict[str, tuple[int, int]] = {}
    for a in annotations:
        origin = state.codings.get(a.id)
        selection_guid = origin.selection_guid if origin else guid("selection", f"annotation:{a.id}")
        if taken.setdefault(selection_guid, (a.start, a.end)) != (a.start, a.end):
            selection_guid = guid("selection", f"annotation:{a.id}")  # the span changed since the import
        groups.setdefault((selection_guid, a.start, a.end), []).append(a)
    for (selection_guid, start, end), rows in groups.items():
        first = rows[0]
        origin = state.codings.get(first.id)
        name = origin.selection_name if origin and origin.selection_name else \
            " ".join(text()[start:end].split())[:_QUOTE_NAME_CHARS]
        user = user_guids[first.coder]
        selection = sub(source, PROJECT_NS, "PlainTextSelection", guid=selection_guid, name=name,
                        startPosition=str(start), endPosition=str(end), creatingUser=user,
                        creationDateTime=_timestamp(first.created_at))
        if first.note:
            sub(selection, PROJECT_NS, "Description", first.note)
        for a in rows:
            row = state.codings.get(a.id)
            coding = sub(selection, PROJECT_NS, "Coding",
                         guid=row.coding_guid if row else guid("coding", f"annotation:{a.id}"),
                         creatingUser=user_guids[a.coder],
                         creationDateTime=_timestamp(a.created_at))
            sub(coding, PROJECT_NS, "CodeRef", targetGUID=code_guids[a.code_id])


def write_qdpx(project: Project, out: Path, run_id: str | None = None, include_all: bool = False,
               options: ExportOptions | None = None) -> QdpxSummary:
    """Write the .qdpx atomically: a failure leaves no half-written archive."""
    options = options or ExportOptions(run_id=run_id, include_all=include_all)
    if not project.db.has_transcripts():  # no text loaded to ask
        raise PrecodeError("the project has no transcripts to export",
                           hint="ingest transcripts ('precode ingest') or import a .qdpx ('precode import') first")
    qde, files, summary = build_project(project, options)
    with atomic_output(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", qde)
            for member, transcript in files.items():
                _write_source(project, archive, member, transcript)
    return summary.model_copy(update={"path": str(out)})


def _write_source(project: Project, archive: zipfile.ZipFile, member: str, transcript_id: str) -> None:
    """A transcript's text into the archive as UTF-8, read from SQLite as bytes and written in pieces.

    SQLite stores the text as UTF-8 already: reading it as a BLOB gives those bytes without a Python
    string (up to 4 bytes a character) or an encoded copy of it, so memory is about the source's size.
    """
    data = memoryview(project.db.transcript_utf8(transcript_id))
    with archive.open(member, "w", force_zip64=len(data) > 1 << 30) as stream:
        for begin in range(0, len(data), _WRITE_PIECE):
            stream.write(data[begin:begin + _WRITE_PIECE])
