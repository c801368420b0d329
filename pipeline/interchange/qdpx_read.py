"""Read a REFI-QDA project (.qdpx) into plain records, checking everything before anything is stored.

What is read: users, the code tree, variables (with their types) and cases (as transcript
metadata, and as they are for an export back), text sources (embedded `PlainTextContent`, an
internal `Sources/…` plain-text file, or a bare relative path such as `board_2017.txt` found in
the archive's `sources/` folder; UTF-8 as the standard requires) with their `PlainTextSelection`s
and codings, and Notes (kept whole for the export). What is reported and skipped: PDF, picture,
audio and video sources with their selections, sources whose text lives outside the archive,
codings of a whole document, Sets, Links and Graphs.

Positions count code points of the source's text without its byte-order mark. Some tools count
the BOM; when a source file starts with one, the convention under which fewer selections would
split a character (a CR from its LF, a letter from its combining accent, a ZWJ sequence) is
taken, and a warning says so when it is the BOM-counting one.

Lenient where real tools are sloppy: ATLAS.ti gives a PDF selection and the selection of its text
representation one GUID; a GUID shared with an element precode skips anyway is a warning, not an
error. Every problem that would make the import wrong (a broken archive, XML that does not parse,
a GUID used twice, a coding of a code or a case of a source that does not exist, a selection
outside its source's text, a source file that is not UTF-8) raises PrecodeError naming the
element and GUID. The archive is read within `ReadLimits` (size of a member, of everything, and
compression ratio), checked from the zip directory before anything is decompressed and again
while streaming.
"""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from pipeline.errors import PrecodeError
from pipeline.interchange.qdc import RefiCode, parse_code_tree
from pipeline.interchange.refi import (
    PROJECT_NS,
    child,
    child_text,
    children,
    describe,
    local,
    normalize_guid,
    parse_xml,
)

PROJECT_FILE = "project.qde"
NON_TEXT_SOURCES = {"PDFSource": "PDF", "PictureSource": "picture", "AudioSource": "audio", "VideoSource": "video"}
_SELECTION_TAGS = {"PDFSelection", "PictureSelection", "AudioSelection", "VideoSelection", "TranscriptSelection"}
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")
_ARCHIVE_SCHEMES = ("internal://",)
_SPLIT_AFTER = {"\u200d", "\r"}        # a position right after these splits a character (ZWJ sequence, CR LF)
_SPLIT_BEFORE = {"\u200d", "\ufe0f", "\ufe0e"}
_MiB = 1024 * 1024


class ReadLimits(BaseModel):
    """How much of an archive precode will decompress (a zip bomb is refused, not unpacked)."""

    max_member_bytes: int = 512 * _MiB     # one member (project.qde or a source file)
    max_total_bytes: int = 2048 * _MiB     # all members together
    max_ratio: float = 200.0               # uncompressed / compressed size of a member over 1 MiB


class RefiVariable(BaseModel):
    guid: str
    name: str
    type: str = "Text"
    description: str = ""


class RefiCase(BaseModel):
    guid: str
    name: str | None = None
    description: str = ""
    values: dict[str, str] = Field(default_factory=dict)    # variable guid → value as written
    source_guids: list[str] = Field(default_factory=list)


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
    name: str | None = None
    description: str = ""
    codings: list[RefiCoding] = Field(default_factory=list)


class RefiTextSource(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)   # `data` may be the bytearray read

    guid: str
    name: str
    # its text as UTF-8 (no BOM), as the QDA tool stored it: the buffer read from the archive, not a copy
    data: SkipValidation[bytes | bytearray] = Field(repr=False)
    length: int                   # in code points, which positions count
    sha256: str                   # of the source bytes (or the embedded text as UTF-8)
    variables: dict[str, str] = Field(default_factory=dict)
    selections: list[RefiSelection] = Field(default_factory=list)
    description: str = ""
    values: dict[str, str] = Field(default_factory=dict)    # its own VariableValues: variable guid → value

    @property
    def text(self) -> str:
        """The text, decoded on each use: kept as UTF-8 (1 byte an ASCII character, where a string of
        a text with one emoji takes 4), and an import maps it piecewise (`OffsetMap(source.data)`)."""
        return str(self.data, "utf-8")


