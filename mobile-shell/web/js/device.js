// The driver: runs client-core's sans-IO engine (compiled to wasm) against IndexedDB and a
// websocket, as client_core::native does natively. Every call into the engine returns effects;
// the driver carries them out strictly in order through one queue — store tasks first (a save
// resolves only when IndexedDB committed it, and only then is the engine told `handleSaved`), then
// frames — so nothing is announced that is not durable.
//
// Emits (as DOM events on the device): `change` {detail: {id}} when a document's view changed
// (also when the server refused it: the view then carries `refused: {code, message}`),
// `connected`, `purged` {id}, `error` {error}, `remote-error` {message} (the server's `error`
// message before it closes the connection, e.g. "session ended; log in again").

import init, { Core, newDocumentId, sha256Hex } from '../pkg/vertel_shell.js';
import { randomHex } from './dom.js';

export { sha256Hex };

export class Device extends EventTarget {
  /** Load the wasm module and every stored document. */
  static async open(store) {
    await init();
    const device = new Device(store);
    for (const [id, bytes] of await store.loadAll()) {
      try {
        device.core.load(id, bytes);
      } catch (e) {
        console.warn('skipping an unreadable stored document', id, e);
      }
    }
    device.refreshAll();
    return device;
  }

  constructor(store) {
    super();
    this.store = store;
    this.core = new Core(`device-${randomHex(8)}`);
    this.queue = Promise.resolve();
    /** Set by the sync module while a socket is open. */
    this.sendFrame = null;
    /** id → parsed view (see vertel-shell's `View`). */
    this.views = new Map();
  }

  // ---- effects ----------------------------------------------------------------------------

  /** Queue effects for execution; the promise resolves when they are carried out. */
  run(fx) {
    const p = this.queue.then(() => this.execute(fx));
    this.queue = p.catch((error) => this.dispatchEvent(new CustomEvent('error', { detail: { error } })));
    return p;
  }

  async execute(fx) {
    const events = [...fx.events];
    for (const task of fx.store) {
      if (task.op === 'save') {
        await this.store.save(task.id, task.bytes);
        events.push(...this.core.handleSaved(task.id).events);
      } else {
        await this.store.delete(task.id);
      }
    }
    if (this.sendFrame) for (const frame of fx.send) this.sendFrame(frame);
    for (const e of events) this.onEvent(e);
    return events;
  }

  onEvent(e) {
    switch (e.type) {
      case 'connected':
        this.dispatchEvent(new CustomEvent('connected', { detail: e }));
        break;
      case 'remote-error':
        console.warn('server reported', e.message);
        this.dispatchEvent(new CustomEvent('remote-error', { detail: { message: e.message } }));
        break;
      default:
        this.refresh(e.id);
    }
  }

  refresh(id) {
    const json = this.core.view(id);
    if (json) this.views.set(id, JSON.parse(json));
    else this.views.delete(id);
    this.dispatchEvent(new CustomEvent('change', { detail: { id } }));
  }

  refreshAll() {
    this.views = new Map(JSON.parse(this.core.views()).map((v) => [v.id, v]));
    this.dispatchEvent(new CustomEvent('change', { detail: {} }));
  }

  // ---- local edits ------------------------------------------------------------------------

  newId() {
    return newDocumentId(crypto.getRandomValues(new Uint8Array(16)));
  }

  /** Create a story; resolves with its id once it is durable in IndexedDB. */
  async createStory(input, id = this.newId()) {
    await this.run(this.core.createStory(id, JSON.stringify(input)));
    return id;
  }

  async createPersona(input) {
    const id = this.newId();
    await this.run(this.core.createPersona(id, JSON.stringify(input), Date.now()));
    return id;
  }

  /** Apply a StoryPatch (client_core::story::StoryPatch) as one change. */
  async editStory(id, patch) {
    await this.run(this.core.editStory(id, JSON.stringify(patch), Date.now()));
  }

  async setTag(id, code, state, by) {
    await this.run(this.core.setTag(id, code, state, by, Date.now()));
  }

  /**
   * Answer the coordinator's review: `text` as a comment by `author` (the member's name) and, with
   * `resubmit`, a returned story set back to submitted. One edit, synced like any other.
   */
  async replyToReview(id, { text, author, resubmit }) {
    const input = { comment_id: `c${randomHex(8)}`, author, text, resubmit: Boolean(resubmit) };
    await this.run(this.core.replyToReview(id, JSON.stringify(input), Date.now()));
  }

  /**
   * Undo the change the server refused: fields that belong to someone else (a review, a label of
   * the coordinator or the server) go back to the server's version; the rest stays and syncs.
   */
  async undoRefused(id) {
    await this.run(this.core.undoRefused(id, Date.now()));
  }

  /** Keep a copy of a story as a new story (without others' fields); resolves with its id. */
  async keepCopy(id) {
    const copy = this.newId();
    await this.run(this.core.keepCopy(id, copy, Date.now()));
    return copy;
  }

  async addAttachment(id, attachment) {
    await this.run(this.core.addAttachment(id, JSON.stringify(attachment), Date.now()));
  }

  // ---- sync -------------------------------------------------------------------------------

  has(id) {
    return this.core.has(id);
  }

  want(id) {
    return this.run(this.core.want(id));
  }

  purge(id) {
    return this.run(this.core.purge(id));
  }

  /** Ids of documents whose changes the server has not confirmed (refused ones included). */
  unconfirmed() {
    return this.core.unconfirmed();
  }

  /** Ids of documents the server refused and has not confirmed since. */
  refused() {
    return this.core.refused();
  }

  stories() {
    return [...this.views.values()].filter((v) => v.type === 'story' && v.story);
  }

  personas() {
    return [...this.views.values()].filter((v) => v.type === 'persona');
  }
}
