// A WebSocket that keeps itself connected: reconnects with exponential backoff and jitter,
// asks for what it missed (the page's last seq as ?after=N), and reports "connecting",
// "live" or "reconnecting" so the page can show it. Used by the study and dataset pages.
(function () {
  "use strict";

  const MIN_DELAY_MS = 500;
  const MAX_DELAY_MS = 15000;
  const CLOSED_BY_LOGOUT = 4001; // platform_web/core/sockets.py

  class LiveSocket {
    // path: "/ws/studies/<id>/"; options: onMessage(obj), onStatus(state, detail),
    // afterSeq() -> number|null (sent as ?after= on every (re)connect), syncEveryMs (0: never).
    constructor(path, options) {
      this.path = path;
      this.onMessage = options.onMessage || function () {};
      this.onStatus = options.onStatus || function () {};
      this.afterSeq = options.afterSeq || function () { return null; };
      this.syncEveryMs = options.syncEveryMs || 0;
      this.failures = 0;
      this.socket = null;
      this.timer = null;
      this.syncTimer = null;
      this.stopped = false;
      this.status = "connecting";
      window.addEventListener("online", () => this.reconnectNow());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible" && !this.socket) this.reconnectNow();
      });
    }

    url() {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const after = this.afterSeq();
      const query = after === null || after === undefined ? "" : "?after=" + encodeURIComponent(after);
      return scheme + "//" + window.location.host + this.path + query;
    }

    setStatus(status, detail) {
      this.status = status;
      this.onStatus(status, detail || "");
    }

    start() {
      this.stopped = false;
      this.open();
      return this;
    }

    open() {
      window.clearTimeout(this.timer);
      this.timer = null;
      let socket;
      try {
        socket = new WebSocket(this.url());
      } catch (err) {
        this.scheduleReconnect();
        return;
      }
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.setStatus("live");
        if (this.syncEveryMs) {
          window.clearInterval(this.syncTimer);
          this.syncTimer = window.setInterval(() => this.send({ action: "sync" }), this.syncEveryMs);
        }
      });
      socket.addEventListener("message", (event) => {
        this.failures = 0; // a refused handshake never gets here, so it keeps backing off
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        this.onMessage(message);
      });
      socket.addEventListener("close", (event) => {
        if (this.socket === socket) this.socket = null;
        window.clearInterval(this.syncTimer);
        if (event.code === CLOSED_BY_LOGOUT) {
          // The session ended (logged out in this or another tab): reconnecting would be refused.
          this.stopped = true;
          this.setStatus("offline", "signed out: sign in again to follow live");
          return;
        }
        if (!this.stopped) this.scheduleReconnect();
      });
    }

    scheduleReconnect() {
      if (this.timer || this.stopped) return;
      const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * Math.pow(2, this.failures));
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.failures += 1;
      this.setStatus("reconnecting", "retrying in " + Math.max(1, Math.round(delay / 1000)) + " s");
      this.timer = window.setTimeout(() => { this.timer = null; this.open(); }, delay);
    }

    reconnectNow() {
      if (this.stopped || (this.socket && this.socket.readyState <= 1)) return;
      window.clearTimeout(this.timer);
      this.timer = null;
      this.open();
    }

    send(obj) {
      if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(obj));
    }

    stop() {
      this.stopped = true;
      window.clearTimeout(this.timer);
      window.clearInterval(this.syncTimer);
      if (this.socket) this.socket.close();
      this.setStatus("offline");
    }
  }

  // Shows the socket's state in an element: <span class="live-status" data-state="live">live</span>.
  LiveSocket.indicator = function (element) {
    const labels = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline" };
    return function (status, detail) {
      if (!element) return;
      element.dataset.state = status;
      element.textContent = labels[status] || status;
      element.title = detail || (status === "live" ? "Updates arrive as they happen" : "");
    };
  };

  window.LiveSocket = LiveSocket;
})();
