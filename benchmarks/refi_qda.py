"""REFI-QDA interchange speed: import a large .qdpx, export a large run as .qdpx and .xlsx.

Builds a synthetic REFI-QDA project (fixed seed): N text sources of ~C characters each, written
as MAXQDA does on Windows (CRLF line ends) with decomposed accents and emoji, so every source
takes the offset-mapping path; K codings per source by three users. Then on this machine:
  - import: read + check + store (transcripts, segments, annotations) into a fresh project;
  - export: a run of K suggestions per transcript, with a third of them reviewed, written as
    .qdpx with --all (every suggestion a selection) and as .xlsx;
  - peak RSS of the process.

With --big-source-mb N (issue 14): one source of N MB (same text, CRLF, NFD accents, emoji) with
--codings codings, imported into a fresh project in one child process and exported straight back
(whole project, no run) in another, each reporting its own peak RSS, so memory stays bounded on
a source as large as a book.

    python benchmarks/refi_qda.py                               # 100 sources x 40,000 characters, 100 codings each
    python benchmarks/refi_qda.py --sources 10 --codings 20     # a quick look
    python benchmarks/refi_qda.py --big-source-mb 100 --codings 1000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

# benchmarks/pipeline.py is named like the `pipeline` package; keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.coders.similarity import suggestion_id  # noqa: E402
from pipeline.decisions import Action, Decision, record_decision  # noqa: E402
from pipeline.interchange.qdpx_import import import_qdpx  # noqa: E402
from pipeline.interchange.qdpx_write import write_qdpx  # noqa: E402
from pipeline.interchange.xlsx import write_xlsx  # noqa: E402
from pipeline.models import Grounding, Run, RunStatus, Suggestion  # noqa: E402
from pipeline.project import init_project  # noqa: E402

WORDS = ("the alert fired again at night and nobody could say why the model flagged her so we "
         "checked the chart by hand cafe\u0301 re\u0301sume\u0301 staff 😀 trust data drift governance").split()


def _source_text(rng: random.Random, chars: int) -> str:
    lines, size = [], 0
    while size < chars:
        speaker = "Interviewer" if len(lines) % 2 == 0 else "P1"
        line = f"{speaker}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60))) + "."
        lines.append(line)
        size += len(line) + 4
    return "\r\n\r\n".join(lines) + "\r\n"


def build_qdpx(path: Path, sources: int, chars: int, codings: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    codes = [c for c in load_codebook("nasss").codes]
    users = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3)]
    code_guids = {c.id: str(uuid.UUID(int=rng.getrandbits(128))) for c in codes}
    parts = ['<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="bench" '
             'origin="benchmark"><Users>']
    parts += [f'<User guid="{u}" name="coder {i}"/>' for i, u in enumerate(users)]
    parts.append("</Users><CodeBook><Codes>")

    def tree(parent: str | None) -> None:
        for c in (c for c in codes if c.parent == parent):
            parts.append(f'<Code guid="{code_guids[c.id]}" name="{c.label}" isCodable="true">')
            tree(c.id)
            parts.append("</Code>")

    tree(None)
    parts.append("</Codes></CodeBook><Sources>")
    files, total = {}, 0
    for n in range(sources):
        text = _source_text(rng, chars)
        guid = str(uuid.UUID(int=rng.getrandbits(128)))
        files[f"Sources/{guid}.txt"] = text.encode("utf-8")
        parts.append(f'<TextSource guid="{guid}" name="interview {n:03d}.txt" plainTextPath="internal://{guid}.txt">')
        for _ in range(codings):
            start = rng.randrange(0, len(text) - 200)
            end = start + rng.randint(20, 200)
            user = rng.choice(users)
            parts.append(f'<PlainTextSelection guid="{uuid.UUID(int=rng.getrandbits(128))}" startPosition="{start}" '
                         f'endPosition="{end}" creatingUser="{user}"><Coding guid="{uuid.UUID(int=rng.getrandbits(128))}"'
                         f' creatingUser="{user}"><CodeRef targetGUID="{code_guids[rng.choice(codes).id]}"/></Coding>'
                         "</PlainTextSelection>")
            total += 1
        parts.append("</TextSource>")
    parts.append("</Sources></Project>")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", "".join(parts))
        for name, data in files.items():
            archive.writestr(name, data)
    return total


def add_run(project, per_transcript: int, seed: int = 11) -> int:
    """A completed run with `per_transcript` suggestions on each transcript; a third reviewed."""
    rng = random.Random(seed)
    db = project.db
    codebook = load_codebook("nasss")
    db.save_codebook(codebook)
    run = Run(id="bench-run", coder="similarity", model="minilm-l6-v2", codebook_id=codebook.id,
              codebook_hash=codebook.content_hash, level="leaf")
    db.start_run(run)
    leaves = [c.id for c in codebook.codes if not codebook.children(c.id)]
    suggestions = []
    for transcript in db.current_transcripts():
        segments = db.segments([transcript.id])
        for _ in range(per_transcript):
            seg = rng.choice(segments)
            code = rng.choice(leaves)
            suggestions.append(Suggestion(
                id=suggestion_id(run.id, seg.id, code), run_id=run.id, segment_id=seg.id, transcript_id=transcript.id,
                code_id=code, quote=seg.text, quote_start=seg.start, quote_end=seg.end, grounding=Grounding.exact,
                score=round(rng.random(), 4)))
    with db.transaction() as conn:
        stored = db.insert_suggestions(conn, suggestions)  # a repeated (segment, code) pair is stored once
        for s in suggestions[::3]:
            record_decision(conn, Decision(suggestion_id=s.id, reviewer="reviewer", action=Action.accept))
    db.finish_run(run.id, RunStatus.completed, {"suggestions": stored})
    return stored


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: on Linux a child started by fork+exec reports
    the parent's peak there, so each phase would show at least what building the .qdpx took."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase(phase: str, qdpx: Path, root: Path) -> None:
    """One half of --big-source-mb, in its own process: prints seconds, this process's peak RSS and
    its RSS before the work (the modules loaded: the baseline the work adds to)."""
    from pipeline.project import find_project

    baseline = _peak_rss_mb()
    t0 = time.perf_counter()
    if phase == "import":
        project, _ = init_project(root)
        report = import_qdpx(project, qdpx)
        done = {"codings": report.annotations_new}
    else:
        project = find_project(root)
        summary = write_qdpx(project, qdpx)
        done = {"codings": summary.codings}
    done.update(seconds=round(time.perf_counter() - t0, 2), peak_rss_mb=round(_peak_rss_mb()),
                baseline_rss_mb=round(baseline))
    print(json.dumps(done))


def big_source(mb: float, codings: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        qdpx = tmp_path / "big.qdpx"
        t0 = time.perf_counter()
        n = build_qdpx(qdpx, 1, int(mb * 1_000_000), codings)
        built = time.perf_counter() - t0
        source_mb = sum(i.file_size for i in zipfile.ZipFile(qdpx).infolist() if i.filename.startswith("Sources/")) / 1e6
        results = {}
        for phase, path in (("import", qdpx), ("export", tmp_path / "back.qdpx")):
            done = subprocess.run([sys.executable, __file__, "--phase", phase, "--qdpx", str(path),
                                   "--project", str(tmp_path / "project")], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            results[phase] = json.loads(done.stdout.strip().splitlines()[-1])
        assert results["import"]["codings"] == n == results["export"]["codings"]
        out_mb = (tmp_path / "back.qdpx").stat().st_size / 1e6
    print(f"one source of {source_mb:.1f} MB (UTF-8; CRLF, NFD accents, emoji), {n:,} codings "
          f"(built in {built:.1f} s); export .qdpx {out_mb:.1f} MB")
    for phase in ("import", "export"):
        r = results[phase]
        above = r["peak_rss_mb"] - r["baseline_rss_mb"]
        print(f"{phase}: {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mb']:6,} MB   (baseline {r['baseline_rss_mb']} MB "
              f"+ {above:,} MB = {above / source_mb:.1f} x the source; {r['codings']:,} codings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--chars", type=int, default=40_000)
    parser.add_argument("--codings", type=int, default=100)
    parser.add_argument("--big-source-mb", type=float, default=None)
    parser.add_argument("--phase", choices=["import", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--qdpx", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return _phase(args.phase, args.qdpx, args.project)
    if args.big_source_mb:
        return big_source(args.big_source_mb, args.codings)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        qdpx = tmp / "bench.qdpx"
        n = build_qdpx(qdpx, args.sources, args.chars, args.codings)
        project, _ = init_project(tmp / "project")
        t0 = time.perf_counter()
        report = import_qdpx(project, qdpx)
        t_import = time.perf_counter() - t0
        assert report.annotations_new == n
        suggestions = add_run(project, args.codings)
        t0 = time.perf_counter()
        summary = write_qdpx(project, tmp / "out.qdpx", include_all=True)
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = write_xlsx(project, tmp / "out.xlsx", include_all=True)
        t_xlsx = time.perf_counter() - t0
        size_mb = qdpx.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"corpus: {args.sources} sources x ~{args.chars:,} characters (CRLF, NFD accents, emoji), "
          f"{n:,} codings by 3 users; .qdpx {size_mb:.1f} MB")
    print(f"import .qdpx:        {t_import:7.2f} s  ({n / t_import:,.0f} codings/s, {args.sources / t_import:.1f} sources/s)")
    print(f"export .qdpx --all:  {t_export:7.2f} s  ({summary.codings:,} codings: the {summary.imported_codings:,} "
          f"imported and {summary.codings - summary.imported_codings:,} of {suggestions:,} suggestions)")
    print(f"export .xlsx --all:  {t_xlsx:7.2f} s  ({rows:,} rows)")
    print(f"peak RSS:            {peak_mb:7.0f} MB")


if __name__ == "__main__":
    main()
