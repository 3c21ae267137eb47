"""A real HTTP server on 127.0.0.1 that speaks just enough of the OpenAI API to fail on purpose: HTTP 500,
a stream that is not JSON, an answer too slow for the timeout, a server without /v1/completions, one that
streams text without log-probabilities (as many hosted APIs and Ollama do)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Behaviour:
    def __init__(self) -> None:
        self.mode = "ok"
        self.completion_requests = 0
        self.bodies: list[dict] = []


class Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args) -> None:  # keep the test output quiet
        return

    def _json(self, status: int, document: dict) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "test"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/v1/completions" and self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found"}})
            return
        behaviour = self.behaviour
        behaviour.completion_requests += 1
        behaviour.bodies.append(body)
        mode = behaviour.mode
        if mode == "missing":
            self._json(404, {"error": {"message": "Not Found"}})
        elif mode == "500":
            self._json(500, {"error": {"message": "the model crashed"}})
        elif mode == "slow":
            time.sleep(3)
            self._json(200, {})
        else:
            self._stream(mode)

    def _stream(self, mode: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode == "malformed":
            self.wfile.write(b'data: {"id": "x", "choices": [{"text": "Hel\n\ndata: {not json}\n\n')
            return
        for index, piece in enumerate(["Hello", " world"]):
            chunk = {
                "id": "cmpl-1",
                "object": "text_completion",
                "model": "fake-model",
                "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": "stop" if index else None}],
            }
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")


class MisbehavingServer:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        handler = type("BoundHandler", (Handler,), {"behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
