"""Every reader on the bundled sample files: speakers, encodings, metadata, offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest import read_metadata_csv
from pipeline.ingest.readers import read_transcript
from pipeline.settings import IngestSettings

EXPECTED = {
    "int01_icu_nurse.txt": ("utf-8", "P1"),
    "int02_ml_engineer.txt": ("utf-16-le", "AI 1"),
    "int03_radiologist.txt": ("cp1252", "Dr Okafor"),
    "int04_data_scientist.md": ("utf-8", "AI 2"),
    "int05_gp.vtt": ("utf-8", "Dr Hannah Lindqvist"),
    "int06_product_manager.vtt": ("utf-8", "AI 3"),
    "int07_pharmacist.srt": ("utf-8", "HCP 5"),
    "int08_cardiologist.docx": ("docx", "HCP 4"),
    "int09_informatics_lead.json": ("utf-8", "AI 4"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_file_reads_into_two_speakers_with_exact_turns(sample_dir: Path, name: str):
    encoding, participant = EXPECTED[name]
    parsed = read_transcript(sample_dir / name, IngestSettings())
    assert parsed.encoding == encoding
    assert {t.speaker for t in parsed.turns} == {"Interviewer", participant}
    assert parsed.warnings == []
    assert len(parsed.turns) >= 20
    for turn in parsed.turns:
        body = parsed.text[turn.start:turn.end]
        assert body == body.strip() and body
        assert not body.startswith(("Interviewer:", f"{participant}:", "**")), body[:40]
    assert "\r" not in parsed.text


def test_cp1252_characters_decoded_not_mangled(sample_dir: Path):
    parsed = read_transcript(sample_dir / "int03_radiologist.txt", IngestSettings())
    assert "’" in parsed.text and "–" in parsed.text
    assert "\x92" not in parsed.text and "\ufffd" not in parsed.text


def test_timestamps_kept_on_turns(sample_dir: Path):
    parsed = read_transcript(sample_dir / "int03_radiologist.txt", IngestSettings())
    assert parsed.turns[0].timestamp and parsed.turns[0].timestamp.count(":") == 2
    vtt = read_transcript(sample_dir / "int05_gp.vtt", IngestSettings())
    assert vtt.turns[1].timestamp and vtt.turns[1].timestamp > vtt.turns[0].timestamp


def test_teams_cues_of_one_speaker_merge_into_one_turn(sample_dir: Path):
    parsed = read_transcript(sample_dir / "int05_gp.vtt", IngestSettings())
    speakers = [t.speaker for t in parsed.turns]
    assert all(a != b for a, b in zip(speakers, speakers[1:]))


def test_front_matter_and_json_metadata(sample_dir: Path):
    md = read_transcript(sample_dir / "int04_data_scientist.md", IngestSettings())
    assert (md.metadata.participant_id, md.metadata.group) == ("AI2", "AI expert")
    # the stored text is the whole file (offsets stay file offsets); no turn reaches into the front matter
    assert md.turns[0].start > md.text.index("\n---\n")
    js = read_transcript(sample_dir / "int09_informatics_lead.json", IngestSettings())
    assert js.metadata.participant_id == "AI4"


def test_metadata_csv_covers_every_sample_file(sample_dir: Path):
    table = read_metadata_csv(sample_dir / "metadata.csv")
    for name in EXPECTED:
        assert table[name].group in {"HCP", "AI expert"}
    assert {table[n].group for n in EXPECTED} == {"HCP", "AI expert"}


@pytest.mark.parametrize("label", ["Interviewer:", "P3:", "HCP 2:", "[00:01:23] Dr Lee:", "**Int:**", "I:"])
def test_speaker_label_styles(tmp_path: Path, label: str):
    other = "R:" if label == "I:" else "P9:"
    text = f"{label} How did it go?\n{other} It went well overall.\n{label} And then?\n{other} Then we stopped.\n"
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    parsed = read_transcript(path, IngestSettings())
    assert [parsed.text[t.start:t.end] for t in parsed.turns] == [
        "How did it go?", "It went well overall.", "And then?", "Then we stopped."
    ]


def test_a_colon_sentence_is_not_a_speaker(tmp_path: Path):
    path = tmp_path / "t.txt"
    path.write_text("Interviewer: Why?\nP1: Because.\nOne thing: it failed.\nInterviewer: Ok.\nP1: Yes.\n", encoding="utf-8")
    parsed = read_transcript(path, IngestSettings())
    assert [t.speaker for t in parsed.turns] == ["Interviewer", "P1", "Interviewer", "P1"]
    assert parsed.text[parsed.turns[1].start:parsed.turns[1].end] == "Because.\nOne thing: it failed."


@pytest.mark.parametrize("encoding,expected", [
    ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be"), ("cp1252", "cp1252"),
])
def test_encodings_detected(tmp_path: Path, encoding: str, expected: str):
    text = "Interviewer: Café – “quoted”?\r\nP1: Naïve answer’s fine.\r\nInterviewer: Ok.\r\nP1: Done.\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    parsed = read_transcript(path, IngestSettings())
    assert parsed.encoding == expected
    assert parsed.text.startswith("Interviewer: Café – “quoted”?\nP1: Naïve answer’s fine.")


def test_srt_and_zoom_vtt_speaker_prefixes(sample_dir: Path):
    for name in ("int06_product_manager.vtt", "int07_pharmacist.srt"):
        parsed = read_transcript(sample_dir / name, IngestSettings())
        assert parsed.text.startswith("Interviewer: ")
