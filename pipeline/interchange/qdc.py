"""REFI-QDA code trees: read and write `<Codes>` (in a .qdc codebook or a project), map them to precode ids.

Precode codes go out with their label as the REFI code name, and definition, include/exclude
rules, examples and precode id in the Description (see `refi.code_description`). Coming back, a
code's id is found, in order: from its `precode-id:` line; in a codebook given by the user, by
exact id, then by case-insensitive label; else it is made from the code's name path
("Technology > Ease of use" → `technology.ease_of_use`) and reported as new.
"""

from __future__ import annotations

import re
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from lxml import etree
from pydantic import BaseModel

from pipeline.codebook import CODE_ID_PATTERN, Codebook, codebook_warnings, load_codebook, parse_codebook
from pipeline.errors import PrecodeError
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.refi import (
    CODEBOOK_NS,
    PALETTE,
    child_text,
    children,
    code_description,
    code_guid,
    describe,
    local,
    normalize_guid,
    parse_code_description,
    parse_xml,
    slugify,
    sub,
)

_RGB = re.compile(r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")


class RefiCode(BaseModel):
    """One `<Code>` of a REFI code tree, flattened in tree order."""

    guid: str                  # normalized (lower case, no braces)
    name: str
    parent_guid: str | None = None
    depth: int = 1
    is_codable: bool = True
    color: str | None = None
    description: str = ""
    line: int | None = None


class Matched(StrEnum):
    precode_id = "precode-id"
    id = "id"
    label = "label"
    new = "new"


class CodeMapping(BaseModel):
    guid: str
    name: str
    path: str
    code_id: str
    matched: Matched


def parse_code_tree(codes: etree._Element, where: str) -> list[RefiCode]:
    """Flatten a `<Codes>` element; missing guid/name or a bad isCodable/color is an error naming the line."""
    found: list[RefiCode] = []

    def visit(element: etree._Element, parent: str | None, depth: int) -> None:
        for code in children(element, "Code"):
            guid, name = code.get("guid"), code.get("name")
            if not guid or name is None or not name.strip():
                missing = "guid" if not guid else "name"
                raise PrecodeError(f"{describe(code, where)} has no '{missing}' attribute (required by REFI-QDA)",
                                   hint="export the project again from the QDA software")
            codable = (code.get("isCodable") or "true").strip().lower()
            if codable not in ("true", "false", "1", "0"):
                raise PrecodeError(f"{describe(code, where)}: isCodable must be true or false, not '{codable}'")
            color = code.get("color")
            found.append(RefiCode(
                guid=normalize_guid(guid), name=name.strip(), parent_guid=parent, depth=depth,
                is_codable=codable in ("true", "1"), color=color if color and _RGB.match(color) else None,
                description=child_text(code, "Description") or "", line=code.sourceline,
            ))
            visit(code, normalize_guid(guid), depth + 1)

    visit(codes, None, 1)
    return found


def name_path(codes: list[RefiCode], guid: str, sep: str = " > ") -> str:
    by_guid = {c.guid: c for c in codes}
    names, node = [], by_guid.get(guid)
    while node is not None:
        names.append(node.name)
        node = by_guid.get(node.parent_guid) if node.parent_guid else None
    return sep.join(reversed(names))


def assign_code_ids(codes: list[RefiCode], codebook: Codebook | None = None) -> dict[str, CodeMapping]:
    """guid → the precode code id each REFI code maps to, and how it was found."""
    by_label: dict[str, list[str]] = defaultdict(list)
    if codebook is not None:
        for known in codebook.codes:
            by_label[known.label.casefold()].append(known.id)
    out: dict[str, CodeMapping] = {}
    taken: set[str] = set()
    for code in codes:  # tree order: a parent is mapped before its children
        parent_id = out[code.parent_guid].code_id if code.parent_guid in out else None
        precode_id = parse_code_description(code.description)["precode_id"]
        if precode_id and CODE_ID_PATTERN.match(precode_id):
            code_id, how = precode_id, Matched.precode_id
        elif codebook is not None and code.name in codebook.by_id:
            code_id, how = code.name, Matched.id
        elif codebook is not None and by_label.get(code.name.casefold()):
            candidates = by_label[code.name.casefold()]
            same_parent = [c for c in candidates if codebook.by_id[c].parent == parent_id]
            code_id, how = (same_parent or candidates)[0], Matched.label
        else:
            base = f"{parent_id}.{slugify(code.name)}" if parent_id else slugify(code.name)
            code_id, n = base, 2
            while code_id in taken:
                code_id, n = f"{base}_{n}", n + 1
            how = Matched.new
        taken.add(code_id)
        out[code.guid] = CodeMapping(guid=code.guid, name=code.name, path=name_path(codes, code.guid),
                                     code_id=code_id, matched=how)
    return out


def code_colors(codebook: Codebook, known: dict[str, str] | None = None) -> dict[str, str]:
    """A colour per code: one imported from QDA software if known, else its top-level code's palette colour."""
    known = known or {}
    if codebook.guids:  # a code tree from QDA software: its own colours only, none made up for it
        return {c.id: codebook.colors.get(c.id) or known[c.id] for c in codebook.codes
                if codebook.colors.get(c.id) or known.get(c.id)}
    colors: dict[str, str] = {}
    tops = [c.id for c in codebook.codes if c.parent is None]
    for code in codebook.codes:
        top = (codebook.ancestors(code.id) or [code])[0].id
        colors[code.id] = (codebook.colors.get(code.id) or known.get(code.id)
                           or PALETTE[tops.index(top) % len(PALETTE)])
    return colors


def add_codes(parent: etree._Element, ns: str, codebook: Codebook, colors: dict[str, str]) -> etree._Element:
    """Append `<Codes>` with the codebook's tree (nested Code elements) to `parent`."""
    codes_el = sub(parent, ns, "Codes")
    elements: dict[str | None, etree._Element] = {None: codes_el}
    for code in codebook.codes:  # tree order: parents first
        element = sub(elements[code.parent], ns, "Code", guid=codebook_code_guid(codebook, code.id),
                      name=code.label, isCodable="false" if code.id in codebook.uncodable else "true",
                      color=colors.get(code.id))
        sub(element, ns, "Description",
            code_description(code.definition, code.include, code.exclude, code.examples, code.id))
        elements[code.id] = element
    return codes_el


def codebook_code_guid(codebook: Codebook, code_id: str) -> str:
    """The GUID a code goes out with: the one its QDA tool gave it, else a stable one made by precode."""
    known = codebook.guids.get(code_id)
    return normalize_guid(known) if known else code_guid(codebook.id, code_id)


def qdc_bytes(codebook: Codebook, origin: str) -> bytes:
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS})
    root.set("origin", origin)
    add_codes(root, CODEBOOK_NS, codebook, code_colors(codebook))
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return data


