// The widget's behaviour: messages in and out, history after a reload, handoff states,
// the satisfaction survey. The transcript shown is the server's history (fetched when the
// widget opens, on reconnect and when a conversation may have ended) plus what arrived live
// since: live messages carry their role, sources and handoff state, and the server echoes
// a customer's message to the conversation's other tabs.

import { Connection } from "./connection.js";
import { pickLanguage, translator } from "./i18n.js";
import { randomId, Store } from "./store.js";
import { buildLauncher, buildPanel, fillMessage, renderMessage, renderQuickReplies, renderSurvey } from "./view.js";

const SYNC_DELAY_MS = 350;
const COMMENT_MAX = 1000;

export class Widget {
  constructor(config, hostElement) {
    this.config = config;
    this.lang = pickLanguage(config.language);
    this.t = translator(this.lang, (config.strings || {})[this.lang]);
    let timeFormat = null; // made on first use: not needed for the launcher's first paint
    const formatTime = (d) => {
      timeFormat = timeFormat || new Intl.DateTimeFormat(this.lang, { hour: "2-digit", minute: "2-digit" });
      return timeFormat.format(d);
    };
    this.ctx = { t: this.t, formatTime };
    this.store = new Store(config.storageKey);
    this.entries = []; // {role, text, agent, sources, ts, node, pendingId?}
    this.handoff = { state: "bot", agent: "" };
    this.host = hostElement;
    const root = hostElement.attachShadow({ mode: "open" });
    this.root = root;
    this.ui = null; // the panel, built right after the launcher's first paint
    this.launcher = buildLauncher(root, config, this.t);
    this.launcher.addEventListener("click", () =>
      !this.ui || this.ui.panel.hidden ? this.open(true) : this.close(),
    );
  }

  // -- start-up -------------------------------------------------------------------
  /** Paint the launcher first; build the panel and connect once that frame is out. */
  start() {
    requestAnimationFrame(() => setTimeout(() => this.boot(), 0));
  }

  boot() {
    this.ensurePanel();
    window.addEventListener("storage", (event) => {
      // Another tab started a new conversation: follow it.
      if (event.key === this.store.prefix + "session") this.resetView();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.sync();
    });
    // Visitors who never open the chat cost the server nothing: connect when there is a
    // conversation to follow, or when the panel opens.
    if (this.config.open || this.store.isOpen()) this.open(false);
    else if (this.store.started() || this.store.items().length) this.ensureConnected();
  }

  ensurePanel() {
    if (this.ui) return;
    this.ui = buildPanel(this.root, this.config, this.t);
    this.bind();
  }

  ensureConnected() {
    if (this.connection) return;
    this.connection = new Connection({
      serverUrl: this.config.serverUrl,
      socketPath: this.config.socketPath,
      sessionId: () => this.store.sessionId(),
      outbox: this.store,
      onState: (state) => this.showConnection(state),
      onBotMessage: (message) => this.receive(message),
      onUserEcho: (message) => this.echoed(message),
      onEmit: (id) => this.emitted(id),
      onSent: (id) => this.sent(id),
      onReconnected: () => this.sync(),
    });
    this.showConnection("connecting");
    this.renderPending();
    this.connection.start();
    this.sync();
  }

