"""The network seal of one sample: what answers each request of a page, and the record of it.

Every request of a sample's page goes through :meth:`NetworkGuard.handle` (installed by
:class:`~aesdata.render.browser_pool.BrowserPool` as the context's one route handler). The sample
document (at ``SAMPLE_URL``), the files of its own folder (a multi-file sample, :func:`own_file`) and
the :class:`~aesdata.render.assets.AssetStore`'s answers (exact npm files, fetched on demand outside
the page; placeholder images) are served by aesdata; navigations elsewhere get ``204 No Content``
(the page stays); anything else is aborted. The main frame shows one document per sample: once the
sample document is served to it, a navigation back to it (a link to the page itself, ``location.reload()``,
a form posted to its own URL) is refused like any other navigation. A second document would load while
the interactive agent observes, outside the renderer's settle and motion freeze, so what the agent saw
(the old page, a half-loaded new one) depended on the machine's speed. Every answer, substitution and refusal is recorded in
the session's ``assets`` and ``blocked`` lists. Before the document is served, its ``integrity``
attributes are checked against the bytes the store will serve (:func:`seal_integrity`).

The browser-level half of the seal (every host name unresolvable, a proxy that refuses connections)
is in the pool's launch flags.

Inputs: the sample's HTML, the store (or ``None``: every CDN request blocked), the sample's folder.
Outputs: the routed answers, and records appended through :class:`SessionRecords`.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Route

from aesdata.render.assets import (
    ASSET_HOST,
    Answer,
    AssetStore,
    image_size,
    looks_like_image,
    placeholder_image,
    sri_matches,
)
from aesdata.render.fidelity import SAMPLE_ORIGIN

#: Where the sample document is served (a real https origin, so ``localStorage`` works).
SAMPLE_URL = SAMPLE_ORIGIN + "index.html"


class SessionRecords(Protocol):
    """What the seal writes to: the live records of one open sample (``browser_pool.PageSession``)."""

    assets: list[dict[str, Any]]
    blocked: list[dict[str, Any]]

    def record(self, target: list[dict[str, Any]], item: dict[str, Any]) -> None:
        """Append ``item`` to ``target`` (one of the lists above), up to the session's cap."""
        ...