def write_qdc(codebook: Codebook, out: Path, origin: str) -> None:
    with atomic_output(out) as tmp:
        tmp.write_bytes(qdc_bytes(codebook, origin))


def read_qdc(path: Path, warnings: list[str] | None = None) -> tuple[list[RefiCode], str]:
    """The code tree of a .qdc file and its origin attribute; harmless deviations go to `warnings`."""
    if not path.is_file():
        raise PrecodeError("codebook file not found", path=str(path))
    root = parse_xml(path.read_bytes(), path.name)
    if local(root) != "CodeBook":
        raise PrecodeError(f"not a REFI-QDA codebook: the root element is <{local(root)}>, not <CodeBook>",
                           path=str(path), hint="a .qdc file holds <CodeBook xmlns=\"urn:QDA-XML:codebook:1.0\">")
    codes_el = children(root, "Codes")
    if not codes_el:
        raise PrecodeError("the codebook has no <Codes> element", path=str(path))
    for sets in children(root, "Sets"):
        if not len(sets) and warnings is not None:  # Taguette 1.5 writes an empty <Sets/>, which Codebook.xsd forbids
            warnings.append(f"{describe(sets, path.name)} is empty, which REFI-QDA does not allow; ignored")
    return parse_code_tree(codes_el[0], path.name), root.get("origin") or ""


