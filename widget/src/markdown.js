// A small, safe Markdown subset rendered straight to DOM nodes. Text never goes through
// innerHTML: every piece of untrusted text becomes a Text node, so "<img onerror=…>" stays
// visible characters. Supported: paragraphs, line breaks, "- " / "1. " lists, **bold**,
// *italic*, `code`, [label](https://…) links and bare http(s) URLs.

const SAFE_SCHEMES = /^(https?:|mailto:)/i;
const INLINE = /(\*\*([^*]+)\*\*)|(`([^`]+)`)|(\*([^*\s][^*]*)\*)|(\[([^\]]+)\]\(([^)\s]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

/** A link element for a URL, or null when the URL is not http(s)/mailto. */
export function safeLink(href, label) {
  let url;
  try {
    url = new URL(href, document.baseURI);
  } catch {
    return null;
  }
  if (!SAFE_SCHEMES.test(url.protocol)) return null;
  const a = document.createElement("a");
  a.href = url.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.textContent = label;
  return a;
}

function appendInline(parent, text) {
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      parent.append(rest);
      return;
    }
    if (m.index > 0) parent.append(rest.slice(0, m.index));
    if (m[1]) {
      const b = document.createElement("strong");
      appendInline(b, m[2]);
      parent.append(b);
    } else if (m[3]) {
      const c = document.createElement("code");
      c.textContent = m[4];
      parent.append(c);
    } else if (m[5]) {
      const i = document.createElement("em");
      appendInline(i, m[6]);
      parent.append(i);
    } else if (m[7]) {
      parent.append(safeLink(m[9], m[8]) || m[0]);
    } else if (m[10]) {
      parent.append(safeLink(m[10], m[10]) || m[10]);
    }
    rest = rest.slice(m.index + m[0].length);
  }
}

function appendLines(parent, lines) {
  lines.forEach((line, i) => {
    if (i > 0) parent.append(document.createElement("br"));
    appendInline(parent, line);
  });
}

/** Render `text` into a DocumentFragment. */
export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const blocks = String(text ?? "")
    .replace(/\r\n?/g, "\n")
    .split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    if (!lines.length) continue;
    const bullet = lines.every((l) => /^\s*[-*•]\s+/.test(l));
    const numbered = lines.every((l) => /^\s*\d+[.)]\s+/.test(l));
    if (bullet || numbered) {
      const list = document.createElement(bullet ? "ul" : "ol");
      for (const line of lines) {
        const li = document.createElement("li");
        appendInline(li, line.replace(/^\s*([-*•]|\d+[.)])\s+/, ""));
        list.append(li);
      }
      frag.append(list);
    } else {
      const p = document.createElement("p");
      appendLines(p, lines);
      frag.append(p);
    }
  }
  return frag;
}
