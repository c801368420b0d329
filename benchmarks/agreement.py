"""Benchmark of eval.metrics.agreement_table on a realistic-large coding.

10,000 units x 50 codes x 3 coders (an LLM and two humans), correlated random data with
code prevalences from 1% to 50% and 5% of coder x unit rows missing; fixed seed.
Times every metric (pairs, per code, overall, Fleiss, alpha, P/R/F1 against a gold coder)
without bootstrap and with 1,000 bootstrap replicates, against the targets < 2 s and
< 30 s, and prints a markdown table (seconds, ratio to the limit, peak RSS).

Then the whole command as a user runs it (issue 15): the same coding written as a segment-level
CSV (`unit,coder,code`; a coder with no row for a unit did not see it, `--missing missing`), read,
aligned, computed and written as a report (json, md, html, plots, summary tables) — with and
without 1,000 bootstrap replicates — beside a per-code loop over the same data with
scikit-learn's `cohen_kappa_score` (every pair) and `krippendorff.alpha` (all coders), which is what
one would write without precode (no intervals, no report).

Run:  .venv/bin/python benchmarks/agreement.py [--units N --codes K --coders C --reps B] [--no-command]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.metrics import agreement_table


def write_csv(path: Path, presence: np.ndarray, observed: np.ndarray, coders: list[str], codes: list[str]) -> int:
    """The coding as a segment-level long CSV; returns the number of rows."""
    lines = ["unit,coder,code"]
    for i, coder in enumerate(coders):
        for u in np.flatnonzero(observed[i]):
            marked = np.flatnonzero(presence[i, u])
            lines += [f"u{u},{coder},{codes[k]}" for k in marked] or [f"u{u},{coder},"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def whole_command(presence: np.ndarray, observed: np.ndarray, coders: list[str], codes: list[str],
                  reps: int) -> list[tuple[str, float]]:
    import tempfile

    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    from eval.align import align_units
    from eval.harness import EvalRequest, run_evaluation
    from eval.inputs import read_unit_file

    timings: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.csv"
        rows = write_csv(path, presence, observed, coders, codes)
        t0 = time.perf_counter()
        table, _ = read_unit_file(path)
        align_units([table], missing="missing")
        timings.append((f"parse + align the CSV ({rows:,} rows)", time.perf_counter() - t0))
        for b in (0, reps):
            t0 = time.perf_counter()
            run_evaluation(EvalRequest(inputs=[path], missing="missing", gold="human1", bootstrap=b,
                                       out=Path(tmp) / f"report{b}"), lambda: None)  # type: ignore[arg-type,return-value]
            timings.append((f"whole command (parse + compute + report), {b:,} replicates", time.perf_counter() - t0))
        t0 = time.perf_counter()
        for q in range(len(codes)):
            for i in range(len(coders)):
                for j in range(i + 1, len(coders)):
                    both = observed[i] & observed[j]
                    cohen_kappa_score(presence[i, both, q], presence[j, both, q])
            data = np.where(observed, presence[:, :, q], np.nan)
            krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        timings.append(("per-code loop: sklearn kappa per pair + krippendorff alpha (no CIs, no report)",
                        time.perf_counter() - t0))
    return timings

LIMIT_PLAIN_S = 2.0
LIMIT_BOOT_S = 30.0


def make_data(n_units: int, n_codes: int, n_coders: int, seed: int = 20240611):
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.01, 0.5, n_codes)
    truth = rng.random((n_units, n_codes)) < prevalence
    # each coder misses a present code with p=0.2 and adds an absent one with p=0.03
    miss = rng.random((n_coders, n_units, n_codes)) < 0.2
    extra = rng.random((n_coders, n_units, n_codes)) < 0.03
    presence = np.where(truth, ~miss, extra).astype(np.int8)
    observed = rng.random((n_coders, n_units)) > 0.05
    return presence, observed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--codes", type=int, default=50)
    ap.add_argument("--coders", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (plain case)")
    ap.add_argument("--no-command", action="store_true", help="skip the whole-command timings")
    args = ap.parse_args()

    presence, observed = make_data(args.units, args.codes, args.coders)
    coders = ["llm"] + [f"human{i}" for i in range(1, args.coders)]
    codes = [f"C{k:02d}" for k in range(args.codes)]
    common = dict(observed=observed, code_ids=codes, coder_names=coders, gold="human1")

    rss0 = peak_rss_mb()
    plain = timed(lambda: agreement_table(presence, **common), args.repeat)
    rss_plain = peak_rss_mb()
    result = None

    def run_boot():
        nonlocal result
        result = agreement_table(presence, bootstrap=args.reps, seed=0, **common)

    boot = timed(run_boot, 1)
    rss_boot = peak_rss_mb()

    shape = f"{args.units:,} units x {args.codes} codes x {args.coders} coders"
    cmd = "`.venv/bin/python benchmarks/agreement.py`"
    print(f"Benchmark: {shape}; command {cmd}\n")
    print("| case | seconds | limit (s) | ratio to limit | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| all metrics, no bootstrap (best of {args.repeat}) | {plain:.3f} | {LIMIT_PLAIN_S:.0f} "
        f"| {plain / LIMIT_PLAIN_S:.3f} | {rss_plain:.0f} |"
    )
    print(
        f"| all metrics + {args.reps:,} bootstrap replicates | {boot:.3f} | {LIMIT_BOOT_S:.0f} "
        f"| {boot / LIMIT_BOOT_S:.3f} | {rss_boot:.0f} |"
    )
    print(f"\n(peak RSS before the runs: {rss0:.0f} MB, includes the interpreter and data)")

    assert result is not None
    ov = result.pairs["llm|human1"].overall
    print(
        f"\nsanity: llm|human1 kappa_macro={ov.kappa_macro:.3f} CI={ov.ci['kappa_macro']}, "
        f"f1_micro={ov.f1_micro:.3f}; Fleiss micro={result.multi.overall.fleiss_kappa_micro:.3f}"
    )
    ok = plain < LIMIT_PLAIN_S and boot < LIMIT_BOOT_S
    print("targets met" if ok else "TARGETS MISSED")
    if not args.no_command:
        print(f"\nThe whole command, {shape}:\n")
        print("| case | seconds |")
        print("| --- | ---: |")
        for name, seconds in whole_command(presence, observed, coders, codes, args.reps):
            print(f"| {name} | {seconds:.2f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
