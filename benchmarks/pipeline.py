"""Offline pipeline throughput and its growth curve: segments/s, the embed stage against a bare
ONNX Runtime session, peak RSS, CPU time, disk, and an unchanged re-run.

Generates a corpus of synthetic transcripts (sentences re-mixed from data/sample, fixed seed). For
each size, in its own process (so that peak RSS is that size's), on a fresh project:
  - ingest (read + segment + store);
  - the embed stage (quote units into chromadb, `project.embeddings.segments`);
  - a bare onnxruntime session on the same texts: the same exported model file and tokenizer, the
    same batch size and length ordering, mean pooling, nothing else (the runtime's limit); the
    stage's throughput as a ratio of it (goal >= 0.9);
  - code (similarity scoring, vectors stored) and end to end segments/s (ingest + embed + code);
  - an unchanged re-run through `precode code` (it reports the finished run, stores nothing);
  - peak RSS, CPU seconds (user + system) and the project's size on disk.
It never imports torch (the ONNX export must exist: any earlier `precode` run made it).

    python benchmarks/pipeline.py --sizes 10,100,400          # the growth curve of docs/benchmarks.md
    python benchmarks/pipeline.py --sizes 5 --words 3000      # a quick look
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

# This file is named like the `pipeline` package; keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pipeline.embed import go_offline  # noqa: E402

go_offline()

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coding import run_coder, select_segments  # noqa: E402
from pipeline.embed import LocalEmbedder  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.ingest.readers import read_transcript  # noqa: E402
from pipeline.project import init_project  # noqa: E402
from pipeline.segment import is_interviewer  # noqa: E402
from pipeline.settings import IngestSettings  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SENTENCE = re.compile(r"[^.!?]+[.!?]")


def sentence_pools() -> tuple[list[str], list[str]]:
    settings = IngestSettings()
    questions, sentences = [], []
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


def make_corpus(folder: Path, transcripts: int, words: int, seed: int = 7) -> int:
    questions, sentences = sentence_pools()
    rng = random.Random(seed)
    total_words = 0
    for n in range(transcripts):
        lines, count = [], 0
        while count < words:
            answer = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 12)))
            question = rng.choice(questions)
            lines += [f"Interviewer: {question}", "", f"P{n + 1}: {answer}", ""]
            count += len(question.split()) + len(answer.split())
        (folder / f"synthetic_{n:03d}.txt").write_text("\n".join(lines), encoding="utf-8")
        total_words += count
    return total_words


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_onnx_seconds(embedder: LocalEmbedder, texts: list[str]) -> tuple[float, float]:
    """The same texts through a fresh onnxruntime session: tokenize, length-ordered batches, run, mean-pool."""
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
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    for start in range(0, len(texts), embedder.batch_size):
        rows = order[start:start + embedder.batch_size]
        width = max(len(encodings[i].ids) for i in rows)
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


def one_size(transcripts: int, words: int) -> dict[str, float]:
    """Measure one corpus size in this process; returns the figures."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    work = Path(tempfile.mkdtemp(prefix="precode-bench-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        total_words = make_corpus(corpus, transcripts, words)
        codebook = load_codebook("nasss")
        project, _ = init_project(work / "project")
        embedder = project.embeddings.embedder
        assert isinstance(embedder, LocalEmbedder)
        embedder.embed(["warm up the model"])
        cpu0 = cpu_seconds()
        t = time.perf_counter()
        ingest_paths(project, [corpus])
        t_ingest = time.perf_counter() - t
        segments = select_segments(project)
        t, c = time.perf_counter(), time.process_time()
        vectors = project.embeddings.segments(segments)
        t_embed, c_embed = time.perf_counter() - t, time.process_time() - c
        t = time.perf_counter()
        run = run_coder(project, make_coder("similarity", project), codebook)
        t_code = time.perf_counter() - t
        cpu = cpu_seconds() - cpu0
        assert run.counts["quote_units_encoded"] == 0
        rss = peak_rss_mb()
        disk = folder_mb(project.root)
        runs_before = len(project.db.runs())
        project.close()

        t = time.perf_counter()
        result = CliRunner().invoke(app, ["code", "-c", "nasss", "-p", str(project.root)])
        t_rerun = time.perf_counter() - t
        assert result.exit_code == 0 and "Unchanged" in result.output, result.output
        from pipeline.project import open_project

        again = open_project(project.root)
        assert len(again.db.runs()) == runs_before  # no duplicate run
        again.close()

        texts = [u.text for u in vectors.units]
        t_bare, c_bare = bare_onnx_seconds(embedder, texts)
        n = len(segments)
        return {"transcripts": transcripts, "words": total_words, "segments": n, "units": len(texts),
                "ingest_s": t_ingest, "embed_s": t_embed, "bare_onnx_s": t_bare, "code_s": t_code,
                "end_to_end_s": t_ingest + t_embed + t_code, "segments_per_s": n / (t_ingest + t_embed + t_code),
                "embed_vs_bare": t_bare / t_embed, "embed_cpu_s": c_embed, "bare_cpu_s": c_bare,
                "embed_vs_bare_cpu": c_bare / c_embed, "cpu_s": cpu, "peak_rss_mb": rss, "disk_mb": disk,
                "rerun_s": t_rerun, "suggestions": run.counts["suggestions"], "torch_imported": "torch" in sys.modules}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100", help="transcript counts, comma-separated (each in its own process)")
    parser.add_argument("--transcripts", type=int, help="one size (the same as --sizes N)")
    parser.add_argument("--words", type=int, default=9000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.words)))
        return
    if args.transcripts:
        args.sizes = str(args.transcripts)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--words", str(args.words)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| transcripts | segments | quote units | ingest s | embed s (CPU s) | bare ORT s (CPU s) | embed vs bare, CPU (wall) | code s "
          "| end to end | CPU s | peak RSS | disk | unchanged re-run | torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['transcripts']} | {r['segments']:,} | {r['units']:,} | {r['ingest_s']:.1f} | {r['embed_s']:.1f} "
              f"({r['embed_cpu_s']:.1f}) | {r['bare_onnx_s']:.1f} ({r['bare_cpu_s']:.1f}) "
              f"| {r['embed_vs_bare_cpu']:.2f}x ({r['embed_vs_bare']:.2f}x) | {r['code_s']:.1f} "
              f"| {r['end_to_end_s']:.1f} s, {r['segments_per_s']:.1f} seg/s | {r['cpu_s']:.0f} "
              f"| {r['peak_rss_mb']:,.0f} MB | {r['disk_mb']:.1f} MB | {r['rerun_s']:.1f} s | "
              f"{'imported' if r['torch_imported'] else 'no'} |")
    print(f"\ncommand: python benchmarks/pipeline.py --sizes {args.sizes} --words {args.words}")
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"cores: {os.cpu_count()}; date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    sys.exit(main())
