"""Bytes to text: detect the encoding from evidence (BOM, validity, detector), normalize newlines.

Order: a byte-order mark decides (UTF-8, UTF-16, UTF-32); then strict UTF-8; then UTF-16 without a
BOM when NUL bytes sit in alternating positions (some Windows exports); then binary is refused;
then charset-normalizer's detection, preferring cp1252 (Windows Western European) when the bytes
are valid cp1252, because that is what Word and older Windows tools write for these languages.
A detected encoding is accepted only when the decoded text reads as language (coherence > 0, low
chaos); otherwise the file is reported as undecodable rather than ingested as mojibake.
"""

from __future__ import annotations

import codecs
import unicodedata

from charset_normalizer import from_bytes

from pipeline.errors import PrecodeError

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]


def normalize_text(text: str) -> str:
    """The one normalization applied before offsets are taken: newlines to \\n, Unicode NFC."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def _looks_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / len(sample[0::2])
    odd_nuls = sample[1::2].count(0) / len(sample[1::2])
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def decode_bytes(data: bytes, path: str) -> tuple[str, str]:
    """Return (normalized text, encoding name) or raise PrecodeError naming the file."""
    if not data.strip():
        raise PrecodeError("the file is empty", path=path, hint="check the export; nothing to ingest")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return normalize_text(data[len(bom):].decode(encoding.replace("-sig", ""))), encoding
            except UnicodeDecodeError as exc:
                raise PrecodeError(
                    f"starts with a {encoding} byte-order mark but byte {exc.start + len(bom)} is not valid {encoding}",
                    path=path, hint="re-export the transcript as UTF-8",
                ) from None
    try:
        return normalize_text(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    utf16 = _looks_utf16(data)
    if utf16:
        try:
            return normalize_text(data.decode(utf16)), utf16
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise PrecodeError("looks like a binary file, not a transcript (it contains NUL bytes)", path=path,
                           hint="give a .txt/.md/.vtt/.srt/.docx/.json transcript")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        # accept a detected legacy encoding only when the result reads as a language, not noise
        if best is None or best.chaos > 0.2 or best.coherence <= 0:
            raise PrecodeError("cannot detect the text encoding (not UTF-8, UTF-16 or cp1252)", path=path,
                               hint="re-save the transcript as UTF-8") from None
        return normalize_text(str(best)), best.encoding
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), 8192):
        raise PrecodeError("looks like a binary file, not a transcript (control bytes)", path=path,
                           hint="give a .txt/.md/.vtt/.srt/.docx/.json transcript")
    return normalize_text(text), "cp1252"
