"""Code-aware normalisation for dedup: a canonical form for exact hashing, and the text shingled for MinHash.

Two levels, both functions of the code alone:

- ``canonical(code, kind)`` removes what never changes a page or plot: comments (HTML, CSS, JS,
  Python), whitespace, attribute order and class order in tags, SRI/crossorigin attributes, and the
  host and version of common CDN URLs (``cdn.jsdelivr.net/npm/chart.js@4.4.0/...`` and
  ``unpkg.com/chart.js@4.3.1/...`` both become ``cdn:chart.js/...``). Its sha256 is the exact code hash.
- ``shingle_text(code, kind, canon)`` goes further for near-duplicates: colour literals (hex,
  rgb/hsl, Tailwind colour utilities) become ``COLOR`` and the text is lower-cased; class/id names
  defined in the page's own CSS are to be read as ``c0, c1...`` in CSS order (so consistently renamed
  classes read the same), Python names bound by the script as ``v0, v1...``: these renames come back
  as a table, applied while hashing. Python goes through ``python_shingle_text``: docstrings dropped,
  numbers read as ``%num``, titles/labels/format strings as ``%str``, colour literals as ``%color`` and
  the string given to a look keyword (``cmap``, ``palette``, ``template``, ``style``, ``*color*``) as
  ``%look``; identifier-like strings (column names, options such as ``"left"``) stay, as they carry
  what the plot shows. Why: a plot script is 20-40 lines, ~300 shingles, and a template clone (new
  title, colormap, template, a few numbers) touches one token in every line or two, each removing up
  to ``k`` shingles: the demo's seaborn and plotly clones measured Jaccard 0.78 and 0.82 (< 0.8) before
  and 1.0 after, while the closest pair of distinct demo scripts went from 0.34 to 0.36. The cost:
  scripts that differ only in inline data numbers or texts read as near-copies, which for dedup
  they are (the same template).
Hashing the shingles (``code_features``) is :mod:`aesdata.dedup.shingles`.

Cost: each regex is one C-level pass; the HTML pass calls back into Python only for tags that change
(tags with attributes or upper case, comments, script/style), and those results are memoised since
generated pages repeat the same tags; whitespace rules are ``str.split``/``str.replace`` passes.
``bench/bench_dedup.py`` measures it against the earlier per-token implementation.

Hand-written because no library normalises generated HTML/CSS/JS and Python for dedup; regexes
rather than a full parser keep it well under a millisecond per page (a DOM parse is ~10x slower) and
it never fails on broken markup, which generated pages often are.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import lru_cache

# --- CDN URLs ---------------------------------------------------------------------------------------
_CDN_HOSTS = (
    r"(?:cdn\.jsdelivr\.net/(?:npm|gh)/|unpkg\.com/|esm\.sh/|cdn\.skypack\.dev/|"
    r"cdnjs\.cloudflare\.com/ajax/libs/|ajax\.googleapis\.com/ajax/libs/|code\.jquery\.com/|"
    r"(?:stackpath|maxcdn)\.bootstrapcdn\.com/|cdn\.plot\.ly/|d3js\.org/|cdn\.tailwindcss\.com|"
    r"use\.fontawesome\.com/(?:releases/)?|kit\.fontawesome\.com/)([^\s\"'<>)]*)"
)
# starts with the literal "//" so the regex engine skips ahead; an "http:"/"https:" before it is
# taken into the match by hand (see normalize_cdn)
_CDN_URL = re.compile("//" + _CDN_HOSTS, re.I)
_VERSION_PART = re.compile(
    r"@[\^~]?v?\d[\w.\-]*|(?<=/)v?\d+(?:\.\d+)*(?:[-.\w]*)?(?=/|$)|(?<=/)r\d+(?=/)|[-.]v?\d+(?:\.\d+)+(?=[.-])|\.v\d+(?=\.)"
)
_SLASHES = re.compile(r"/{2,}")


def _cdn(path: str) -> str:
    return "cdn:" + _SLASHES.sub("/", _VERSION_PART.sub("", path)).strip("/").lower()


def normalize_cdn(text: str) -> str:
    """Replace CDN URLs by ``cdn:<package path without versions>`` (scheme, host and version dropped)."""
    out: list[str] = []
    done = 0
    for m in _CDN_URL.finditer(text):
        start = m.start()
        for scheme in ("https:", "http:"):
            if start - len(scheme) >= done and text[start - len(scheme) : start].lower() == scheme:
                start -= len(scheme)
                break
        out += (text[done:start], _cdn(m.group(1)))
        done = m.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# --- CSS and JS ------------------------------------------------------------------------------------
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_JS_STRING_OR_COMMENT = re.compile(
    r"(\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|/\*.*?\*/|(?<![:\\])//[^\n]*", re.S
)
_CSS_PUNCT = "{};:,>+~()"
_JS_PUNCT = "{};,=()[]<>+-*/&|!?:"


def _squeeze(text: str, punct: str) -> str:
    """Whitespace runs as one space, and no space next to a character of ``punct``; stripped."""
    text = " ".join(text.split())
    for p in punct:
        if p in text:
            text = text.replace(" " + p, p).replace(p + " ", p)
    return text


def normalize_css(css: str) -> str:
    """CSS without comments and insignificant whitespace (``a { color: red; }`` -> ``a{color:red}``)."""
    return _squeeze(_CSS_COMMENT.sub("", css), _CSS_PUNCT).replace(";}", "}")


def normalize_js(js: str) -> str:
    """JavaScript without comments (strings kept) and with whitespace around punctuation removed."""
    return _squeeze(_JS_STRING_OR_COMMENT.sub(lambda m: m.group(1) or " ", js), _JS_PUNCT)


# --- HTML ------------------------------------------------------------------------------------------
# Comments, script/style elements, and tags; tags already canonical (``<p>``, ``</div>``: lower-case
# name, no attributes, no spaces) are not matched, as the substitution would not change them.
_HTML_PARTS = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style)\b([^>]*)>(.*?)(?:</\1\s*>|$)"
    r"|<(?!(?-i:[a-z][a-z0-9_:-]*>))([a-zA-Z][\w:-]*)([^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*)>"
    r"|</(?!(?-i:[a-z][a-z0-9_:-]*>))\s*([a-zA-Z][\w:-]*)\s*>",
    re.S | re.I,
)
_ATTR = re.compile(r"([^\s=/>\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
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
            value = " ".join(value.split())
        out.append(f'{name}="{value}"' if value or "=" in raw else name)
    return " ".join(sorted(out))


@lru_cache(maxsize=1 << 14)
def _open_tag(name: str, raw: str) -> str:
    attrs = _attrs(raw)
    return f"<{name.lower()}{' ' + attrs if attrs else ''}>"


def _html_part(m: re.Match[str]) -> str:
    if m.group(1):  # script / style element
        tag = m.group(1).lower()
        body = normalize_css(m.group(3)) if tag == "style" else normalize_js(m.group(3))
        attrs = _attrs(m.group(2))
        return f"<{tag}{' ' + attrs if attrs else ''}>{body}</{tag}>"
    if m.group(4):  # opening tag
        return _open_tag(m.group(4), m.group(5))
    if m.group(6):  # closing tag
        return f"</{m.group(6).lower()}>"
    return ""  # comment


def normalize_html(html: str) -> str:
    """Canonical HTML: no comments, sorted attributes and classes, CSS/JS normalised, CDN-neutral."""
    html = " ".join(_HTML_PARTS.sub(_html_part, html).split())
    return normalize_cdn(html.replace(" <", "<").replace("> ", ">")).strip()


# --- Python ----------------------------------------------------------------------------------------
@lru_cache(maxsize=4)  # canonical() and python_shingle_text() tokenize the same code back to back
def _python_tokens(code: str) -> tuple[tokenize.TokenInfo, ...] | None:
    try:
        return tuple(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None


_LAYOUT = {tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


def normalize_python(code: str) -> str:
    """Canonical Python: the token stream without comments, blank lines or layout whitespace."""
    toks = _python_tokens(code)
    if toks is None:  # not tokenizable: drop '#' comments and whitespace the rough way
        return " ".join(re.sub(r"#[^\n]*", "", code).split())
    return normalize_cdn(" ".join(_LAYOUT.get(t.type, t.string) for t in toks if t.type not in _SKIP))


def canonical(code: str, kind: str) -> str:
    """The canonical form of ``code`` (``kind`` html or plot) that the exact code hash is taken of."""
    return normalize_html(code) if kind == "html" else normalize_python(code)


# --- near-duplicate tokens -------------------------------------------------------------------------
_COLOR = re.compile(
    r"#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3,4})\b"
    r"|[rhloRHLO](?:[gG][bB][aA]?|[sS][lL][aA]?|[kK][lL][cC][hH]|[kK][lL][aA][bB]|[aA][bB]|[cC][hH])\([^)]*\)"
)
# Tailwind colour utilities (bg-sky-500, hover:text-white...): the colour part becomes COLOR
_TW_COLOR = re.compile(
    r"-(?:(?:slate|gray|zinc|neutral|stone|red|orange|amber|yellow|lime|green|emerald|teal|cyan|sky|blue|"
    r"indigo|violet|purple|fuchsia|pink|rose)-\d{2,3}(?:/\d+)?|white|black)(?![\w-])"
)
# ".name" / "#name" not preceded by [\w-]; written with the [.#] first so the engine skips to it
_CSS_NAME = re.compile(r"[.#](?<![\w-][.#])(-?[a-zA-Z_][\w-]*)")
_STYLE_BODY = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
_CSS_RULE_BODY = re.compile(r"\{[^{}]*\}")
_TOKEN = re.compile(r"</?[a-z][\w-]*|[\w#%.-]+|[{}()\[\]=;:,/*+]")


def _rename_table(names: dict[str, str]) -> dict[str, str]:
    """Token -> replacement for each own name and its ``.name`` / ``#name`` forms (lower-cased)."""
    table = {}
    for name, new in names.items():
        name = name.lower()
        table.update({name: new, "." + name: "." + new, "#" + name: "#" + new})
    return table


