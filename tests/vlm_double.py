"""A loopback HTTP server speaking the OpenAI chat-completions wire format, for the VLM judge tests.

TEST DOUBLE: no real server on this machine takes images (``transformers serve`` here runs only a tiny
text model built in the tests), so this server stands in for ``vllm serve <vision model>``. It does read
what a real one reads: it decodes the ``data:image/png;base64`` URL of every image and grades it from its
pixels (darker image = higher score), answering in the rubric's JSON. Faults are scheduled per request
by a marker in the instruction text: ``[fault:500,stall,garbage,unreadable]`` applies one fault per
attempt in order, then answers normally. ``refuse_schema`` makes it answer HTTP 400 to any request with
``response_format`` (like servers without structured output).
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageStat


class ChatDouble:
    """Start with ``with ChatDouble() as srv``; ``srv.base_url`` ends in ``/v1``; ``srv.requests`` holds the
    decoded request bodies; ``srv.stall_s`` is how long a ``stall`` fault sleeps."""

    def __init__(self, refuse_schema: bool = False, stall_s: float = 1.5) -> None:
        self.refuse_schema = refuse_schema
        self.stall_s = stall_s
        self.requests: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                status, payload = outer.answer(body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ChatDouble:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        """Decide the reply to one request body: (HTTP status, JSON payload or raw bytes)."""
        with self._lock:
            self.requests.append(body)
        user = body["messages"][-1]["content"]
        text = " ".join(p.get("text", "") for p in user if p.get("type") == "text")
        images = [p["image_url"]["url"] for p in user if p.get("type") == "image_url"]
        if self.refuse_schema and "response_format" in body:
            return 400, {"error": {"message": "response_format is not supported by this server"}}
        marker = re.search(r"\[fault:([\w,]+)\]", text)
        if marker:
            key = marker.group(0)
            with self._lock:
                n = self.attempts.get(key, 0)
                self.attempts[key] = n + 1
            faults = marker.group(1).split(",")
            fault = faults[n] if n < len(faults) else None
            if fault == "500":
                return 500, {"error": {"message": "internal error"}}
            if fault == "stall":
                time.sleep(self.stall_s)
            if fault == "garbage":
                return 200, b"<html>502 Bad Gateway</html>"
            if fault == "unreadable":
                return 200, _chat("I am unable to grade this image, sorry.")
            if fault == "always500":
                return 500, {"error": {"message": "down"}}
        darkness = 0.0
        for url in images[:1]:
            raw = base64.b64decode(url.split(",", 1)[1])
            with Image.open(io.BytesIO(raw)) as im:
                darkness = 1.0 - ImageStat.Stat(im.convert("L")).mean[0] / 255.0
        if "total_score" in text:  # OpenDesign
            grade = {
                "alignment_score": round(40 * darkness),
                "aesthetics_score": round(30 * darkness),
                "structure_score": round(30 * darkness),
                "total_score": round(100 * darkness),
                "feedback": f"darkness {darkness:.2f}",
            }
        else:  # WebGen
            grade = {"score": round(5 * darkness, 1), "feedback": f"darkness {darkness:.2f}"}
        return 200, _chat("Here is my grade:\n```json\n" + json.dumps(grade) + "\n```")


def _chat(content: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "double",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20},
    }
