// DOM helpers: every piece of user text goes in as a text node, never as HTML.

/** Build an element; string children become text nodes, `attrs` keys are properties or data-*. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString() : "–";
}

let flashTimer = null;

/** A short status line at the top of the page (errors and confirmations). */
export function flash(text, kind = "info") {
  const node = $("flash");
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { node.hidden = true; }, kind === "error" ? 8000 : 3000);
}
