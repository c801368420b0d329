"""An OpenAI-compatible chat server on 127.0.0.1 with scripted replies, for tests and benchmarks.

It serves `POST /v1/chat/completions` (and Azure's `/openai/deployments/NAME/chat/completions`)
over real HTTP with FastAPI + uvicorn in a background thread. Each request is recorded; the reply
is the next scripted `Reply` (or the result of a scripted function of the request), else the
default handler's. `latency` is added to every reply. Run it alone for a benchmark:
`python tests/llm/stub_server.py --latency 0.2` prints its base URL and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@dataclass
class Reply:
    """One scripted reply: a chat completion with `content`, or an error status (`content` is then
    the error message), or a raw body."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None  # (prompt, completion); default: characters / 4
    cached_tokens: int = 0
    raw: str | None = None
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens when set
    media_type: str = "application/json"  # of a raw body


Handler = Callable[[dict], Reply]

_LABEL = re.compile(r'<segment id="(S\d+)"[^>]*>')  # code.v2 may add a participant attribute
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def user_message(body: dict) -> str:
    """The request's segments message (a re-ask's last message is not it)."""
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return next((u for u in users if "<transcript>" in u), users[-1] if users else "")


def labels(body: dict) -> list[str]:
    return _LABEL.findall(user_message(body))


def answers(body: dict) -> list[str]:
    """The segment texts a request carries, in order."""
    return _ANSWER.findall(user_message(body))


def answer(segments: list[dict]) -> str:
    return json.dumps({"segments": segments})


def empty_answer(body: dict) -> Reply:
    """No code for any segment (a valid answer)."""
    return Reply(answer([{"segment": label, "codes": []} for label in labels(body)]))


def first_sentence(code_id: str) -> Handler:
    """Apply `code_id` to every segment, quoting its first sentence verbatim."""
    def handler(body: dict) -> Reply:
        out = []
        for label, text in zip(labels(body), answers(body)):
            quote = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
            out.append({"segment": label, "codes": [
                {"code_id": code_id, "quote": quote, "rationale": "The speaker talks about it.", "confidence": 0.8}]})
        return Reply(answer(out))
    return handler


class StubLLM:
    def __init__(self, latency: float = 0.0, handler: Handler = empty_answer):
        self.latency = latency
        self.handler = handler
        self.server: Handler | None = None  # a server profile: an error Reply for a request it refuses, else None
        self.script: deque[Reply | Handler] = deque()
        self.requests: list[dict] = []  # {"path", "headers", "body"} of every request, in arrival order
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        self.app.post("/openai/deployments/{deployment}/chat/completions")(self._complete)
        self.app.post("/v1/embeddings")(self._embed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]

    def push(self, *replies: Reply | Handler) -> None:
        with self._lock:
            self.script.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
            refused = self.server(body) if self.server is not None else None
            scripted = refused or (self.script.popleft() if self.script else self.handler)
        reply = scripted(body) if callable(scripted) else scripted
        await asyncio.sleep(self.latency + reply.delay)
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, headers=reply.headers, media_type=reply.media_type)
        if reply.status != 200:
            message = reply.content or f"scripted error {reply.status}"
            return JSONResponse({"error": {"message": message, "type": "stub"}},
                                status_code=reply.status, headers=reply.headers)
        prompt_chars = sum(len(m.get("content") or "") for m in body["messages"])
        prompt, completion = reply.usage or (prompt_chars // 4, len(reply.content or "") // 4)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                 "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}}
        if reply.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
        return JSONResponse({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                         "message": {"role": "assistant", "content": reply.content}}],
            "usage": usage,
        }, headers=reply.headers)

    async def _embed(self, request: Request) -> JSONResponse:
        """Deterministic bag-of-words vectors (64 hashed dimensions): similar texts get similar vectors."""
        body = await request.json()
        with self._lock:
            self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(texts):
            vector = [0.0] * 64
            for word in re.findall(r"[a-z]+", text.lower()):
                vector[int.from_bytes(word.encode()[:8].ljust(8, b"_"), "little") % 64] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vector})
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", "stub"),
                             "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    def start(self, port: int = 0) -> StubLLM:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the stub LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--code", default=None, help="apply this code id to every segment (default: no codes)")
    args = parser.parse_args()
    stub = StubLLM(args.latency, first_sentence(args.code) if args.code else empty_answer).start(args.port)
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
