"""Load and validate codebook files (YAML), and navigate the code tree.

A codebook is a flat list of codes in tree order; each non-top-level code names its `parent`.
The tree may be of any depth. Depth comes from the parent links and names its level
(`levels[depth-1]`, e.g. domain, subdomain, theme); `levels` is optional and defaults to
level1, level2, … as deep as the tree goes. Validation collects every problem at once and names
the line, code id and field, so a researcher can fix a hand-edited codebook in one pass.

A code needs an id, a label and a `definition` key. An empty definition (a code tree from QDA
software has none) and missing include/exclude rules and examples are valid, so no filler text
changes what a code means to the coders; `codebook_warnings` (`precode codebook validate
--strict`) names each empty one, one line per code and field, and the exit code stays 0 (the
codebook is valid). They are worth writing: the similarity coder calibrates its decision rule on
a code's texts, and the learned coder takes each inclusion criterion and example as a training
example. A code may also carry what a QDA tool gave it — `guid`,
`color` (#RRGGBB) and `codable: false` — so a code tree keeps them through YAML and REFI-QDA.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PrecodeError
from pipeline.models import Code
from pipeline.package_data import data_dir

BUILTIN_CODEBOOKS = ("nasss", "qif")
CODE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*$")
LEAF_LEVEL = "leaf"
_COLOR = re.compile(r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


class _CodeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    label: str
    parent: str | None = None
    definition: str
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    guid: str | None = None
    color: str | None = None
    codable: bool = True


class _CodebookFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    id: str
    name: str
    version: str
    description: str = ""
    levels: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    codes: list[dict[str, Any]]


class Codebook(BaseModel):
    """A validated codebook: metadata plus codes in tree order, with tree navigation."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    version: str
    description: str = ""
    levels: list[str]
    references: list[str] = Field(default_factory=list)
    codes: list[Code]
    source: str = ""
    # What a QDA tool gave the codes (REFI-QDA): code id → GUID / colour, and the codes not codable.
    guids: dict[str, str] = Field(default_factory=dict)
    colors: dict[str, str] = Field(default_factory=dict)
    uncodable: list[str] = Field(default_factory=list)

    @cached_property
    def by_id(self) -> dict[str, Code]:
        return {code.id: code for code in self.codes}

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the codebook's content (not its file path), recorded with every run."""
        payload = self.model_dump(exclude={"source"}, mode="json")
        for key in ("guids", "colors", "uncodable"):  # absent when empty: older codebooks keep their hash
            if not payload[key]:
                del payload[key]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def children(self, code_id: str | None) -> list[Code]:
        return [c for c in self.codes if c.parent == code_id]

    def ancestors(self, code_id: str) -> list[Code]:
        """The code's ancestors from the root down, excluding the code itself."""
        chain: list[Code] = []
        parent = self.by_id[code_id].parent
        while parent is not None:
            chain.append(self.by_id[parent])
            parent = self.by_id[parent].parent
        return list(reversed(chain))

    def descendants(self, code_id: str) -> list[Code]:
        out: list[Code] = []
        for child in self.children(code_id):
            out.append(child)
            out.extend(self.descendants(child.id))
        return out

    def path(self, code_id: str, sep: str = " > ") -> str:
        """Human path such as 'Technology > Knowledge needed to use it > Usability'."""
        return sep.join(c.label for c in [*self.ancestors(code_id), self.by_id[code_id]])

    def at_level(self, level: str) -> list[Code]:
        """Codes at a named level, or with level 'leaf' the codes with no children (the finest codes)."""
        if level == LEAF_LEVEL:
            parents = {c.parent for c in self.codes}
            return [c for c in self.codes if c.id not in parents]
        if level not in self.levels:
            raise PrecodeError(
                f"codebook '{self.id}' has no level '{level}'",
                hint=f"choose one of: {', '.join([*self.levels, LEAF_LEVEL])}",
            )
        return [c for c in self.codes if c.level == level]

    def ancestor_at_level(self, code_id: str, level: str) -> Code | None:
        """The code itself or its ancestor at `level` (None when the code sits above it)."""
        for code in [*self.ancestors(code_id), self.by_id[code_id]]:
            if code.level == level:
                return code
        return None


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line each mapping starts on."""


def _construct_mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_with_line)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def builtin_codebook_path(name: str) -> Path:
    return data_dir("codebooks") / f"{name}.yaml"


def resolve_codebook(name_or_path: str) -> Path:
    """`nasss` / `qif` name a shipped codebook; anything else is a file path."""
    if name_or_path in BUILTIN_CODEBOOKS:
        return builtin_codebook_path(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise PrecodeError(
            "codebook file not found",
            path=name_or_path,
            hint=f"give a YAML file or one of the shipped codebooks: {', '.join(BUILTIN_CODEBOOKS)}",
        )
    return path


def load_codebook(name_or_path: str | Path) -> Codebook:
    """Load and validate a codebook; raise PrecodeError listing every problem found."""
    path = resolve_codebook(str(name_or_path))
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except UnicodeDecodeError as exc:
        raise PrecodeError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path),
                           hint="save the codebook as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise PrecodeError(f"{where}invalid YAML ({getattr(exc, 'problem', exc)})", path=str(path),
                           hint="fix the YAML syntax (indentation, quotes around strings with ': ')") from None
    return parse_codebook(raw, source=str(path))


def parse_codebook(raw: object, source: str = "<codebook>") -> Codebook:
    """Validate already-parsed codebook data (dicts may carry '__line__' markers)."""
    if not isinstance(raw, dict):
        raise PrecodeError("a codebook must be a YAML mapping with 'id', 'name', 'version' and 'codes'", path=source)
    errors: list[str] = []
    try:
        header = _CodebookFile.model_validate(
            {k: _strip_lines(v) if k != "codes" else v for k, v in raw.items() if k != "__line__"}
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            errors.append(f"field '{field}': {err['msg']}")
        raise PrecodeError("invalid codebook:\n  " + "\n  ".join(errors), path=source) from None

    entries: list[tuple[int | None, _CodeEntry]] = []
    for index, item in enumerate(header.codes):
        line = item.get("__line__") if isinstance(item, dict) else None
        where = f"line {line}, " if line else ""
        code_id = item.get("id") if isinstance(item, dict) else None
        label = f"code '{code_id}'" if code_id else f"code #{index + 1}"
        if not isinstance(item, dict):
            errors.append(f"{label}: must be a mapping with id, label and definition")
            continue
        try:
            entry = _CodeEntry.model_validate(_strip_lines(item))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                msg = "missing" if err["type"] == "missing" else err["msg"]
                errors.append(f"{where}{label}, field '{field}': {msg}")
            continue
        if not entry.label.strip():
            errors.append(f"{where}{label}, field 'label': empty — write a label")
        for field in ("include", "exclude", "examples"):
            if not all(v.strip() for v in getattr(entry, field)):
                errors.append(f"{where}{label}, field '{field}': an entry is empty — remove it or write it")
        if entry.color is not None and not _COLOR.match(entry.color):
            errors.append(f"{where}{label}, field 'color': '{entry.color}' is not a colour like #1F77B4")
        if entry.guid is not None and not _GUID.match(entry.guid):
            errors.append(f"{where}{label}, field 'guid': '{entry.guid}' is not a GUID")
        if not CODE_ID_PATTERN.match(entry.id):
            errors.append(f"{where}{label}, field 'id': use lower-case words of [a-z0-9_] joined by dots")
        entries.append((line, entry))

    seen: dict[str, int | None] = {}
    for line, entry in entries:
        if entry.id in seen:
            first = f" (first at line {seen[entry.id]})" if seen[entry.id] else ""
            errors.append(f"line {line}, code '{entry.id}', field 'id': duplicate id{first}")
        else:
            seen[entry.id] = line
    parents = {e.id: e.parent for _, e in entries}
    for line, entry in entries:
        if entry.parent is not None and entry.parent not in parents:
            errors.append(f"line {line}, code '{entry.id}', field 'parent': unknown parent '{entry.parent}'")

    depth: dict[str, int] = {}
    for line, entry in entries:
        chain, node = [entry.id], entry.parent
        while node is not None and node in parents:
            if node in chain:
                errors.append(f"line {line}, code '{entry.id}', field 'parent': cycle {' -> '.join([*chain, node])}")
                break
            chain.append(node)
            node = parents[node]
        else:
            depth[entry.id] = len(chain)
            if header.levels and len(chain) > len(header.levels):
                errors.append(
                    f"line {line}, code '{entry.id}', field 'parent': depth {len(chain)} but the codebook "
                    f"declares only {len(header.levels)} levels ({', '.join(header.levels)})"
                )
    if not entries and not errors:
        errors.append("field 'codes': the codebook has no codes")
    if errors:
        raise PrecodeError(f"invalid codebook ({len(errors)} problem(s)):\n  " + "\n  ".join(errors), path=source,
                           hint="fix these fields and run 'precode codebook validate' again")

    levels = header.levels or [f"level{i}" for i in range(1, max(depth.values()) + 1)]
    codes = [
        Code(**entry.model_dump(exclude={"guid", "color", "codable"}), depth=depth[entry.id],
             level=levels[depth[entry.id] - 1])
        for _, entry in entries
    ]
    return Codebook(
        id=header.id, name=header.name, version=header.version, description=header.description,
        levels=levels, references=header.references, codes=codes, source=source,
        guids={e.id: e.guid for _, e in entries if e.guid}, colors={e.id: e.color for _, e in entries if e.color},
        uncodable=[e.id for _, e in entries if not e.codable],
    )


def codebook_warnings(codebook: Codebook) -> list[str]:
    """What `codebook validate --strict` reports: each code without include rules, exclude rules or examples."""
    out = []
    for code in codebook.codes:
        if not code.definition.strip():
            out.append(f"code '{code.id}', field 'definition': empty (the coders compare passages with the label alone)")
        out += [f"code '{code.id}', field '{name}': empty (optional, but it sharpens the coding)"
                for name in ("include", "exclude", "examples") if not getattr(code, name)]
    return out