class _Chars:
    """Length of a UTF-8 text and the characters at a few positions, found in one pass over pieces."""

    def __init__(self, data: bytes | bytearray, positions: Iterable[int]):
        wanted = sorted({p for p in positions if p >= 0})
        decoder = codecs.getincrementaldecoder("utf-8")()
        self.found: dict[int, str] = {}
        self.length, self.blank, k = 0, True, 0
        view = memoryview(data)
        for begin in range(0, max(len(view), 1), _MiB):
            piece = decoder.decode(view[begin:begin + _MiB], final=begin + _MiB >= len(view))
            while k < len(wanted) and wanted[k] < self.length + len(piece):
                self.found[wanted[k]] = piece[wanted[k] - self.length]
                k += 1
            self.length += len(piece)
            self.blank = self.blank and (not piece or piece.isspace())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, position: int) -> str:
        return self.found[position]


class RefiProject(BaseModel):
    name: str
    origin: str | None = None
    users: dict[str, RefiUser] = Field(default_factory=dict)
    codes: list[RefiCode] = Field(default_factory=list)
    sources: list[RefiTextSource] = Field(default_factory=list)
    variables: list[RefiVariable] = Field(default_factory=list)
    cases: list[RefiCase] = Field(default_factory=list)
    notes: list[tuple[str, str]] = Field(default_factory=list)   # (guid, the <Note> as XML)
    skipped: list[str] = Field(default_factory=list)   # what was left out, and why
    warnings: list[str] = Field(default_factory=list)


def _mib(n: float) -> str:
    return f"{n / _MiB:,.1f} MiB"


def _check_limits(archive: zipfile.ZipFile, path: Path, limits: ReadLimits) -> None:
    """Refuse from the zip directory alone what would unpack too far; nothing is decompressed yet."""
    hint = "if you trust the file, raise the limit: precode import --max-member-mb / --max-total-mb / --max-ratio"
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > limits.max_member_bytes:
            raise PrecodeError(f"refusing to read '{info.filename}': it unpacks to {_mib(info.file_size)}, more than "
                               f"the limit of {_mib(limits.max_member_bytes)} for one member", path=str(path), hint=hint)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _MiB and ratio > limits.max_ratio:
            raise PrecodeError(f"refusing to read '{info.filename}': it is compressed {ratio:,.0f} to 1 "
                               f"({_mib(info.compress_size)} → {_mib(info.file_size)}), more than the limit of "
                               f"{limits.max_ratio:,.0f} to 1 (a zip bomb?)", path=str(path), hint=hint)
    if total > limits.max_total_bytes:
        raise PrecodeError(f"refusing to read the archive: it unpacks to {_mib(total)}, more than the limit of "
                           f"{_mib(limits.max_total_bytes)}", path=str(path), hint=hint)


def _open_archive(path: Path, limits: ReadLimits) -> zipfile.ZipFile:
    if not path.is_file():
        raise PrecodeError("file not found", path=str(path))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PrecodeError(f"not a REFI-QDA project: the file is not a zip archive ({exc})", path=str(path),
                           hint="a .qdpx is a zip holding project.qde; export the project again as REFI-QDA") from None
    try:
        _check_limits(archive, path, limits)
    except PrecodeError:
        archive.close()
        raise
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


