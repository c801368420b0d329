"""The shipped codebooks are complete, and a broken codebook gets errors naming line, code and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.codebook import LEAF_LEVEL, codebook_warnings, load_codebook
from pipeline.errors import PrecodeError

NASSS_THEMES = {
    "independence", "data_quality", "communicate_meaning", "scope_of_use", "usability", "hcp_requirements",
    "perceived_value", "fit_practice", "responsibility", "understanding_gap",
}


@pytest.mark.parametrize("name", ["nasss", "qif"])
def test_every_code_is_complete(name: str):
    codebook = load_codebook(name)
    for code in codebook.codes:
        assert code.label and code.definition and code.include and code.exclude and code.examples, code.id
        assert code.parent is None or code.id.startswith(code.parent + ".")


def test_nasss_tree():
    cb = load_codebook("nasss")
    assert cb.levels == ["domain", "subdomain", "theme"]
    assert [c.id for c in cb.at_level("domain")] == [
        "condition", "technology", "value_proposition", "adopters", "organization", "wider_system", "embedding"]
    subdomains = {c.id for c in cb.at_level("subdomain")}
    for added in ("condition.sociocultural", "technology.ip_ownership", "technology.care_pathway",
                  "adopters.relationships", "wider_system.networking"):
        assert added in subdomains
    assert {c.id.rsplit(".", 1)[1] for c in cb.at_level("theme")} == NASSS_THEMES
    assert cb.path("technology.material_properties.usability").startswith("Technology > ")
    assert len(cb.at_level(LEAF_LEVEL)) == len([c for c in cb.codes if not cb.children(c.id)])


def test_qif_tree():
    cb = load_codebook("qif")
    top = [c.id for c in cb.at_level("phase")]
    assert top[:4] == ["p1_host_setting", "p2_structure", "p3_ongoing", "p4_improving"]
    assert {"practical_implementation", "governance_sustainability", "stakeholder_engagement"} <= set(top)
    steps = [c for c in cb.at_level("step") if re.fullmatch(r"p\d_\w+\.s\d\d_\w+", c.id)]
    assert [int(c.id.split(".s")[1][:2]) for c in steps] == list(range(1, 15))
    assert len(cb.children("p1_host_setting.s02_fit")) >= 5


def _write(tmp_path: Path, codes: list[dict]) -> Path:
    path = tmp_path / "cb.yaml"
    path.write_text(yaml.safe_dump({"id": "t", "name": "T", "version": "1", "levels": ["a", "b"], "codes": codes}),
                    encoding="utf-8")
    return path


def _code(id_, parent=None, **over):
    code = {"id": id_, "label": id_.title(), "definition": "d", "include": ["i"], "exclude": ["e"], "examples": ["x"]}
    if parent:
        code["parent"] = parent
    code.update(over)
    return code


@pytest.mark.parametrize("codes,fragments", [
    ([_code("a"), _code("a")], ["code 'a'", "field 'id'", "duplicate id"]),
    ([_code("a"), _code("a.b", parent="zz")], ["code 'a.b'", "field 'parent'", "unknown parent 'zz'"]),
    ([_code("a", definition=None)], ["code 'a'", "field 'definition'"]),
    ([{k: v for k, v in _code("a").items() if k != "definition"}], ["code 'a'", "field 'definition'", "missing"]),
    ([_code("a", label="  ")], ["code 'a'", "field 'label'", "empty"]),
    ([_code("a", parent="b"), _code("b", parent="a")], ["field 'parent'", "cycle"]),
    ([_code("a", examples=["  "])], ["code 'a'", "field 'examples'"]),
    ([_code("a"), _code("a.b", parent="a"), _code("a.b.c", parent="a.b")], ["code 'a.b.c'", "depth 3"]),
    ([_code("Bad Id")], ["field 'id'", "lower-case"]),
])
def test_invalid_codebook_errors_name_line_code_and_field(tmp_path: Path, codes, fragments):
    path = _write(tmp_path, codes)
    with pytest.raises(PrecodeError) as info:
        load_codebook(path)
    message = str(info.value)
    assert str(path) in message and "line " in message
    for fragment in fragments:
        assert fragment in message, message


def test_yaml_syntax_error_names_line(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    path.write_text("id: t\nname: [unclosed\nlevels: [a]\n", encoding="utf-8")
    with pytest.raises(PrecodeError, match=r"cb.yaml: line \d+: invalid YAML"):
        load_codebook(path)


def test_missing_codebook_file_suggests_builtins(tmp_path: Path):
    with pytest.raises(PrecodeError, match="nasss, qif"):
        load_codebook(tmp_path / "nope.yaml")


def test_content_hash_ignores_file_location(tmp_path: Path):
    source = load_codebook("nasss")
    copy = tmp_path / "copy.yaml"
    copy.write_text(Path(source.source).read_text(encoding="utf-8"), encoding="utf-8")
    assert load_codebook(copy).content_hash == source.content_hash


# -- issue 14: codebooks of any depth, optional rules and examples, REFI attributes kept -------------------
def test_rules_and_examples_are_optional_and_only_warned_about_under_strict(tmp_path: Path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    bare = {"id": "a", "label": "A", "definition": "d"}
    path = tmp_path / "cb.yaml"
    path.write_text(yaml.safe_dump({"id": "t", "name": "T", "version": "1", "codes": [bare]}), encoding="utf-8")
    cb = load_codebook(path)  # no levels, no include/exclude/examples: valid
    assert cb.codes[0].include == [] and cb.levels == ["level1"]
    assert codebook_warnings(cb) == [f"code 'a', field '{f}': empty (optional, but it sharpens the coding)"
                                     for f in ("include", "exclude", "examples")]
    runner = CliRunner()
    plain = runner.invoke(app, ["codebook", "validate", str(path)])
    assert plain.exit_code == 0 and "valid" in plain.output and "warning" not in plain.output
    strict = runner.invoke(app, ["codebook", "validate", "--strict", str(path)])
    assert strict.exit_code == 0 and "warning code 'a', field 'include': empty" in strict.output


def test_strict_names_each_code_and_empty_field_on_its_own_line_and_exits_0(tmp_path: Path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    full = {"id": "full", "label": "Full", "definition": "d", "include": ["i"], "exclude": ["e"], "examples": ["x"]}
    no_examples = {"id": "half", "label": "Half", "definition": "d", "include": ["i"], "exclude": ["e"]}
    qda = {"id": "qda", "label": "From a QDA tool", "definition": ""}
    path = tmp_path / "cb.yaml"
    path.write_text(yaml.safe_dump({"id": "t", "name": "T", "version": "1", "codes": [full, no_examples, qda]}),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["codebook", "validate", "--strict", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning")]
    assert warnings == ["warning code 'half', field 'examples': empty (optional, but it sharpens the coding)",
                        "warning code 'qda', field 'definition': empty (the coders compare passages with the label alone)",
                        *[f"warning code 'qda', field '{f}': empty (optional, but it sharpens the coding)"
                          for f in ("include", "exclude", "examples")]]


def test_a_seven_level_codebook_without_levels_loads_with_guids_and_colours(tmp_path: Path):
    codes = [{"id": "l1", "label": "L1", "definition": "d", "guid": "{0A0B0C0D-0000-4000-8000-000000000001}",
              "color": "#AA00FF", "codable": False}]
    for depth in range(2, 8):
        codes.append({"id": f"l{depth}", "label": f"L{depth}", "definition": "d", "parent": f"l{depth - 1}"})
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump({"id": "deep", "name": "Deep", "version": "1", "codes": codes}), encoding="utf-8")
    cb = load_codebook(path)
    assert cb.levels == [f"level{i}" for i in range(1, 8)]
    assert cb.by_id["l7"].depth == 7 and cb.path("l7") == " > ".join(f"L{i}" for i in range(1, 8))
    assert cb.guids == {"l1": "{0A0B0C0D-0000-4000-8000-000000000001}"} and cb.colors == {"l1": "#AA00FF"}
    assert cb.uncodable == ["l1"]
    assert [c.id for c in cb.at_level("level7")] == ["l7"]


def test_declared_levels_still_bound_the_depth_and_bad_refi_attributes_are_errors(tmp_path: Path):
    path = _write(tmp_path, [_code("a", guid="nope", color="red"), _code("a.b", parent="a"),
                             _code("a.b.c", parent="a.b")])
    with pytest.raises(PrecodeError) as info:
        load_codebook(path)
    for fragment in ("field 'guid': 'nope' is not a GUID", "field 'color': 'red' is not a colour", "depth 3"):
        assert fragment in str(info.value)


def test_existing_codebooks_keep_their_content_hash():
    # the REFI attributes are left out of the hash when empty, so runs recorded before keep matching
    cb = load_codebook("nasss")
    assert cb.guids == {} and cb.colors == {} and cb.uncodable == []
    payload = cb.model_dump(exclude={"source", "guids", "colors", "uncodable"}, mode="json")
    import hashlib
    import json
    assert cb.content_hash == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