def codebook_document(codes: list[RefiCode], mapping: dict[str, CodeMapping], *, codebook_id: str, name: str,
                      version: str, levels: list[str] | None, description: str) -> dict[str, Any]:
    """A precode YAML codebook (as a dict) from a REFI code tree; fields the tree lacks stay empty.

    REFI codes carry only a name and a description, so a foreign codebook comes out with its
    description as the definition and empty include/exclude/examples for the researcher to fill in.
    """
    depth = max((c.depth for c in codes), default=1)
    if levels and len(levels) < depth:
        deepest = max(codes, key=lambda c: c.depth)
        raise PrecodeError(f"--levels names {len(levels)} level(s) but the code tree is {depth} deep "
                           f"(e.g. '{name_path(codes, deepest.guid)}')", hint="name every level, or leave --levels out")
    entries = []
    for code in codes:
        fields = parse_code_description(code.description)
        entry: dict[str, Any] = {"id": mapping[code.guid].code_id, "label": code.name}
        if code.parent_guid:
            entry["parent"] = mapping[code.parent_guid].code_id
        entry.update(definition=fields["definition"], include=fields["include"], exclude=fields["exclude"],
                     examples=fields["examples"], guid=code.guid)
        if code.color:
            entry["color"] = code.color
        if not code.is_codable:
            entry["codable"] = False
        entries.append(entry)
    document: dict[str, Any] = {"schema_version": 1, "id": codebook_id, "name": name, "version": version, "description": description}
    if levels:
        document["levels"] = levels
    return {**document, "references": [], "codes": entries}


def codebook_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def write_codebook_yaml(document: dict[str, Any], out: Path) -> list[str]:
    """Write a YAML codebook atomically; return the problems `precode codebook validate` will report."""
    with atomic_output(out) as tmp:
        tmp.write_text(codebook_yaml(document), encoding="utf-8")
    return codebook_problems(document, str(out))


def codebook_problems(document: dict[str, Any], source: str) -> list[str]:
    """Errors that stop the codebook from loading, then what `codebook validate --strict` warns about."""
    try:
        return codebook_warnings(parse_codebook(document, source=source))
    except PrecodeError as exc:
        errors = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    return errors + [f"code '{code.get('id')}', field '{name}': empty (optional, but it sharpens the coding)"
                     for code in document.get("codes", []) for name in ("include", "exclude", "examples")
                     if isinstance(code, dict) and not code.get(name)]


def convert_codebook(source: str, dest: Path, *, origin: str, codebook_id: str | None = None,
                     name: str | None = None, version: str | None = None,
                     levels: list[str] | None = None, warnings: list[str] | None = None) -> list[str]:
    """YAML (or nasss/qif) → .qdc, or .qdc → YAML. Returns problems left in a converted YAML draft."""
    src_qdc = source.lower().endswith(".qdc")
    dest_qdc = dest.suffix.lower() == ".qdc"
    if src_qdc == dest_qdc or (not dest_qdc and dest.suffix.lower() not in (".yaml", ".yml")):
        raise PrecodeError(f"cannot convert '{source}' to '{dest.name}'",
                           hint="convert a YAML codebook (or nasss / qif) to FILE.qdc, or a .qdc to FILE.yaml")
    if dest_qdc:
        write_qdc(load_codebook(source), dest, origin)
        return []
    path = Path(source)
    codes, qdc_origin = read_qdc(path, warnings)
    document = codebook_document(
        codes, assign_code_ids(codes), codebook_id=codebook_id or slugify(path.stem), name=name or path.stem,
        version=version or "1.0", levels=levels,
        description=f"Converted from the REFI-QDA codebook {path.name}" + (f" ({qdc_origin})." if qdc_origin else "."),
    )
    return write_codebook_yaml(document, dest)
