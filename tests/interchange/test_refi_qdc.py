"""REFI-QDA codebooks (.qdc): export validates against Codebook.xsd, YAML ↔ .qdc round-trips, foreign trees."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lxml import etree

from pipeline.codebook import codebook_warnings, load_codebook
from pipeline.errors import PrecodeError
from pipeline.interchange.qdc import Matched, assign_code_ids, convert_codebook, read_qdc
from pipeline.interchange.refi import CODEBOOK_NS, code_description, code_guid, parse_code_description

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qdpx"


def _fields(codebook):
    return [(c.id, c.label, c.parent, c.definition, c.include, c.exclude, c.examples, c.level) for c in codebook.codes]


@pytest.mark.parametrize("name", ["nasss", "qif"])
def test_yaml_to_qdc_to_yaml_keeps_every_code_field(tmp_path, codebook_schema, name):
    original = load_codebook(name)
    qdc = tmp_path / f"{name}.qdc"
    assert convert_codebook(name, qdc, origin="precode test") == []
    codebook_schema.validate(str(qdc))
    problems = convert_codebook(str(qdc), tmp_path / f"{name}.yaml", origin="x", codebook_id=name,
                                name=original.name, version=original.version, levels=original.levels)
    assert problems == []
    back = load_codebook(tmp_path / f"{name}.yaml")
    assert _fields(back) == _fields(original)
    assert (back.id, back.name, back.version, back.levels) == (original.id, original.name, original.version,
                                                                original.levels)


def test_qdc_codes_carry_guid_colour_and_precode_id(tmp_path):
    qdc = tmp_path / "n.qdc"
    convert_codebook("nasss", qdc, origin="precode test")
    root = etree.parse(str(qdc)).getroot()
    assert root.tag == f"{{{CODEBOOK_NS}}}CodeBook" and root.get("origin") == "precode test"
    codes = root.findall(f".//{{{CODEBOOK_NS}}}Code")
    nasss = load_codebook("nasss")
    assert len(codes) == len(nasss.codes)
    first = codes[0]
    assert first.get("guid") == code_guid("nasss", nasss.codes[0].id)
    assert first.get("color", "").startswith("#") and first.get("isCodable") == "true"
    description = first.find(f"{{{CODEBOOK_NS}}}Description").text
    assert description.splitlines()[-1] == f"precode-id: {nasss.codes[0].id}"
    # children nest inside their parent element
    usability = [c for c in codes if c.get("name") == "Usability"][0]
    assert usability.getparent().get("name") == "Material properties and key features"


def test_description_format_round_trips_multiline_items():
    text = code_description("Def line one.\nLine two.", ["a", "multi\nline item"], [], ["ex"], "x.y")
    fields = parse_code_description(text)
    assert fields == {"definition": "Def line one.\nLine two.", "include": ["a", "multi\nline item"], "exclude": [],
                      "examples": ["ex"], "precode_id": "x.y"}
    free = parse_code_description("Just a memo written in MAXQDA.\n\nSecond paragraph.")
    assert free["definition"] == "Just a memo written in MAXQDA.\n\nSecond paragraph." and free["precode_id"] is None


FOREIGN_QDC = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="NVivo 14">
 <Codes>
  <Code guid="{11111111-1111-4111-8111-111111111111}" name="Technology" isCodable="true" color="#FF0000">
   <Description>About the tool.</Description>
   <Code guid="11111111-1111-4111-8111-111111111112" name="USABILITY" isCodable="true"/>
   <Code guid="11111111-1111-4111-8111-111111111113" name="Alarm fatigue (nights)" isCodable="true"/>
  </Code>
  <Code guid="11111111-1111-4111-8111-111111111114" name="adopters.staff" isCodable="false"/>
  <Code guid="11111111-1111-4111-8111-111111111115" name="Ärger über Alarme" isCodable="true"/>
  <Code guid="11111111-1111-4111-8111-111111111116" name="alarm fatigue (nights)" isCodable="true"/>
 </Codes>
</CodeBook>"""


def test_foreign_codes_map_by_id_then_label_else_get_a_slug(tmp_path, codebook_schema):
    path = tmp_path / "nvivo.qdc"
    path.write_text(FOREIGN_QDC, encoding="utf-8")
    codebook_schema.validate(str(path))
    codes, origin = read_qdc(path)
    assert origin == "NVivo 14" and codes[0].guid == "11111111-1111-4111-8111-111111111111"
    mapping = assign_code_ids(codes, load_codebook("nasss"))
    got = {m.name: (m.code_id, m.matched) for m in mapping.values()}
    assert got["Technology"] == ("technology", Matched.label)
    assert got["USABILITY"] == ("technology.material_properties.usability", Matched.label)
    assert got["adopters.staff"] == ("adopters.staff", Matched.id)
    assert got["Alarm fatigue (nights)"] == ("technology.alarm_fatigue_nights", Matched.new)
    assert got["Ärger über Alarme"] == ("arger_uber_alarme", Matched.new)
    assert got["alarm fatigue (nights)"] == ("alarm_fatigue_nights", Matched.new)
    without = assign_code_ids(codes)
    assert {m.matched for m in without.values()} == {Matched.new}
    assert without[codes[1].guid].code_id == "technology.usability"


