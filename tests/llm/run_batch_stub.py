"""A stand-in for vLLM's offline batch runner (`python -m vllm.entrypoints.openai.run_batch`), for tests.

Reads `-i` (OpenAI Batch API input JSONL: custom_id, method, url, body) and writes `-o` the way
run_batch does: one line per request, in input order, `{"id": "vllm-…", "custom_id", "response":
{"status_code", "request_id": "vllm-batch-…", "body"}, "error"}`; a failed request has status 400,
no body and the error message as `error` (run_batch's `make_error_request_output`). Answers come
from `stub_server.first_sentence(USABILITY)`, the handler the synchronous tests use, with usage
counted as the chat stub counts it.

Extra options for tests: `--fail-once MARKER` fails the first request if MARKER does not exist yet
(and creates it); `--exit N` prints to stderr and exits N without writing anything; `--record
FILE` appends every request body it read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_helpers import USABILITY
from stub_server import first_sentence

HANDLER = first_sentence(USABILITY)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-i", "--input-file", required=True)
    parser.add_argument("-o", "--output-file", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--fail-once")
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--record")
    args = parser.parse_args()
    print("INFO stub run_batch: reading", args.input_file, file=sys.stderr)
    if args.exit:
        print("ERROR CUDA out of memory (stub)", file=sys.stderr)
        return args.exit
    requests = [json.loads(line) for line in Path(args.input_file).read_text(encoding="utf-8").splitlines()
                if line.strip()]
    out = []
    for n, request in enumerate(requests):
        body = request["body"]
        if args.record:
            with open(args.record, "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        response: dict = {"status_code": 200, "request_id": f"vllm-batch-{uuid.uuid4().hex}", "body": None}
        error = None
        marker = Path(args.fail_once) if args.fail_once else None
        if n == 0 and marker is not None and not marker.exists():
            marker.write_text(request["custom_id"], encoding="utf-8")
            response["status_code"], error = 400, "stub: the engine could not run this request"
        elif request["url"] != "/v1/chat/completions" or body["model"] != args.model:
            response["status_code"], error = 400, f"stub: unsupported url {request['url']} or model {body['model']}"
        else:
            reply = HANDLER(body)
            prompt = sum(len(m.get("content") or "") for m in body["messages"]) // 4
            completion = len(reply.content or "") // 4
            response["body"] = {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": args.model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": reply.content, "tool_calls": []}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion, "prompt_tokens_details": None},
            }
        out.append({"id": f"vllm-{uuid.uuid4().hex}", "custom_id": request["custom_id"], "response": response,
                    "error": error})
    with open(args.output_file, "w", encoding="utf-8") as f:
        for line in out:
            f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
