"""Export speed and memory at scale (issue 16): peak RSS and rows/s of the CSV and XLSX exports.

For each size N a synthetic project is built (fixed seed): N/ROWS_PER_TRANSCRIPT transcripts of
200 turns each, and one completed run with ROWS_PER_TRANSCRIPT whole-turn suggestions per
transcript (five codes on each participant turn). Then, each in its own process so that its peak
RSS is its own:
  - csv:  `precode export --format csv` (the run's suggestions, `write_export`);
  - xlsx: `precode export --format xlsx --all` (every grounded suggestion as a coding, `write_xlsx_sheets`);
reporting rows, seconds, rows/s, the RSS before the export and the process's peak RSS.
Flat peak RSS across N is the point: rows stream from the store and to the file.

    python benchmarks/export.py                          # 10,000 and 100,000 rows
    python benchmarks/export.py --sizes 2000 20000       # a quick look
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
from collections.abc import Iterator
from pathlib import Path

# benchmarks/pipeline.py is named like the `pipeline` package; keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROWS_PER_TRANSCRIPT = 500
WORDS = ("the alert fired again at night and nobody could say why the model flagged her so we checked the chart by "
         "hand staff trust data drift governance workload training vendor").split()


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(root: Path, rows: int) -> None:
    from pipeline.codebook import load_codebook
    from pipeline.ingest import ingest_paths
    from pipeline.models import Grounding, Run, RunStatus, Suggestion
    from pipeline.project import init_project

    rng = random.Random(16)
    project, _ = init_project(root / "project")
    sources = root / "sources"
    sources.mkdir()
    for t in range(max(rows // ROWS_PER_TRANSCRIPT, 1)):
        lines = []
        for turn in range(200):
            speaker = "Interviewer" if turn % 2 == 0 else "P1"
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 60)))
            lines.append(f"{speaker}: {words}{'?' if speaker == 'Interviewer' else '.'}")
        (sources / f"int{t:05d}.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    ingest_paths(project, [sources])
    db, codebook = project.db, load_codebook("nasss")
    run = Run(id="bench-run", coder="similarity", codebook_id=codebook.id, codebook_hash=db.save_codebook(codebook),
              level="leaf")
    db.start_run(run)
    codes = [c.id for c in codebook.codes]
    participant = [s for s in db.segments() if s.speaker != "Interviewer"]
    per_code = max(-(-rows // len(participant)), 1)

    def suggestions() -> Iterator[Suggestion]:
        n = 0
        for seg in participant:
            for k in range(per_code):
                if n == rows:
                    return
                yield Suggestion(id=f"s{n:08d}", run_id=run.id, segment_id=seg.id, transcript_id=seg.transcript_id,
                                 code_id=codes[(seg.index + k) % len(codes)], quote=seg.text, quote_start=seg.start,
                                 quote_end=seg.end, grounding=Grounding.exact, score=round(rng.random(), 3),
                                 rationale="synthetic")
                n += 1

    with db.transaction() as conn:
        n = db.insert_suggestions(conn, suggestions())
        db.finish_run(run.id, RunStatus.completed, {"suggestions": n})
    project.close()


def export(root: Path, fmt: str) -> dict[str, float]:
    from pipeline.project import open_project

    project = open_project(root / "project")
    before = _rss_mb()
    start = time.perf_counter()
    sheets = 1
    if fmt == "csv":
        from pipeline.interchange.tabular import write_export

        rows = write_export(project, "csv", root / "export.csv")
    else:
        try:
            from pipeline.interchange.xlsx import write_xlsx_sheets
        except ImportError:  # a checkout from before issue 16 (for a before/after comparison)
            from pipeline.interchange.xlsx import write_xlsx

            rows = write_xlsx(project, root / "export.xlsx", include_all=True)
        else:
            rows, sheets = write_xlsx_sheets(project, root / "export.xlsx", include_all=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = (root / f"export.{fmt}").stat().st_size / 1e6
    project.close()
    return {"rows": rows, "seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak, "file_mb": size,
            "sheets": sheets}


def _child(*args: str) -> str:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark step {args} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--step", choices=["build", "csv", "xlsx"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "build":
        build(args.root, args.rows)
        return
    if args.step:
        print(json.dumps(export(args.root, args.step)))
        return
    print("| rows | format | transcripts | seconds | rows/s | RSS before export | peak RSS | file | sheets |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in args.sizes:
        with tempfile.TemporaryDirectory(prefix="precode-export-") as tmp:
            t0 = time.perf_counter()
            _child("--step", "build", "--root", tmp, "--rows", str(rows))
            built = time.perf_counter() - t0
            for fmt in ("csv", "xlsx"):
                r = json.loads(_child("--step", fmt, "--root", tmp))
                print(f"| {r['rows']:,} | {fmt} | {max(rows // ROWS_PER_TRANSCRIPT, 1)} | {r['seconds']:.1f} | "
                      f"{r['rows'] / r['seconds']:,.0f} | {r['rss_before_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | "
                      f"{r['file_mb']:.1f} MB | {r['sheets']:.0f} |", flush=True)
            print(f"(built in {built:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
