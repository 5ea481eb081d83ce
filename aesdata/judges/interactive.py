"""Interactive judge: explore a live page like a user and score whether its controls respond.

``explore(page)`` is the built-in agent (no model): it finds what a user can act on (buttons, links,
inputs, selects, checkboxes, forms, elements with click handlers or a pointer cursor, canvas games by
keyboard), plans up to ``max_actions`` interactions (forms are filled and submitted as one), acts, and
observes the response: DOM mutations of visible elements (a ``MutationObserver``; text written into a
hidden element is not a response), the rendered text and the number of shown elements, pixel change in the
viewport outside the target itself and outside what changes by itself (animations), URL change, dialogs,
new pages and new uncaught page errors. A control counts as working when the page responds the way its
label promises: a label that promises content ("Next", "Add", "Calculate", "Start", "+", see
``_PROMISES_CONTENT``) needs visible text or shown elements to change, or a redraw that is not a mere restyle (class or style
changes only; a canvas drawing makes no mutation), or a restyle that redraws at least ``LARGE_REDRAW`` of
the viewport (a carousel sliding); other controls (toggles, tabs without such words) need any visible
change. The after-action screenshot is taken only when the DOM has not already shown a response (the
trace's ``pixel_change`` is then null: pixels could not change the verdict). Each interaction scores 1
when the page responded so without a new error, else 0;
at most ``max_scored`` interactions are scored (3, as in AesCoder), and the page score is their sum.

``explore_vlm(page, judge_backend, instruction)`` is the Set-of-Mark agent: numbered boxes are drawn over
the actionable elements on a screenshot, a VLM picks up to ``max_actions`` interactions with what it
expects to happen, they are executed and observed the same way, and the VLM grades each before/after
pair 0/1. Both agents write the same trace: ``[{step, action, target, mark, outcome, changed, score,
mutations, pixel_change, url_changed, dialog, errors, ...}]``.

Inputs: a Playwright async ``Page`` holding the loaded sample. Output: ``InteractiveResult``. Waits are in
page time (``browser_pool.page_wait``): on a pool page the page clock advances in steps, and after the
target is reached and after each step the page's requests land and one real frame runs (scroll events,
observers), so what the agent observes does not depend on how busy the machine is.
Written by hand (no library explores pages this way); the observation uses Playwright and PIL.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from aesdata.judges import pixels
from aesdata.render.browser_pool import page_wait

FIND_JS = """() => {
  const out = [], seen = new Set();
  const vis = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 3 && r.height > 3 && s.visibility !== 'hidden' && s.display !== 'none' && +s.opacity > 0.05; };
  const text = el => (el.innerText || el.value || el.getAttribute('aria-label') || el.title || el.alt || '').trim().slice(0, 60);
  const add = (el, kind, prio, extra) => {
    if (seen.has(el) || !vis(el) || el.disabled) return; seen.add(el);
    const r = el.getBoundingClientRect();
    out.push(Object.assign({el, kind, prio, tag: el.tagName.toLowerCase(), text: text(el), type: (el.type || '').toLowerCase(),
      x: r.x + scrollX, y: r.y + scrollY, w: r.width, h: r.height}, extra || {}));
  };
  const forms = Array.from(document.forms).filter(f => f.querySelector('input,textarea,select'));
  for (const f of forms) {
    const submit = f.querySelector('button:not([type=button]):not([type=reset]),input[type=submit]');
    if (submit && vis(submit)) { add(f, 'form', 1); for (const el of f.querySelectorAll('input,textarea,select,button')) seen.add(el); }
  }
  for (const el of document.querySelectorAll('button,[role=button],input[type=button],input[type=submit],summary')) add(el, 'click', 0);
  for (const el of document.querySelectorAll('canvas')) { const r = el.getBoundingClientRect(); if (r.width * r.height > 20000) add(el, 'keys', 1); }
  for (const el of document.querySelectorAll('input[type=checkbox],input[type=radio],input[type=range],[role=switch],[role=tab]')) add(el, 'click', 2);
  for (const el of document.querySelectorAll('select')) add(el, 'select', 2);
  for (const el of document.querySelectorAll('input:not([type]),input[type=text],input[type=search],input[type=email],input[type=number],input[type=password],input[type=tel],input[type=url],textarea,[contenteditable=true]')) add(el, 'type', 3);
  for (const el of document.querySelectorAll('[onclick],[tabindex]:not([tabindex="-1"])')) add(el, 'click', 2);
  for (const el of document.querySelectorAll('a[href]')) {
    const h = el.getAttribute('href') || '';
    if (h.startsWith('javascript:') || h === '#' ) add(el, 'click', 2);
    else if (h.startsWith('#')) add(el, 'click', 4, {href: h});
    else add(el, 'click', 6, {href: h});
  }
  for (const el of document.querySelectorAll('div,span,li,img,svg,td,article,section,p,h1,h2,h3,h4')) {
    if (out.length > 200) break;
    if (!seen.has(el) && getComputedStyle(el).cursor === 'pointer' && !(el.parentElement && getComputedStyle(el.parentElement).cursor === 'pointer')) add(el, 'click', 3);
  }
  window.__aesCands = out.map(c => c.el);
  return out.map((c, i) => { const {el, ...rest} = c; return Object.assign(rest, {i}); });
}"""

OBSERVE_JS = """(measure) => {
  if (!window.__aesObs) {
    window.__aesMut = 0; window.__aesDlg = [];
    // only mutations a user can see count: text written into a hidden element is not a response
    const shown = (node) => {
      const el = node && (node.nodeType === 1 ? node : node.parentElement);
      if (!el || !el.isConnected) return false;
      if (el.checkVisibility) return el.checkVisibility({opacityProperty: true, visibilityProperty: true});
      return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    };
    // restyles (class or style attributes of elements that are not media) are counted apart
    const MEDIA = new Set(['CANVAS', 'IMG', 'VIDEO', 'SVG', 'PICTURE', 'SOURCE', 'IFRAME', 'INPUT', 'PROGRESS', 'METER']);
    window.__aesStyle = 0;
    window.__aesObs = new MutationObserver(recs => {
      for (const r of recs) {
        if (!(shown(r.target) || Array.from(r.addedNodes || []).some(shown))) continue;
        window.__aesMut += 1;
        if (r.type === 'attributes' && !MEDIA.has((r.target.tagName || '').toUpperCase())) window.__aesStyle += 1;
      }
    });
    window.__aesObs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
    const stub = (type, ret) => (msg) => { window.__aesDlg.push(type + ': ' + String(msg).slice(0, 80)); return ret; };
    window.alert = stub('alert'); window.confirm = stub('confirm', true); window.prompt = stub('prompt', 'test');
  }
  const n = window.__aesMut, d = window.__aesDlg, st = window.__aesStyle;
  window.__aesMut = 0; window.__aesDlg = []; window.__aesStyle = 0;
  if (!measure) return null;  // installed and reset: the text and shown elements are not read
  // what a reader sees: the rendered text (innerText skips hidden elements) and form values, and how many
  // elements are shown
  const body = document.body;
  let text = body ? body.innerText : '';
  for (const el of document.querySelectorAll('input, textarea, select, output, progress, meter'))
    text += '|' + (el.value ?? '');
  let shownCount = 0;
  for (const el of (body ? body.getElementsByTagName('*') : [])) if (el.getClientRects().length) shownCount++;
  return [n, d, text.length + ':' + text.slice(0, 20000), shownCount, st, [scrollX, scrollY]];
}"""

#: labels that promise new content (a step, a page of results, a value, a panel): a control with such a
#: label works only when visible text or shown elements change, or the page redraws without a mere restyle
#: (a canvas game starting); restyling alone is not what it promised
_PROMISES_CONTENT = re.compile(
    r"\b(next|prev(ious)?|back|forward|continue|step|more|show|hide|open|close|expand|collapse|add|remove|"
    r"delete|submit|send|calculate|compute|convert|search|roll|shuffle|reset|clear|start|play|pause|stop|"
    r"generate|load|filter|sort|sign ?up|subscribe|buy|book|reserve|go|count|increment|decrement|vote|"
    r"draw|spin|flip|deal|new game|restart)\b|^[+\u2212\-<>\u2039\u203a\u00ab\u00bb\u2190\u2192]$",
    re.I,
)
#: a redraw this large counts even when it came from restyling alone (a carousel sliding by a transform)
LARGE_REDRAW = 0.05


_SAMPLE_TEXT = {
    "email": "test@example.com",
    "number": "42",
    "tel": "5551234",
    "url": "https://example.com",
    "password": "Secret123!",
}


@dataclass
class InteractiveResult:
    """``score`` (sum of per-interaction 0/1 over scored steps), ``max_scored``, the ``trace``, and the number of
    actionable ``candidates`` found."""

    score: float
    max_scored: int
    trace: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0

    @property
    def normalized(self) -> float:
        """``score / max_scored`` (0..1)."""
        return self.score / self.max_scored if self.max_scored else 0.0


def describe(c: dict[str, Any]) -> str:
    """A short name for a candidate: ``button "Start"``, ``form``, ``canvas``..."""
    name = {"form": "form", "keys": "canvas"}.get(c["kind"], c["tag"])
    return f'{name} "{c["text"][:30]}"' if c.get("text") and c["kind"] != "form" else name


def plan(candidates: list[dict[str, Any]], max_actions: int) -> list[dict[str, Any]]:
    """Pick up to ``max_actions`` candidates: by priority (buttons, forms, canvas, toggles and selects, text
    inputs, in-page links, pointer elements, external links last), then page order; one per distinct label."""
    picked, labels = [], set()
    for c in sorted(candidates, key=lambda c: (c["prio"], c["y"], c["x"])):
        label = (c["kind"], c["tag"], c["text"].lower())
        if c["text"] and label in labels:
            continue
        labels.add(label)
        picked.append(c)
        if len(picked) == max_actions:
            break
    return picked


class _Watch:
    """Collects dialogs, page errors and new pages while an episode runs."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.popups = 0

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message[:80]}")
        try:
            await (dialog.accept("test") if dialog.type == "prompt" else dialog.accept())
        except Exception:  # noqa: BLE001 - the dialog may already be gone
            pass

    def _popup(self, popup: Any) -> None:
        self.popups += 1

        async def close() -> None:
            try:
                await popup.close()
            except Exception:  # noqa: BLE001 - the pool may have closed it first
                pass

        asyncio.ensure_future(close())

    def __enter__(self) -> _Watch:
        self._on_error = lambda e: self.errors.append(str(e)[:200])
        self._on_dialog = lambda d: asyncio.ensure_future(self._dialog(d))
        self.page.on("pageerror", self._on_error)
        self.page.on("dialog", self._on_dialog)
        self.page.context.on("page", self._popup)
        return self

    def __exit__(self, *exc: object) -> None:
        self.page.remove_listener("pageerror", self._on_error)
        self.page.remove_listener("dialog", self._on_dialog)
        self.page.context.remove_listener("page", self._popup)


