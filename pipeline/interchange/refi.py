"""REFI-QDA vocabulary shared by the .qdpx/.qdc readers and writers: namespaces, GUIDs, code notes.

REFI-QDA (https://www.qdasoftware.org) is the exchange standard of MAXQDA, NVivo, ATLAS.ti,
QualCoder and others: a `.qdpx` is a zip holding `project.qde` (XML in `urn:QDA-XML:project:1.0`)
and the sources under `Sources/`; a `.qdc` is a codebook (XML in `urn:QDA-XML:codebook:1.0`).

Exported GUIDs are deterministic (uuid5 under one precode namespace), so exporting the same
project twice gives the same GUIDs, and a code's precode id travels in its Description as a last
line `precode-id: <id>` so that importing the file back maps every code exactly.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from lxml import etree

from pipeline.errors import PrecodeError

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
# Fixed for ever: changing it would change every exported GUID.
PRECODE_NAMESPACE = uuid.UUID("6f0d3c52-8a4e-5b8e-9c1d-2e7a4b9f0c31")

GUID_PATTERN = re.compile(
    r"^(\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
PRECODE_ID_LINE = re.compile(r"^precode-id:\s*(?P<id>\S+)\s*$")
_SECTIONS = {"Include:": "include", "Exclude:": "exclude", "Examples:": "examples"}

# Distinct, readable colours for top-level codes (their children share the parent's colour).
PALETTE = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
           "#BCBD22", "#17BECF"]


def guid(kind: str, key: str) -> str:
    """A stable GUID for one exported element (`kind` keeps codes, sources, users … apart)."""
    return str(uuid.uuid5(PRECODE_NAMESPACE, f"{kind}:{key}"))


def code_guid(codebook_id: str, code_id: str) -> str:
    return guid("code", f"{codebook_id}:{code_id}")


def normalize_guid(value: str) -> str:
    """GUIDs compare case-insensitively and with or without braces."""
    return value.strip().strip("{}").lower()


def machine_user_name(coder: str, model: str | None) -> str:
    """The REFI user that machine suggestions are attributed to, e.g. 'precode similarity (all-MiniLM-L6-v2)'."""
    return f"precode {coder} ({model})" if model else f"precode {coder}"


def code_description(definition: str, include: list[str], exclude: list[str], examples: list[str],
                     code_id: str) -> str:
    """A code's Description: its definition, the rules and examples, and the precode id line."""
    parts = [definition.strip()]
    for header, items in (("Include:", include), ("Exclude:", exclude), ("Examples:", examples)):
        if items:
            parts.append(header + "\n" + "\n".join("- " + item.strip().replace("\n", "\n  ") for item in items))
    parts.append(f"precode-id: {code_id}")
    return "\n\n".join(p for p in parts if p)


def parse_code_description(text: str | None) -> dict[str, Any]:
    """Split a Description written by `code_description` (or any free text) into its fields.

    Returns definition, include, exclude, examples and precode_id (None when absent). Free text
    from other tools becomes the definition.
    """
    fields: dict[str, Any] = {"definition": "", "include": [], "exclude": [], "examples": [], "precode_id": None}
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and (match := PRECODE_ID_LINE.match(lines[-1].strip())):
        fields["precode_id"] = match.group("id")
        lines.pop()
    definition: list[str] = []
    current: list[str] | None = None
    for line in lines:
        if line.strip() in _SECTIONS:
            current = fields[_SECTIONS[line.strip()]]
        elif current is not None and line.startswith("- "):
            current.append(line[2:].strip())
        elif current is not None and line.startswith("  ") and current:
            current[-1] += "\n" + line[2:]
        elif current is not None and not line.strip():
            continue
        else:
            current = None
            definition.append(line)
    fields["definition"] = "\n".join(definition).strip()
    return fields


def slugify(name: str) -> str:
    """A code-id word from a free-text name: lower-case ASCII letters, digits and underscores."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return slug or "code"


# -- XML helpers: namespace-agnostic reading (tools disagree about namespaces), safe parsing ----------
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def parse_xml(data: bytes | bytearray, where: str) -> etree._Element:
    """Parse XML without DTDs, entity expansion or network access; errors name line and column."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                             remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        at = f" line {line}, column {column}" if line else ""
        raise PrecodeError(f"{where}{at}: the XML does not parse ({exc.msg})",
                           hint="the file is damaged or not REFI-QDA XML; export it again from the QDA software") from None


def local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if local(c) == name]


def child(element: etree._Element, name: str) -> etree._Element | None:
    found = children(element, name)
    return found[0] if found else None


def child_text(element: etree._Element, name: str) -> str | None:
    found = child(element, name)
    return None if found is None else (found.text or "")


def describe(element: etree._Element, where: str = "project.qde") -> str:
    """'project.qde line 12: <PlainTextSelection guid="…">' for error messages."""
    guid_attr = element.get("guid")
    tag = f'<{local(element)} guid="{guid_attr}">' if guid_attr else f"<{local(element)}>"
    return f"{where} line {element.sourceline}: {tag}"


def xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters other than tab and newlines)."""
    return _XML_ILLEGAL.sub("", text)


def sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, /, **attrs: str | None) -> etree._Element:
    """Append a child element in namespace `ns`, with attributes set in the given order."""
    element = etree.SubElement(parent, f"{{{ns}}}{tag}")
    for key, value in attrs.items():
        if value is not None:
            element.set(key, value)
    if text is not None:
        element.text = xml_safe(text)
    return element
