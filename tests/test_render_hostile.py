"""Hostile pages: the pool finishes all of them, each gets a status, nothing reaches the network.

Proof of "nothing leaves": every hostile page aims its requests (fetch, XHR, images, scripts, CSS
@import, iframes, forms, beacons, EventSource, WebSocket, preconnect, prefetch, WebRTC, popups,
navigation) at a TCP listener this test opens on loopback. The listener counts accepted connections
(not only HTTP requests); it must count zero, while the pages' blocked-request lists show they tried.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from aesdata.render.browser_pool import RenderConfig
from aesdata.render.html import render_html, render_many
from tests.render_helpers import LoopPool


class ConnectionCounter:
    """A loopback TCP listener that accepts and counts connections until stopped."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def hostile_pages(port: int) -> dict[str, str]:
    """name -> page; ``port`` is the loopback listener every network attempt targets."""
    target = f"http://127.0.0.1:{port}"
    named = f"http://localhost:{port}"
    body = "<h1>Hostile page with a heading long enough not to be blank</h1><p>some paragraph text</p>"
    return {
        "js_infinite_loop": "<html><body><h1>loop</h1><script>while (true) {}</script></body></html>",
        "while_after_load": f"<html><body>{body}<script>onload = () => setTimeout(() => {{ while (true) {{}} }}, 10)</script></body></html>",
        "memory_bomb": f"<html><body>{body}<script>const a = []; while (true) a.push(new Array(1e6).fill(Math.random()));</script></body></html>",
        "alert_storm": f"<html><body>{body}<script>for (let i = 0; i < 20000; i++) {{ alert(i); confirm(i); prompt(i); }}"
        "setInterval(() => alert('again'), 0);</script></body></html>",
        "huge_dom": "<html><body><script>const f = document.createDocumentFragment();"
        "for (let i = 0; i < 200000; i++) { const d = document.createElement('div'); d.textContent = 'row ' + i; f.appendChild(d); }"
        "document.body.appendChild(f);</script></body></html>",
        "network_exfiltration": f"""<html><head>
            <link rel="preconnect" href="{target}"><link rel="dns-prefetch" href="//evil.example.com">
            <link rel="prefetch" href="{target}/prefetch"><link rel="stylesheet" href="{target}/style.css">
            <style>@import url("{named}/import.css"); body {{ background-image: url("{target}/bg.png"); }}
              @font-face {{ font-family: X; src: url("{target}/font.woff2"); }} h1 {{ font-family: X; }}</style>
            <script src="{target}/script.js"></script></head><body>{body}
            <img src="{target}/img.png"><iframe src="{target}/frame"></iframe><video src="{named}/v.mp4"></video>
            <form id="f" action="{target}/form" method="post" target="_blank"><input name="q" value="1"></form>
            <script>
              fetch("{target}/fetch").catch(() => {{}}); fetch("{named}/fetch2", {{mode: "no-cors"}}).catch(() => {{}});
              const x = new XMLHttpRequest(); x.open("GET", "{target}/xhr"); x.send();
              navigator.sendBeacon("{target}/beacon", "data");
              try {{ new EventSource("{target}/events"); }} catch (e) {{}}
              const ws = new WebSocket("ws://127.0.0.1:{port}/ws"); ws.onerror = () => {{}};
              try {{ new Worker(URL.createObjectURL(new Blob(['fetch("{target}/worker")']))); }} catch (e) {{}}
              try {{ const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}});
                    pc.createDataChannel("x"); pc.createOffer().then((o) => pc.setLocalDescription(o)); }} catch (e) {{}}
              document.getElementById("f").submit();
              new Image().src = "https://tracker.example.com/pixel.gif";
            </script></body></html>""",
        "window_open": f"""<html><body>{body}<a id="a" href="{target}/popup" target="_blank">x</a>
            <script>window.open("{target}/open"); document.getElementById("a").click();</script></body></html>""",
        "navigation_away": f"""<html><head><meta http-equiv="refresh" content="0;url={target}/refresh"></head><body>{body}
            <script>setTimeout(() => {{ location.href = "{target}/away"; }}, 0);
            setTimeout(() => {{ location.assign("https://example.com/"); }}, 20);</script></body></html>""",
        "print_loop": f"<html><body>{body}<script>for (let i = 0; i < 1000; i++) print();</script></body></html>",
    }


NORMAL = "<html><body style='font-family:sans-serif'><h1>A perfectly normal page</h1><p>With a paragraph of text.</p></body></html>"


@pytest.mark.timeout(120)
def test_hostile_corpus_is_contained_and_the_pool_keeps_working() -> None:
    listener = ConnectionCounter()
    socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()  # control: it does count
    deadline = time.monotonic() + 2
    while listener.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listener.accepted == 1
    listener.accepted = 0
    config = RenderConfig(
        concurrency=4, browsers=1, load_timeout_s=6, settle_timeout_s=3, screenshot_timeout_s=6
    )
    lp = LoopPool(config, store=None)
    try:
        pages = hostile_pages(listener.port)
        t0 = time.perf_counter()
        rows = dict(zip(pages, lp.run(render_many(lp.pool, list(pages.values()))), strict=True))
        elapsed = time.perf_counter() - t0
        after = lp.run(render_html(lp.pool, NORMAL))
        time.sleep(0.5)  # late connections (beacons, popups) would arrive by now
    finally:
        lp.close()
        listener.stop()

    status = {name: row["render_status"] for name, row in rows.items()}
    print(f"hostile corpus: {elapsed:.1f} s", status)
    assert status["js_infinite_loop"] == "timeout"
    assert status["while_after_load"] == "timeout"
    assert status["memory_bomb"] in ("crash", "timeout")
    for name in ("alert_storm", "window_open", "navigation_away", "print_loop"):
        assert status[name] == "ok", (name, rows[name]["render_error"])
    # rendered; the blocked worker fetch rejects uncaught, which is the page's own error
    assert status["network_exfiltration"] in ("ok", "js_error"), rows["network_exfiltration"]["render_error"]
    assert rows["network_exfiltration"]["screenshot"] is not None
    assert status["huge_dom"] in ("ok", "timeout")
    for name, row in rows.items():
        if status[name] not in ("ok", "js_error"):
            assert row["render_error"] and row["screenshot"] is None, name
    if status["huge_dom"] == "ok":
        assert json.loads(rows["huge_dom"]["layout_json"])["truncated"] is True

    assert listener.accepted == 0, "a page reached the loopback listener"
    blocked = [b["url"] for b in json.loads(rows["network_exfiltration"]["blocked_requests_json"])]
    for path in (
        "/fetch",
        "/xhr",
        "/img.png",
        "/script.js",
        "/style.css",
        "/beacon",
        "/frame",
        "/ws",
        "/form",
    ):
        assert any(u.startswith(("http://127.0.0.1", "ws://127.0.0.1")) and path in u for u in blocked), (
            path,
            blocked,
        )
    assert any("tracker.example.com" in u for u in blocked)
    nav = json.loads(rows["navigation_away"]["blocked_requests_json"])
    assert {b["reason"] for b in nav} == {"navigation"}
    # the page stayed: its own heading is in the layout, not an error page
    assert "Hostile page" in rows["navigation_away"]["layout_json"]
    assert "Hostile page" in rows["window_open"]["layout_json"]

    assert after["render_status"] == "ok" and after["screenshot"]["bytes"][:4] == b"\x89PNG"
    assert elapsed < 60, f"hostile corpus took {elapsed:.1f} s"
