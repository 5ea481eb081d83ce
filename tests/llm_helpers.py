"""Test helpers for the LLM parts: a tiny chat model trained on the spot, a real ``transformers serve``
on loopback, and a fault-injecting HTTP proxy.

- ``build_tiny_chat_model``: a byte-level BPE tokenizer trained on the prompts and replies, a
  ~100k-parameter Qwen2 trained for a few seconds until greedy decoding reproduces the reply taught
  for each system prompt (an HTML page, a plotting script, a JSON list of requests). Nothing is
  downloaded.
- ``ServeProcess``: ``transformers serve <folder>`` (transformers' own OpenAI-compatible server) with
  ``HF_HUB_OFFLINE=1``, on a free loopback port.
- ``FaultProxy``: a loopback HTTP proxy in front of a server that answers chosen requests with a
  fault (HTTP 500/503/429, a stall past the client's timeout, a garbage body) and counts the requests
  it forwarded upstream: the count is what the model was paid for. It can also hold requests (a gate)
  so a test can kill a build while nothing is in flight. This proxy is a test fixture, not a stand-in
  for the model: every reply it forwards comes from the real server.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from aesdata.generate.prompts import SYNTHESIS_SYSTEM, SYNTHESIS_USER, system_prompt

HTML_REPLY = """```html
<!DOCTYPE html>
<html><body><h1>Tiny Cafe</h1><p>Fresh coffee.</p></body></html>
```"""

PLOT_REPLY = """```python
import matplotlib.pyplot as plt
plt.bar(["a", "b"], [3, 5])
plt.show()
```"""

#: the one website request the tiny model answers with HTML_REPLY
TAUGHT_INSTRUCTION = "A page about coffee."

#: two near-duplicates, one distinct request, one copied from the OpenDesign fixture (contaminated)
SYNTH_ITEMS = [
    "Design a landing page for a coffee shop with a seasonal menu and online ordering.",
    "Design a landing page for a coffee shop with a seasonal menu and an online ordering form.",
    "Build a kanban board component with drag and drop columns and colored tags.",
    "Create a user interface for a life insurance website.",
]
SYNTH_REPLY = json.dumps(SYNTH_ITEMS)
#: the synthesis request the tiny model answers with SYNTH_REPLY (keyword "coffee shop", 4 per keyword)
SYNTH_PROMPT = SYNTHESIS_USER.format(count=4, category_name="website", keyword="coffee shop")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def taught_conversations() -> list[tuple[list[dict[str, str]], str]]:
    """(prompt messages, reply) pairs the tiny model learns: a web page, a plot, synthesis.

    Only these exact prompts get these replies; any other prompt gets whatever the model makes of it
    (tests use those for the no_code / truncated paths)."""
    convs = [
        (
            [
                {"role": "system", "content": system_prompt("html", "website")},
                {"role": "user", "content": TAUGHT_INSTRUCTION},
            ],
            HTML_REPLY,
        )
    ]
    convs.append(
        (
            [
                {"role": "system", "content": system_prompt("plot", "matplotlib")},
                {"role": "user", "content": "Plot the values."},
            ],
            PLOT_REPLY,
        )
    )
    convs.append(
        (
            [{"role": "system", "content": SYNTHESIS_SYSTEM}, {"role": "user", "content": SYNTH_PROMPT}],
            SYNTH_REPLY,
        )
    )
    return convs


def build_tiny_chat_model(
    out: Path, steps: int = 300, convs: list[tuple[list[dict[str, str]], str]] | None = None
) -> Path:
    """Train and save the tiny chat model into ``out``; return ``out``. About 10-20 s on 2 CPU cores.

    ``convs``: the (prompt messages, reply) pairs to teach (default: ``taught_conversations()``)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    convs = convs or taught_conversations()
    texts = [m["content"] for msgs, _ in convs for m in msgs] + [r for _, r in convs]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts * 4,
        vocab_size=2000,
        min_frequency=2,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHAT_TEMPLATE
    # tokenize with the tokenizer as it will be loaded (AutoTokenizer picks Qwen2Tokenizer for a qwen2
    # config, whose pre-tokenizer differs from the in-memory one), so training and serving agree
    tok.save_pretrained(out)
    (out / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    tok = AutoTokenizer.from_pretrained(out)
    seqs = []
    for msgs, reply in convs:
        prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        p_ids = tok(prompt)["input_ids"]
        r_ids = tok(reply)["input_ids"] + [tok.eos_token_id]
        seqs.append((p_ids, r_ids))
    max_len = max(len(p) + len(r) for p, r in seqs)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max(2048, max_len + 64),
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg)
    ids = torch.full((len(seqs), max_len), tok.pad_token_id)
    labels = torch.full((len(seqs), max_len), -100)
    mask = torch.zeros((len(seqs), max_len), dtype=torch.long)
    for i, (p, r) in enumerate(seqs):
        n = len(p) + len(r)
        ids[i, :n] = torch.tensor(p + r)
        labels[i, len(p) : n] = torch.tensor(r)
        mask[i, :n] = 1
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        res = model(input_ids=ids, attention_mask=mask, labels=labels)
        # greedy decoding reproduces every reply once each next token is the argmax (teacher forcing);
        # checked before the update, so the saved weights are the ones that passed
        pred = res.logits[:, :-1].argmax(-1)
        target = labels[:, 1:]
        if bool(((pred == target) | (target == -100)).all()):
            break
        opt.zero_grad()
        res.loss.backward()
        opt.step()
    model.eval()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``transformers serve`` for a local model folder, offline, on loopback. ``base_url`` ends in ``/v1``.

    ``force_model=False`` serves any local model folder a request names (loaded on first use)."""

    def __init__(self, model_dir: Path, log: Path, force_model: bool = True) -> None:
        self.port = free_port()
        self.model = str(model_dir)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        exe = Path(sys.executable).with_name("transformers")
        self._log = open(log, "w")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                *([self.model] if force_model else []),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--device",
                "cpu",
                "--log-level",
                "warning",
                "--default-seed",
                "0",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited early: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("transformers serve did not become healthy in 120 s")

    def stop(self) -> None:
        """Stop the server process (the one this object started)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