#: a DevTools session per page for :func:`_shot`
_CDP: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
#: long side of the agent's viewport observations, in image px
_SHOT_SIDE = 640


async def _shot(page: Any) -> np.ndarray:
    """The viewport at a long side of at most ``_SHOT_SIDE`` px, rastered at that scale by Chromium: DevTools'
    ``Page.captureScreenshot`` of the visible part of the document (``clip`` is in document coordinates,
    so the scroll offset comes from ``Page.getLayoutMetrics``) with the clip's ``scale``. Measured on real
    pages: 13 ms of CPU and 1.6 ms to decode, where a full-size JPEG downsampled here took 27 + 10 ms (the
    agent takes ~5 per page); the pixels are within 0.5/255 on average of the downsampled full-size shot.
    PNG: lossless, so equal pixels give equal arrays. The scaled capture fires no ``resize`` and changes
    no media query in the page. The caret is left alone (hiding it would inject a style, a mutation)."""
    cdp = _CDP.get(page)
    if cdp is None:
        cdp = _CDP[page] = await page.context.new_cdp_session(page)
    view = (await cdp.send("Page.getLayoutMetrics"))["cssVisualViewport"]
    width, height = view["clientWidth"], view["clientHeight"]
    clip = {
        "x": view["pageX"],
        "y": view["pageY"],
        "width": width,
        "height": height,
        "scale": min(1.0, _SHOT_SIDE / max(width, height, 1)),
    }
    params = {"format": "png", "optimizeForSpeed": True, "clip": clip}
    shot = await cdp.send("Page.captureScreenshot", params)
    return pixels.decode(base64.b64decode(shot["data"]), max_side=_SHOT_SIDE)