class NetworkGuard:
    """The route handlers of one sample: serve the document, its own files and the store's answers;
    refuse and record the rest.

    Before the document is served, every ``<script>``/``<link>`` with an ``integrity`` attribute is
    checked against the bytes the store will serve: equal bytes pass Chromium's own check; for
    different bytes the store's policy decides (``strip``: the attribute is removed from the served
    document; ``reject``: kept, Chromium refuses the file). Each decision is recorded per asset.
    """

    def __init__(
        self, html: str, store: AssetStore | None, session: SessionRecords, files_root: Path | None = None
    ) -> None:
        self.html = html
        self.document: bytes | None = None
        self.store = store
        self.session = session
        self.files_root = files_root.resolve() if files_root is not None else None
        self.sri: dict[str, str] = {}  # absolute URL -> ok | stripped | rejected
        #: the document was served to the page's main frame: a later navigation of the main frame to it
        #: (a link to the page itself, a reload, a form posted to it) is refused like any other
        self.shown = False

    def _seal_document(self) -> bytes:
        """The document as served (integrity attributes stripped where the policy says so)."""
        if self.store is None:
            return self.html.encode("utf-8", "replace")
        try:
            self.sri, text = seal_integrity(self.html, self.store)
        except Exception:  # noqa: BLE001 - a store fault leaves the document as written (Chromium checks)
            self.sri, text = {}, self.html
        return text.encode("utf-8", "replace")

    def _record(self, url: str, kind: str, answer: Answer | None, note: str = "") -> None:
        sri = self.sri.get(url.split("#", 1)[0], "none")
        parts = (
            answer.parts
            if answer is not None
            else [
                {
                    "answered_by": "blocked",
                    "package": None,
                    "version": None,
                    "requested": "",
                    "file": None,
                    "note": note,
                }
            ]
        )
        for part in parts:
            item = {"url": url[:500], "kind": kind, **part, "sri": sri}
            if sri == "rejected" and part["answered_by"] != "blocked":
                item["answered_by"] = "sri-rejected"
            self.session.record(self.session.assets, item)

    async def handle(self, route: Route) -> None:
        request = route.request
        url = request.url
        try:
            navigation = request.is_navigation_request()
            own_document = url.split("#", 1)[0] == SAMPLE_URL
            main = own_document and navigation and _in_main_frame(request)
            if own_document and not (main and self.shown):
                if self.document is None:
                    self.document = await asyncio.to_thread(self._seal_document)
                await route.fulfill(
                    status=200, body=self.document, headers={"content-type": "text/html; charset=utf-8"}
                )
                self.shown = self.shown or main
                return
            kind = _KINDS.get(request.resource_type, "other")
            if url.startswith(SAMPLE_ORIGIN) and not navigation:
                own = own_file(self.files_root, url)
                if own is not None:
                    await route.fulfill(status=200, body=own[0], headers={"content-type": own[1]})
                    return
                self._record(url, kind, None, "not in the sample's folder (missing online too)")
            answer = None
            if self.store is not None and not navigation:
                try:
                    answer = await asyncio.to_thread(self.store.lookup, url)
                except Exception as e:  # noqa: BLE001 - a store fault blocks this request, never hangs it
                    self._record(url, kind, None, f"store error: {type(e).__name__}: {e}"[:200])
                    await route.abort("blockedbyclient")
                    return
            if answer is not None and answer.body is not None:
                if not url.startswith(f"https://{ASSET_HOST}/") or answer.answered_by != "exact":
                    self._record(url, kind, answer)
                await route.fulfill(
                    status=200,
                    body=answer.body,
                    headers={"content-type": answer.content_type, "access-control-allow-origin": "*"},
                )
                return
            if answer is not None:
                self._record(url, kind, answer)
            elif (
                not navigation
                and not url.startswith(SAMPLE_ORIGIN)
                and url.startswith(("http:", "https:"))
                and self.store is not None
                and looks_like_image(url, request.resource_type)
                and self.store.policy.images == "placeholder"
            ):
                body, ctype = placeholder_image(url)
                self.session.record(
                    self.session.assets,
                    {
                        "url": url[:500],
                        "kind": "image",
                        "answered_by": "placeholder",
                        "package": None,
                        "version": None,
                        "requested": "",
                        "file": None,
                        "sri": "none",
                        "note": "neutral placeholder {}x{}".format(*image_size(url)),
                    },
                )
                await route.fulfill(
                    status=200, body=body, headers={"content-type": ctype, "access-control-allow-origin": "*"}
                )
                return
            elif not navigation and not url.startswith(SAMPLE_ORIGIN) and url.startswith(("http:", "https:")):
                self._record(url, kind, None, "unknown host: nothing on npm answers it")
            self.session.record(
                self.session.blocked,
                {
                    "url": url[:500],
                    "type": request.resource_type,
                    "reason": "navigation"
                    if navigation
                    else ("not-in-sample" if url.startswith(SAMPLE_ORIGIN) else "network"),
                },
            )
            if navigation:  # 204: the browser stays on the current document
                await route.fulfill(status=204, body=b"")
            else:
                await route.abort("blockedbyclient")
        except PlaywrightError:
            pass  # the page or context went away while the request was in flight


def _in_main_frame(request: Any) -> bool:
    """Whether a navigation request is for a page's main frame (not an iframe). A popup's first
    navigation has no frame yet (Playwright raises): not the sample page's main frame either."""
    try:
        return request.frame.parent_frame is None
    except PlaywrightError:
        return False


_KINDS = {"script": "script", "stylesheet": "stylesheet", "font": "font", "image": "image", "media": "image"}
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I)
_ATTR = re.compile(r"""\s(src|href|integrity)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.I)


def seal_integrity(html: str, store: AssetStore) -> tuple[dict[str, str], str]:
    """Check each ``integrity`` attribute of ``html`` against the bytes ``store`` serves for its URL.

    Returns ({absolute URL: ok | stripped | rejected}, the document to serve). A URL the store does
    not answer is left alone (the request is blocked and recorded anyway)."""
    decisions: dict[str, str] = {}
    pieces: list[str] = []
    last = 0
    for tag in _TAG.finditer(html):
        attrs = {m.group(1).lower(): m for m in _ATTR.finditer(tag.group(0))}
        if "integrity" not in attrs or not ({"src", "href"} & set(attrs)):
            continue
        raw = (attrs.get("src") or attrs["href"]).group(2).strip("\"'")
        url = urljoin(SAMPLE_URL, raw.replace("&amp;", "&"))
        integrity = attrs["integrity"].group(2).strip("\"'")
        if not integrity.strip():
            continue
        answer = store.lookup(url)
        if answer is None or answer.body is None:
            continue
        if sri_matches(integrity, answer.body):
            decisions[url] = "ok"
        elif store.policy.sri == "strip":
            decisions[url] = "stripped"
            m = attrs["integrity"]
            start, end = tag.start() + m.start(), tag.start() + m.end()
            pieces.append(html[last:start])
            last = end
        else:
            decisions[url] = "rejected"
    pieces.append(html[last:])
    return decisions, "".join(pieces)


def own_file(root: Path | None, url: str) -> tuple[bytes, str] | None:
    """The bytes and content type of a file of the sample's own folder, or ``None``."""
    if root is None:
        return None
    rel = unquote(urlsplit(url).path).lstrip("/")
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), ctype
