"""LLM coder throughput against the stub server with a fixed added latency.

Starts the stub OpenAI-compatible server (tests/llm/stub_server.py) as a separate process on
127.0.0.1 with latency L added to every reply, makes a project of synthetic transcripts, and codes
it with `--concurrency C` (one segment per request by default). Reports:
  - requests per second achieved, as a ratio of the ideal C / L (target >= 0.9), over the whole run
    (planning and start-up included) and over the request window (first request sent to last
    answer stored, from the timings recorded in llm_calls);
  - the pipeline's own CPU time per segment (this process only: rendering, HTTP client, parsing,
    grounding, SQLite writes; the server's CPU is in the other process);
  - the same for a re-run of the finished command, answered entirely from the response cache;
  - for reference, the bare openai SDK sending the same requests at the same concurrency with
    nothing else to do (the ceiling this machine and server allow).

    python benchmarks/llm_throughput.py                            # L = 0.2 s, C = 16, 960 segments
    python benchmarks/llm_throughput.py --latency 0.2 --concurrency 16 --segments 960 --batch-size 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# The folder holds a benchmark named like the `pipeline` package; keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pipeline.embed import go_offline  # noqa: E402

go_offline()

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coders.llm import LLMOptions  # noqa: E402
from pipeline.coding import run_coder, select_segments  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.llm.report import run_report  # noqa: E402
from pipeline.project import init_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
STUB = REPO / "tests" / "llm" / "stub_server.py"
CODE = "technology.material_properties.usability"
TARGET_RATIO = 0.9
SENTENCES = [
    "The alert fired constantly on our unit, and by week three people were clicking through.",
    "Nobody could tell us why the score had changed, which made it hard to trust.",
    "Observations were entered in a batch at the end of the round, so the time stamps were wrong.",
    "The vendor took four months to change a threshold because nobody owned the decision.",
    "Once the threshold was adjusted it became tolerable, maybe two or three alerts a shift.",
]


def write_transcripts(folder: Path, segments: int, per_file: int = 40) -> None:
    folder.mkdir(parents=True)
    for f in range(0, segments, per_file):
        turns = []
        for i in range(f, min(f + per_file, segments)):
            answer = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(3))
            turns.append(f"Interviewer: Question {i}: what happened next?\n\nP1: In case {i}, {answer}\n")
        (folder / f"synthetic_{f // per_file:03d}.txt").write_text("\n".join(turns), encoding="utf-8")


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(STUB), "--latency", str(latency), "--code", CODE],
                               stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"the stub server did not start: {url!r}")
    return process, url


def timed_run(project, options: LLMOptions) -> dict:
    coder = make_coder("llm", project, llm=options)
    wall, cpu = time.perf_counter(), time.process_time()
    run = run_coder(project, coder, load_codebook("nasss"))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = run_report(project.db, run.id)
    # the request window: first request sent to last answer stored (without planning and start-up)
    rows = project.db.conn.execute(
        "SELECT created_at, seconds FROM llm_calls WHERE run_id = ? AND outcome != 'cache_hit'", (run.id,)).fetchall()
    window = None
    if rows:
        ends = [datetime.fromisoformat(r["created_at"]).timestamp() for r in rows]
        window = max(ends) - min(end - r["seconds"] for end, r in zip(ends, rows))
    return {"run": run.id, "status": run.status.value, "seconds": wall, "cpu_seconds": cpu, "calls": report.calls,
            "cache_hits": report.cache_hits, "failed": report.segments_failed, "segments": report.segments,
            "window": window}


def bare_client(url: str, prompts: list[list[dict]], concurrency: int) -> float:
    """Seconds for the openai SDK alone to send the same requests at the same concurrency: the ceiling."""
    import openai

    async def run() -> float:
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
        limit = asyncio.Semaphore(concurrency)

        async def one(messages):
            async with limit:
                await client.post("/chat/completions", cast_to=object, body={
                    "model": "bench-model", "messages": messages, "temperature": 0.0, "seed": 0, "max_tokens": 4096,
                    "response_format": {"type": "json_object"}})
        started = time.perf_counter()
        await asyncio.gather(*(one(m) for m in prompts))
        elapsed = time.perf_counter() - started
        await client.close()
        return elapsed
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every reply (L)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (C)")
    parser.add_argument("--segments", type=int, default=960)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="precode-llm-bench-"))
    stub, url = start_stub(args.latency)
    try:
        write_transcripts(workdir / "transcripts", args.segments)
        project, _ = init_project(workdir / "project")
        ingest_paths(project, [workdir / "transcripts"])
        options = LLMOptions(model="bench-model", base_url=url, concurrency=args.concurrency,
                             batch_size=args.batch_size)
        project.settings.llm.provider = "openai-compatible"
        project.settings.llm.retries = 0
        nasss = load_codebook("nasss")
        coder, segments = make_coder("llm", project, llm=options, dry_run=True), select_segments(project)
        try:  # the coder contract with a coding context (issue 9), or the older signature
            from pipeline.coding import coding_context
        except ImportError:
            prompts = coder.prompts(nasss, nasss.at_level("leaf"), "leaf", segments)
        else:
            prompts = coder.prompts(segments, coding_context(project, "", nasss, nasss.at_level("leaf"), "leaf",
                                                             segments))
        bare = bare_client(url, prompts, args.concurrency)
        live = timed_run(project, options)
        cached = timed_run(project, options)
    finally:
        stub.kill()
        stub.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    ideal = args.concurrency / args.latency
    achieved = live["calls"] / live["seconds"]
    steady = live["calls"] / live["window"]
    ceiling = len(prompts) / bare
    figures = {
        "latency_s": args.latency, "concurrency": args.concurrency, "batch_size": args.batch_size,
        "segments": live["segments"], "requests": live["calls"], "failed_segments": live["failed"],
        "seconds": round(live["seconds"], 3), "requests_per_s": round(achieved, 2), "ideal_requests_per_s": ideal,
        "ratio_to_ideal": round(achieved / ideal, 3), "request_window_seconds": round(live["window"], 3),
        "steady_requests_per_s": round(steady, 2), "steady_ratio_to_ideal": round(steady / ideal, 3),
        "bare_sdk_requests_per_s": round(ceiling, 2), "bare_sdk_ratio_to_ideal": round(ceiling / ideal, 3),
        "cpu_ms_per_segment": round(1000 * live["cpu_seconds"] / live["segments"], 3),
        "cached_rerun_seconds": round(cached["seconds"], 3), "cached_rerun_cache_hits": cached["cache_hits"],
        "cached_rerun_cpu_ms_per_segment": round(1000 * cached["cpu_seconds"] / cached["segments"], 3),
    }
    print(f"{live['segments']} segments, {live['calls']} requests, L = {args.latency} s, C = {args.concurrency}, "
          f"batch size {args.batch_size}")
    print(f"  live:   {live['seconds']:.2f} s, {achieved:.1f} requests/s of an ideal {ideal:.1f} "
          f"-> ratio {achieved / ideal:.3f} (target >= {TARGET_RATIO}: {'met' if achieved / ideal >= TARGET_RATIO else 'NOT met'})")
    print(f"          request window {live['window']:.2f} s (first request to last answer): {steady:.1f} requests/s "
          f"-> ratio {steady / ideal:.3f}")
    print(f"          pipeline CPU {figures['cpu_ms_per_segment']:.2f} ms per segment")
    print(f"  bare openai SDK, same requests and concurrency: {ceiling:.1f} requests/s -> ratio {ceiling / ideal:.3f} "
          f"(the pipeline reaches {achieved / ceiling:.2f} of it)")
    print(f"  cached: {cached['seconds']:.2f} s for {cached['cache_hits']} cache hits, "
          f"CPU {figures['cached_rerun_cpu_ms_per_segment']:.2f} ms per segment")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
