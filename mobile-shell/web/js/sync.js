// Sync with the server: one websocket (automerge-repo protocol, spoken by the engine), opened by
// itself whenever the browser is online and reopened with backoff after it drops; after every
// handshake the changes feed is read to learn documents this device lacks (then `want`ed), and
// erased ones (purged). "Nu synchroniseren" reconnects at once and reads the feed again.
//
// State (`state` event): 'offline' (the browser has no network), 'connecting', 'online'.

import { api, syncUrl, ApiError } from './api.js';

const BACKOFF_MS = [1000, 2000, 5000, 10000, 20000, 30000];
const FEED_EVERY_MS = 30000;

export class Sync extends EventTarget {
  constructor(device, session, { onUnauthorized } = {}) {
    super();
    this.device = device;
    this.session = session;
    this.onUnauthorized = onUnauthorized;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.cursor = 0;
    this.state = navigator.onLine ? 'connecting' : 'offline';
    this.stopped = false;
    this.catchingUp = null;
    device.addEventListener('connected', () => {
      this.attempt = 0;
      this.setState('online');
      this.catchUp();
    });
    // The server ends the connection when the session ends (logout elsewhere, expiry): ask at
    // once whether the token still works, instead of after a few failed reconnects.
    device.addEventListener('remote-error', (e) => {
      if (/session ended/.test(e.detail.message)) this.checkToken({ now: true });
    });
    this.onOnline = () => this.connectNow();
    this.onOffline = () => this.drop('offline');
    addEventListener('online', this.onOnline);
    addEventListener('offline', this.onOffline);
    this.ticker = setInterval(() => this.tick(), 1000);
    this.lastFeed = 0;
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.retryTimer);
    removeEventListener('online', this.onOnline);
    removeEventListener('offline', this.onOffline);
    this.drop('offline');
  }

  connect() {
    if (this.stopped || this.ws) return;
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(syncUrl(this.session.token));
    } catch {
      this.scheduleRetry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.device.sendFrame = (frame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(frame);
      };
      this.device.run(this.device.core.handleConnected(Date.now()));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let fx;
      try {
        fx = this.device.core.handleFrame(new Uint8Array(ev.data), Date.now());
      } catch (e) {
        console.warn('closing the sync connection:', e);
        ws.close();
        return;
      }
      this.device.run(fx);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.closed();
      this.scheduleRetry();
      this.checkToken();
    };
  }

  closed() {
    this.ws = null;
    this.device.sendFrame = null;
    this.device.core.handleDisconnected();
    this.setState(navigator.onLine ? 'connecting' : 'offline');
  }

  /** Drop the socket (the browser went offline, or logout). */
  drop(state) {
    const ws = this.ws;
    if (ws) {
      this.ws = null;
      ws.onclose = null;
      ws.close();
      this.device.sendFrame = null;
      this.device.core.handleDisconnected();
    }
    clearTimeout(this.retryTimer);
    this.setState(state);
  }

  scheduleRetry() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  /** Reconnect without waiting, or read the feed again when connected ("Nu synchroniseren"). */
  connectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    if (this.ws && this.device.core.isConnected()) {
      this.catchUp();
    } else if (!this.ws) {
      this.connect();
    }
  }

  /** A failing socket may mean the token was revoked or expired: ask once, cheaply. */
  async checkToken({ now = false } = {}) {
    if ((!now && this.attempt < 2) || !navigator.onLine) return;
    try {
      await api.me(this.session.token);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.stop();
        this.onUnauthorized?.();
      }
    }
  }

  tick() {
    const now = Date.now();
    if (this.ws && this.device.core.pollTimeout(now)) this.ws.close();
    if (this.state === 'online' && now - this.lastFeed > FEED_EVERY_MS) this.catchUp();
  }

  /** Read the changes feed from the cursor: want what is missing, purge what was erased. */
  catchUp() {
    if (this.catchingUp) return this.catchingUp;
    this.lastFeed = Date.now();
    this.catchingUp = (async () => {
      try {
        for (;;) {
          const page = await api.changes(this.session.token, this.cursor);
          for (const c of page.changes) {
            if (c.deleted) {
              if (this.device.knows(c.id)) await this.device.purge(c.id);
            } else if (this.device.has(c.id)) {
              // Loaded: it syncs.
            } else if (this.device.entry(c.id)) {
              // Kept but not loaded: load it only when the server has something new.
              const mine = this.device.entry(c.id).heads ?? [];
              const same = mine.length === c.heads.length && c.heads.every((h) => mine.includes(h));
              if (!same) await this.device.ensure(c.id);
            } else {
              await this.device.want(c.id);
            }
          }
          this.cursor = page.next;
          if (!page.more) break;
        }
        this.dispatchEvent(new CustomEvent('caught-up'));
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          this.stop();
          this.onUnauthorized?.();
        } else {
          console.warn('changes feed:', e);
        }
      } finally {
        this.catchingUp = null;
      }
    })();
    return this.catchingUp;
  }
}