def test_foreign_qdc_converts_to_a_draft_that_names_what_is_missing(tmp_path):
    path = tmp_path / "nvivo.qdc"
    path.write_text(FOREIGN_QDC, encoding="utf-8")
    out = tmp_path / "draft.yaml"
    problems = convert_codebook(str(path), out, origin="x", levels=["domain", "subdomain"])
    assert out.is_file()
    assert any("field 'include'" in p for p in problems)
    assert any("code 'arger_uber_alarme'" in p and "definition" in p for p in problems)
    # an empty definition and include/exclude/examples are only warnings now (issue 14 #7): the draft loads
    book = load_codebook(out)
    assert any("code 'arger_uber_alarme', field 'definition': empty" in w for w in codebook_warnings(book))
    text = out.read_text(encoding="utf-8")
    assert "label: Ärger über Alarme" in text and "definition: About the tool." in text


def test_a_seven_level_tree_converts_keeping_guids_colours_and_codable(tmp_path):
    deep = "".join(f'<Code guid="22222222-2222-4222-8222-00000000000{i}" name="L{i}" isCodable="{str(i > 1).lower()}"'
                   f' color="#00{i}0{i}0"><Description>Level {i}.</Description>' for i in range(1, 8)) + "</Code>" * 7
    path = tmp_path / "deep.qdc"
    path.write_text(f'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>{deep}</Codes></CodeBook>', encoding="utf-8")
    problems = convert_codebook(str(path), tmp_path / "deep.yaml", origin="x")
    assert all("field 'include'" in p or "field 'exclude'" in p or "field 'examples'" in p for p in problems)
    book = load_codebook(tmp_path / "deep.yaml")
    assert book.levels == [f"level{i}" for i in range(1, 8)] and book.codes[-1].depth == 7
    assert book.path(book.codes[-1].id) == "L1 > L2 > L3 > L4 > L5 > L6 > L7"
    # and back to .qdc: the same GUIDs, colours and isCodable
    convert_codebook(str(tmp_path / "deep.yaml"), tmp_path / "back.qdc", origin="x")
    back = etree.parse(str(tmp_path / "back.qdc")).getroot()
    codes = back.findall(".//{urn:QDA-XML:codebook:1.0}Code")
    assert [(c.get("guid"), c.get("color"), c.get("isCodable")) for c in codes] == \
        [(f"22222222-2222-4222-8222-00000000000{i}", f"#00{i}0{i}0", str(i > 1).lower()) for i in range(1, 8)]
    assert [len(list(c.iterancestors())) for c in codes] == list(range(2, 9))


def test_taguette_codebook_with_an_empty_sets_converts_with_a_warning(tmp_path, codebook_schema):
    path = FIXTURES / "taguette152_codebook.qdc"
    assert not codebook_schema.is_valid(str(path))  # the empty <Sets/> is what Codebook.xsd refuses
    warnings: list[str] = []
    convert_codebook(str(path), tmp_path / "taguette.yaml", origin="x", warnings=warnings)
    assert warnings == ["taguette152_codebook.qdc line 2: <Sets> is empty, which REFI-QDA does not allow; ignored"]
    document = yaml.safe_load((tmp_path / "taguette.yaml").read_text(encoding="utf-8"))
    assert [c["label"] for c in document["codes"]][:3] == ["barriers", "barriers.cost", "barriers.workload"]
    assert document["codes"][0]["guid"] == "e998f5d4-a3ec-59c9-b17a-1cc008824583"
    # and the CLI prints the warning
    from typer.testing import CliRunner

    from pipeline.cli import app
    result = CliRunner().invoke(app, ["codebook", "convert", str(path), str(tmp_path / "t2.yaml")])
    assert result.exit_code == 0 and "<Sets> is empty" in result.output


@pytest.mark.parametrize("content, message", [
    ("<CodeBook xmlns='urn:QDA-XML:codebook:1.0'><Codes><Code name='x' isCodable='true'/></Codes></CodeBook>",
     r"line 1: <Code> has no 'guid' attribute"),
    ("<Project xmlns='urn:QDA-XML:project:1.0' name='p'/>", "root element is <Project>"),
    ("<CodeBook><Codes><Code", "the XML does not parse"),
])
def test_bad_qdc_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.qdc"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PrecodeError, match=message):
        convert_codebook(str(path), tmp_path / "bad.yaml", origin="x")
    assert not (tmp_path / "bad.yaml").exists()


def test_conversion_direction_must_be_yaml_and_qdc(tmp_path):
    with pytest.raises(PrecodeError, match="cannot convert"):
        convert_codebook("nasss", tmp_path / "x.yaml", origin="x")
    with pytest.raises(PrecodeError, match="cannot convert"):
        convert_codebook("nasss", tmp_path / "x.txt", origin="x")


def test_save_codebook_keeps_a_seven_level_tree_with_guids_through_yaml_and_qdc(fresh, tmp_path):
    """Issue 14 #3: --save-codebook used to abort the import of a tree deeper than three levels."""
    from pipeline.interchange.qdpx_import import import_qdpx
    from pipeline.interchange.qdpx_read import read_qdpx

    source = FIXTURES / "qc178_two_coders.qdpx"
    report = import_qdpx(fresh, source, save_codebook=tmp_path / "qc.yaml")
    assert report.annotations_new == 12
    book = load_codebook(tmp_path / "qc.yaml")
    assert max(c.depth for c in book.codes) == 7 and book.levels == [f"level{i}" for i in range(1, 8)]
    original = {c.guid: (c.name, c.color) for c in read_qdpx(source).codes}
    assert {book.guids[c.id] for c in book.codes} == set(original)
    convert_codebook(str(tmp_path / "qc.yaml"), tmp_path / "qc.qdc", origin="x")
    codes, _ = read_qdc(tmp_path / "qc.qdc")
    assert {c.guid: (c.name, c.color) for c in codes} == original