  bind() {
    const ui = this.ui;
    ui.closeBtn.addEventListener("click", () => this.close());
    ui.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitInput();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitInput();
      }
    });
    ui.input.addEventListener("input", () => this.checkLength());
    ui.personBtn.addEventListener("click", () => this.send("/human_handoff", this.t("talkToPerson")));
    ui.newBtn.addEventListener("click", () => this.newConversation());
    ui.endBtn.addEventListener("click", () => this.showSurvey(`customer:${Date.now()}`, true));
  }

  open(focus) {
    this.ensurePanel();
    this.ensureConnected();
    const ui = this.ui;
    ui.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", this.t("launcherClose"));
    this.host.classList.add("open");
    this.store.setOpen(true);
    this.scrollDown();
    if (focus) ui.input.focus();
  }

  close() {
    const ui = this.ui;
    ui.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", this.t("launcherOpen"));
    this.host.classList.remove("open");
    this.store.setOpen(false);
    this.launcher.focus();
  }

  // -- sending --------------------------------------------------------------------
  checkLength() {
    const ui = this.ui;
    const max = this.config.maxLength;
    const count = ui.input.value.length;
    const over = count > max;
    ui.limit.textContent = over ? this.t("tooLong", { count, max }) : "";
    ui.input.setAttribute("aria-invalid", over ? "true" : "false");
    ui.sendBtn.disabled = over;
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 120)}px`;
    return !over;
  }

  submitInput() {
    const text = this.ui.input.value.trim();
    if (!text || !this.checkLength()) return;
    this.ui.input.value = "";
    this.checkLength();
    this.send(text, text);
  }

  /** Queue a customer message (sent now, or after reconnecting) and show it. */
  send(text, shownAs) {
    const item = { id: randomId(8), text, metadata: this.metadata(text === shownAs ? null : shownAs), shown: shownAs, ts: Date.now() / 1000 };
    this.store.add(item);
    this.store.markStarted();
    this.disableQuickReplies();
    this.append({ role: "user", text: shownAs, ts: item.ts, pending: true, pendingId: item.id });
    if (this.handoff.state === "bot") this.setTyping(true);
    this.ensureConnected();
    this.connection.flush();
  }

  metadata(shownAs) {
    const c = this.config;
    const meta = {
      page_url: window.location.href,
      locale: c.locale || navigator.language || this.lang,
      language: this.lang,
      widget: `parley/${__PARLEY_VERSION__}`,
    };
    if (c.customer && c.customer.name) meta.name = String(c.customer.name);
    if (c.customer && c.customer.email) meta.email = String(c.customer.email);
    // Identity verification: the site's server signs the customer id (HMAC-SHA256 with
    // PARLEY_IDENTITY_SECRET); agents see name and email as unverified without it.
    if (c.customer && c.customer.id) meta.customer_id = String(c.customer.id);
    if (c.customer && c.customer.signature) meta.customer_signature = String(c.customer.signature);
    if (c.metadata && typeof c.metadata === "object") meta.custom = c.metadata;
    if (shownAs) meta.shown_as = shownAs;
    return meta;
  }

  emitted(id) {
    const entry = this.entries.find((e) => e.pendingId === id);
    if (entry && !entry.emitted) {
      entry.emitted = true;
      fillMessage(entry.node, entry, this.ctx);
    }
  }

  sent(id) {
    const entry = this.entries.find((e) => e.pendingId === id);
    if (entry) {
      entry.pending = false;
      entry.pendingId = null;
      fillMessage(entry.node, entry, this.ctx);
    }
    this.setTyping(false);
    // A history fetch put off while this message was in flight (after a reconnect), or the
    // conversation's first turn: Rasa sends the AI disclosure before it logs the customer's
    // first message, so the history puts it first where the live order put it second.
    if (this.syncDeferred || !this.historySeen) this.scheduleSync();
  }

  renderPending() {
    for (const item of this.store.items()) {
      this.append({ role: "user", text: item.shown || item.text, ts: item.ts, pending: true, pendingId: item.id });
    }
  }

  // -- receiving ------------------------------------------------------------------
  receive(message) {
    const custom = customPayload(message);
    if (custom) {
      // Machine-readable part of the previous bot message (e.g. the knowledge answer's sources).
      const last = [...this.entries].reverse().find((e) => e.role !== "user");
      if (last && Array.isArray(custom.sources) && (custom.answer_type === "kb" || custom.answer_type === "suggest")) {
        last.sources = custom.sources;
        // Redrawing the message keeps its quick replies (the answer's yes / no).
        const replies = last.node.querySelector(".quick-replies");
        fillMessage(last.node, last, this.ctx);
        if (replies) last.node.append(replies);
      }
    }
    if (typeof message.text === "string" && message.text.trim()) {
      const entry = { ...fromHandoff(message), text: message.text, ts: Date.now() / 1000 };
      this.setTyping(false);
      this.append(entry);
      // A handoff notice changes the status at once: it carries the state.
      const change = handoffChange(message);
      if (change) this.showHandoff(change);
      const replies = message.quick_replies || message.buttons;
      if (Array.isArray(replies) && replies.length) this.addQuickReplies(entry, replies);
      // Live messages carry their role and sources; the history is fetched only when the
      // conversation may have ended, for the survey's key (and on reload or reconnect).
      if (endsConversation(message, change)) this.scheduleSync();
    }
  }

  /** What the customer said in another tab of this conversation (the server echoes it). */
  echoed(message) {
    if (typeof message.text !== "string" || !message.text.trim()) return;
    this.append({ role: "user", agent: "", text: message.text, ts: Date.now() / 1000 });
  }

  append(entry) {
    entry.node = renderMessage(entry, this.ctx);
    // Messages still waiting for the connection stay last, in the order they were typed.
    const firstPending = entry.pending ? null : this.entries.find((e) => e.pending && !e.emitted);
    if (firstPending) {
      this.entries.splice(this.entries.indexOf(firstPending), 0, entry);
      this.ui.log.insertBefore(entry.node, firstPending.node);
    } else {
      this.entries.push(entry);
      this.ui.log.append(entry.node);
    }
    this.scrollDown();
  }

  addQuickReplies(entry, replies) {
    this.disableQuickReplies();
    entry.node.append(renderQuickReplies(replies, (title, payload) => this.send(payload, title)));
  }

  disableQuickReplies() {
    for (const box of this.ui.log.querySelectorAll(".quick-replies")) box.remove();
  }

  setTyping(on) {
    this.ui.typing.hidden = !on;
    if (on) this.scrollDown();
  }

  scrollDown() {
    const log = this.ui.log;
    requestAnimationFrame(() => {
      log.scrollTop = log.scrollHeight;
    });
  }

  // -- history from the server ----------------------------------------------------
  scheduleSync() {
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => this.sync(), SYNC_DELAY_MS);
  }

  async sync() {
    if (this.connection && this.connection.inFlight.size) {
      this.syncDeferred = true; // the acknowledgement syncs again
      return;
    }
    this.syncDeferred = false;
    if (!this.store.started()) return; // nothing said yet: nothing to fetch
    const sessionId = this.store.sessionId();
    let history;
    try {
      const res = await fetch(`${this.config.apiUrl}/api/history/${sessionId}`, {
        headers: { Accept: "application/json" },
        credentials: "omit",
      });
      if (!res.ok) return;
      history = await res.json();
    } catch {
      return; // offline: the connection state already says so
    }
    if (sessionId !== this.store.sessionId()) return; // a new conversation started meanwhile
    if (Array.isArray(history.messages) && history.messages.length) this.historySeen = true;
    this.reconcile(Array.isArray(history.messages) ? history.messages : []);
    // null: the handoff service could not say; keep what the widget shows.
    if (history.handoff) this.showHandoff(history.handoff);
    if (history.survey && !this.store.surveyDone(history.survey)) this.showSurvey(history.survey, false);
  }

  reconcile(messages) {
    const shown = this.entries.filter((e) => !e.pending);
    const same = (a, b) => side(a.role) === side(b.role) && a.text.trim() === String(b.text).trim();
    const prefixOk = shown.length <= messages.length && shown.every((e, i) => same(e, messages[i]));
    if (!prefixOk) {
      // Another tab added messages, or we missed some while offline: redraw from history.
      this.ui.log.setAttribute("aria-busy", "true");
      for (const e of shown) e.node.remove();
      this.entries = this.entries.filter((e) => e.pending);
      const firstPending = this.entries[0];
      const fresh = messages.map((m) => this.fromServer(m));
      for (const e of fresh) this.ui.log.insertBefore(e.node, firstPending ? firstPending.node : null);
      this.entries = [...fresh, ...this.entries];
      this.ui.log.removeAttribute("aria-busy");
      this.restoreQuickReplies(messages);
      this.scrollDown();
      return;
    }
    shown.forEach((e, i) => {
      const m = messages[i];
      const role = m.role;
      const sources = m.sources || e.sources;
      if (role !== e.role || (m.agent || "") !== (e.agent || "") || (sources || []).length !== (e.sources || []).length) {
        Object.assign(e, { role, agent: m.agent || "", sources, ts: m.ts || e.ts });
        const replies = e.node.querySelector(".quick-replies");
        fillMessage(e.node, e, this.ctx);
        if (replies) e.node.append(replies);
      }
    });
    const extra = messages.slice(shown.length).map((m) => this.fromServer(m));
    for (const e of extra) this.append(e);
    if (extra.length) this.restoreQuickReplies(messages);
  }

  fromServer(m) {
    const entry = {
      role: ["user", "bot", "agent", "notice"].includes(m.role) ? m.role : "bot",
      text: String(m.text ?? ""),
      agent: m.agent ? String(m.agent) : "",
      kind: m.role === "notice" && m.kind ? String(m.kind) : "",
      sources: Array.isArray(m.sources) ? m.sources : [],
      ts: typeof m.ts === "number" ? m.ts : null,
    };
    entry.node = renderMessage(entry, this.ctx);
    return entry;
  }

  restoreQuickReplies(messages) {
    const last = messages[messages.length - 1];
    const entry = this.entries.filter((e) => !e.pending).pop();
    if (last && entry && last.role !== "user" && Array.isArray(last.quick_replies) && last.quick_replies.length) {
      if (!entry.node.querySelector(".quick-replies")) this.addQuickReplies(entry, last.quick_replies);
    }
  }

  // -- states -----------------------------------------------------------------------
  showConnection(state) {
    this.connectionState = state;
    this.host.dataset.connection = state;
    this.renderStatus();
    if (state !== "online") this.setTyping(false);
  }

  showHandoff(handoff) {
    const before = this.handoff;
    this.handoff = { state: handoff.state || "bot", agent: handoff.agent || "" };
    this.host.dataset.handoff = this.handoff.state;
    if (this.handoff.state !== "bot") this.setTyping(false);
    if (before.state !== this.handoff.state || before.agent !== this.handoff.agent) this.renderStatus();
  }

  renderStatus() {
    const s = this.ui.status;
    const conn = this.connectionState;
    let text = "";
    let kind = "";
    if (conn === "offline") [text, kind] = [this.t("offline"), "warn"];
    else if (conn === "reconnecting") [text, kind] = [this.t("reconnecting"), "warn"];
    else if (conn === "connecting") [text, kind] = [this.t("connecting"), "info"];
    else if (this.handoff.state === "queued") [text, kind] = [this.t("queued"), "info"];
    else if (this.handoff.state === "agent")
      [text, kind] = [this.t("withAgent", { name: this.handoff.agent || this.t("agentFallback") }), "human"];
    s.textContent = text;
    s.className = `status ${kind}`;
    s.hidden = !text;
  }

  // -- satisfaction survey -----------------------------------------------------------
  showSurvey(key, byCustomer) {
    if (this.ui.survey.firstChild) return;
    const done = () => {
      this.store.markSurvey(key);
    };
    const form = renderSurvey(this.t, {
      maxLength: COMMENT_MAX,
      onSkip: () => {
        done();
        this.ui.survey.replaceChildren();
        if (byCustomer) this.newConversation();
        this.ui.input.focus();
      },
      onSubmit: async (score, comment) => {
        const res = await fetch(`${this.config.apiUrl}/api/csat`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          credentials: "omit",
          body: JSON.stringify({ session_id: this.store.sessionId(), score, comment, reason: key.split(":")[0] }),
        });
        if (!res.ok) throw new Error(`CSAT ${res.status}`);
        done();
        setTimeout(() => {
          this.ui.survey.replaceChildren();
          if (byCustomer) this.newConversation();
        }, 2500);
      },
    });
    this.ui.survey.replaceChildren(form);
    if (!this.ui.panel.hidden) form.focusFirst();
  }

  // -- new conversation ---------------------------------------------------------------
  newConversation() {
    this.ensurePanel();
    this.store.newSession();
    this.resetView();
  }

  resetView() {
    for (const e of this.entries) e.node.remove();
    this.entries = [];
    this.historySeen = false;
    this.ui.survey.replaceChildren();
    this.handoff = { state: "bot", agent: "" };
    this.renderStatus();
    this.setTyping(false);
    if (this.connection) this.connection.switchSession();
    this.renderPending();
    this.sync();
    this.ui.input.focus();
  }
}

/**
 * Role of a live message from its `metadata.parley_handoff`: a handoff notice (kind queued,
 * joined, handback or closed) is shown as a system notice, an agent's message with their
 * name and a "human" badge, anything else as the bot.
 */
function fromHandoff(message) {
  const meta = (message.metadata && message.metadata.parley_handoff) || null;
  if (!meta) return { role: "bot", agent: "" };
  if (meta.kind) return { role: "notice", agent: "", kind: String(meta.kind) };
  return meta.agent ? { role: "agent", agent: String(meta.agent) } : { role: "notice", agent: "" };
}

const HANDOFF_STATES = ["bot", "queued", "agent", "closed"];

/**
 * The handoff state a live notice carries (set by the handoff service), or null. The widget
 * does not work states out itself: notices say them, and the history says them after a reload.
 */
function handoffChange(message) {
  const meta = (message.metadata && message.metadata.parley_handoff) || null;
  if (!meta || !HANDOFF_STATES.includes(meta.state)) return null;
  return { state: meta.state, agent: meta.state === "agent" && meta.name ? String(meta.name) : "" };
}

/**
 * Whether a live message may end the conversation (the survey follows): a goodbye (the
 * channel marks it, metadata.parley_end), or a notice that hands back to the bot or closes.
 */
function endsConversation(message, change) {
  if (message.metadata && message.metadata.parley_end) return true;
  return Boolean(change && (change.state === "bot" || change.state === "closed"));
}

/** Which side of the conversation a role is on (live messages only know "user" / not). */
function side(role) {
  return role === "user" ? "user" : "other";
}

/**
 * The custom part of a bot message. Rasa's socketio channel emits a custom payload either
 * as `{custom: {...}}` or, when sent as `{"data": {...}}`, as the bare payload; ours wraps
 * that one as `{custom: {data: {...}}}` (as the history does, it is unwrapped here).
 */
function customPayload(message) {
  let custom = null;
  if (message.custom && typeof message.custom === "object") custom = message.custom;
  else if ("answer_type" in message || "sources" in message) custom = message;
  if (custom && custom.data && typeof custom.data === "object" && !Array.isArray(custom.data)) {
    custom = custom.data;
  }
  return custom;
}