def _read_member(archive: zipfile.ZipFile, member: str, path: Path, limits: ReadLimits | None = None) -> bytearray:
    """A member's bytes, streamed in chunks and stopped as soon as it exceeds the member limit."""
    limit = (limits or ReadLimits()).max_member_bytes
    buffer = bytearray()   # grown in place: never a list of chunks and their join at once
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_MiB):
                if len(buffer) + len(chunk) > limit:
                    raise PrecodeError(f"refusing to read '{member}': it unpacks to more than the limit of "
                                       f"{_mib(limit)} for one member", path=str(path),
                                       hint="if you trust the file, raise the limit: precode import --max-member-mb")
                buffer += chunk
    except (zipfile.BadZipFile, OSError, RuntimeError, OverflowError, EOFError) as exc:  # CRC, encrypted, …
        raise PrecodeError(f"cannot read '{member}' from the archive ({exc})", path=str(path)) from None
    return buffer


def _in_skipped(element: etree._Element) -> bool:
    """Inside (or itself) a PDF/picture/audio/video source or selection, which precode skips anyway."""
    node: etree._Element | None = element
    while node is not None:
        if local(node) in NON_TEXT_SOURCES or local(node) in _SELECTION_TAGS:
            return True
        node = node.getparent()
    return False


def _check_unique_guids(root: etree._Element, warnings: list[str]) -> None:
    seen: dict[str, etree._Element] = {}
    for element in root.iter():
        value = element.get("guid") if isinstance(element.tag, str) else None
        if not value:
            continue
        key = normalize_guid(value)
        if key in seen:
            first = seen[key]
            if _in_skipped(first) or _in_skipped(element):
                # ATLAS.ti: a PDF selection and the selection of the PDF's text representation share a GUID
                warnings.append(f"{describe(element)} has the GUID of <{local(first)}> at line {first.sourceline}; "
                                "accepted because one of them is skipped (precode reads text sources only)")
                if _in_skipped(first):
                    seen[key] = element
                continue
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


def _source_text(source: etree._Element, archive: zipfile.ZipFile, path: Path, members: dict[str, str],
                 limits: ReadLimits, warnings: list[str]) -> tuple[bytes | bytearray, str, bool, _Chars] | str:
    """(UTF-8 text without BOM, SHA-256 of the bytes, whether they start with a BOM, its length and the
    characters around selection boundaries) of a text source, or the reason it cannot be read from this
    archive. The text is checked and counted a piece at a time, never decoded whole (see `_Chars`)."""
    embedded = child(source, "PlainTextContent")
    if embedded is not None:
        data = (embedded.text or "").encode("utf-8")
        return data, hashlib.sha256(data).hexdigest(), False, _Chars(data, [])
    location = source.get("plainTextPath")
    if not location:
        raise PrecodeError(f"{describe(source)} has neither <PlainTextContent> nor a plainTextPath",
                           hint="REFI-QDA requires one of them for a text source")
    if location.lower().startswith(_ARCHIVE_SCHEMES):
        file_name = location.split("://", 1)[1].lstrip("/")
    elif "://" in location or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        return f"its text is outside the archive ({location})"
    else:  # a bare relative path, e.g. 'board_2017.txt': looked for in the archive's sources/ folder
        file_name = location.replace("\\", "/").lstrip("./")
        found = members.get(f"sources/{file_name}".casefold()) or members.get(file_name.casefold())
        if found is None:
            return f"its text is outside the archive ({location}: not in the archive's sources/ folder)"
        warnings.append(f"{describe(source)}: plainTextPath '{location}' has no internal:// prefix; read from "
                        f"'{found}' in the archive")
    member = (members.get(f"sources/{file_name}".casefold()) or members.get(file_name.casefold())
              or members.get(PurePosixPath(file_name).name.casefold()))
    if member is None:
        raise PrecodeError(f"{describe(source)}: its plain text file '{location}' is not in the archive",
                           path=str(path), hint="export the project again with its sources embedded")
    data = _read_member(archive, member, path, limits)
    bom = data.startswith(b"\xef\xbb\xbf")
    sha256 = hashlib.sha256(data).hexdigest()
    if bom:
        del data[:3]   # in place (a bytearray drops leading bytes without copying the rest)
    body, skipped = data, 3 if bom else 0
    try:  # with a BOM, the characters around each selection boundary under both readings (see bom_shift)
        return body, sha256, bom, _Chars(body, [b + d for b in _bounds(source) for d in (-2, -1, 0)] if bom else [])
    except UnicodeDecodeError:
        try:
            str(body, "utf-8")   # the whole of it only to name the first bad byte
        except UnicodeDecodeError as error:
            exc = error
        raise PrecodeError(
            f"{describe(source)}: its plain text file '{member}' is not UTF-8 (byte {exc.start + skipped} "
            f"is 0x{body[exc.start]:02x})", path=str(path),
            hint="REFI-QDA requires UTF-8 plain text; export the project again, or re-save that source as UTF-8") from None


