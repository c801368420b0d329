"""Offline pipeline throughput and its growth curve: segments/s, the embed stage against a bare
ONNX Runtime session, peak RSS, CPU time, disk, and an unchanged re-run.

Generates a corpus of synthetic transcripts (sentences re-mixed from data/sample, fixed seed), or
one long transcript of a given size. For each, in its own process (so that peak RSS is that
size's), on a fresh project:
  - ingest (read + segment + store);
  - the embed stage as the run loop runs it before the similarity coder codes: segments read from
    the store 512 at a time, their quote units encoded up to 16,384 at a time in length order and
    stored in the project's vector cache as they come (`project.embeddings.encode`);
  - code (similarity scoring from the stored vectors) and end to end segments/s (ingest + embed +
    code); peak RSS is read here, CPU seconds (user + system) and the project's size on disk;
  - an unchanged re-run through `precode code` (it reports the finished run, stores nothing);
  - a bare onnxruntime session on the same texts: the same exported model file and tokenizer, the
    same batch size and length ordering, mean pooling, nothing else (the runtime's limit); the
    stage's throughput as a ratio of it (goal >= 0.9), and the segments/s it alone would allow.
It never imports torch (the ONNX export must exist: any earlier `precode` run made it). Prints a
markdown table, the peak-RSS growth between the two largest sizes (goal: within 10%) and of the
long transcript, the command, and the date and load average before and after.

    python benchmarks/pipeline.py --sizes 10,100,400 --long-transcript-mb 5   # docs/benchmarks.md's curve
    python benchmarks/pipeline.py --sizes 5 --words 3000                      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This file is named like the `pipeline` package; keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pipeline.embed import go_offline  # noqa: E402

go_offline()

from pipeline.codebook import LEAF_LEVEL, load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coding import CHUNK_IDS, run_coder, segment_chunks, select_segment_keys  # noqa: E402
from pipeline.embed import LocalEmbedder  # noqa: E402
from pipeline.indexing import quote_units  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.ingest.readers import read_transcript  # noqa: E402
from pipeline.project import init_project  # noqa: E402
from pipeline.segment import is_interviewer  # noqa: E402
from pipeline.settings import IngestSettings  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SENTENCE = re.compile(r"[^.!?]+[.!?]")


def sentence_pools() -> tuple[list[str], list[str]]:
    settings = IngestSettings()
    questions: list[str] = []
    sentences: list[str] = []
    for path in sorted(SAMPLE.iterdir()):
        if path.suffix not in (".txt", ".md", ".vtt", ".srt", ".docx", ".json"):
            continue
        parsed = read_transcript(path, settings)
        for turn in parsed.turns:
            body = " ".join(parsed.text[turn.start:turn.end].split())
            if is_interviewer(turn.speaker, settings.interviewer_labels):
                questions.append(body)
            else:
                sentences.extend(s.strip() for s in SENTENCE.findall(body) if len(s.split()) >= 4)
    return questions, sentences


def make_corpus(folder: Path, transcripts: int, words: int, seed: int = 7, megabytes: float = 0.0) -> int:
    """Synthetic transcripts of `words` words each; or, with `megabytes`, one transcript of that size."""
    questions, sentences = sentence_pools()
    rng = random.Random(seed)
    total_words = 0
    for n in range(transcripts):
        lines, count, size = [], 0, 0
        while (size < megabytes * 1e6) if megabytes else (count < words):
            answer = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 12)))
            question = rng.choice(questions)
            lines += [f"Interviewer: {question}", "", f"P{n + 1}: {answer}", ""]
            count += len(question.split()) + len(answer.split())
            size += len(question.encode()) + len(answer.encode()) + len(f"Interviewer: \n\nP{n + 1}: \n\n")
        (folder / f"synthetic_{n:03d}.txt").write_text("\n".join(lines), encoding="utf-8")
        total_words += count
    return total_words


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_onnx_seconds(embedder: LocalEmbedder, texts: list[str]) -> tuple[float, float]:
    """The same texts through a fresh onnxruntime session: tokenize, the stage's batches over all texts at once
    (longest first, the same rows and token cap), run, mean-pool."""
    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = embedder.threads or os.cpu_count() or 1
    session = onnxruntime.InferenceSession(str(embedder._onnx_file()), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(embedder.model_path / "tokenizer.json"))
    tokenizer.enable_truncation(embedder.max_tokens)
    tokenizer.no_padding()  # as the stage: each batch is padded to its longest text only
    session.run(None, {"input_ids": np.ones((1, 4), np.int64), "attention_mask": np.ones((1, 4), np.int64),
                       "token_type_ids": np.zeros((1, 4), np.int64)})  # warm up, as the stage is
    t, c = time.perf_counter(), time.process_time()
    encodings = tokenizer.encode_batch(texts)
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")  # longest first, as the stage
    start = 0
    while start < len(texts):  # the stage's batches: up to batch_size rows and batch_tokens padded tokens
        width = len(encodings[order[start]].ids)
        rows = order[start:start + max(1, min(embedder.batch_size, embedder.batch_tokens // width))]
        start += len(rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for r, i in enumerate(rows):
            ids[r, :len(encodings[i].ids)] = encodings[i].ids
            mask[r, :len(encodings[i].ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        (hidden * mask[..., None].astype(np.float32)).sum(axis=1)
    return time.perf_counter() - t, time.process_time() - c


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class HashEmbedder:
    """`--no-model`: a unit vector drawn from a hash of each text, in place of the model (no ONNX Runtime).

    Everything else runs as usual, so the figures are the pipeline's own time and memory; the
    suggestions mean nothing."""

    name = "hash-384"

    def embed(self, texts: list[str]) -> Any:
        import hashlib

        import numpy as np

        out = np.stack([np.random.default_rng(int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest()))
                        .standard_normal(384, dtype=np.float32) for t in texts]) if texts else np.zeros((0, 384), np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_batches(self, texts: list[str]) -> Any:
        import numpy as np

        for start in range(0, len(texts), 64):
            yield np.arange(start, min(start + 64, len(texts))), self.embed(texts[start:start + 64])


def one_size(transcripts: int, words: int, megabytes: float = 0.0, no_model: bool = False,
             threads: int = 0) -> dict[str, Any]:
    """Measure one corpus size in this process (`megabytes`: one transcript of that size); returns the figures.

    The embed stage runs as the run loop runs it (`project.embeddings.encode` over the segments read
    from the store), so the peak RSS is the pipeline's (it is read before the bare session runs).
    """
    from typer.testing import CliRunner

    from pipeline.cli import app

    work = Path(tempfile.mkdtemp(prefix="precode-bench-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        total_words = make_corpus(corpus, transcripts, words, megabytes=megabytes)
        corpus_mb = folder_mb(corpus)
        codebook = load_codebook("nasss")
        project, _ = init_project(work / "project")
        project.embeddings.settings.threads = threads  # ONNX Runtime intra-op threads (0: one per core)
        if no_model:
            project.embeddings.__dict__["embedder"] = HashEmbedder()  # the cached property, set before first use
        embedder = project.embeddings.embedder
        assert isinstance(embedder, LocalEmbedder) or no_model
        embedder.embed(["warm up the model"])
        rss_ready = peak_rss_mb()
        cpu0 = cpu_seconds()
        t = time.perf_counter()
        ingest_paths(project, [corpus])
        t_ingest = time.perf_counter() - t
        keys = select_segment_keys(project)
        t, c = time.perf_counter(), time.process_time()
        units = project.embeddings.encode(segment_chunks(project, keys, CHUNK_IDS))  # as the run loop does first
        t_embed, c_embed = time.perf_counter() - t, time.process_time() - c
        with (work / "units.jsonl").open("w", encoding="utf-8") as out:  # for the bare session, not held in memory
            for chunk in segment_chunks(project, keys, CHUNK_IDS):
                out.writelines(json.dumps(u.text) + "\n" for s in chunk for u in quote_units(s))
        t = time.perf_counter()
        # as `precode code` makes it (a calibrating coder fits its rule on the codebook here)
        run = run_coder(project, make_coder("similarity", project, codebook=codebook, level=LEAF_LEVEL), codebook)
        t_code = time.perf_counter() - t
        cpu = cpu_seconds() - cpu0
        assert run.counts["quote_units_encoded"] == 0
        rss = peak_rss_mb()
        disk = folder_mb(project.root)
        runs_before = len(project.db.runs())
        project.close()

        t_rerun = t_bare = c_bare = float("nan")
        if not no_model:  # (the command line would code again with the model)
            t = time.perf_counter()
            result = CliRunner().invoke(app, ["code", "-c", "nasss", "-p", str(project.root)])
            t_rerun = time.perf_counter() - t
            assert result.exit_code == 0 and "Unchanged" in result.output, result.output
            from pipeline.project import open_project

            again = open_project(project.root)
            assert len(again.db.runs()) == runs_before  # no duplicate run
            again.close()
            assert isinstance(embedder, LocalEmbedder)
            texts = [json.loads(line) for line in (work / "units.jsonl").open(encoding="utf-8")]
            t_bare, c_bare = bare_onnx_seconds(embedder, texts)
        n = len(keys)
        return {"transcripts": transcripts, "megabytes": megabytes, "no_model": no_model, "corpus_mb": corpus_mb, "words": total_words,
                "segments": n, "units": units,
                "ingest_s": t_ingest, "embed_s": t_embed, "bare_onnx_s": t_bare, "code_s": t_code,
                "end_to_end_s": t_ingest + t_embed + t_code, "segments_per_s": n / (t_ingest + t_embed + t_code),
                "embed_vs_bare": t_bare / t_embed, "embed_cpu_s": c_embed, "bare_cpu_s": c_bare,
                "embed_vs_bare_cpu": c_bare / c_embed, "cpu_s": cpu, "segments_per_cpu_s": n / cpu,
                "rss_ready_mb": rss_ready, "peak_rss_mb": rss, "disk_mb": disk,
                "rerun_s": t_rerun, "suggestions": run.counts["suggestions"], "torch_imported": "torch" in sys.modules}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a markdown table, then the peak-RSS growth between the sizes."""
    lines = ["| corpus | segments | quote units | ingest s | embed s (CPU s) | bare ORT s (CPU s) "
             "| embed vs bare, CPU (wall) | code s | end to end (the embedding's ceiling) | CPU s (segments per CPU s) "
             "| peak RSS (model loaded) "
             "| disk | unchanged re-run | torch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        corpus = (f"1 transcript of {r['corpus_mb']:.1f} MB" if r["megabytes"]
                  else f"{r['transcripts']} transcripts ({r['corpus_mb']:.1f} MB)")
        lines.append(
            f"| {corpus} | {r['segments']:,} | {r['units']:,} | {r['ingest_s']:.1f} | {r['embed_s']:.1f} "
            f"({r['embed_cpu_s']:.1f}) | {r['bare_onnx_s']:.1f} ({r['bare_cpu_s']:.1f}) "
            f"| {r['embed_vs_bare_cpu']:.2f}x ({r['embed_vs_bare']:.2f}x) | {r['code_s']:.1f} "
            f"| {r['end_to_end_s']:.1f} s, {r['segments_per_s']:.1f} seg/s (bare ORT alone: {r['segments'] / r['bare_onnx_s']:.1f}) "
            f"| {r['cpu_s']:.0f} ({r['segments_per_cpu_s']:.1f}) "
            f"| {r['peak_rss_mb']:,.0f} MB ({r['rss_ready_mb']:,.0f} MB) | {r['disk_mb']:.1f} MB | {r['rerun_s']:.1f} s "
            f"| {'imported' if r['torch_imported'] else 'no'} |")
    sized = [r for r in rows if not r["megabytes"]]
    if len(sized) >= 2:
        base, top = sized[-2], sized[-1]
        lines.append(f"\nPeak RSS {base['transcripts']} -> {top['transcripts']} transcripts: "
                     f"{(top['peak_rss_mb'] / base['peak_rss_mb'] - 1) * 100:+.1f}% "
                     f"({base['segments']:,} -> {top['segments']:,} segments; goal: within 10%)")
    for r in rows:
        if r["megabytes"] and sized:
            base = max(sized, key=lambda x: x["transcripts"])
            lines.append(f"Peak RSS, one {r['corpus_mb']:.1f} MB transcript against {base['transcripts']} transcripts: "
                         f"{(r['peak_rss_mb'] / base['peak_rss_mb'] - 1) * 100:+.1f}%")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100", help="transcript counts, comma-separated (each in its own process)")
    parser.add_argument("--transcripts", type=int, help="one size (the same as --sizes N)")
    parser.add_argument("--words", type=int, default=9000, help="words per transcript")
    parser.add_argument("--long-transcript-mb", type=float, default=0.0,
                        help="also measure one transcript of this many MB (e.g. 5), in its own process")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--no-model", action="store_true",
                        help="vectors from a hash of each text instead of the model: the pipeline's own memory and "
                             "time at sizes too big to embed (no bare-runtime comparison, no re-run)")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime threads (0: one per core); 1 gives the cleanest CPU time per segment")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    parser.add_argument("--one-mb", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.words, args.one_mb, args.no_model, args.threads)))
        return
    if args.transcripts:
        args.sizes = str(args.transcripts)
    runs = [["--one", s.strip(), "--words", str(args.words)] for s in args.sizes.split(",") if s.strip()]
    if args.long_transcript_mb:
        runs.append(["--one", "1", "--one-mb", str(args.long_transcript_mb)])
    runs = [[*r, "--threads", str(args.threads), *(["--no-model"] if args.no_model else [])] for r in runs]
    started, load_before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()
    rows = []
    for extra in runs:
        out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{' '.join(extra)} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {' '.join(extra)}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    long = (f" --long-transcript-mb {args.long_transcript_mb:g}" if args.long_transcript_mb else "") \
        + (" --no-model" if args.no_model else "") + (f" --threads {args.threads}" if args.threads else "")
    print(f"\ncommand: python benchmarks/pipeline.py --sizes {args.sizes} --words {args.words}{long}")
    load = os.getloadavg()
    print(f"started {started}, load {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"cores: {os.cpu_count()}; ONNX Runtime threads: {args.threads or os.cpu_count()}")


if __name__ == "__main__":
    main()
