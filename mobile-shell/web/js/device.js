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
import { entryOf } from './cards.js';

export { sha256Hex };

export class Device extends EventTarget {
  /**
   * Load the wasm module and the list index; load into the engine the personas and any document
   * the index does not know yet (the first start after an update). The stories that must sync (not
   * yet confirmed by the server, or refused) follow once the app is interactive (`loadPending`);
   * every other story is loaded when it is opened, edited, or named by the changes feed (`ensure`).
   */
  static async open(store) {
    const [, index, ids] = await Promise.all([init(), store.allIndex(), store.list()]);
    const device = new Device(store);
    const known = new Map(index.map((e) => [e.id, e]));
    const stored = new Set(ids);
    for (const e of index) {
      if (e.type === 'story' && stored.has(e.id)) device.entries.set(e.id, e);
    }
    const now = ids.filter((id) => {
      const e = known.get(id);
      return !e || e.type !== 'story';
    });
    device.pending = ids.filter((id) => {
      const e = known.get(id);
      return e?.type === 'story' && (!e.confirmed || e.refused);
    });
    for (const [id, bytes] of await store.loadMany(now)) {
      try {
        device.core.load(id, bytes);
      } catch (e) {
        console.warn('skipping an unreadable stored document', id, e);
      }
    }
    const gone = index.filter((e) => !stored.has(e.id)).map((e) => e.id);
    device.refreshAll(gone);
    return device;
  }

  constructor(store) {
    super();
    this.store = store;
    // A fresh actor id for every start: the actor of every change this device writes.
    this.core = new Core(`device-${randomHex(8)}`, crypto.getRandomValues(new Uint8Array(16)));
    this.queue = Promise.resolve();
    /** Set by the sync module while a socket is open. */
    this.sendFrame = null;
    /** id → parsed view (see vertel-shell's `View`) of the documents loaded in the engine. */
    this.views = new Map();
    /** id → list entry (cards.js `entryOf`) of every story on this device, loaded or not. */
    this.entries = new Map();
    /** Index entries waiting to be written (id → entry, or null to delete). */
    this.indexDirty = new Map();
    this.indexTimer = 0;
    /** id → promise of a document being loaded. */
    this.loading = new Map();
  }

  /** The list entry of a story, loaded or not. */
  entry(id) {
    return this.entries.get(id) ?? null;
  }

  /** Whether this device keeps the document (loaded in the engine or only in the store). */
  knows(id) {
    return this.core.has(id) || this.entries.has(id);
  }

