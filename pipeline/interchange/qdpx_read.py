"""Read a REFI-QDA project (.qdpx) into plain records, checking everything before anything is stored.

What is read: users, the code tree, variables and cases (as transcript metadata), text sources
(embedded `PlainTextContent` or an internal `Sources/…` plain-text file, UTF-8 as the standard
requires) and their `PlainTextSelection`s with codings. What is reported and skipped: PDF,
picture, audio and video sources with their selections, sources whose text lives outside the
archive, codings of a whole document, Sets, Links, Graphs and Notes.

Every problem that would make the import wrong (a broken archive, XML that does not parse, a GUID
used twice, a coding of a code or a case of a source that does not exist, a selection outside its
source's text, a source file that is not UTF-8) raises PrecodeError naming the element and GUID.
"""

from __future__ import annotations

import hashlib
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath

from lxml import etree
from pydantic import BaseModel, Field

from pipeline.errors import PrecodeError
from pipeline.interchange.qdc import RefiCode, parse_code_tree
from pipeline.interchange.refi import (
    PROJECT_NS, child, child_text, children, describe, local, normalize_guid, parse_xml,
)

PROJECT_FILE = "project.qde"
NON_TEXT_SOURCES = {"PDFSource": "PDF", "PictureSource": "picture", "AudioSource": "audio", "VideoSource": "video"}
_SELECTION_TAGS = {"PDFSelection", "PictureSelection", "AudioSelection", "VideoSelection", "TranscriptSelection"}
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")
_MAX_ARCHIVE_BYTES = 4 * 1024**3


class RefiUser(BaseModel):
    guid: str
    name: str | None = None
    coder: str  # the name its codings carry as a precode coder


class RefiCoding(BaseModel):
    guid: str
    code_guid: str
    user_guid: str | None = None
    created_at: datetime | None = None


class RefiSelection(BaseModel):
    guid: str
    start: int
    end: int
    description: str = ""
    codings: list[RefiCoding] = Field(default_factory=list)


class RefiTextSource(BaseModel):
    guid: str
    name: str
    text: str                     # as the QDA tool stored it; positions count code points in it
    sha256: str                   # of the source bytes (or the embedded text as UTF-8)
    variables: dict[str, str] = Field(default_factory=dict)
    selections: list[RefiSelection] = Field(default_factory=list)


class RefiProject(BaseModel):
    name: str
    origin: str | None = None
    users: dict[str, RefiUser] = Field(default_factory=dict)
    codes: list[RefiCode] = Field(default_factory=list)
    sources: list[RefiTextSource] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)   # what was left out, and why
    warnings: list[str] = Field(default_factory=list)


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise PrecodeError("file not found", path=str(path))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PrecodeError(f"not a REFI-QDA project: the file is not a zip archive ({exc})", path=str(path),
                           hint="a .qdpx is a zip holding project.qde; export the project again as REFI-QDA") from None
    if sum(info.file_size for info in archive.infolist()) > _MAX_ARCHIVE_BYTES:
        raise PrecodeError("the archive unpacks to more than 4 GiB; refusing to read it", path=str(path))
    return archive


def _project_member(archive: zipfile.ZipFile, path: Path) -> str:
    names = archive.namelist()
    for name in names:
        if name.casefold() == PROJECT_FILE:
            return name
    root_qde = [n for n in names if n.lower().endswith(".qde") and "/" not in n.strip("/")]
    if len(root_qde) == 1:
        return root_qde[0]
    shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "") if names else "nothing"
    raise PrecodeError(f"not a REFI-QDA project: the archive has no {PROJECT_FILE} (it holds {shown})",
                       path=str(path), hint="export the project from the QDA software as a REFI-QDA project (.qdpx)")


def _read_member(archive: zipfile.ZipFile, member: str, path: Path) -> bytes:
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # CRC errors, encrypted members, …
        raise PrecodeError(f"cannot read '{member}' from the archive ({exc})", path=str(path)) from None


def _check_unique_guids(root: etree._Element) -> None:
    seen: dict[str, etree._Element] = {}
    for element in root.iter():
        value = element.get("guid") if isinstance(element.tag, str) else None
        if not value:
            continue
        key = normalize_guid(value)
        if key in seen:
            first = seen[key]
            raise PrecodeError(
                f"duplicate GUID {value}: {describe(element)} uses the GUID of "
                f"<{local(first)}> at line {first.sourceline}",
                hint="every element must have its own GUID; export the project again from the QDA software")
        seen[key] = element


def _user_names(root: etree._Element) -> dict[str, RefiUser]:
    users_el = child(root, "Users")
    raw = []
    for user in children(users_el, "User") if users_el is not None else []:
        if not user.get("guid"):
            raise PrecodeError(f"{describe(user)} has no 'guid' attribute (required by REFI-QDA)")
        name = (user.get("name") or "").strip() or (user.get("id") or "").strip() or None
        raw.append((normalize_guid(user.get("guid")), name))
    counts: dict[str, int] = {}
    for _, name in raw:
        if name:
            counts[name] = counts.get(name, 0) + 1
    users = {}
    for guid, name in raw:
        coder = name if name and counts[name] == 1 else f"{name or 'user'} ({guid[:8]})"
        users[guid] = RefiUser(guid=guid, name=name, coder=coder)
    return users


