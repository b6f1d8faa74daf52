// What the widget keeps in the browser: the session id (random, unguessable: it is the
// only key to the conversation's history), messages not yet acknowledged by the server,
// and which conversations already had their satisfaction survey. localStorage is shared
// by every tab of the site, so a second tab joins the same conversation.

const memory = new Map();

function read(key, fallback) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw == null ? fallback : JSON.parse(raw);
  } catch {
    return memory.has(key) ? memory.get(key) : fallback;
  }
}

function write(key, value) {
  memory.set(key, value);
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage disabled or full: the in-memory copy keeps this tab working
  }
}

export function randomId(bytes = 16) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Store {
  constructor(namespace) {
    this.prefix = `parley:${namespace}:`;
  }

  sessionId() {
    let id = read(this.prefix + "session", null);
    if (typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id)) {
      id = randomId();
      write(this.prefix + "session", id);
    }
    return id;
  }

  newSession() {
    const id = randomId();
    write(this.prefix + "session", id);
    return id;
  }

  /** Whether this conversation has begun (asking Rasa for an unknown one would create it). */
  started() {
    return read(this.prefix + "started", null) === this.sessionId();
  }

  markStarted() {
    write(this.prefix + "started", this.sessionId());
  }

  // -- outbox: messages typed but not yet acknowledged, per session --------------
  items() {
    return read(this.prefix + "outbox:" + this.sessionId(), []);
  }

  add(item) {
    write(this.prefix + "outbox:" + this.sessionId(), [...this.items(), item]);
  }

  remove(id) {
    write(
      this.prefix + "outbox:" + this.sessionId(),
      this.items().filter((item) => item.id !== id),
    );
  }

  // -- satisfaction survey: answered (or skipped) once per conversation and ending --
  surveyDone(key) {
    return read(this.prefix + "csat", []).includes(key);
  }

  markSurvey(key) {
    write(this.prefix + "csat", [...read(this.prefix + "csat", []).slice(-50), key]);
  }

  isOpen() {
    return read(this.prefix + "open", false) === true;
  }

  setOpen(open) {
    write(this.prefix + "open", open);
  }
}