  /**
   * Load the stories that must sync, a slice at a time between frames, after the app is
   * interactive; each syncs as soon as it is loaded when online. Resolves when all are loaded.
   */
  async loadPending() {
    while (this.pending?.length) {
      const slice = this.pending.splice(0, 100).filter((id) => !this.core.has(id));
      for (const [id, bytes] of await this.store.loadMany(slice)) {
        if (this.core.has(id)) continue;
        try {
          await this.run(this.core.loadAndSync(id, bytes));
          this.refresh(id);
        } catch (e) {
          console.warn('skipping an unreadable stored document', id, e);
        }
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  /** Load a stored document into the engine (it syncs at once when online). */
  ensure(id) {
    if (this.core.has(id)) return Promise.resolve(true);
    let p = this.loading.get(id);
    if (!p) {
      p = (async () => {
        const bytes = await this.store.load(id);
        if (!bytes || this.core.has(id)) return this.core.has(id);
        await this.run(this.core.loadAndSync(id, bytes));
        this.refresh(id);
        return true;
      })().finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  // ---- the list index ---------------------------------------------------------------------

  /** Keep a story's entry in memory now and in the index soon (batched). */
  setEntry(id, view) {
    if (view?.type === 'story' && view.story) {
      const e = entryOf(view);
      const old = this.entries.get(id);
      this.entries.set(id, e);
      if (!old || JSON.stringify(old) !== JSON.stringify(e)) this.markIndex(id, e);
    } else if (view?.type === 'persona') {
      this.entries.delete(id);
      this.markIndex(id, { id, type: 'persona' }, true);
    } else if (!view) {
      this.entries.delete(id);
      this.markIndex(id, null);
    }
  }

  markIndex(id, e, onlyIfNew = false) {
    if (onlyIfNew && this.indexed?.has(id)) return;
    (this.indexed ??= new Set()).add(id);
    this.indexDirty.set(id, e);
    if (!this.indexTimer) this.indexTimer = setTimeout(() => this.flushIndex(), 200);
  }

  async flushIndex() {
    this.indexTimer = 0;
    // The latest entry of each (a save since it was marked may have changed it).
    const dirty = [...this.indexDirty].map(([id, e]) => [id, e?.type === 'story' ? (this.entries.get(id) ?? null) : e]);
    this.indexDirty.clear();
    if (!dirty.length) return;
    try {
      await this.store.writeIndex(dirty.filter(([, e]) => e).map(([, e]) => e), dirty.filter(([, e]) => !e).map(([id]) => id));
    } catch (e) {
      console.warn('list index:', e);
    }
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
    const view = json ? JSON.parse(json) : null;
    if (view) this.views.set(id, view);
    else this.views.delete(id);
    this.setEntry(id, view);
    this.dispatchEvent(new CustomEvent('change', { detail: { id } }));
  }

  /** Views of every loaded document; `gone`: index entries whose document is no longer stored. */
  refreshAll(gone = []) {
    this.views = new Map(JSON.parse(this.core.views()).map((v) => [v.id, v]));
    for (const [id, v] of this.views) this.setEntry(id, v);
    for (const id of gone) this.setEntry(id, null);
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

  /** Create a draft (consent comes later); resolves with its id once it is durable. */
  async createDraft(input, id = this.newId()) {
    await this.run(this.core.createDraft(id, JSON.stringify(input)));
    return id;
  }

  /** "Indienen": the draft becomes `submitted` (a story about a person needs consent). */
  async handIn(id) {
    await this.ensure(id);
    await this.run(this.core.handIn(id, Date.now()));
  }

  async createPersona(input) {
    const id = this.newId();
    await this.run(this.core.createPersona(id, JSON.stringify(input), Date.now()));
    return id;
  }

  /** Apply a StoryPatch (client_core::story::StoryPatch) as one change. */
  async editStory(id, patch) {
    await this.ensure(id);
    await this.run(this.core.editStory(id, JSON.stringify(patch), Date.now()));
  }

  async setTag(id, code, state, by) {
    await this.ensure(id);
    await this.run(this.core.setTag(id, code, state, by, Date.now()));
  }

  /**
   * Answer the coordinator's review: `text` as a comment by `author` (the member's name) and, with
   * `resubmit`, a returned story set back to submitted. One edit, synced like any other.
   */
  async replyToReview(id, { text, author, resubmit }) {
    const input = { comment_id: `c${randomHex(8)}`, author, text, resubmit: Boolean(resubmit) };
    await this.ensure(id);
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
    await this.ensure(id);
    const copy = this.newId();
    await this.run(this.core.keepCopy(id, copy, Date.now()));
    return copy;
  }

  async addAttachment(id, attachment) {
    await this.ensure(id);
    await this.run(this.core.addAttachment(id, JSON.stringify(attachment), Date.now()));
  }

  // ---- sync -------------------------------------------------------------------------------

  has(id) {
    return this.core.has(id);
  }

  want(id) {
    return this.run(this.core.want(id));
  }

  /** Delete a document from this device, loaded or not. */
  async purge(id) {
    if (this.core.has(id)) return this.run(this.core.purge(id));
    await this.store.delete(id);
    this.refresh(id);
    return [];
  }

  /** Ids of documents whose changes the server has not confirmed (refused ones included). */
  unconfirmed() {
    return this.core.unconfirmed();
  }

  /** Ids of documents the server refused and has not confirmed since. */
  refused() {
    return this.core.refused();
  }

  /** The list entries of every story on this device (loaded or not). */
  stories() {
    return [...this.entries.values()];
  }

  personas() {
    return [...this.views.values()].filter((v) => v.type === 'persona');
  }
}
