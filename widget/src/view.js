// DOM for the widget, built with createElement only: no untrusted string is ever parsed as
// HTML. Everything lives in a shadow root, so the host page's CSS cannot reach in and ours
// cannot leak out.

import css from "./styles.css";
import { renderMarkdown, safeLink } from "./markdown.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

const ICON_CHAT =
  "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
const ICON_CLOSE = "M6 6l12 12M18 6L6 18";
const ICON_SEND = "M3 20l18-8L3 4v6l12 2-12 2z";

function icon(path, filled) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", path);
  if (filled) p.setAttribute("fill", "currentColor");
  else {
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", "currentColor");
    p.setAttribute("stroke-width", "2");
    p.setAttribute("stroke-linecap", "round");
  }
  svg.append(p);
  return svg;
}

/** Black or white text, whichever contrasts more with the brand colour. */
export function textOn(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return "#ffffff";
  const n = parseInt(m[1], 16);
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * lin(n >> 16) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) ? "#111111" : "#ffffff";
}

/** The styles and the launcher button: all that is needed for the first paint. */
export function buildLauncher(root, config, t) {
  const host = root.host;
  host.style.setProperty("--parley-brand", config.brandColor);
  host.style.setProperty("--parley-on-brand", textOn(config.brandColor));
  const launcher = el(
    "button",
    {
      class: "launcher",
      type: "button",
      "aria-label": t("launcherOpen"),
      "aria-expanded": "false",
      "aria-controls": "parley-panel",
      part: "launcher",
    },
    icon(ICON_CHAT, true),
  );
  root.append(el("style", { text: css }), launcher);
  return launcher;
}

