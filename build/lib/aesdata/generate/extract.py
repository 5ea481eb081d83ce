"""Pull the code out of a model reply: one self-contained HTML file, or one Python script.

Handles what replies really look like: ``<think>`` sections (closed, unclosed, or only a closing
tag when the chat template opened it), fenced blocks with or without a language or a file name,
several files (``index.html`` + ``style.css`` + ``script.js`` are inlined into the HTML), a whole
unfenced document, and replies cut off by the token limit (flagged ``truncated``, code kept).
Written by hand: no library parses LLM replies this way.

>>> extract_code("Here:\\n```html\\n<html><body>Hi</body></html>\\n```", "html").status
'ok'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[ \t]*([^\n`]*)$", re.M)
_NAME_LINE = re.compile(r"([\w./-]+\.(?:html?|css|js|mjs|py))\b", re.I)
_FIRST_LINE_NAME = re.compile(
    r"[ \t]*(?://|/\*|<!--|#)[ \t]*([\w./-]+\.(?:html?|css|js|mjs|py))\b[^\n]*$", re.I | re.M
)
_LANGS = {
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "svg": "html",
    "css": "css",
    "js": "js",
    "javascript": "js",
    "mjs": "js",
    "jsx": "js",
    "py": "python",
    "python": "python",
    "python3": "python",
}


@dataclass
class Block:
    """One fenced block: ``lang`` (html | css | js | python | ''), ``name`` (file name or ''),
    ``text`` and whether its closing fence was missing (``closed`` false)."""

    lang: str
    name: str
    text: str
    closed: bool


@dataclass
class Extraction:
    """Result: ``code`` (``None`` when none was found), ``status`` (ok | truncated | no_code) and
    ``files`` (names of the blocks merged into ``code``)."""

    code: str | None
    status: str
    files: list[str]


def strip_think(text: str) -> tuple[str, bool]:
    """Remove reasoning sections; return ``(visible text, thinking_unfinished)``.

    ``<think>...</think>`` blocks are removed; a lone ``</think>`` drops everything before it;
    an unclosed ``<think>`` means the reply ended while thinking (nothing visible follows).
    """
    text = _THINK_BLOCK.sub("", text)
    low = text.lower()
    if "</think>" in low:
        text = text[low.rindex("</think>") + len("</think>") :]
        low = text.lower()
    if "<think>" in low:
        return text[: low.index("<think>")], True
    return text, False


def fenced_blocks(text: str) -> list[Block]:
    """Return the fenced code blocks of ``text`` in order (a last unclosed fence runs to the end)."""
    blocks: list[Block] = []
    pos = 0
    while True:
        m = _FENCE_OPEN.search(text, pos)
        if m is None:
            return blocks
        fence, info, rest = m.group(1), m.group(2).strip(), m.group(3).strip()
        body_start = m.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M).search(
            text, body_start
        )
        body = text[body_start : close.start() if close else len(text)]
        lang, name = _classify(info, rest, text[max(0, m.start() - 200) : m.start()])
        if not name:  # a file name in a comment on the block's first line: // script.js, <!-- index.html -->
            first = _FIRST_LINE_NAME.match(body)
            if first:
                name = first.group(1)
                lang = lang or _LANGS.get(name.rsplit(".", 1)[-1].lower(), "")
        blocks.append(Block(lang=lang, name=name, text=body.rstrip("\n"), closed=close is not None))
        if close is None:
            return blocks
        pos = close.end()


def _classify(info: str, rest: str, before: str) -> tuple[str, str]:
    """Language and file name of a block from its info string (```html index.html, ```css:style.css)
    or from a file name on the line just before the fence (**style.css**, ### script.js)."""
    name = ""
    lang_token = info
    if ":" in info:
        lang_token, name = info.split(":", 1)
    elif "." in info and _NAME_LINE.fullmatch(info):
        lang_token, name = "", info
    if not name and rest and _NAME_LINE.search(rest):
        name = _NAME_LINE.search(rest).group(1)
    if not name:
        last_line = before.rstrip().rsplit("\n", 1)[-1]
        hit = _NAME_LINE.search(last_line)
        if hit and len(last_line) < 120:
            name = hit.group(1)
    lang = _LANGS.get(lang_token.lower(), "")
    if not lang and name:
        lang = _LANGS.get(name.rsplit(".", 1)[-1].lower(), "")
    return lang, name


def _looks_like_html(text: str) -> bool:
    low = text.lstrip().lower()
    return low.startswith(("<!doctype", "<html")) or ("<body" in low and "</" in low)


def _looks_like_python(text: str) -> bool:
    return bool(re.search(r"^\s*(import |from \w[\w.]* import )", text, re.M))


def _inline_assets(html: str, css: list[Block], js: list[Block]) -> str:
    """Put the CSS and JS files into the HTML: replace ``<link href=name>`` / ``<script src=name>``
    references, and add the unreferenced ones at the end of ``<head>`` / ``<body>``."""
    for block in css:
        pat = (
            re.compile(rf"<link\b[^>]*href=[\"']?(?:\./)?{re.escape(block.name)}[\"']?[^>]*>", re.I)
            if block.name
            else None
        )
        tag = f"<style>\n{block.text}\n</style>"
        if pat is not None and pat.search(html):
            html = pat.sub(lambda _m, t=tag: t, html, count=1)
        elif re.search(r"</head>", html, re.I):
            html = re.sub(r"</head>", lambda _m, t=tag: f"{t}\n</head>", html, count=1, flags=re.I)
        else:
            html = f"{tag}\n{html}"
    for block in js:
        pat = (
            re.compile(
                rf"<script\b[^>]*src=[\"']?(?:\./)?{re.escape(block.name)}[\"']?[^>]*>\s*</script>", re.I
            )
            if block.name
            else None
        )
        tag = f"<script>\n{block.text}\n</script>"
        if pat is not None and pat.search(html):
            html = pat.sub(lambda _m, t=tag: t, html, count=1)
        elif re.search(r"</body>", html, re.I):
            html = _replace_last(html, "</body>", f"{tag}\n</body>")
        else:
            html = f"{html}\n{tag}"
    return html


def _replace_last(text: str, needle: str, replacement: str) -> str:
    i = text.lower().rindex(needle.lower())
    return text[:i] + replacement + text[i + len(needle) :]


def _extract_html(visible: str) -> tuple[str | None, bool, list[str]]:
    """Return ``(code, cut_off, files)`` for an HTML reply."""
    blocks = fenced_blocks(visible)
    html = [b for b in blocks if b.lang == "html" or (b.lang == "" and _looks_like_html(b.text))]
    if html:
        main = next((b for b in html if b.name.lower().endswith(("index.html", "index.htm"))), None)
        main = main or max(html, key=lambda b: len(b.text))
        css = [b for b in blocks if b.lang == "css"]
        js = [b for b in blocks if b.lang == "js"]
        code = _inline_assets(main.text, css, js) if css or js else main.text
        files = [b.name or b.lang for b in [main, *css, *js]]
        cut = any(not b.closed for b in [main, *css, *js])
        return code, cut or _html_unclosed(code), files
    m = re.search(r"<!doctype html|<html", visible, re.I)
    if m is None:
        return None, False, []
    end = visible.lower().rfind("</html>")
    code = visible[m.start() : end + len("</html>")] if end > m.start() else visible[m.start() :]
    return code.strip(), end <= m.start(), ["reply"]


def _html_unclosed(code: str) -> bool:
    low = code.lower()
    return "<html" in low and "</html>" not in low


def _extract_python(visible: str) -> tuple[str | None, bool, list[str]]:
    """Return ``(code, cut_off, files)`` for a plotting-script reply (the longest Python block)."""
    blocks = fenced_blocks(visible)
    py = [b for b in blocks if b.lang == "python" or (b.lang == "" and _looks_like_python(b.text))]
    if py:
        main = max(py, key=lambda b: len(b.text))
        return main.text, not main.closed, [main.name or "python"]
    if not blocks and _looks_like_python(visible):
        return visible.strip(), False, ["reply"]
    return None, False, []


def extract_code(reply: str | None, kind: str, finish_reason: str | None = None) -> Extraction:
    """Extract the code of ``kind`` (``html`` | ``plot``) from ``reply``.

    Status: ``truncated`` when the reply hit the token limit (``finish_reason == "length"``), ended
    inside ``<think>``, or left a fence or the document open without a ``stop`` finish reason; ``no_code`` when nothing
    usable was found; else ``ok``.
    """
    visible, thinking_cut = strip_think(reply or "")
    code, cut, files = (_extract_html if kind == "html" else _extract_python)(visible)
    if code is not None and not code.strip():
        code = None
    # an open fence or document counts as cut off unless the server said the model stopped by itself
    truncated = finish_reason == "length" or thinking_cut or (cut and finish_reason != "stop")
    if code is None:
        return Extraction(None, "truncated" if truncated else "no_code", [])
    return Extraction(code, "truncated" if truncated else "ok", files)
