// The local store in IndexedDB, with the semantics of client-core's `LocalStore`: load, save,
// delete, list. `save` resolves only when the IndexedDB transaction has completed (with strict
// durability where the browser offers it), so the driver reports a document as saved only when it
// is on disk. Beside the documents the store keeps the bytes of voice notes and photos ("blobs")
// until they are uploaded (docs/media.md), and a little state of uploads.

const DB_NAME = 'vertel';
const VERSION = 1;

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

  /** Resolves once the bytes are durable. */
  async save(id, bytes) {
    const tx = this.tx('docs', 'readwrite');
    tx.objectStore('docs').put(bytes, id);
    await done(tx);
  }

  async delete(id) {
    const tx = this.tx('docs', 'readwrite');
    tx.objectStore('docs').delete(id);
    await done(tx);
  }

  async list() {
    return promise(this.tx('docs', 'readonly').objectStore('docs').getAllKeys());
  }

  /** Every document as [id, bytes], in one transaction (start-up). */
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