/** The chat panel, built when first needed. Returns the parts the controller drives. */
export function buildPanel(root, config, t) {
  const title = el("h2", { id: "parley-title", class: "title", text: config.title || t("defaultTitle") });
  const disclosure = el("p", { class: "disclosure", id: "parley-disclosure", text: t("disclosure") });
  const newBtn = el("button", { type: "button", class: "tool new", text: t("newConversation") });
  const endBtn = el("button", { type: "button", class: "tool end", text: t("endChat") });
  const closeBtn = el(
    "button",
    { type: "button", class: "icon close", "aria-label": t("close") },
    icon(ICON_CLOSE),
  );
  const header = el(
    "header",
    {},
    el("div", { class: "head-row" }, title, closeBtn),
    disclosure,
    el("div", { class: "tools" }, newBtn, endBtn),
  );

  const status = el("p", { class: "status", role: "status", "aria-live": "polite" });
  const log = el("ol", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": t("messagesLabel"),
    tabindex: "0",
  });
  const typing = el(
    "div",
    { class: "typing", hidden: true },
    el("span", { class: "dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
    el("span", { class: "sr-only", text: t("typing") }),
  );
  const survey = el("div", { class: "survey-slot" });

  const input = el("textarea", {
    id: "parley-input",
    class: "input",
    rows: "1",
    placeholder: t("placeholder"),
    "aria-describedby": "parley-limit",
    autocomplete: "off",
  });
  const sendBtn = el(
    "button",
    { type: "submit", class: "send", "aria-label": t("send") },
    icon(ICON_SEND, true),
  );
  const personBtn = el("button", { type: "button", class: "person", text: t("talkToPerson") });
  const limit = el("p", { id: "parley-limit", class: "limit", "aria-live": "polite" });
  const form = el(
    "form",
    { class: "composer" },
    el("label", { class: "sr-only", for: "parley-input", text: t("inputLabel") }),
    el("div", { class: "row" }, input, sendBtn),
    limit,
    el("div", { class: "row secondary" }, personBtn),
  );

  const panel = el(
    "section",
    {
      id: "parley-panel",
      class: "panel",
      role: "dialog",
      "aria-labelledby": "parley-title",
      "aria-describedby": "parley-disclosure",
      hidden: true,
      part: "panel",
    },
    header,
    status,
    log,
    typing,
    survey,
    form,
  );
  root.insertBefore(panel, root.querySelector(".launcher"));
  return { panel, title, status, log, typing, survey, input, sendBtn, personBtn, limit, form, newBtn, endBtn, closeBtn };
}

/** One message as a list item. `entry` = {role, text, agent, kind, sources, ts, pending}. */
export function renderMessage(entry, ctx) {
  return fillMessage(el("li"), entry, ctx);
}

export function fillMessage(li, entry, ctx) {
  const { t, formatTime } = ctx;
  const waiting = entry.pending && !entry.emitted;
  li.className = `msg ${entry.role}${waiting ? " pending" : ""}`;
  if (entry.kind) li.dataset.kind = entry.kind; // which handoff notice: queued, joined, …
  li.replaceChildren();
  let who;
  let badge = null;
  if (entry.role === "user") who = t("you");
  else if (entry.role === "agent") {
    who = entry.agent || t("agentFallback");
    badge = el("span", { class: "badge human", text: t("humanBadge") });
  } else if (entry.role === "notice") who = t("system");
  else {
    who = t("botLabel");
    badge = el("span", { class: "badge ai", text: t("botBadge") });
  }
  const when = entry.ts ? new Date(entry.ts * 1000) : null;
  const meta = el(
    "div",
    { class: "meta" },
    el("span", { class: "who", text: who }),
    badge,
    when
      ? el("time", { datetime: when.toISOString(), text: formatTime(when) })
      : null,
  );
  const bubble = el("div", { class: "bubble" });
  if (entry.role === "user") bubble.append(...entry.text.split("\n").flatMap((line, i) => (i ? [el("br"), line] : [line])));
  else bubble.append(renderMarkdown(entry.text));
  li.append(meta, bubble);
  const sources = (entry.sources || []).filter((s) => s && (s.title || s.url));
  if (sources.length) {
    const list = el("ul");
    for (const s of sources) {
      const label = String(s.title || s.url);
      list.append(el("li", {}, (s.url && safeLink(s.url, label)) || label));
    }
    li.append(el("div", { class: "sources" }, el("span", { class: "sources-label", text: t("sources") }), list));
  }
  if (waiting) li.append(el("span", { class: "pending-note", text: t("pending") }));
  return li;
}

/** Quick-reply buttons under a bot message; `onPick(title, payload)`. */
export function renderQuickReplies(replies, onPick) {
  const box = el("div", { class: "quick-replies", role: "group" });
  for (const r of replies) {
    const title = String(r.title ?? r.payload ?? "");
    if (!title) continue;
    box.append(
      el("button", {
        type: "button",
        class: "chip",
        text: title,
        onclick: () => {
          box.remove();
          onPick(title, String(r.payload ?? title));
        },
      }),
    );
  }
  return box;
}

/** The satisfaction survey: 1–5 and an optional comment. `onSubmit(score, comment)` returns a Promise. */
export function renderSurvey(t, { onSubmit, onSkip, maxLength }) {
  const name = "parley-csat";
  const radios = [];
  const scale = el("div", { class: "scale" });
  for (let score = 1; score <= 5; score += 1) {
    const radio = el("input", { type: "radio", name, value: String(score), id: `${name}-${score}` });
    radios.push(radio);
    scale.append(
      el(
        "label",
        { for: `${name}-${score}`, class: "score", title: t("csatScore", { score }) },
        radio,
        el("span", { "aria-hidden": "true", text: String(score) }),
        el("span", { class: "sr-only", text: t("csatScore", { score }) }),
      ),
    );
  }
  const comment = el("textarea", {
    class: "comment",
    rows: "2",
    maxlength: String(maxLength),
    "aria-label": t("csatComment"),
    placeholder: t("csatComment"),
  });
  const error = el("p", { class: "survey-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary", text: t("csatSubmit"), disabled: true });
  const skip = el("button", { type: "button", class: "ghost", text: t("csatSkip"), onclick: () => onSkip() });
  scale.addEventListener("change", () => {
    submit.disabled = !radios.some((r) => r.checked);
  });
  const legend = el("legend", { text: t("csatQuestion"), tabindex: "-1" });
  const form = el(
    "form",
    { class: "survey", "aria-label": t("csatQuestion") },
    el(
      "fieldset",
      {},
      legend,
      scale,
      el("div", { class: "scale-labels", "aria-hidden": "true" }, el("span", { text: t("csatLow") }), el("span", { text: t("csatHigh") })),
    ),
    comment,
    error,
    el("div", { class: "survey-actions" }, skip, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = radios.find((r) => r.checked);
    if (!chosen) return;
    submit.disabled = true;
    error.textContent = "";
    try {
      await onSubmit(Number(chosen.value), comment.value.trim());
      form.replaceChildren(el("p", { class: "survey-thanks", role: "status", text: t("csatThanks") }));
    } catch {
      error.textContent = t("csatError");
      submit.disabled = false;
    }
  });
  form.focusFirst = () => legend.focus();
  return form;
}
