// Entry point. Embedding:
//   <script>window.parleyConfig = { serverUrl: "https://bot.example.com" };</script>
//   <script src="https://bot.example.com/parley-widget.js" async></script>
// or call window.Parley.init({...}) yourself (then set `manual: true` in parleyConfig).

import { Widget } from "./widget.js";

const startedAt = performance.now(); // when this script began to run (reported in parley:ready)

const DEFAULTS = {
  serverUrl: "", // Rasa (socket.io channel)
  apiUrl: "", // history + satisfaction survey; default: where this script was loaded from
  socketPath: "/socket.io",
  title: "",
  brandColor: "#1f5fbf",
  language: "", // "en", "de", "es", "fr", "zh", "ja"; default: the browser's language
  locale: "",
  customer: null, // { name, email }
  metadata: null, // any small JSON object; reaches the bot and the agent's handoff packet
  maxLength: 1000,
  open: false,
  storageKey: "default",
  strings: null, // { de: { talkToPerson: "…" } } to override wording per language
  container: null, // element to mount into; default: a new element at the end of <body>
};

const scriptOrigin = (() => {
  try {
    return new URL(document.currentScript.src).origin;
  } catch {
    return window.location.origin;
  }
})();

function normalize(config) {
  const c = { ...DEFAULTS, ...(config || {}) };
  const trim = (url) => String(url || "").replace(/\/+$/, "");
  c.serverUrl = trim(c.serverUrl) || scriptOrigin;
  c.apiUrl = trim(c.apiUrl) || scriptOrigin;
  c.maxLength = Math.max(1, Number(c.maxLength) || DEFAULTS.maxLength);
  if (!/^#[0-9a-f]{6}$/i.test(c.brandColor)) c.brandColor = DEFAULTS.brandColor;
  return c;
}

let instance = null;

function init(config) {
  if (instance) return instance;
  const c = normalize(config);
  const host = document.createElement("parley-chat");
  host.setAttribute("data-parley", "");
  (c.container || document.body).append(host);
  instance = new Widget(c, host);
  instance.start();
  window.dispatchEvent(new CustomEvent("parley:ready", { detail: { startedAt } }));
  return instance;
}

const api = {
  init,
  open: () => instance && instance.open(true),
  close: () => instance && instance.close(),
  newConversation: () => instance && instance.newConversation(),
  version: __PARLEY_VERSION__,
};
window.Parley = api;

const auto = window.parleyConfig;
if (!auto || !auto.manual) {
  if (document.body) init(auto);
  else document.addEventListener("DOMContentLoaded", () => init(auto), { once: true });
}
