// The socket.io link to Rasa's socketio channel (session persistence on): one room per
// session id, so every tab of the same conversation receives the bot's messages.
// Messages are taken from an outbox and removed only when Rasa acknowledges them, so
// anything typed while offline or mid-reconnect is sent once the link is back.

import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 60000; // Rasa acknowledges after the bot has finished its turn

export class Connection {
  /**
   * @param {object} opts
   * @param {string} opts.serverUrl Rasa's base URL
   * @param {string} opts.socketPath socket.io path (Rasa's default: /socket.io)
   * @param {() => string} opts.sessionId current session id
   * @param {(state: string) => void} opts.onState "connecting" | "online" | "reconnecting" | "offline"
   * @param {(message: object) => void} opts.onBotMessage one `bot_uttered` payload
   * @param {(message: object) => void} opts.onUserEcho a customer message sent from another tab
   * @param {() => void} opts.onReconnected the link came back after a drop (history may have moved on)
   * @param {(id: string) => void} opts.onEmit a queued message is on its way
   * @param {(id: string) => void} opts.onSent the server acknowledged a message
   */
  constructor(opts) {
    this.opts = opts;
    this.outbox = opts.outbox; // { items(): [], remove(id) }
    this.confirmed = false;
    this.inFlight = new Set();
    this.everConfirmed = false;
    this.state = "connecting";
  }

  start() {
    const { serverUrl, socketPath } = this.opts;
    const socket = io(serverUrl, {
      path: socketPath,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      autoConnect: false,
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.confirmed = false;
      socket.emit("session_request", { session_id: this.opts.sessionId() });
    });
    socket.on("session_confirm", () => {
      this.confirmed = true;
      this.setState("online");
      if (this.everConfirmed) this.opts.onReconnected();
      this.everConfirmed = true;
      this.flush();
    });
    socket.on("bot_uttered", (message) => this.opts.onBotMessage(message || {}));
    socket.on("user_echo", (message) => this.opts.onUserEcho(message || {}));
    socket.on("disconnect", (reason) => {
      this.confirmed = false;
      this.inFlight.clear();
      if (reason === "io client disconnect") return; // we closed it on purpose (offline)
      this.setState("reconnecting");
    });
    socket.io.on("reconnect_attempt", () => this.setState(navigator.onLine ? "reconnecting" : "offline"));
    this.onOffline = () => {
      this.setState("offline");
      socket.disconnect();
    };
    this.onOnline = () => {
      this.setState("reconnecting");
      socket.connect();
    };
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("online", this.onOnline);
    if (navigator.onLine === false) this.setState("offline");
    else socket.connect();
  }

  stop() {
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    if (this.socket) this.socket.disconnect();
  }

  /** Follow a different session id (after "new conversation"): a fresh socket leaves the
   *  old conversation's room, then joins the new one on connect. */
  switchSession() {
    this.inFlight.clear();
    if (this.socket && this.socket.connected) {
      this.socket.disconnect();
      this.setState("connecting");
      this.socket.connect();
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.opts.onState(state);
  }

  /** Send every queued message that is not already on its way. */
  flush() {
    if (!this.confirmed || !this.socket || !this.socket.connected) return;
    for (const item of this.outbox.items()) {
      if (this.inFlight.has(item.id)) continue;
      this.inFlight.add(item.id);
      this.opts.onEmit(item.id);
      const payload = {
        message: item.text,
        session_id: this.opts.sessionId(),
        metadata: item.metadata,
      };
      this.socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", payload, (err) => {
        this.inFlight.delete(item.id);
        if (err) return; // no acknowledgement: stays queued, sent again after reconnecting
        this.outbox.remove(item.id);
        this.opts.onSent(item.id);
      });
    }
  }
}
