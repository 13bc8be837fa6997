// The local store in IndexedDB, with the semantics of client-core's `LocalStore`: load, save,
// delete, list. `save` resolves only when the IndexedDB transaction has completed (with strict
// durability where the browser offers it), so the driver reports a document as saved only when it
// is on disk. Beside the documents the store keeps the bytes of voice notes and photos ("blobs")
// until they are uploaded (docs/media.md), and a little state of uploads; the pieces of a recording
// in progress ("chunks", one a second, so a crash loses at most the last second); and the list
// index ("index": per story what its card shows, so the list opens without loading documents).

const DB_NAME = 'vertel';
const VERSION = 2;

function promise(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

export class Store {
  static async open(name = DB_NAME) {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('docs')) db.createObjectStore('docs');
      if (!db.objectStoreNames.contains('blobs')) db.createObjectStore('blobs', { keyPath: 'sha256' });
      if (!db.objectStoreNames.contains('chunks')) db.createObjectStore('chunks', { keyPath: ['story', 'take', 'seq'] });
      if (!db.objectStoreNames.contains('index')) db.createObjectStore('index', { keyPath: 'id' });
    };
    const db = await promise(req);
    return new Store(db, name);
  }

  constructor(db, name) {
    this.db = db;
    this.name = name;
    // Another tab upgrading or deleting the database: step aside.
    db.onversionchange = () => db.close();
  }

  tx(stores, mode) {
    return this.db.transaction(stores, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
  }

  // ---- documents (LocalStore) -------------------------------------------------------------

  /** The stored bytes (client_core::store::encode_stored) of one document, or undefined. */
  async load(id) {
    return promise(this.tx('docs', 'readonly').objectStore('docs').get(id));
  }

  /**
   * Resolves once the bytes are durable. In the same transaction the story's list entry is marked
   * as not confirmed: whatever happens next (a crash before the index catches up), the next start
   * loads and syncs this document.
   */
  async save(id, bytes) {
    const tx = this.tx(['docs', 'index'], 'readwrite');
    tx.objectStore('docs').put(bytes, id);
    const index = tx.objectStore('index');
    const req = index.get(id);
    req.onsuccess = () => {
      const e = req.result;
      if (e?.confirmed) index.put({ ...e, confirmed: false });
    };
    await done(tx);
  }

  async delete(id) {
    const tx = this.tx(['docs', 'index'], 'readwrite');
    tx.objectStore('docs').delete(id);
    tx.objectStore('index').delete(id);
    await done(tx);
  }

  async list() {
    return promise(this.tx('docs', 'readonly').objectStore('docs').getAllKeys());
  }

  /** The given documents as [id, bytes], in one transaction (start-up). */
  async loadMany(ids) {
    if (!ids.length) return [];
    const store = this.tx('docs', 'readonly').objectStore('docs');
    const values = await Promise.all(ids.map((id) => promise(store.get(id))));
    return ids.map((id, i) => [id, values[i]]).filter(([, v]) => v);
  }

  /** Every document as [id, bytes], in one transaction. */
  async loadAll() {
    const tx = this.tx('docs', 'readonly');
    const store = tx.objectStore('docs');
    const [keys, values] = await Promise.all([promise(store.getAllKeys()), promise(store.getAll())]);
    return keys.map((k, i) => [k, values[i]]);
  }

  // ---- blobs --------------------------------------------------------------------------------

  /** Keep a voice note or photo: `{sha256, mime, size, story, blob}`; upload state starts pending. */
  async putBlob(record) {
    const tx = this.tx('blobs', 'readwrite');
    tx.objectStore('blobs').put({ state: 'pending', offset: 0, uploadUrl: null, ...record });
    await done(tx);
  }

  async getBlob(sha256) {
    return promise(this.tx('blobs', 'readonly').objectStore('blobs').get(sha256));
  }

  async allBlobs() {
    return promise(this.tx('blobs', 'readonly').objectStore('blobs').getAll());
  }

  /** Update a blob's upload state (`state`, `offset`, `uploadUrl`, `error`). */
  async updateBlob(sha256, changes) {
    const tx = this.tx('blobs', 'readwrite');
    const store = tx.objectStore('blobs');
    const rec = await promise(store.get(sha256));
    if (rec) store.put({ ...rec, ...changes });
    await done(tx);
  }

  async deleteBlob(sha256) {
    const tx = this.tx('blobs', 'readwrite');
    tx.objectStore('blobs').delete(sha256);
    await done(tx);
  }

  // ---- a recording in progress ----------------------------------------------------------------

  /** Keep one piece of a recording: `{story, take, seq, mime, blob}`; resolves once durable. */
  async putChunk(chunk) {
    const tx = this.tx('chunks', 'readwrite');
    tx.objectStore('chunks').put(chunk);
    await done(tx);
  }

  /** Every kept piece, in order (by story, take, seq). */
  async allChunks() {
    return promise(this.tx('chunks', 'readonly').objectStore('chunks').getAll());
  }

  /** Forget the pieces of one take (it became an attachment). */
  async deleteTake(story, take) {
    const tx = this.tx('chunks', 'readwrite');
    tx.objectStore('chunks').delete(IDBKeyRange.bound([story, take, -Infinity], [story, take, Infinity]));
    await done(tx);
  }

  // ---- the list index -------------------------------------------------------------------------

  /** Every story's card entry (what the list shows). */
  async allIndex() {
    return promise(this.tx('index', 'readonly').objectStore('index').getAll());
  }

  /** Write card entries (`{id, ...}`) and delete ids, in one transaction. */
  async writeIndex(entries, deleted = []) {
    const tx = this.tx('index', 'readwrite');
    const store = tx.objectStore('index');
    for (const e of entries) store.put(e);
    for (const id of deleted) store.delete(id);
    await done(tx);
  }

  /** Remove everything this device holds (logout). */
  async wipe() {
    this.db.close();
    await new Promise((resolve, reject) => {
      const req = indexedDB.deleteDatabase(this.name);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
      req.onblocked = () => resolve();
    });
  }
}
