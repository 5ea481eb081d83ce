// Layout capture for the judges: called by Playwright as a function of one options object.
// Returns JSON text of {document: {...}, elements: [...], truncated, visited} (one string crosses the
// protocol: far cheaper than Playwright's per-value serialisation of thousands of objects). Each element:
// {tag, id, cls, x, y, w, h, text, color, bg, font_size, font_family, font_weight, z, clickable, overflow_x}
// Boxes are in CSS px, page coordinates (scroll offsets added). "bg" is the effective background:
// the element's own background colour, else the first non-transparent ancestor's, else white.
// "stopMotionCss", when given, is added as a style sheet first: the capture's last call into the page
// before the screenshot also stops what is left of CSS motion (one protocol round trip, not two).
({maxElements, maxVisit, textLen, stopMotionCss}) => {
  if (stopMotionCss) {
    const style = document.createElement("style");
    style.textContent = stopMotionCss;
    (document.head || document.documentElement).appendChild(style);
  }
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "META", "LINK", "TITLE", "BASE"]);
  const CLICKABLE = new Set(["A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY"]);
  const transparent = (c) => !c || c === "transparent" || /rgba\([^)]*,\s*0\)$/.test(c);
  const root = document.documentElement;
  const sx = window.scrollX, sy = window.scrollY;
  const bgOf = new Map();
  const elements = [];
  let visited = 0, truncated = false;
  const walker = document.createTreeWalker(document.body || root, NodeFilter.SHOW_ELEMENT, {
    acceptNode: (n) => (SKIP.has(n.tagName) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const bodyBg = (() => {
    for (const el of [document.body, root]) {
      if (!el) continue;
      const c = getComputedStyle(el).backgroundColor;
      if (!transparent(c)) return c;
    }
    return "rgb(255, 255, 255)";
  })();
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    if (++visited > maxVisit) { truncated = true; break; }
    const style = getComputedStyle(node);
    const parentBg = (node.parentElement && bgOf.get(node.parentElement)) || bodyBg;
    const bg = transparent(style.backgroundColor) ? parentBg : style.backgroundColor;
    bgOf.set(node, bg);
    if (style.display === "none") continue;
    const r = node.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || style.visibility === "hidden" || parseFloat(style.opacity) === 0) continue;
    if (elements.length >= maxElements) { truncated = true; break; }
    let own = "";
    for (const child of node.childNodes) if (child.nodeType === 3) own += child.data;
    own = own.replace(/\s+/g, " ").trim().slice(0, textLen);
    const z = parseInt(style.zIndex, 10);
    const clickable = CLICKABLE.has(node.tagName) || node.hasAttribute("onclick") ||
      node.getAttribute("role") === "button" || style.cursor === "pointer";
    const cls = typeof node.className === "string" ? node.className : (node.getAttribute("class") || "");
    elements.push({
      tag: node.tagName.toLowerCase(),
      id: node.id || "",
      cls: cls.slice(0, 200),
      x: Math.round((r.left + sx) * 10) / 10,
      y: Math.round((r.top + sy) * 10) / 10,
      w: Math.round(r.width * 10) / 10,
      h: Math.round(r.height * 10) / 10,
      text: own,
      color: style.color,
      bg: bg,
      font_size: parseFloat(style.fontSize) || 0,
      font_family: style.fontFamily,
      font_weight: parseInt(style.fontWeight, 10) || 400,
      z: Number.isFinite(z) ? z : 0,
      clickable: clickable,
      overflow_x: node.scrollWidth > node.clientWidth + 1 && node.clientWidth > 0 && style.overflowX === "visible",
    });
  }
  return JSON.stringify({
    document: {
      width: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
      height: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
      viewport_width: window.innerWidth,
      viewport_height: window.innerHeight,
      background: bodyBg,
      dom_nodes: document.getElementsByTagName("*").length,
    },
    elements: elements,
    truncated: truncated,
    visited: visited,
  });
}
