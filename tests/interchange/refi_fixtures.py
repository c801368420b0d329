"""Test data for REFI-QDA import: a project as MAXQDA / NVivo would send it, and small helpers.

Kept apart from conftest.py so that tests can import these names (conftest modules of several
test folders would clash under one module name).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.project import Project

TABLES = ("transcripts", "turns", "segments", "annotations", "refi_imports", "refi_users", "refi_codes")


def make_qdpx(path: Path, qde: str | bytes, files: dict[str, bytes] | None = None) -> Path:
    """Write a .qdpx (zip) holding project.qde and the given members."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", qde.encode("utf-8") if isinstance(qde, str) else qde)
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return path


def table_counts(project: Project) -> dict[str, int]:
    return {t: project.db.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


# -- A project as MAXQDA / NVivo would send it -------------------------------------------------------
# Raw source text with CRLF line ends, an emoji (outside the BMP), a decomposed é (e + U+0301, which
# NFC composes) and an en dash; positions below count code points in this raw text.
FOREIGN_S1 = ("Interviewer: How did the alarm work out?\r\n"
              "P1: Honestly the cafe\u0301 of alarms 😀 went off constantly, and nurses stopped trusting it.\r\n"
              "Interviewer: And the staff – how did they cope?\r\n"
              "P1: We changed our rota so one nurse owned the alerts. The résumé of the tool said it's fine.\r\n")
# Embedded text (XML turns CR LF into LF, so embedded text is LF only), with a decomposed ü.
FOREIGN_S2 = "Field note. The ward manager said: u\u0308ber-alerting is the real problem 🙃 here.\n"

U1, U2 = "{A1B2C3D4-0000-4000-8000-000000000001}", "a1b2c3d4-0000-4000-8000-000000000002"
C_TECH, C_MAT, C_NEW, C_STAFF, C_DEEP = (f"c0de0000-0000-4000-8000-00000000000{i}" for i in range(1, 6))
S1, S2, S_PDF, S_PIC, S_AUD, S_VID, S_EXT = (f"50c00000-0000-4000-8000-00000000000{i}" for i in range(1, 8))
V_PART, V_GROUP, V_YEARS = (f"7a700000-0000-4000-8000-00000000000{i}" for i in range(1, 4))
CASE1 = "ca5e0000-0000-4000-8000-000000000001"


@dataclass
class Foreign:
    """The pieces of the foreign project, so tests can change one thing and rebuild it."""

    selections: list[tuple[str, str, str, str, str]]  # (selection guid, source guid, phrase, code guid, user)
    s1_bytes: bytes = FOREIGN_S1.encode("utf-8")
    codes_xml: str = ""
    extra_sources: str = ""

    def span(self, source: str, phrase: str) -> tuple[int, int]:
        raw = FOREIGN_S1 if source == S1 else FOREIGN_S2
        start = raw.index(phrase)
        return start, start + len(phrase)

    def qde(self) -> str:
        def selections_of(source: str) -> str:
            out = []
            for n, (sel, src, phrase, code, user) in enumerate(self.selections):
                if src != source:
                    continue
                start, end = self.span(src, phrase)
                out.append(
                    f'<PlainTextSelection guid="{sel}" name="sel {n}" startPosition="{start}" endPosition="{end}" '
                    f'creatingUser="{user}" creationDateTime="2024-05-0{1 + n % 9}T10:00:00Z">'
                    f"<Description>memo {n}</Description>"
                    f'<Coding guid="c0d10000-0000-4000-8000-{n:012d}" creatingUser="{user}" '
                    f'creationDateTime="2024-05-0{1 + n % 9}T10:00:00Z"><CodeRef targetGUID="{code}"/></Coding>'
                    f"</PlainTextSelection>")
            return "".join(out)

        return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Ward study" origin="MAXQDA 2022 (Release 22.8.0)">
 <Users><User guid="{U1}" name="Dana Okafor"/><User guid="{U2}" name="Eli Brandt"/></Users>
 <CodeBook><Codes>{self.codes_xml or CODES_XML}</Codes></CodeBook>
 <Variables>
  <Variable guid="{V_PART}" name="Participant" typeOfVariable="Text"/>
  <Variable guid="{V_GROUP}" name="Group" typeOfVariable="Text"/>
  <Variable guid="{V_YEARS}" name="Years in post" typeOfVariable="Integer"/>
 </Variables>
 <Cases><Case guid="{CASE1}" name="Nurse 1">
  <VariableValue><VariableRef targetGUID="{V_GROUP}"/><TextValue>HCP</TextValue></VariableValue>
  <SourceRef targetGUID="{S1}"/></Case></Cases>
 <Sources>
  <TextSource guid="{S1}" name="Interview 1.txt" plainTextPath="internal://{S1}.txt" creatingUser="{U1}">
   {selections_of(S1)}
   <Coding guid="d0c00000-0000-4000-8000-000000000001"><CodeRef targetGUID="{C_TECH}"/></Coding>
   <VariableValue><VariableRef targetGUID="{V_PART}"/><TextValue>P1</TextValue></VariableValue>
   <VariableValue><VariableRef targetGUID="{V_YEARS}"/><IntegerValue>11</IntegerValue></VariableValue>
  </TextSource>
  <TextSource guid="{S2}" name="Field note"><PlainTextContent>{FOREIGN_S2}</PlainTextContent>{selections_of(S2)}</TextSource>
  <PDFSource guid="{S_PDF}" name="Protocol" path="internal://{S_PDF}.pdf">
   <PDFSelection guid="5e1f0000-0000-4000-8000-000000000001" page="1" firstX="1" firstY="1" secondX="5" secondY="5">
    <Coding guid="5e1f0000-0000-4000-8000-000000000002"><CodeRef targetGUID="{C_TECH}"/></Coding></PDFSelection>
  </PDFSource>
  <PictureSource guid="{S_PIC}" name="Ward photo" path="internal://{S_PIC}.jpg"/>
  <AudioSource guid="{S_AUD}" name="Recording" path="internal://{S_AUD}.mp3"/>
  <VideoSource guid="{S_VID}" name="Video" path="internal://{S_VID}.mp4"/>
  <TextSource guid="{S_EXT}" name="Linked file" plainTextPath="relative:///transcripts/linked.txt"/>
  {self.extra_sources}
 </Sources>
 <Notes><Note guid="a0be0000-0000-4000-8000-000000000001" name="memo"><PlainTextContent>x</PlainTextContent></Note></Notes>
</Project>"""

    def files(self) -> dict[str, bytes]:
        return {f"Sources/{S1}.txt": self.s1_bytes, f"Sources/{S_PDF}.pdf": b"%PDF-1.4 not really"}

    def write(self, path: Path) -> Path:
        return make_qdpx(path, self.qde(), self.files())


CODES_XML = f"""
   <Code guid="{C_TECH}" name="Technology" isCodable="true" color="#AA0000">
     <Description>The tool itself.</Description>
     <Code guid="{C_MAT}" name="material properties and KEY features" isCodable="true" color="#BB0000"/>
     <Code guid="{C_NEW}" name="Alarm fatigue" isCodable="true">
       <Code guid="{C_DEEP}" name="Night shifts" isCodable="false"/>
     </Code>
   </Code>
   <Code guid="{C_STAFF}" name="adopters.staff" isCodable="true"/>"""


# -- A zip bomb: a member of `size` zero bytes in a ~1/1000 as big archive, built without compressing it all ----
def zero_bomb(path: Path, size: int = 2 * 1024**3, member: str = "project.qde") -> Path:
    """Write a zip (Zip64 sizes) whose one deflated member unpacks to `size` zero bytes.

    Deflate blocks after a full flush do not depend on what came before, so the block for 1 MiB of
    zeros is made once and repeated: a 2 GiB member takes a second to write, not a minute.
    """
    import struct
    import zlib

    chunk = bytes(1 << 20)
    assert size % len(chunk) == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.flush(zlib.Z_FINISH)
    n = size // len(chunk)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    compressed = len(first) + (n - 1) * len(repeated) + len(last)
    name = member.encode()
    local_extra = struct.pack("<HHQQ", 1, 16, size, compressed)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(name), len(local_extra)) + name + local_extra
    central_extra = struct.pack("<HHQQ", 1, 16, size, compressed)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                          len(name), len(central_extra), 0, 0, 0, 0, 0) + name + central_extra
    with path.open("wb") as out:
        out.write(local)
        out.write(first)
        for _ in range(n - 1):
            out.write(repeated)
        out.write(last)
        offset = out.tell()
        out.write(central)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0))
    return path
