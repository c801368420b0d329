"""A stub of the OpenAI Files and Batches endpoints on 127.0.0.1, answering each line like the chat stub.

Endpoints, with the documented shapes (OpenAI API reference: Files, Batch; the per-line objects of
the output and error files are `{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}`):

- `POST /v1/files` (multipart, `purpose=batch`) -> a file object; `GET /v1/files/{id}/content`
- `POST /v1/batches` {input_file_id, endpoint, completion_window} -> a batch in `validating`
- `GET /v1/batches/{id}`: each read moves the batch one step along its `plan`
  (default validating -> in_progress -> finalizing -> completed; or ending in `expired`,
  `failed` (validation failed: no files), or `cancelled` after `POST /v1/batches/{id}/cancel`,
  which passes through `cancelling`)
- when a batch ends, every input line is answered by `handler(body)` (a `Reply`, as for the chat
  stub): status 200 goes to the output file, any other status (or a `fail(custom_id)` line) to the
  error file; an expired or cancelled batch answers only its first `runs_before_end` lines and
  writes the others to the error file with code `batch_expired` / `batch_cancelled`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from stub_server import Handler, Reply, empty_answer

HAPPY = ["validating", "in_progress", "finalizing", "completed"]


@dataclass
class StubBatch:
    id: str
    input_file_id: str
    endpoint: str
    plan: list[str]
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    errors: dict[str, Any] | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "batch", "endpoint": self.endpoint, "errors": self.errors,
                "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
                "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
                "created_at": self.created_at, "request_counts": self.counts, "metadata": {}}


class BatchStub:
    def __init__(self, handler: Handler = empty_answer) -> None:
        self.handler = handler
        self.fail: Callable[[str], bool] = lambda custom_id: False  # lines that fail with HTTP 500
        self.plan = list(HAPPY)  # the states the next created batch goes through
        self.runs_before_end = 0  # expired / cancelled: lines answered before it ended
        self.files: dict[str, tuple[bytes, str]] = {}
        self.batches: dict[str, StubBatch] = {}
        self.calls: list[str] = []  # "METHOD path" of every request
        self.chat_bodies: list[dict[str, Any]] = []  # the bodies of every line of every uploaded input file
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/v1/files")(self._upload)
        self.app.get("/v1/files/{file_id}/content")(self._content)
        self.app.post("/v1/batches")(self._create)
        self.app.get("/v1/batches/{batch_id}")(self._retrieve)
        self.app.post("/v1/batches/{batch_id}/cancel")(self._cancel)
        self.port = 0
        self._server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _file(self, data: bytes, purpose: str, name: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = (data, purpose)
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}

    async def _upload(self, request: Request) -> JSONResponse:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        purpose = parts["purpose"].get_payload(decode=True).decode()
        data = parts["file"].get_payload(decode=True)
        if purpose != "batch":
            return JSONResponse({"error": {"message": "purpose must be batch here"}}, status_code=400)
        with self._lock:
            self.calls.append("POST /v1/files")
            for line in data.decode().splitlines():
                self.chat_bodies.append(json.loads(line)["body"])
            return JSONResponse(self._file(data, purpose, parts["file"].get_filename() or "input.jsonl"))

    async def _content(self, file_id: str) -> Response:
        with self._lock:
            self.calls.append(f"GET /v1/files/{file_id}/content")
            if file_id not in self.files:
                return JSONResponse({"error": {"message": f"No such File object: {file_id}"}}, status_code=404)
            return Response(self.files[file_id][0], media_type="application/octet-stream")

    async def _create(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.calls.append("POST /v1/batches")
            if body.get("input_file_id") not in self.files or body.get("completion_window") != "24h":
                return JSONResponse({"error": {"message": "invalid input_file_id or completion_window"}}, status_code=400)
            batch = StubBatch(f"batch_{len(self.batches) + 1}", body["input_file_id"], body["endpoint"], list(self.plan))
            lines = self.files[batch.input_file_id][0].decode().splitlines()
            batch.counts["total"] = len(lines)
            self.batches[batch.id] = batch
            return JSONResponse(batch.as_json())

    async def _retrieve(self, batch_id: str) -> JSONResponse:
        with self._lock:
            self.calls.append(f"GET /v1/batches/{batch_id}")
            batch = self.batches.get(batch_id)
            if batch is None:
                return JSONResponse({"error": {"message": f"No such batch: {batch_id}"}}, status_code=404)
            if batch.status not in ("completed", "failed", "expired", "cancelled"):
                position = batch.plan.index(batch.status) if batch.status in batch.plan else -1
                batch.status = batch.plan[min(position + 1, len(batch.plan) - 1)]
                if batch.status in ("completed", "failed", "expired", "cancelled"):
                    self._end(batch)
            return JSONResponse(batch.as_json())

    async def _cancel(self, batch_id: str) -> JSONResponse:
        with self._lock:
            self.calls.append(f"POST /v1/batches/{batch_id}/cancel")
            batch = self.batches[batch_id]
            batch.status, batch.plan = "cancelling", ["cancelling", "cancelled"]
            return JSONResponse(batch.as_json())

    def _end(self, batch: StubBatch) -> None:
        lines = [json.loads(line) for line in self.files[batch.input_file_id][0].decode().splitlines()]
        if batch.status == "failed":  # validation failed: nothing ran, no files
            batch.errors = {"object": "list", "data": [{"code": "invalid_request", "message": "stub: validation failed",
                                                        "param": None, "line": 1}]}
            batch.counts.update(completed=0, failed=0)
            return
        ran = lines if batch.status == "completed" else lines[:self.runs_before_end]
        out, errors = [], []
        for n, line in enumerate(lines):
            if line not in ran:
                errors.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": f"batch_{batch.status}",
                                         "message": f"This line was not executed because the batch {batch.status}."}})
                continue
            reply = Reply(status=500, content="stub: the server had an error") if self.fail(line["custom_id"]) \
                else self.handler(line["body"])
            response = {"status_code": reply.status, "request_id": f"req_{n}", "body": self._completion(line, reply)}
            (out if reply.status == 200 else errors).append(
                {"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": response, "error": None})
        if out:
            batch.output_file_id = self._file("".join(json.dumps(o) + "\n" for o in out).encode(),
                                              "batch_output", "output.jsonl")["id"]
        if errors:
            batch.error_file_id = self._file("".join(json.dumps(e) + "\n" for e in errors).encode(),
                                             "batch_output", "errors.jsonl")["id"]
        batch.counts.update(completed=len(out), failed=len(errors))

    @staticmethod
    def _completion(line: dict[str, Any], reply: Reply) -> dict[str, Any]:
        body = line["body"]
        if reply.status != 200:
            return {"error": {"message": reply.content or f"error {reply.status}", "type": "server_error"}}
        prompt_chars = sum(len(m.get("content") or "") for m in body["messages"])
        prompt, completion = reply.usage or (prompt_chars // 4, len(reply.content or "") // 4)
        return {"id": "chatcmpl-batch", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                             "message": {"role": "assistant", "content": reply.content}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                          "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}}}

    def start(self) -> BatchStub:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the batch stub did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
