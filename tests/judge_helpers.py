"""Known-answer pages for the judge tests and the judge benchmark.

``page(template, defect)`` builds a clean, working page from one of ``TEMPLATES`` and, when ``defect`` is
given, the same page with exactly one real defect from ``DEFECTS``. Each clean page has a heading, body
text, an inline SVG image and one working button (its handler changes the page).
"""

from __future__ import annotations

_IMG = (
    "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='160' height='90'>"
    "<rect width='160' height='90' rx='8' fill='%23{c}'/><circle cx='50' cy='45' r='22' fill='white' opacity='.6'/></svg>"
)

TEMPLATES: dict[str, dict[str, str]] = {
    "counter": {
        "title": "Click counter",
        "bg": "#f6f7fb",
        "fg": "#1f2933",
        "accent": "2563eb",
        "font": "Arial, sans-serif",
        "lead": "Press the button to count how often the team shipped this week.",
        "button": "Add one",
    },
    "landing": {
        "title": "Bright Beans Coffee",
        "bg": "#fffaf3",
        "fg": "#3b2f2f",
        "accent": "b45309",
        "font": "Georgia, serif",
        "lead": "Small batch roasts delivered to your door every other Monday.",
        "button": "Order now",
    },
    "pricing": {
        "title": "Simple pricing",
        "bg": "#ffffff",
        "fg": "#111827",
        "accent": "059669",
        "font": "Helvetica, sans-serif",
        "lead": "Pick a plan that grows with your studio; switch or cancel any time.",
        "button": "Show yearly",
    },
    "dashboard": {
        "title": "Sales dashboard",
        "bg": "#0f172a",
        "fg": "#e2e8f0",
        "accent": "38bdf8",
        "font": "Verdana, sans-serif",
        "lead": "Revenue is up twelve percent against the same quarter last year.",
        "button": "Refresh data",
    },
    "recipe": {
        "title": "Lemon tart",
        "bg": "#fefce8",
        "fg": "#292524",
        "accent": "ca8a04",
        "font": "Trebuchet MS, sans-serif",
        "lead": "A crisp pastry shell with a silky lemon curd, ready in ninety minutes.",
        "button": "Double the recipe",
    },
}

DEFECTS: dict[str, str] = {
    "contrast": "body text barely visible against the background",
    "overlap": "a button sits on top of the heading",
    "overflow": "a banner wider than the viewport makes the page scroll sideways",
    "dead_button": "the main button does nothing",
    "script_error": "a script throws an uncaught error",
    "broken_image": "an image that fails to load",
    "unclosed_tags": "unpaired tags and a duplicated id",
    "tiny_text": "body copy set at 8px",
}


def page(template: str, defect: str | None = None) -> str:
    """Return the HTML of ``template`` with ``defect`` (a key of ``DEFECTS``) or clean when None."""
    t = TEMPLATES[template]
    fg, bg = t["fg"], t["bg"]
    text_color = fg
    if defect == "contrast":  # text colour a shade away from the background
        text_color = "#d9d9d9" if bg.startswith("#f") or bg == "#ffffff" else "#1e293b"
    body_size = "8px" if defect == "tiny_text" else "17px"
    handler = (
        ""
        if defect == "dead_button"
        else (
            " onclick=\"var n=document.getElementById('count');n.textContent=Number(n.textContent)+1;"
            "document.getElementById('note').textContent='Updated just now';\""
        )
    )
    img_src = "images/missing-photo.png" if defect == "broken_image" else _IMG.format(c=t["accent"])
    extra_head = (
        "<script>window.addEventListener('load',function(){ undefinedHelper.start(); });</script>"
        if defect == "script_error"
        else ""
    )
    overlap = (
        (
            "<button style='position:absolute;left:60px;top:44px;padding:14px 40px;font-size:20px;"
            f"background:#{t['accent']};color:#fff;border:0'>Subscribe today</button>"
        )
        if defect == "overlap"
        else ""
    )
    overflow = (
        (
            "<div style='width:1900px;background:#{a};color:#fff;padding:12px'>Limited offer: free shipping on "
            "every order this month, no code needed, just add to your basket and check out</div>"
        ).format(a=t["accent"])
        if defect == "overflow"
        else ""
    )
    dup = "count" if defect == "unclosed_tags" else "total"
    unclosed = "<div class='x'><span>Last updated today" if defect == "unclosed_tags" else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title>{extra_head}
<style>
body {{ margin:0; background:{bg}; color:{fg}; font-family:{t["font"]}; }}
header {{ position:relative; padding:40px 64px 24px; }}
h1 {{ font-size:40px; margin:0 0 8px; }}
main {{ padding:0 64px 48px; display:grid; grid-template-columns: 1fr 1fr; gap:32px; }}
p {{ font-size:{body_size}; line-height:1.6; color:{text_color}; }}
.card {{ border:1px solid #{t["accent"]}55; border-radius:12px; padding:24px; }}
.stat {{ font-size:32px; font-weight:bold; color:#{t["accent"]}; }}
button.main {{ background:#{t["accent"]}; color:#fff; border:0; border-radius:8px; padding:12px 22px; font-size:16px; }}
</style></head>
<body>
<header><h1>{t["title"]}</h1><p>{t["lead"]}</p>{overlap}</header>
{overflow}
<main>
  <section class="card"><h2>Today</h2><p>Count so far: <span class="stat" id="count">3</span></p>
    <p id="note">Nothing changed yet.</p><button class="main"{handler}>{t["button"]}</button></section>
  <section class="card"><h2>Gallery</h2><img src="{img_src}" alt="illustration" width="160" height="90">
    <p>Every item is hand checked before it leaves us, and our support team answers within a day.</p>
    <p id="{dup}">Total: 12 items</p>{unclosed}</section>
</main>
</body></html>"""


def pairs() -> list[tuple[str, str, str]]:
    """All (template, defect, description) known-answer pairs: 5 templates x 8 defects = 40."""
    return [(t, d, desc) for t in TEMPLATES for d, desc in DEFECTS.items()]