async def _act(page: Any, handle: Any, c: dict[str, Any], timeout_ms: int, text: str | None = None) -> str:
    """Perform the action for candidate ``c`` (its element ``handle``); return a short description of what
    was done."""
    kind = c["kind"]
    if kind == "form":
        fields = await handle.query_selector_all("input,textarea,select")
        filled = 0
        for f in fields:
            if not await f.is_visible():
                continue
            info = await f.evaluate("e => [e.tagName.toLowerCase(), (e.type || '').toLowerCase()]")
            if info[0] == "select":
                await f.select_option(
                    index=1 if await f.evaluate("e => e.options.length > 1") else 0, timeout=timeout_ms
                )
            elif info[1] in ("checkbox", "radio"):
                await f.check(timeout=timeout_ms)
            elif info[1] in (
                "hidden",
                "submit",
                "button",
                "reset",
                "file",
                "image",
                "range",
                "color",
                "date",
                "time",
            ):
                continue
            else:
                await f.fill(text or _SAMPLE_TEXT.get(info[1], "hello 42"), timeout=timeout_ms)
            filled += 1
        submit = await handle.query_selector("button:not([type=button]):not([type=reset]),input[type=submit]")
        await submit.click(timeout=timeout_ms)  # type: ignore[union-attr]
        return f"fill {filled} field(s) and submit"
    if kind == "type":
        await handle.fill(text or _SAMPLE_TEXT.get(c["type"], "hello 42"), timeout=timeout_ms)
        await handle.press("Enter", timeout=timeout_ms)
        return "type and press Enter"
    if kind == "select":
        n = await handle.evaluate("e => e.options.length")
        cur = await handle.evaluate("e => e.selectedIndex")
        await handle.select_option(index=(cur + 1) % max(n, 1), timeout=timeout_ms)
        return "select another option"
    if kind == "keys":
        await handle.click(timeout=timeout_ms)
        for key in ("ArrowRight", "ArrowUp", "Space", "ArrowLeft", "ArrowDown", "Enter"):
            await page.keyboard.down(key)
            await page_wait(page, 100)  # one animation frame of page time with the key held
            await page.keyboard.up(key)
        return "click, then arrows / space / enter"
    await handle.click(timeout=timeout_ms)
    return "click"


