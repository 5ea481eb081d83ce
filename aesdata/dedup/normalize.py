"""Code-aware normalisation for dedup: a canonical form for exact hashing, and shingles for MinHash.

Two levels, both functions of the code alone:

- ``canonical(code, kind)`` removes what never changes a page or plot: comments (HTML, CSS, JS,
  Python), whitespace, attribute order and class order in tags, SRI/crossorigin attributes, and the
  host and version of common CDN URLs (``cdn.jsdelivr.net/npm/chart.js@4.4.0/...`` and
  ``unpkg.com/chart.js@4.3.1/...`` both become ``cdn:chart.js/...``). Its sha256 is the exact code hash.
- ``shingle_text(code, kind)`` goes further for near-duplicates: colour literals (hex, rgb/hsl, Tailwind
  colour utilities) become ``COLOR``, class/id names defined in the page's own CSS become ``c0, c1...``
  in CSS order (so consistently renamed classes read the same), Python names bound by the script
  become ``v0, v1...``; the result is lower-cased and cut into tokens joined by single spaces.
- ``shingle_hashes(text, k)`` hashes every window of ``k`` consecutive tokens to 64 bits, vectorised
  with numpy (no Python loop per token).

Hand-written because no library normalises generated HTML/CSS/JS and Python for dedup; regexes
rather than a full parser keep it at ~0.2 ms per page (a DOM parse is ~10x slower) and it never
fails on broken markup, which generated pages often are.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize

import numpy as np

# --- CDN URLs ---------------------------------------------------------------------------------------
_CDN_HOST = re.compile(
    r"(?:https?:)?//(?:cdn\.jsdelivr\.net/(?:npm|gh)/|unpkg\.com/|esm\.sh/|cdn\.skypack\.dev/|"
    r"cdnjs\.cloudflare\.com/ajax/libs/|ajax\.googleapis\.com/ajax/libs/|code\.jquery\.com/|"
    r"(?:stackpath|maxcdn)\.bootstrapcdn\.com/|cdn\.plot\.ly/|d3js\.org/|cdn\.tailwindcss\.com|"
    r"use\.fontawesome\.com/(?:releases/)?|kit\.fontawesome\.com/)([^\s\"'<>)]*)",
    re.I,
)
_VERSION_PART = re.compile(
    r"@[\^~]?v?\d[\w.\-]*|(?<=/)v?\d+(?:\.\d+)*(?:[-.\w]*)?(?=/|$)|(?<=/)r\d+(?=/)|[-.]v?\d+(?:\.\d+)+(?=[.-])|\.v\d+(?=\.)"
)


def _cdn(match: re.Match[str]) -> str:
    path = _VERSION_PART.sub("", match.group(1))
    return "cdn:" + re.sub(r"/{2,}", "/", path).strip("/").lower()


def normalize_cdn(text: str) -> str:
    """Replace CDN URLs by ``cdn:<package path without versions>`` (host and version dropped)."""
    return _CDN_HOST.sub(_cdn, text)


# --- CSS and JS ------------------------------------------------------------------------------------
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SPACE = re.compile(r"\s+")
_CSS_PUNCT = re.compile(r"\s+(?=[{};:,>+~()])|(?<=[{};:,>+~()])\s+")
_JS_STRING_OR_COMMENT = re.compile(
    r"(\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|/\*.*?\*/|(?<![:\\])//[^\n]*", re.S
)
_JS_PUNCT = re.compile(r"\s+(?=[{};,=()\[\]<>+\-*/&|!?:])|(?<=[{};,=()\[\]<>+\-*/&|!?:])\s+")


def normalize_css(css: str) -> str:
    """CSS without comments and insignificant whitespace (``a { color: red; }`` -> ``a{color:red}``)."""
    css = _CSS_PUNCT.sub("", _SPACE.sub(" ", _CSS_COMMENT.sub("", css))).strip()
    return css.replace(";}", "}")


def normalize_js(js: str) -> str:
    """JavaScript without comments (strings kept) and with whitespace around punctuation removed."""
    js = _JS_STRING_OR_COMMENT.sub(lambda m: m.group(1) or " ", js)
    return _JS_PUNCT.sub("", _SPACE.sub(" ", js)).strip()


# --- HTML ------------------------------------------------------------------------------------------
_HTML_PARTS = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style)\b([^>]*)>(.*?)(?:</\1\s*>|$)|<([a-zA-Z][\w:-]*)([^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*)>|</\s*([a-zA-Z][\w:-]*)\s*>",
    re.S | re.I,
)
_ATTR = re.compile(r"([^\s=/>\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_TAG_SPACE = re.compile(r" (?=<)|(?<=>) ")
_DROP_ATTRS = {"integrity", "crossorigin", "referrerpolicy", "nonce"}


def _attrs(raw: str) -> str:
    out = []
    for name, value in _ATTR.findall(raw):
        name = name.lower()
        if name in _DROP_ATTRS:
            continue
        value = value[1:-1] if value[:1] in "\"'" and len(value) >= 2 else value
        if name == "class":
            value = " ".join(sorted(value.split()))
        elif name == "style":
            value = normalize_css(value)
        else:
            value = _SPACE.sub(" ", value).strip()
        out.append(f'{name}="{value}"' if value or "=" in raw else name)
    return " ".join(sorted(out))


def _html_part(m: re.Match[str]) -> str:
    if m.group(1):  # script / style element
        tag = m.group(1).lower()
        body = normalize_css(m.group(3)) if tag == "style" else normalize_js(m.group(3))
        attrs = _attrs(m.group(2))
        return f"<{tag}{' ' + attrs if attrs else ''}>{body}</{tag}>"
    if m.group(4):  # opening tag
        attrs = _attrs(m.group(5))
        return f"<{m.group(4).lower()}{' ' + attrs if attrs else ''}>"
    if m.group(6):  # closing tag
        return f"</{m.group(6).lower()}>"
    return ""  # comment


def normalize_html(html: str) -> str:
    """Canonical HTML: no comments, sorted attributes and classes, CSS/JS normalised, CDN-neutral."""
    html = _HTML_PARTS.sub(_html_part, html)
    html = _TAG_SPACE.sub("", _SPACE.sub(" ", html))
    return normalize_cdn(html).strip()


# --- Python ----------------------------------------------------------------------------------------
def _python_tokens(code: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None


def normalize_python(code: str) -> str:
    """Canonical Python: the token stream without comments, blank lines or layout whitespace."""
    toks = _python_tokens(code)
    if toks is None:  # not tokenizable: drop '#' comments and whitespace the rough way
        return _SPACE.sub(" ", re.sub(r"#[^\n]*", "", code)).strip()
    out = []
    for t in toks:
        if t.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        out.append({tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}.get(t.type, t.string))
    return normalize_cdn(" ".join(out))


def canonical(code: str, kind: str) -> str:
    """The canonical form of ``code`` (``kind`` html or plot) that the exact code hash is taken of."""
    return normalize_html(code) if kind == "html" else normalize_python(code)


# --- near-duplicate text ---------------------------------------------------------------------------
_COLOR = re.compile(
    r"#(?:[0-9a-f]{8}|[0-9a-f]{6}|[0-9a-f]{3,4})\b|[rhlo](?:gba?|sla?|klch|klab|ab|ch)\([^)]*\)", re.I
)
# Tailwind colour utilities (bg-sky-500, hover:text-white...): the colour part becomes COLOR
_TW_COLOR = re.compile(
    r"-(?:(?:slate|gray|zinc|neutral|stone|red|orange|amber|yellow|lime|green|emerald|teal|cyan|sky|blue|"
    r"indigo|violet|purple|fuchsia|pink|rose)-\d{2,3}(?:/\d+)?|white|black)(?![\w-])"
)
_CSS_NAME = re.compile(r"(?<![\w-])[.#](-?[a-zA-Z_][\w-]*)")
_STYLE_BODY = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
_CSS_RULE_BODY = re.compile(r"\{[^{}]*\}")
_TOKEN = re.compile(r"</?[a-z][\w-]*|[\w#%.-]+|[{}()\[\]=;:,/*+]")


def _tokens(text: str, names: dict[str, str]) -> str:
    """Lower-cased tokens of ``text`` joined by spaces, names (and ``.name`` / ``#name``) replaced."""
    table = {}
    for name, new in names.items():
        name = name.lower()
        table.update({name: new, "." + name: "." + new, "#" + name: "#" + new})
    return " ".join([table.get(t, t) for t in _TOKEN.findall(text.lower())])


def _html_shingle_text(canon: str) -> str:
    css = " ".join(_STYLE_BODY.findall(canon))
    names: dict[str, str] = {}
    for name in _CSS_NAME.findall(_CSS_RULE_BODY.sub(" ", _COLOR.sub(" ", css))):
        names.setdefault(name, f"c{len(names)}")
    text = _TW_COLOR.sub("-COLOR", _COLOR.sub("COLOR", canon))
    return _tokens(text, names)


def _python_shingle_text(code: str, canon: str) -> str:
    names: dict[str, str] = {}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        bound = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound = node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = node.name
        elif isinstance(node, ast.arg):
            bound = node.arg
        if bound:
            names.setdefault(bound, f"v{len(names)}")
    return _tokens(_COLOR.sub("COLOR", canon), names)


def shingle_text(code: str, kind: str, canon: str | None = None) -> str:
    """Tokens of ``code`` for near-dup shingling: normalised, colours and own names neutralised,
    lower-cased, joined by single spaces. ``canon`` is ``canonical(code, kind)`` when already known."""
    canon = canonical(code, kind) if canon is None else canon
    return _html_shingle_text(canon) if kind == "html" else _python_shingle_text(code, canon)


_P = np.uint64(0x100000001B3)
_P_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of uint64 values."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def shingle_hashes(text: str, k: int = 5) -> np.ndarray:
    """64-bit hashes (uint64, repeats kept) of every window of ``k`` space-separated tokens of ``text``.

    Fewer than ``k`` tokens give one shingle of all of them; an empty text gives none.
    """
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    if len(data) == 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        sep = np.flatnonzero(data == 32)
        starts = np.concatenate([[0], sep + 1])
        ends = np.concatenate([sep, [len(data)]])
        powers = np.cumprod(np.full(len(data), _P, dtype=np.uint64))
        powers = np.concatenate([[np.uint64(1)], powers[:-1]])
        prefix = np.concatenate([[np.uint64(0)], np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers)])
        inv = np.cumprod(np.full(len(data), _P_INV, dtype=np.uint64))
        inv = np.concatenate([[np.uint64(1)], inv])
        w = min(k, len(starts))
        s = starts[: len(starts) - w + 1]
        e = ends[w - 1 :]
        h = (prefix[e] - prefix[s]) * inv[s]
        return mix64(h)


def code_features(code: str, kind: str, k: int = 5) -> tuple[str, np.ndarray]:
    """``(exact hash, shingle hashes)`` of ``code``: sha256 of the canonical form (16 hex digits) and
    the uint64 hashes of its ``k``-token shingles."""
    canon = canonical(code, kind)
    return hashlib.sha256(canon.encode()).hexdigest()[:16], shingle_hashes(shingle_text(code, kind, canon), k)
