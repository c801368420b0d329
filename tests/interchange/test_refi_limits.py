"""Streaming limits on what an archive may unpack to (issue 14 #6): a clear refusal, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from refi_fixtures import make_qdpx, table_counts, zero_bomb

from pipeline.errors import PrecodeError
from pipeline.interchange.qdpx_import import import_qdpx
from pipeline.interchange.qdpx_read import ReadLimits, read_qdpx

MiB = 1024 * 1024


def _precode(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def two_gib_bomb(tmp_path_factory):
    return zero_bomb(tmp_path_factory.mktemp("bomb") / "bomb.qdpx")


def test_a_2_gib_member_in_a_2_mb_zip_is_refused_quickly_without_unpacking(two_gib_bomb, fresh):
    assert two_gib_bomb.stat().st_size < 3 * MiB
    before, started = table_counts(fresh), time.monotonic()
    with pytest.raises(PrecodeError) as info:
        import_qdpx(fresh, two_gib_bomb)
    assert time.monotonic() - started < 5  # from the zip directory: nothing is decompressed
    assert "refusing to read 'project.qde': it unpacks to 2,048.0 MiB, more than the limit of 512.0 MiB" in str(info.value)
    assert "--max-member-mb" in str(info.value) and str(two_gib_bomb) in str(info.value)
    assert table_counts(fresh) == before


def test_the_command_line_refuses_in_one_line_and_the_limits_are_configurable(two_gib_bomb, fresh, tmp_path):
    done = _precode("import", str(two_gib_bomb), "-p", str(fresh.root))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "OverflowError" not in done.stderr
    assert "refusing to read 'project.qde'" in done.stderr
    # raising the member limit: the compression ratio still gives it away
    done = _precode("import", str(two_gib_bomb), "-p", str(fresh.root), "--max-member-mb", "4096",
                    "--max-total-mb", "4096")
    assert done.returncode == 2 and re.search(r"compressed [\d,]+ to 1", done.stderr) and "(a zip bomb?)" in done.stderr
    done = _precode("import", str(two_gib_bomb), "-p", str(fresh.root), "--max-ratio", "0")
    assert done.returncode == 2 and "must be positive" in done.stderr


def test_a_small_bomb_is_refused_by_its_ratio(tmp_path):
    bomb = zero_bomb(tmp_path / "small.qdpx", 8 * MiB)
    with pytest.raises(PrecodeError, match=r"'project.qde': it is compressed [\d,]+ to 1 .* more than the limit of 200 to 1"):
        read_qdpx(bomb)
    # with a looser ratio it is read, and fails as what it is: not XML
    with pytest.raises(PrecodeError, match="does not parse"):
        read_qdpx(bomb, ReadLimits(max_ratio=5000))


def _text_project(n_sources: int, size: int) -> tuple[str, dict[str, bytes]]:
    sources = "".join(f'<TextSource guid="00000000-0000-4000-8000-0000000000{i:02d}" name="s{i}" '
                      f'plainTextPath="internal://s{i}.txt"/>' for i in range(n_sources))
    qde = (f'<Project xmlns="urn:QDA-XML:project:1.0" name="p"><Sources>{sources}</Sources></Project>')
    # random-ish text compresses like text, so the ratio limit stays out of the way
    import random
    rng = random.Random(1)
    words = ["alarm", "nurse", "ward", "night", "pump", "screen", "trust", "rota", "shift", "café"]
    text = " ".join(rng.choice(words) for _ in range(size // 5)).encode()[:size]
    return qde, {f"Sources/s{i}.txt": text for i in range(n_sources)}


def test_member_and_total_limits_name_the_member(tmp_path):
    qde, files = _text_project(3, 2 * MiB)
    path = make_qdpx(tmp_path / "big.qdpx", qde, files)
    with pytest.raises(PrecodeError, match=r"'Sources/s0.txt': it unpacks to 2.0 MiB, more than the limit of 1.0 MiB"):
        read_qdpx(path, ReadLimits(max_member_bytes=MiB))
    with pytest.raises(PrecodeError, match=r"the archive: it unpacks to 6.0 MiB, more than the limit of 5.0 MiB"):
        read_qdpx(path, ReadLimits(max_total_bytes=5 * MiB))
    assert len(read_qdpx(path).sources) == 3  # within the default limits