def _splits(text: str | _Chars, position: int) -> bool:
    """Would a selection boundary at `position` cut a character (as a reader sees it) in two?"""
    if not 0 < position < len(text):
        return position < 0 or position > len(text)
    before, after = text[position - 1], text[position]
    return (unicodedata.combining(after) != 0 or after in _SPLIT_BEFORE or before == "\u200d"
            or (before == "\r" and after == "\n"))


def _inside_word(text: str | _Chars, position: int) -> bool:
    return 0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()


def _badness(text: str | _Chars, bounds: list[int]) -> int:
    """How implausible selection boundaries are: a split character counts 2, a boundary inside a word 1."""
    return sum(2 * _splits(text, b) + _inside_word(text, b) for b in bounds)


def _bounds(source: etree._Element) -> list[int]:
    """Every selection's start and end as written (none if one of them is not a number)."""
    bounds = []
    for selection in children(source, "PlainTextSelection"):
        try:
            bounds += [int((selection.get("startPosition") or "").strip()), int((selection.get("endPosition") or "").strip())]
        except ValueError:
            return []
    return bounds


def bom_shift(source: etree._Element, text: str | _Chars) -> int:
    """1 when the selections of a source whose file starts with a BOM count the BOM, else 0.

    Both readings are tried; the one whose selection boundaries less often split a character (a
    CR from its LF, a letter from its accent, a ZWJ sequence) or a word wins, and a tie keeps the
    standard reading (the BOM is not text, so it is not counted).
    """
    bounds = _bounds(source)
    if not bounds:
        return 0
    return 1 if _badness(text, [b - 1 for b in bounds]) < _badness(text, bounds) else 0


def _selections(source: etree._Element, text: str | _Chars, codes: set[str], warnings: list[str],
                shift: int = 0) -> list[RefiSelection]:
    out = []
    for selection in children(source, "PlainTextSelection"):
        if not selection.get("guid"):
            raise PrecodeError(f"{describe(selection)} has no 'guid' attribute (required by REFI-QDA)")
        start, end = _int_attr(selection, "startPosition") - shift, _int_attr(selection, "endPosition") - shift
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
                                 name=selection.get("name"), description=(child_text(selection, "Description") or "").strip(), codings=codings))
    return out


def read_qdpx(path: Path, limits: ReadLimits | None = None) -> RefiProject:
    """Parse and check a .qdpx file; nothing is stored. Every error names the .qdpx file."""
    try:
        return _read(path, limits or ReadLimits())
    except PrecodeError as exc:
        if exc.path is not None:
            raise
        raise PrecodeError(str(exc), path=str(path)) from None