def _html_names(canon: str) -> dict[str, str]:
    css = " ".join(_STYLE_BODY.findall(canon))
    names: dict[str, str] = {}
    for name in _CSS_NAME.findall(_CSS_RULE_BODY.sub(" ", _COLOR.sub(" ", css))):
        names.setdefault(name, f"c{len(names)}")
    return names


def _python_names(code: str) -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return names
    for node in ast.walk(tree):
        bound = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound = node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = node.name
        elif isinstance(node, ast.arg):
            bound = node.arg
        if bound:
            names.setdefault(bound, f"v{len(names)}")
    return names


# Python literals in the near-dup text: a string passed to a look keyword (``cmap=``, ``palette=``,
# ``template=``, ``style=``, any ``*color*``) reads as %look, a colour literal as %color, an
# identifier-like string (a column name, an option such as "left") as itself, any other string (titles,
# labels, format strings) as %str, a number as %num; a statement that is only a string (a docstring) is
# dropped. These tokens cannot be Python names, so the variable renames never touch them.
_STRING_BODY = re.compile(r"[A-Za-z]*('''|\"\"\"|'|\")(.*)\1", re.S)
_IDENTIFIER_LIKE = re.compile(r"[A-Za-z_][\w.:-]{0,39}")
_LOOK_KWARG = re.compile(r"\w*(?:colou?rs?|cmap|colormap|palette|template|theme|style)\w*", re.I)
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)  # Python >= 3.12 splits f-strings into tokens
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)