async def observe_action(
    page: Any,
    c: dict[str, Any],
    watch: _Watch,
    *,
    settle_ms: int = 300,
    timeout_ms: int = 5000,
    pixel_threshold: float = 3e-5,
    text: str | None = None,
    blocked: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Act on candidate ``c`` and measure the page's response (see module docstring).

    ``blocked``: the browser pool's live list of refused requests; a refused navigation (a link to another
    site, which the sealed pool answers with 204 so the page stays) counts as the control working.

    Returns the trace entry (without ``step``/``score``): ``action``, ``target``, ``outcome``
    (``changed`` | ``no_change`` | ``error`` | ``unreachable`` | ``navigated``), ``changed`` and the signals.
    """
    entry: dict[str, Any] = {
        "action": c["kind"],
        "target": describe(c),
        "box": [round(c[k]) for k in ("x", "y", "w", "h")],
    }
    try:
        handle = (await page.evaluate_handle("i => window.__aesCands[i]", c["i"])).as_element()
        if handle is None:
            raise RuntimeError("element is gone")
        if c["kind"] in ("form", "keys"):
            await handle.scroll_into_view_if_needed(timeout=timeout_ms)
        else:  # hovering scrolls the element into view first (the same DevTools call)
            await handle.hover(timeout=timeout_ms)
        # focus moves to the target before the baseline, so a focus ring leaving another element is not a response
        await handle.evaluate(
            "el => { const a = document.activeElement; if (a && a !== el && a.blur) a.blur();"
            " if (el.focus) el.focus({preventScroll: true}); }"
        )
        # the page's answer to reaching the target (scroll events after scrolling it into view, the
        # pointer's move) lands before the baseline, not during it, however busy the machine
        await page_wait(page, 0)
        box = await handle.bounding_box()
    except Exception as e:  # noqa: BLE001 - any Playwright failure means a user could not reach it either
        return {
            **entry,
            "outcome": "unreachable",
            "changed": False,
            "detail": (str(e).splitlines() or [type(e).__name__])[0][:160],
        }
    await page.evaluate(OBSERVE_JS, False)  # install the observer and dialog stubs; reset the counters
    before1 = await _shot(page)
    await page_wait(page, settle_ms)
    before2 = await _shot(page)
    # what changes by itself over one settle
    idle_mut, _, text0, shown0, _, scroll0 = await page.evaluate(OBSERVE_JS, True)
    idle = np.abs(before1.astype(np.int16) - before2.astype(np.int16)).max(axis=2) > 16
    url0, errors0, dialogs0, popups0 = page.url, len(watch.errors), len(watch.dialogs), watch.popups
    blocked0 = len(blocked) if blocked is not None else 0
    try:
        entry["did"] = await _act(page, handle, c, timeout_ms, text)
    except Exception as e:  # noqa: BLE001
        return {
            **entry,
            "outcome": "unreachable",
            "changed": False,
            "detail": (str(e).splitlines() or [type(e).__name__])[0][:160],
        }
    await page_wait(page, settle_ms)
    if (
        c["kind"] == "keys"
    ):  # arrows and space scroll the document by themselves: that is the browser, not the page
        await page.evaluate("([x, y]) => scrollTo({left: x, top: y, behavior: 'instant'})", scroll0)
    promised = c["kind"] == "click" and bool(_PROMISES_CONTENT.search(c.get("text") or ""))
    seen = False  # the DOM or a dialog already shows the response: the pixels cannot change the verdict
    try:
        mutations, stubbed, text1, shown1, restyles, _ = await page.evaluate(OBSERVE_JS, True)
        watch.dialogs += stubbed
        seen = text1 != text0 or shown1 != shown0 or bool(stubbed) or (not promised and mutations > idle_mut)
        after = None if seen else await _shot(page)
    except Exception:  # noqa: BLE001 - navigated away mid-evaluation
        mutations, after, text1, shown1, restyles = 0, None, text0, shown0, 0
    # a placeholder link (href="#") only appends an empty fragment: the page did not respond
    url_changed = page.url.removesuffix("#") != url0.removesuffix("#")
    mask = idle.copy()
    if box is not None and after is not None:  # the target's own hover/focus/value change is not a response
        vw = (page.viewport_size or {"width": 1280})["width"]
        s = before2.shape[1] / vw
        x0, y0 = max(0, int((box["x"] - 4) * s)), max(0, int((box["y"] - 4) * s))
        x1, y1 = int((box["x"] + box["width"] + 4) * s) + 1, int((box["y"] + box["height"] + 4) * s) + 1
        if c["kind"] != "keys" and box["width"] * box["height"] < 0.25 * vw * vw:
            mask[y0:y1, x0:x1] = True
    change = pixels.changed_share(before2, after, mask) if after is not None else (None if seen else 1.0)
    new_errors = watch.errors[errors0:]
    dialog = watch.dialogs[dialogs0:]
    refused = [b for b in (blocked or [])[blocked0:] if b.get("reason") == "navigation"]
    navigated = bool(refused) or (url_changed and url0.split("#")[0] != page.url.split("#")[0])
    content = text1 != text0 or shown1 != shown0
    if change is None:  # not measured (``seen``): a response either way
        visible = True
    elif promised:  # the label promises new content: restyling or a hidden write is not that
        restyle_only = restyles > 0 and restyles >= mutations
        visible = content or change >= LARGE_REDRAW or (change > pixel_threshold and not restyle_only)
    else:
        visible = mutations > idle_mut or change > pixel_threshold or content
    changed = bool(visible or url_changed or dialog or navigated or watch.popups > popups0)
    outcome = (
        "error" if new_errors else ("navigated" if navigated else ("changed" if changed else "no_change"))
    )
    entry.update(
        {
            "outcome": outcome,
            "changed": changed,
            "mutations": int(mutations),
            "idle_mutations": int(idle_mut),
            "pixel_change": None if change is None else round(change, 5),
            "content_changed": content,
            "restyles": int(restyles),
            "promised_content": promised,
            "url_changed": url_changed,
            "dialog": dialog[:2],
            "errors": new_errors[:3],
        }
    )
    return entry


async def explore(
    page: Any,
    *,
    max_actions: int = 5,
    max_scored: int = 3,
    settle_ms: int = 300,
    timeout_ms: int = 5000,
    html: str | None = None,
    blocked: list[dict[str, Any]] | None = None,
) -> InteractiveResult:
    """Run the built-in agent on a loaded ``page`` (see module docstring).

    ``html``: the sample's source, used to restore the page when an action really navigated away (outside
    the browser pool, whose sealed network keeps the page); else the episode ends there. ``blocked``: see
    ``observe_action``. Returns the page score (0..``max_scored``) and the trace.
    """
    candidates = await page.evaluate(FIND_JS)
    steps = plan(candidates, max_actions)
    url0 = page.url.split("#")[0]
    trace: list[dict[str, Any]] = []
    scored = 0
    total = 0.0
    with _Watch(page) as watch:
        for c in steps:
            if scored >= max_scored:
                break
            entry = await observe_action(
                page, c, watch, settle_ms=settle_ms, timeout_ms=timeout_ms, blocked=blocked
            )
            entry["score"] = 1 if entry["outcome"] in ("changed", "navigated") else 0
            entry["step"] = len(trace) + 1
            scored += 1
            total += entry["score"]
            trace.append(entry)
            if entry["outcome"] == "navigated" and page.url.split("#")[0] != url0:
                if html is None:
                    break
                await page.set_content(html, wait_until="load")
                await page.evaluate(FIND_JS)  # re-index the fresh document's candidates
    return InteractiveResult(total, max_scored, trace, len(candidates))


# ---------------------------------------------------------------------------------- Set-of-Mark agent
def draw_marks(png: bytes, candidates: list[dict[str, Any]], scroll_y: float = 0.0) -> bytes:
    """Draw numbered boxes (Set-of-Mark) over ``candidates`` on a viewport screenshot; return PNG bytes."""
    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        draw = ImageDraw.Draw(im)
        for n, c in enumerate(candidates):
            x, y = c["x"], c["y"] - scroll_y
            draw.rectangle([x, y, x + c["w"], y + c["h"]], outline=(255, 0, 80), width=2)
            draw.rectangle([x, y, x + 18, y + 14], fill=(255, 0, 80))
            draw.text((x + 3, y + 1), str(n), fill=(255, 255, 255))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()


_PLAN_PROMPT = (
    "You test a generated web page for this request:\n<instruction>\n{instruction}\n</instruction>\n"
    "The screenshot shows numbered boxes over the elements a user can act on:\n{marks}\n"
    "Choose up to {k} interactions that best test whether the page works, most important first. "
    'Answer JSON only: {{"actions": [{{"mark": n, "action": "click" | "type" | "keys", "text": "what to type '
    '(type only)", "expect": "what should visibly happen"}}]}}'
)
_GRADE_PROMPT = (
    "A user did this on a web page: {did} on {target}. They expected: {expect}\n"
    "The first image is before, the second after. Did the page respond in the expected, correct way? "
    'Answer JSON only: {{"success": 0 or 1, "reason": "..."}}'
)


def _first_json(text: str) -> dict[str, Any]:
    from aesdata.generate.extract import strip_think

    text, _ = strip_think(text or "")
    start = text.find("{")
    for end in range(len(text), start, -1):
        if start < 0:
            break
        try:
            obj = json.loads(text[start:end])
            if isinstance(obj, dict):
                return obj
        except ValueError:
            continue
    raise ValueError(f"no JSON object in {text[:120]!r}")


async def explore_vlm(
    page: Any,
    backend: Any,
    instruction: str,
    *,
    max_actions: int = 5,
    max_scored: int = 3,
    settle_ms: int = 300,
    timeout_ms: int = 5000,
) -> InteractiveResult:
    """Run the Set-of-Mark agent: ``backend`` (an ``aesdata.llm`` backend of a vision model) plans the
    interactions over a marked screenshot and grades each before/after pair. Model failures are recorded in
    the trace (score 0), never raised."""
    from aesdata.judges.vlm import data_url
    from aesdata.llm.base import GenRequest

    candidates = [c for c in await page.evaluate(FIND_JS)][:40]
    shot = await page.screenshot(type="png")
    marks = "\n".join(f"[{n}] {describe(c)}" for n, c in enumerate(candidates))
    marked = draw_marks(shot, candidates, await page.evaluate("scrollY"))
    ask = GenRequest(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": _PLAN_PROMPT.format(instruction=instruction, marks=marks, k=max_actions),
                    },
                    {"type": "image_url", "image_url": {"url": data_url(marked)}},
                ],
            }
        ],
        params={"temperature": 0.0, "max_tokens": 400},
    )
    trace: list[dict[str, Any]] = []
    (reply,) = await backend.generate([ask])
    try:
        actions = _first_json(reply.text or "")["actions"][:max_actions] if reply.ok else []
    except (ValueError, KeyError, TypeError) as e:
        actions = []
        trace.append(
            {
                "step": 0,
                "action": "plan",
                "target": "page",
                "outcome": "error",
                "changed": False,
                "score": 0,
                "detail": f"unreadable plan: {e}"[:200],
            }
        )
    if not reply.ok:
        trace.append(
            {
                "step": 0,
                "action": "plan",
                "target": "page",
                "outcome": "error",
                "changed": False,
                "score": 0,
                "detail": (reply.error or "")[:200],
            }
        )
    total = 0.0
    with _Watch(page) as watch:
        for act in actions:
            if len([t for t in trace if t["step"] > 0]) >= max_scored:
                break
            try:
                c = dict(candidates[int(act["mark"])])
            except (KeyError, ValueError, IndexError, TypeError):
                continue
            if act.get("action") == "type" and c["kind"] != "form":
                c["kind"] = "type"
            elif act.get("action") == "keys":
                c["kind"] = "keys"
            before = await page.screenshot(type="png")
            entry = await observe_action(
                page, c, watch, settle_ms=settle_ms, timeout_ms=timeout_ms, text=act.get("text")
            )
            entry.update(
                {
                    "mark": int(act["mark"]),
                    "expected": str(act.get("expect", ""))[:200],
                    "step": len(trace) + 1,
                }
            )
            score = 0
            if entry["outcome"] not in ("unreachable", "error"):
                after = await page.screenshot(type="png")
                grade = GenRequest(
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "text",
                                    "text": _GRADE_PROMPT.format(
                                        did=entry.get("did", c["kind"]),
                                        target=entry["target"],
                                        expect=entry["expected"] or "a visible response",
                                    ),
                                },
                                {"type": "image_url", "image_url": {"url": data_url(before)}},
                                {"type": "image_url", "image_url": {"url": data_url(after)}},
                            ],
                        }
                    ],
                    params={"temperature": 0.0, "max_tokens": 200},
                )
                (g,) = await backend.generate([grade])
                try:
                    verdict = _first_json(g.text or "") if g.ok else {}
                    score = 1 if int(verdict.get("success", 0)) == 1 else 0
                    entry["vlm_reason"] = str(verdict.get("reason", g.error or ""))[:200]
                except (ValueError, TypeError):
                    entry["vlm_reason"] = f"unreadable grade: {(g.text or '')[:80]}"
            entry["score"] = score
            total += score
            trace.append(entry)
    return InteractiveResult(total, max_scored, trace, len(candidates))