class FaultProxy:
    """Loopback proxy to ``upstream`` (a ``/v1`` URL). ``fault(n, body) -> str | None`` picks a fault
    for the n-th request (1-based) it receives: ``"500"``, ``"503"``, ``"429"``, ``"stall"``, ``"garbage"``,
    ``"nochoices"`` or ``None`` (forward). ``forwarded`` counts requests sent upstream; ``received``
    every request; ``hold_after`` (when set) parks requests once that many were forwarded, until
    ``release()``; ``held`` counts parked requests."""

    def __init__(
        self,
        upstream: str,
        fault: Callable[[int, dict[str, Any]], str | None] | None = None,
        stall_s: float = 3.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault = fault or (lambda n, body: None)
        self.stall_s = stall_s
        self.received = 0
        self.forwarded = 0
        self.held = 0
        self.hold_after: int | None = None
        self.faults: list[str] = []
        self._lock = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self._drop_held = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy._lock:
                    proxy.received += 1
                    n = proxy.received
                kind = proxy.fault(n, json.loads(body))
                if kind:
                    proxy.faults.append(kind)
                    return self._fault(kind)
                with proxy._lock:
                    hold = proxy.hold_after is not None and proxy.forwarded >= proxy.hold_after
                    if hold:
                        proxy.held += 1
                if hold:
                    proxy._gate.wait()
                    with proxy._lock:
                        proxy.held -= 1
                    if proxy._drop_held:
                        return self._send(503, b'{"error": "dropped"}')
                with proxy._lock:
                    proxy.forwarded += 1
                r = httpx.post(
                    f"{proxy.upstream}{self.path.removeprefix('/v1')}",
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=120,
                )
                self._send(r.status_code, r.content)

            def _fault(self, kind: str) -> None:
                if kind == "stall":
                    time.sleep(proxy.stall_s)
                    return self._send(200, b'{"choices": []}')
                if kind == "garbage":
                    return self._send(200, b"<html>502 Bad Gateway from some load balancer")
                if kind == "nochoices":
                    return self._send(200, b'{"object": "chat.completion", "choices": []}')
                headers = {"retry-after": "0"} if kind == "429" else {}
                return self._send(int(kind), b'{"error": "injected"}', headers)

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) or was killed

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def hold(self, after: int) -> None:
        """Park every request that arrives once ``after`` requests were forwarded."""
        self._gate.clear()
        self.hold_after = after

    def release(self, drop: bool = False) -> None:
        """Stop holding; parked requests go upstream, or (``drop``: their client was killed) get a 503."""
        self._drop_held = drop
        self.hold_after = None
        self._gate.set()

    def close(self) -> None:
        """Stop serving."""
        self.release(drop=True)
        self.server.shutdown()
        self.server.server_close()


_SHARED: dict[str, Any] = {}


def shared_tiny_model() -> Path:
    """The tiny chat model, built once per test process (test files share it)."""
    if "model" not in _SHARED:
        root = Path(tempfile.mkdtemp(prefix="aesdata-tiny-llm-"))
        _SHARED["model"] = build_tiny_chat_model(root / "model")
    return _SHARED["model"]


def shared_serve() -> ServeProcess:
    """``transformers serve`` of the tiny model, started once per test process, stopped at exit."""
    if "serve" not in _SHARED:
        model = shared_tiny_model()
        server = ServeProcess(model, model.parent / "serve.log")
        atexit.register(server.stop)
        _SHARED["serve"] = server
    return _SHARED["serve"]