def _value(value_el: etree._Element) -> str | None:
    for tag in _VALUE_TAGS:
        text = child_text(value_el, tag)
        if text is not None:
            return text.strip()
    return None


def _variable_values(owner: etree._Element, variables: dict[str, str], warnings: list[str]) -> dict[str, str]:
    values = {}
    for value_el in children(owner, "VariableValue"):
        ref = child(value_el, "VariableRef")
        target = normalize_guid(ref.get("targetGUID") or "") if ref is not None else ""
        if target not in variables:
            warnings.append(f"{describe(value_el)} refers to no known <Variable> ({target or 'no targetGUID'}); ignored")
            continue
        value = _value(value_el)
        if value not in (None, ""):
            values[variables[target]] = value
    return values


def _int_attr(element: etree._Element, name: str) -> int:
    raw = element.get(name)
    if raw is None:
        raise PrecodeError(f"{describe(element)} has no '{name}' attribute (required by REFI-QDA)")
    try:
        return int(raw.strip())
    except ValueError:
        raise PrecodeError(f"{describe(element)}: {name}=\"{raw}\" is not a whole number") from None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _source_text(source: etree._Element, archive: zipfile.ZipFile, path: Path,
                 members: dict[str, str]) -> tuple[str, bytes] | str:
    """(text, bytes) of a text source, or the reason it cannot be read from this archive."""
    embedded = child(source, "PlainTextContent")
    if embedded is not None:
        text = embedded.text or ""
        return text, text.encode("utf-8")
    location = source.get("plainTextPath")
    if not location:
        raise PrecodeError(f"{describe(source)} has neither <PlainTextContent> nor a plainTextPath",
                           hint="REFI-QDA requires one of them for a text source")
    if not location.lower().startswith("internal://"):
        return f"its text is outside the archive ({location})"
    file_name = location[len("internal://"):].lstrip("/")
    member = (members.get(f"sources/{file_name}".casefold()) or members.get(file_name.casefold())
              or members.get(PurePosixPath(file_name).name.casefold()))
    if member is None:
        raise PrecodeError(f"{describe(source)}: its plain text file '{location}' is not in the archive",
                           path=str(path), hint="export the project again with its sources embedded")
    data = _read_member(archive, member, path)
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        return body.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise PrecodeError(
            f"{describe(source)}: its plain text file '{member}' is not UTF-8 (byte {exc.start + len(data) - len(body)} "
            f"is 0x{body[exc.start]:02x})", path=str(path),
            hint="REFI-QDA requires UTF-8 plain text; export the project again, or re-save that source as UTF-8") from None


def _selections(source: etree._Element, text: str, codes: set[str], warnings: list[str]) -> list[RefiSelection]:
    out = []
    for selection in children(source, "PlainTextSelection"):
        if not selection.get("guid"):
            raise PrecodeError(f"{describe(selection)} has no 'guid' attribute (required by REFI-QDA)")
        start, end = _int_attr(selection, "startPosition"), _int_attr(selection, "endPosition")
        if not 0 <= start <= end <= len(text):
            raise PrecodeError(
                f"{describe(selection)}: startPosition={start} endPosition={end} lies outside the text of source "
                f"'{source.get('name')}' ({source.get('guid')}), which has {len(text)} characters",
                hint="positions must satisfy 0 ≤ start ≤ end ≤ the source's length in characters")
        codings = []
        for coding in children(selection, "Coding"):
            if not coding.get("guid"):
                raise PrecodeError(f"{describe(coding)} has no 'guid' attribute (required by REFI-QDA)")
            ref = child(coding, "CodeRef")
            target = ref.get("targetGUID") if ref is not None else None
            if not target:
                raise PrecodeError(f"{describe(coding)} has no <CodeRef targetGUID=…> (required by REFI-QDA)")
            if normalize_guid(target) not in codes:
                raise PrecodeError(f"{describe(coding)} refers to code {target}, which is not in the <CodeBook>",
                                   hint="the project is inconsistent; export it again from the QDA software")
            user = coding.get("creatingUser") or selection.get("creatingUser")
            codings.append(RefiCoding(
                guid=normalize_guid(coding.get("guid")), code_guid=normalize_guid(target),
                user_guid=normalize_guid(user) if user else None,
                created_at=_datetime(coding.get("creationDateTime") or selection.get("creationDateTime")),
            ))
        if start == end and codings:
            warnings.append(f"{describe(selection)} is empty (start = end = {start}); its codings are skipped")
            continue
        out.append(RefiSelection(guid=normalize_guid(selection.get("guid")), start=start, end=end,
                                 description=(child_text(selection, "Description") or "").strip(), codings=codings))
    return out


def read_qdpx(path: Path) -> RefiProject:
    """Parse and check a .qdpx file; nothing is stored. Every error names the .qdpx file."""
    try:
        return _read(path)
    except PrecodeError as exc:
        if exc.path is not None:
            raise
        raise PrecodeError(str(exc), path=str(path)) from None


