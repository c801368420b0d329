"""Bad .qdpx input: each case gives a clear message naming the element or GUID, and stores nothing."""

from __future__ import annotations

import io
import unicodedata
import zipfile

import pytest
from refi_fixtures import C_MAT, C_TECH, CASE1, FOREIGN_S1, S1, U1, make_qdpx, table_counts

from pipeline.errors import PrecodeError
from pipeline.interchange.qdpx_import import import_qdpx


@pytest.fixture
def seeded(fresh, foreign, tmp_path):
    """A project that already holds one import, so 'nothing stored' is checked against non-empty tables."""
    import_qdpx(fresh, foreign.write(tmp_path / "first.qdpx"))
    return fresh


def _refused(project, path, *fragments, codebook=None, save_codebook=None):
    before = table_counts(project)
    with pytest.raises(PrecodeError) as caught:
        import_qdpx(project, path, codebook=codebook, save_codebook=save_codebook)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert table_counts(project) == before
    return message


def test_a_file_that_is_not_a_zip(seeded, tmp_path):
    path = tmp_path / "notes.qdpx"
    path.write_text("Interviewer: this is a transcript, not a project\n", encoding="utf-8")
    _refused(seeded, path, "notes.qdpx", "not a REFI-QDA project", "not a zip archive")


def test_a_zip_that_is_not_a_refi_project(seeded, tmp_path):
    path = tmp_path / "report.qdpx"  # a Word document renamed
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    _refused(seeded, path, "not a REFI-QDA project", "has no project.qde", "word/document.xml")


def test_a_zip_whose_project_qde_is_missing(seeded, tmp_path):
    path = tmp_path / "sources-only.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"Sources/{S1}.txt", "text")
    _refused(seeded, path, "has no project.qde", f"Sources/{S1}.txt")


def test_a_project_qde_of_another_kind(seeded, tmp_path):
    qdc = '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>'
    _refused(seeded, make_qdpx(tmp_path / "cb.qdpx", qdc), "project.qde holds <CodeBook>", "precode codebook convert")


def test_xml_that_does_not_parse(seeded, foreign, tmp_path):
    broken = foreign.qde().replace("</Sources>", "</Source>")
    line = broken[:broken.index("</Source>")].count("\n") + 1
    _refused(seeded, make_qdpx(tmp_path / "broken.qdpx", broken, foreign.files()),
             f"project.qde line {line}", "the XML does not parse")


def test_a_coding_of_a_code_guid_that_does_not_exist(seeded, foreign, tmp_path):
    ghost = "deadbeef-0000-4000-8000-000000000000"
    qde = foreign.qde().replace(f'<CodeRef targetGUID="{C_MAT}"/>', f'<CodeRef targetGUID="{ghost}"/>')
    _refused(seeded, make_qdpx(tmp_path / "ghost.qdpx", qde, foreign.files()),
             '<Coding guid="c0d10000-0000-4000-8000-000000000001">', f"refers to code {ghost}",
             "not in the <CodeBook>")


def test_a_case_referring_to_a_source_that_does_not_exist(seeded, foreign, tmp_path):
    ghost = "50c00000-dead-4000-8000-000000000000"
    qde = foreign.qde().replace(f'<SourceRef targetGUID="{S1}"/>', f'<SourceRef targetGUID="{ghost}"/>')
    _refused(seeded, make_qdpx(tmp_path / "ghost-source.qdpx", qde, foreign.files()),
             f'<Case guid="{CASE1}">', f"refers to source {ghost}", "not in <Sources>")


def test_a_selection_past_the_end_of_its_source(seeded, foreign, tmp_path):
    selection = foreign.selections[1][0]
    start, end = foreign.span(S1, foreign.selections[1][2])
    qde = foreign.qde().replace(f'startPosition="{start}" endPosition="{end}"',
                                f'startPosition="{start}" endPosition="100000"')
    _refused(seeded, make_qdpx(tmp_path / "far.qdpx", qde, foreign.files()),
             f'<PlainTextSelection guid="{selection}">', "endPosition=100000", "outside the text of source",
             f"'Interview 1.txt' ({S1})", f"which has {len(FOREIGN_S1)} characters")