def _python_literal(token: str, keyword: str | None) -> str:
    if keyword is not None and _LOOK_KWARG.fullmatch(keyword):
        return "%look"
    m = _STRING_BODY.fullmatch(token)
    body = m.group(2) if m else ""
    if _COLOR.fullmatch(body):
        return "%color"
    return f'"{body}"' if _IDENTIFIER_LIKE.fullmatch(body) else "%str"


def python_shingle_text(code: str) -> str | None:
    """The token stream of Python ``code`` for near-dup shingling, or None if it does not tokenize.

    Like ``normalize_python`` (no comments or layout whitespace) but with docstrings dropped and
    literals reduced to what a template clone keeps: see the note above ``_python_literal``.
    """
    toks = _python_tokens(code)
    if toks is None:
        return None
    out: list[str] = []
    line: list[str] = []  # the current logical line
    only_strings = True
    depth = 0  # inside an f-string split into tokens (Python >= 3.12)
    prev: list[tokenize.TokenInfo] = []  # the last two significant tokens of the line
    for t in toks:
        if depth:
            depth += (t.type == _FSTRING_START) - (t.type == _FSTRING_END)
            continue
        if t.type in _SKIP:
            continue
        if t.type in (tokenize.INDENT, tokenize.DEDENT):
            out.append(_LAYOUT[t.type])
            continue
        if t.type == tokenize.NEWLINE:
            if not only_strings:
                out += (*line, ";")
            line, only_strings, prev = [], True, []
            continue
        keyword = (
            prev[0].string
            if len(prev) == 2 and prev[0].type == tokenize.NAME and prev[1].string == "="
            else None
        )
        if t.type == _FSTRING_START:
            depth = 1
            line.append(_python_literal('f""', keyword))
        elif t.type == tokenize.STRING:
            line.append(_python_literal(t.string, keyword))
        else:
            only_strings = False
            line.append("%num" if t.type == tokenize.NUMBER else t.string)
        prev = [*prev[-1:], t]
    if not only_strings:
        out += line
    return normalize_cdn(" ".join(out))


def shingle_text(code: str, kind: str, canon: str | None = None) -> tuple[str, dict[str, str]]:
    """``(text, renames)`` of ``code`` for near-dup shingling.

    ``text``: the canonical form with colours neutralised, lower-cased; ``split_tokens`` cuts it into the
    tokens of ``_TOKEN`` (non-ASCII text is cut here with the regex and comes back as tokens joined
    by single spaces, which ``split_tokens`` reads back unchanged). ``renames``: token -> replacement for
    the code's own class/id or variable names. ``canon`` is ``canonical(code, kind)`` when known.
    """
    canon = canonical(code, kind) if canon is None else canon
    if kind == "html":
        names = _html_names(canon)
        text = _TW_COLOR.sub("-COLOR", _COLOR.sub("COLOR", canon)).lower()
    else:
        names = _python_names(code)
        text = (python_shingle_text(code) or _COLOR.sub("COLOR", canon)).lower()
    if not text.isascii():
        text = " ".join(_TOKEN.findall(text))
    return text, _rename_table(names)
