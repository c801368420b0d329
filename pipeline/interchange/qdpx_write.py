"""Export a project as a REFI-QDA project (.qdpx) for MAXQDA, NVivo, ATLAS.ti, QualCoder and others.

The archive holds `project.qde` and one UTF-8 plain-text file per transcript under `Sources/`.
The text is precode's stored (normalized) transcript text, so selection positions are precode's
offsets as they are. Contents, in the order the schema requires:

- Users: one per machine coder ("precode similarity (all-MiniLM-L6-v2)") and one per reviewer
  (a reviewer's accepted codings and the codes they added by hand are theirs);
- CodeBook: the run's codebook as a code tree (see `qdc`);
- Variables and Cases: participant, group, site, date and further metadata as text variables
  on each source, and one case per participant;
- Sources: every current transcript (and any older version that a coding points at) with its
  codings as PlainTextSelections. Each selection's Description holds the quote, rationale,
  confidence, the review decision and the run's provenance (coder, model, prompt hash).

GUIDs are deterministic, so exporting the same state twice gives the same project.qde (apart
from the export time).
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lxml import etree
from pydantic import BaseModel

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CodingSet, ExportCoding, select_codings
from pipeline.interchange.qdc import add_codes, code_colors
from pipeline.interchange.qdpx_import import imported_colors
from pipeline.interchange.refi import PROJECT_NS, code_guid, guid, machine_user_name, sub
from pipeline.models import Transcript
from pipeline.project import Project

_QUOTE_NAME_CHARS = 60


class QdpxSummary(BaseModel):
    path: str
    sources: int
    codings: int
    users: list[str]


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


def _transcripts(project: Project, codings: CodingSet) -> list[Transcript]:
    """Every current transcript, and older versions that codings point at, in name order."""
    chosen = {t.id: t for t in project.db.current_transcripts()}
    chosen.update(codings.transcripts)
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


def build_project(project: Project, codings: CodingSet) -> tuple[bytes, dict[str, bytes]]:
    """project.qde as bytes, and the archive's source files (member name → UTF-8 text)."""
    codebook: Codebook = codings.codebook
    run = codings.run
    transcripts = _transcripts(project, codings)
    names = _source_names(transcripts)
    machine = machine_user_name(run.coder, run.model)

    root = etree.Element(f"{{{PROJECT_NS}}}Project", nsmap={None: PROJECT_NS})
    root.set("name", project.root.name)
    root.set("origin", precode_origin())
    root.set("creatingUserGUID", guid("user", machine))
    root.set("creationDateTime", _timestamp())

    users = sorted({machine} | {c.reviewer for c in codings.codings if c.reviewer})
    users_el = sub(root, PROJECT_NS, "Users")
    for name in users:
        sub(users_el, PROJECT_NS, "User", guid=guid("user", name), name=name)

    add_codes(sub(root, PROJECT_NS, "CodeBook"), PROJECT_NS, codebook, code_colors(codebook, imported_colors(project)))

    variable_names = sorted({k for t in transcripts for k in _metadata(t)})
    if variable_names:
        variables_el = sub(root, PROJECT_NS, "Variables")
        for name in variable_names:
            sub(variables_el, PROJECT_NS, "Variable", guid=guid("variable", name), name=name, typeOfVariable="Text")
    participants: dict[str, list[str]] = {}
    for t in transcripts:
        if t.metadata.participant_id:
            participants.setdefault(t.metadata.participant_id, []).append(t.id)
    if participants:
        cases_el = sub(root, PROJECT_NS, "Cases")
        for participant, ids in sorted(participants.items()):
            case = sub(cases_el, PROJECT_NS, "Case", guid=guid("case", participant), name=participant)
            for tid in ids:
                sub(case, PROJECT_NS, "SourceRef", targetGUID=guid("source", tid))

    by_transcript: dict[str, list[ExportCoding]] = {}
    for coding in codings.codings:
        if coding.code_id not in codebook.by_id:
            raise PrecodeError(f"suggestion {coding.suggestion.id} is coded '{coding.code_id}', which is not in "
                               f"codebook {codebook.id} {codebook.version}",
                               hint="correct the decision to a code of the run's codebook, then export again")
        by_transcript.setdefault(coding.suggestion.transcript_id, []).append(coding)

    files: dict[str, bytes] = {}
    sources_el = sub(root, PROJECT_NS, "Sources")
    for t in transcripts:
        source_guid = guid("source", t.id)
        source = sub(sources_el, PROJECT_NS, "TextSource", guid=source_guid, name=names[t.id],
                     plainTextPath=f"internal://{source_guid}.txt")
        sub(source, PROJECT_NS, "Description",
            f"precode transcript {t.id}, version {t.version}, from {Path(t.source_path).name} ({t.format})")
        for coding in by_transcript.get(t.id, []):
            user_guid = guid("user", _user_of(coding, machine))
            created = coding.decided_at if coding.reviewer else coding.suggestion.created_at
            selection = sub(source, PROJECT_NS, "PlainTextSelection", guid=guid("selection", coding.suggestion.id),
                            name=" ".join(coding.quote.split())[:_QUOTE_NAME_CHARS],
                            startPosition=str(coding.start), endPosition=str(coding.end),
                            creatingUser=user_guid, creationDateTime=_timestamp(created))
            sub(selection, PROJECT_NS, "Description", _selection_description(coding, codings))
            coding_el = sub(selection, PROJECT_NS, "Coding", guid=guid("coding", coding.suggestion.id),
                            creatingUser=user_guid, creationDateTime=_timestamp(created))
            sub(coding_el, PROJECT_NS, "CodeRef", targetGUID=code_guid(codebook.id, coding.code_id))
        for name, value in sorted(_metadata(t).items()):
            value_el = sub(source, PROJECT_NS, "VariableValue")
            sub(value_el, PROJECT_NS, "VariableRef", targetGUID=guid("variable", name))
            sub(value_el, PROJECT_NS, "TextValue", value)
        files[f"Sources/{source_guid}.txt"] = t.text.encode("utf-8")

    what = "all grounded suggestions" if codings.include_all else "accepted review decisions"
    added = codings.added_by_reviewers
    sub(root, PROJECT_NS, "Description",
        f"Exported by {precode_origin()}: {what} of run {run.id} ({machine}, codebook {codebook.id} "
        f"{codebook.version}, level {run.level or '—'})"
        + (f", and {added} code(s) reviewers added by hand (runs {', '.join(r.id for r in codings.manual_runs)})"
           if added else "") + ".")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True), files


def write_qdpx(project: Project, out: Path, run_id: str | None = None, include_all: bool = False) -> QdpxSummary:
    """Write the .qdpx atomically: a failure leaves no half-written archive."""
    codings = select_codings(project, run_id, include_all)
    qde, files = build_project(project, codings)
    with atomic_output(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", qde)
            for member, data in files.items():
                archive.writestr(member, data)
    machine = machine_user_name(codings.run.coder, codings.run.model)
    return QdpxSummary(path=str(out), sources=len(files), codings=len(codings.codings),
                       users=sorted({machine} | {c.reviewer for c in codings.codings if c.reviewer}))
