"""Benchmark of the evaluation harness's alignment on a large synthetic study (no project, no I/O).

100 transcripts x 20,000 characters (2 M characters), 60 participant segments each (6,000
segments), 3 coders x 10,000 spans over 30 codes; fixed seed. Times span -> segment mapping,
character-level alignment (runs of identically coded characters, interval arithmetic), and all
agreement metrics on the character-level units without and with 1,000 bootstrap replicates.
Targets (ours; the metrics targets of the issue): alignment < 2 s each, metrics < 2 s / < 30 s.

Run:  .venv/bin/python benchmarks/eval_alignment.py [--transcripts N --chars C --spans S]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.align import align_chars, align_segments
from eval.inputs import SpanCoding, SpanInput
from eval.metrics import agreement_table
from pipeline.models import Segment, SegmentRole, Transcript, Turn

LIMIT_ALIGN_S = 2.0
LIMIT_PLAIN_S = 2.0
LIMIT_BOOT_S = 30.0


def make_study(n_transcripts: int, n_chars: int, n_spans: int, n_codes: int = 30, seed: int = 20240611):
    rng = np.random.default_rng(seed)
    transcripts, segments = {}, []
    for t in range(n_transcripts):
        tid = f"t{t:03d}"
        transcripts[tid] = Transcript(id=tid, name=f"interview{t:03d}", source_path="-", source_sha256="-",
                                      format="txt", encoding="utf-8", text="x" * n_chars,
                                      turns=[Turn(speaker="P", start=0, end=n_chars)])
        cuts = np.linspace(0, n_chars, 61).astype(int)
        segments += [Segment(id=f"{tid}-{i}", transcript_id=tid, index=i, start=int(a), end=int(b), speaker="P",
                             role=SegmentRole.participant, text="")
                     for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]
    ids = list(transcripts)
    codings = []
    for coder in ("llm", "human1", "human2"):
        tids = rng.choice(ids, n_spans)
        starts = rng.integers(0, n_chars - 400, n_spans)
        ends = starts + rng.integers(20, 400, n_spans)
        codes = rng.integers(0, n_codes, n_spans)
        codings += [SpanCoding(coder=coder, code=f"C{k:02d}", transcript_id=str(t), start=int(s), end=int(e),
                               source="bench") for t, s, e, k in zip(tids, starts, ends, codes, strict=True)]
    coverage = {c: set(ids) for c in ("llm", "human1", "human2")}
    return SpanInput(codings=codings, coverage=coverage), transcripts, segments


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=int, default=100)
    ap.add_argument("--chars", type=int, default=20_000)
    ap.add_argument("--spans", type=int, default=10_000, help="spans per coder")
    ap.add_argument("--reps", type=int, default=1_000)
    args = ap.parse_args()

    spans, transcripts, segments = make_study(args.transcripts, args.chars, args.spans)
    t_seg, seg = timed(lambda: align_segments(spans, segments, transcripts))
    t_char, char = timed(lambda: align_chars(spans, transcripts))
    kw = dict(code_ids=char.codes, coder_names=char.coders, gold="human1", unit_weights=char.units.weights)
    t_plain, _ = timed(lambda: agreement_table(char.presence, char.observed, **kw))
    t_boot, result = timed(lambda: agreement_table(char.presence, char.observed, bootstrap=args.reps, seed=0, **kw))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"Benchmark: {args.transcripts} transcripts x {args.chars:,} characters, {len(segments):,} segments, "
          f"3 coders x {args.spans:,} spans, {len(char.codes)} codes; "
          "command `.venv/bin/python benchmarks/eval_alignment.py`\n")
    print("| case | seconds | limit (s) | ratio to limit |")
    print("| --- | ---: | ---: | ---: |")
    rows = [
        (f"spans -> {len(segments):,} segments (overlap rule)", t_seg, LIMIT_ALIGN_S),
        (f"character level: {char.units.size():,} characters as {len(char.units):,} runs", t_char, LIMIT_ALIGN_S),
        ("all metrics on the character runs, no bootstrap", t_plain, LIMIT_PLAIN_S),
        (f"all metrics on the character runs + {args.reps:,} bootstrap replicates", t_boot, LIMIT_BOOT_S),
    ]
    for name, seconds, limit in rows:
        print(f"| {name} | {seconds:.3f} | {limit:.0f} | {seconds / limit:.3f} |")
    print(f"\npeak RSS {rss:.0f} MB; sanity: segment presence {int(seg.presence.sum()):,} cells, "
          f"llm|human1 char kappa_micro {result.pairs['llm|human1'].overall.kappa_micro:.3f}")
    ok = all(seconds < limit for _, seconds, limit in rows)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