@pytest.mark.parametrize("start, end, fragment", [
    ("-3", "10", "startPosition=-3"),
    ("20", "10", "startPosition=20 endPosition=10"),
    ("ten", "12", 'startPosition="ten" is not a whole number'),
])
def test_selection_positions_that_make_no_sense(seeded, foreign, tmp_path, start, end, fragment):
    s, e = foreign.span(S1, foreign.selections[1][2])
    qde = foreign.qde().replace(f'startPosition="{s}" endPosition="{e}"', f'startPosition="{start}" endPosition="{end}"')
    _refused(seeded, make_qdpx(tmp_path / "odd.qdpx", qde, foreign.files()), foreign.selections[1][0], fragment)


def test_duplicate_guids(seeded, foreign, tmp_path):
    qde = foreign.qde().replace(f'<Code guid="{C_MAT}"', f'<Code guid="{C_TECH.upper()}"')
    _refused(seeded, make_qdpx(tmp_path / "dup.qdpx", qde, foreign.files()),
             f"duplicate GUID {C_TECH.upper()}", f'<Code guid="{C_TECH.upper()}">', "uses the GUID of <Code> at line")


def test_a_user_guid_used_again_by_a_source(seeded, foreign, tmp_path):
    qde = foreign.qde().replace(f'<TextSource guid="{S1}"', f'<TextSource guid="{U1}"').replace(
        f"internal://{S1}.txt", f"internal://{U1}.txt")
    _refused(seeded, make_qdpx(tmp_path / "dup-user.qdpx", qde, foreign.files()), "duplicate GUID", "<User> at line")


@pytest.mark.parametrize("encoding, fragment", [("cp1252", "is 0xe9"), ("utf-16", "is 0xff")])
def test_a_source_file_in_an_unexpected_encoding(seeded, foreign, tmp_path, encoding, fragment):
    foreign.s1_bytes = unicodedata.normalize("NFC", FOREIGN_S1.replace("😀", ":)")).encode(encoding)
    _refused(seeded, foreign.write(tmp_path / f"{encoding}.qdpx"), f'<TextSource guid="{S1}">',
             f"Sources/{S1}.txt' is not UTF-8", fragment, "REFI-QDA requires UTF-8")


def test_a_source_file_missing_from_the_archive(seeded, foreign, tmp_path):
    path = make_qdpx(tmp_path / "missing-file.qdpx", foreign.qde(), {})
    _refused(seeded, path, f'<TextSource guid="{S1}">', f"'internal://{S1}.txt' is not in the archive")


def test_a_code_without_a_name(seeded, foreign, tmp_path):
    qde = foreign.qde().replace('name="Alarm fatigue" ', "")
    _refused(seeded, make_qdpx(tmp_path / "noname.qdpx", qde, foreign.files()), "<Code guid=",
             "has no 'name' attribute")


def test_a_coding_without_a_code_ref(seeded, foreign, tmp_path):
    qde = foreign.qde().replace(f'<CodeRef targetGUID="{C_MAT}"/>', "")
    _refused(seeded, make_qdpx(tmp_path / "noref.qdpx", qde, foreign.files()),
             '<Coding guid="c0d10000-0000-4000-8000-000000000001">', "has no <CodeRef")


def test_a_good_source_before_a_bad_one_is_not_stored_either(seeded, foreign, tmp_path):
    """The first text source is fine and the second broken: the whole import is refused."""
    bad = ('<TextSource guid="50c00000-0000-4000-8000-0000000000ff" name="Later">'
           '<PlainTextContent>short</PlainTextContent>'
           '<PlainTextSelection guid="5e100000-0000-4000-8000-0000000000ff" startPosition="0" endPosition="99"/>'
           "</TextSource>")
    foreign.extra_sources = bad
    _refused(seeded, foreign.write(tmp_path / "late.qdpx"), '<PlainTextSelection guid="5e100000-0000-4000-8000-0000000000ff">',
             "'Later'", "which has 5 characters")


def test_an_unwritable_save_codebook_path_stores_nothing(seeded, foreign, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    before = table_counts(seeded)
    with pytest.raises(OSError):
        import_qdpx(seeded, foreign.write(tmp_path / "w.qdpx"), save_codebook=blocker / "cb.yaml")
    assert table_counts(seeded) == before


def test_a_damaged_archive_member(seeded, foreign, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("project.qde", foreign.qde())
        archive.writestr(f"Sources/{S1}.txt", foreign.s1_bytes)
    data = bytearray(buffer.getvalue())
    at = data.index(b"Honestly the")
    data[at:at + 8] = b"XXXXXXXX"  # the stored CRC no longer matches
    path = tmp_path / "crc.qdpx"
    path.write_bytes(bytes(data))
    _refused(seeded, path, f"cannot read 'Sources/{S1}.txt' from the archive")
