"""Offline pipeline throughput: ingest, embed, code, end to end; peak memory; embed overhead.

Generates a corpus of synthetic transcripts (sentences re-mixed from data/sample, fixed seed), then
on this machine measures:
  - ingest (read + segment + store) on a fresh project;
  - embed (quote units into chromadb) and code (similarity scoring from stored vectors), separately;
  - end to end (ingest + `run_coder`, exactly what `precode run` does) on a second fresh project;
  - the embed stage's throughput as a ratio of calling sentence-transformers `encode` directly on
    the same texts in the same process (target >= 0.8);
  - peak RSS of the process (target < 2 GB).

    python benchmarks/pipeline.py                      # 100 transcripts x ~9,000 words
    python benchmarks/pipeline.py --transcripts 10     # a quick look
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcripts", type=int, default=100)
    parser.add_argument("--words", type=int, default=9000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="precode-bench-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        words = make_corpus(corpus, args.transcripts, args.words)
        codebook = load_codebook("nasss")

        # Stages, one fresh project
        project, _ = init_project(work / "stages")
        t = time.perf_counter()
        ingest_paths(project, [corpus])
        t_ingest = time.perf_counter() - t
        segments = select_segments(project)
        coder = make_coder("similarity", project)
        embedder = project.embeddings.embedder  # the embedding stage the coder gets through its context
        embedder.embed(["warm up the model"])
        t = time.perf_counter()
        vectors = project.embeddings.segments(segments)
        t_embed = time.perf_counter() - t
        t = time.perf_counter()
        run = run_coder(project, coder, codebook)
        t_code = time.perf_counter() - t
        assert run.counts["quote_units_encoded"] == 0

        # The same texts through sentence-transformers directly, same process, same model and batch size
        texts = [u.text for s in segments for u in quote_units(s)]
        t = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
        t_direct = time.perf_counter() - t

        # End to end, second fresh project: what `precode run` does
        project2, _ = init_project(work / "end-to-end")
        e2e_coder = make_coder("similarity", project2)
        project2.embeddings.embedder.embed(["warm up the model"])
        t = time.perf_counter()
        ingest_paths(project2, [corpus])
        e2e_run = run_coder(project2, e2e_coder, codebook)
        t_e2e = time.perf_counter() - t

        n = len(segments)
        units = len(vectors.units)
        ratio = (units / t_embed) / (units / t_direct)
        rows = [
            ("corpus", f"{args.transcripts} transcripts, {words:,} words, {n:,} coded segments, {units:,} quote units"),
            ("ingest (read+segment+store)", f"{t_ingest:.1f} s, {n / t_ingest:,.0f} segments/s"),
            ("embed (units -> chromadb)", f"{t_embed:.1f} s, {units / t_embed:,.0f} units/s, {n / t_embed:,.1f} segments/s"),
            ("sentence-transformers encode, same texts", f"{t_direct:.1f} s, {units / t_direct:,.0f} units/s"),
            ("embed / direct encode throughput", f"{ratio:.2f} (target >= 0.80)"),
            ("code (similarity, vectors stored)", f"{t_code:.1f} s, {n / t_code:,.0f} segments/s"),
            ("end to end (ingest + code incl. embed)", f"{t_e2e:.1f} s, {n / t_e2e:,.1f} segments/s "
                                                       f"(target >= 50: ratio {n / t_e2e / 50:.2f})"),
            ("suggestions (end to end run)", f"{e2e_run.counts['suggestions']:,}"),
            ("peak RSS", f"{peak_rss_mb():,.0f} MB (target < 2048: ratio {peak_rss_mb() / 2048:.2f})"),
        ]
        print("| measure | value |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        print(f"\ncommand: python benchmarks/pipeline.py --transcripts {args.transcripts} --words {args.words}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