def _read(path: Path) -> RefiProject:
    with _open_archive(path) as archive:
        member = _project_member(archive, path)
        root = parse_xml(_read_member(archive, member, path), member)
        if local(root) != "Project":
            what = " (that is a REFI-QDA codebook: use 'precode codebook convert')" if local(root) == "CodeBook" else ""
            raise PrecodeError(f"not a REFI-QDA project: {member} holds <{local(root)}>, not <Project>{what}",
                               path=str(path))
        if not root.get("name"):
            raise PrecodeError(f"{describe(root, member)} has no 'name' attribute (required by REFI-QDA)", path=str(path))
        _check_unique_guids(root)
        project = RefiProject(name=root.get("name"), origin=root.get("origin"), users=_user_names(root))
        namespace = etree.QName(root).namespace
        if namespace != PROJECT_NS:
            project.warnings.append(f"{member}: <Project> is in namespace '{namespace or 'none'}', not "
                                    f"'{PROJECT_NS}'; read as REFI-QDA all the same")

        codebook_el = child(root, "CodeBook")
        codes_el = child(codebook_el, "Codes") if codebook_el is not None else None
        project.codes = parse_code_tree(codes_el, member) if codes_el is not None else []
        code_guids = {c.guid for c in project.codes}

        variables_el = child(root, "Variables")
        variables = {normalize_guid(v.get("guid") or ""): (v.get("name") or "").strip()
                     for v in (children(variables_el, "Variable") if variables_el is not None else [])}

        sources_el = child(root, "Sources")
        source_elements = list(sources_el) if sources_el is not None else []
        all_sources = {normalize_guid(s.get("guid") or "") for s in source_elements if isinstance(s.tag, str)}
        case_values = _case_values(root, all_sources, variables, project.warnings)

        members = {name.casefold(): name for name in archive.namelist()}
        for source in source_elements:
            kind = local(source)
            if kind in NON_TEXT_SOURCES:
                n = sum(1 for e in source.iter() if local(e) in _SELECTION_TAGS)
                project.skipped.append(f"{NON_TEXT_SOURCES[kind]} source '{source.get('name')}' ({source.get('guid')}) "
                                       f"and its {n} selection(s): precode codes text only")
                continue
            if kind != "TextSource":
                continue
            if not source.get("guid"):
                raise PrecodeError(f"{describe(source)} has no 'guid' attribute (required by REFI-QDA)")
            guid = normalize_guid(source.get("guid") or "")
            name = (source.get("name") or "").strip() or guid
            read = _source_text(source, archive, path, members)
            if isinstance(read, str):
                project.skipped.append(f"text source '{name}' ({source.get('guid')}): {read}")
                continue
            text, data = read
            if not text.strip():
                project.skipped.append(f"text source '{name}' ({source.get('guid')}): it has no text")
                continue
            whole = children(source, "Coding")
            if whole:
                project.skipped.append(f"{len(whole)} coding(s) of the whole of source '{name}': precode imports "
                                       "codings of text selections only")
            project.sources.append(RefiTextSource(
                guid=guid, name=name, text=text, sha256=hashlib.sha256(data).hexdigest(),
                variables={**case_values.get(guid, {}), **_variable_values(source, variables, project.warnings)},
                selections=_selections(source, text, code_guids, project.warnings),
            ))
        for section in ("Notes", "Links", "Sets", "Graphs"):
            found = child(root, section)
            if found is not None and len(found):
                project.skipped.append(f"{len(found)} element(s) in <{section}>: not used by precode")
        _check_users(project)
        return project


def _case_values(root: etree._Element, sources: set[str], variables: dict[str, str],
                 warnings: list[str]) -> dict[str, dict[str, str]]:
    """Variable values of each source's cases (NVivo keeps participant attributes on cases)."""
    cases_el = child(root, "Cases")
    out: dict[str, dict[str, str]] = {}
    for case in children(cases_el, "Case") if cases_el is not None else []:
        values = _variable_values(case, variables, warnings)
        if case.get("name"):
            values.setdefault("case", case.get("name").strip())
        for ref in children(case, "SourceRef"):
            target = normalize_guid(ref.get("targetGUID") or "")
            if target not in sources:
                raise PrecodeError(f"{describe(case)} refers to source {ref.get('targetGUID')}, which is not in <Sources>",
                                   hint="the project is inconsistent; export it again from the QDA software")
            out.setdefault(target, {}).update(values)
    return out


def _check_users(project: RefiProject) -> None:
    """Codings by a user the project does not list still get a coder of their own, named by GUID."""
    for source in project.sources:
        for selection in source.selections:
            for coding in selection.codings:
                key = coding.user_guid or ""
                if key not in project.users:
                    coder = f"user {key}" if key else "unknown user"
                    project.users[key] = RefiUser(guid=key, name=None, coder=coder)
                    project.warnings.append(f"codings by {'user ' + key if key else 'no user'} are not attributed to "
                                            f"any <User>: imported as coder '{coder}'")