def _read(path: Path, limits: ReadLimits) -> RefiProject:
    with _open_archive(path, limits) as archive:
        member = _project_member(archive, path)
        root = parse_xml(_read_member(archive, member, path, limits), member)
        if local(root) != "Project":
            what = " (that is a REFI-QDA codebook: use 'precode codebook convert')" if local(root) == "CodeBook" else ""
            raise PrecodeError(f"not a REFI-QDA project: {member} holds <{local(root)}>, not <Project>{what}",
                               path=str(path))
        if not root.get("name"):
            raise PrecodeError(f"{describe(root, member)} has no 'name' attribute (required by REFI-QDA)", path=str(path))
        project = RefiProject(name=root.get("name"), origin=root.get("origin"), users=_user_names(root))
        _check_unique_guids(root, project.warnings)
        namespace = etree.QName(root).namespace
        if namespace != PROJECT_NS:
            project.warnings.append(f"{member}: <Project> is in namespace '{namespace or 'none'}', not "
                                    f"'{PROJECT_NS}'; read as REFI-QDA all the same")

        codebook_el = child(root, "CodeBook")
        codes_el = child(codebook_el, "Codes") if codebook_el is not None else None
        project.codes = parse_code_tree(codes_el, member) if codes_el is not None else []
        code_guids = {c.guid for c in project.codes}

        variables_el = child(root, "Variables")
        project.variables = [
            RefiVariable(guid=normalize_guid(v.get("guid") or ""), name=(v.get("name") or "").strip(),
                         type=(v.get("typeOfVariable") or "Text").strip(),
                         description=(child_text(v, "Description") or "").strip())
            for v in (children(variables_el, "Variable") if variables_el is not None else []) if v.get("guid")]
        variables = {v.guid: v.name for v in project.variables}

        sources_el = child(root, "Sources")
        source_elements = list(sources_el) if sources_el is not None else []
        all_sources = {normalize_guid(s.get("guid") or "") for s in source_elements if isinstance(s.tag, str)}
        case_values = _case_values(root, all_sources, variables, project.warnings)
        project.cases = _cases(root, set(variables))

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
            read = _source_text(source, archive, path, members, limits, project.warnings)
            if isinstance(read, str):
                project.skipped.append(f"text source '{name}' ({source.get('guid')}): {read}")
                continue
            data, sha256, bom, text = read
            if text.blank:
                project.skipped.append(f"text source '{name}' ({source.get('guid')}): it has no text")
                continue
            whole = children(source, "Coding")
            if whole:
                project.skipped.append(f"{len(whole)} coding(s) of the whole of source '{name}': precode imports "
                                       "codings of text selections only")
            shift = bom_shift(source, text) if bom else 0
            if shift:
                project.warnings.append(f"{describe(source)}: its selections count the byte-order mark of its text "
                                        "file (fewer of them split a character or a word that way); read so")
            project.sources.append(RefiTextSource(
                guid=guid, name=name, data=data, length=len(text), sha256=sha256,
                variables={**case_values.get(guid, {}), **_variable_values(source, variables, project.warnings)},
                selections=_selections(source, text, code_guids, project.warnings, shift),
                description=(child_text(source, "Description") or "").strip(),
                values=_raw_values(source, set(variables)),
            ))
        notes_el = child(root, "Notes")
        for note in children(notes_el, "Note") if notes_el is not None else []:
            if note.get("guid"):
                project.notes.append((normalize_guid(note.get("guid") or ""), etree.tostring(note, encoding="unicode")))
        for section in ("Links", "Sets", "Graphs"):
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


def _raw_values(owner: etree._Element, variables: set[str]) -> dict[str, str]:
    """An element's own VariableValues as written: variable guid → value (unknown variables left out)."""
    out = {}
    for value_el in children(owner, "VariableValue"):
        ref = child(value_el, "VariableRef")
        target = normalize_guid(ref.get("targetGUID") or "") if ref is not None else ""
        value = _value(value_el)
        if target in variables and value is not None:
            out[target] = value
    return out


def _cases(root: etree._Element, variables: set[str]) -> list[RefiCase]:
    cases_el = child(root, "Cases")
    return [RefiCase(guid=normalize_guid(case.get("guid") or ""), name=case.get("name"),
                     description=(child_text(case, "Description") or "").strip(), values=_raw_values(case, variables),
                     source_guids=[normalize_guid(r.get("targetGUID") or "") for r in children(case, "SourceRef")])
            for case in (children(cases_el, "Case") if cases_el is not None else []) if case.get("guid")]


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
