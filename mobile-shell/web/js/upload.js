// Uploads voice notes and photos with the tus 1.0 core protocol (docs/media.md): create with POST,
// append with PATCH from the offset the server reports, resume with HEAD after a broken
// connection. A blob is uploaded only once its story is confirmed by the server (the server checks
// that the caller may write the story). Progress is reported per blob (`progress` event).

const CHUNK = 256 * 1024;
const RETRY_MS = [2000, 5000, 15000, 30000, 60000];

function b64(s) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

export class Uploader extends EventTarget {
  constructor(store, device, session) {
    super();
    this.store = store;
    this.device = device;
    this.session = session;
    /** sha256 → {state, offset, size, story, mime, error} */
    this.blobs = new Map();
    this.running = false;
    this.again = false;
    this.failures = 0;
    this.timer = 0;
    this.stopped = false;
  }

  async init() {
    for (const b of await this.store.allBlobs()) this.remember(b);
  }

  remember(b) {
    this.blobs.set(b.sha256, {
      state: b.state, offset: b.offset || 0, size: b.size, story: b.story, mime: b.mime, error: b.error,
    });
  }

  /** Uploads not finished, for the logout warning. */
  pending() {
    return [...this.blobs.values()].filter((b) => b.state !== 'done');
  }

  /** Percent uploaded of the blob, or null when this device never held it. */
  status(sha256) {
    return this.blobs.get(sha256) ?? null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Look for work now (after a save, a sync confirmation or coming online). */
  kick() {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.work()
      .catch((e) => console.warn('upload:', e))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  retryLater() {
    clearTimeout(this.timer);
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    this.timer = setTimeout(() => this.kick(), delay);
  }

  async work() {
    if (!navigator.onLine) return;
    for (const [sha, b] of this.blobs) {
      if (b.state === 'done' || b.state === 'failed') continue;
      if (!(this.device.views.get(b.story) ?? this.device.entry(b.story))?.confirmed) continue;
      try {
        await this.upload(sha);
        this.failures = 0;
      } catch (e) {
        console.warn('upload of', sha.slice(0, 12), 'waits:', e.message);
        this.retryLater();
        return;
      }
    }
  }

  headers(extra = {}) {
    return { authorization: `Bearer ${this.session.token}`, 'tus-resumable': '1.0.0', ...extra };
  }

  async set(sha, changes) {
    await this.store.updateBlob(sha, changes);
    const b = this.blobs.get(sha);
    Object.assign(b, changes);
    this.dispatchEvent(new CustomEvent('progress', { detail: { sha256: sha, story: b.story } }));
  }

  async upload(sha) {
    const rec = await this.store.getBlob(sha);
    if (!rec) return;
    let url = rec.uploadUrl;
    let offset = 0;
    if (url) {
      const head = await fetch(url, { method: 'HEAD', headers: this.headers(), cache: 'no-store' });
      if (head.ok) offset = Number(head.headers.get('upload-offset') || 0);
      else url = null;
    }
    if (!url) {
      const meta = `sha256 ${b64(sha)},story ${b64(rec.story)},mime ${b64(rec.mime)}`;
      const resp = await fetch('/api/v1/uploads', {
        method: 'POST',
        headers: this.headers({ 'upload-length': String(rec.size), 'upload-metadata': meta }),
      });
      if (resp.status === 413 || resp.status === 415) {
        await this.set(sha, { state: 'failed', error: resp.status === 413 ? 'too-large' : 'unsupported' });
        return;
      }
      if (resp.status !== 201) throw new Error(`create: HTTP ${resp.status}`);
      url = new URL(resp.headers.get('location'), location.href).toString();
      offset = Number(resp.headers.get('upload-offset') || 0);
      await this.set(sha, { uploadUrl: url, state: 'uploading', offset });
    }
    while (offset < rec.size) {
      const chunk = rec.blob.slice(offset, Math.min(offset + CHUNK, rec.size));
      const resp = await fetch(url, {
        method: 'PATCH',
        headers: this.headers({
          'content-type': 'application/offset+octet-stream',
          'upload-offset': String(offset),
        }),
        body: chunk,
      });
      if (resp.status === 409) {
        const head = await fetch(url, { method: 'HEAD', headers: this.headers(), cache: 'no-store' });
        if (!head.ok) throw new Error(`resume: HTTP ${head.status}`);
        offset = Number(head.headers.get('upload-offset') || 0);
        continue;
      }
      if (resp.status === 460) {
        // The server computed another hash: the stored bytes are damaged. Never retried.
        await this.set(sha, { state: 'failed', error: 'checksum', uploadUrl: null });
        return;
      }
      if (resp.status === 413 || resp.status === 415 || resp.status === 422) {
        await this.set(sha, { state: 'failed', error: `http-${resp.status}`, uploadUrl: null });
        return;
      }
      if (resp.status === 404) {
        await this.set(sha, { uploadUrl: null });
        throw new Error('upload expired');
      }
      if (resp.status !== 204) throw new Error(`append: HTTP ${resp.status}`);
      offset = Number(resp.headers.get('upload-offset') || offset + chunk.size);
      await this.set(sha, { offset });
    }
    await this.set(sha, { state: 'done', offset: rec.size });
  }

  /** Drop blobs that no story references (a save that failed). */
  async forget(shas) {
    for (const sha of shas) {
      await this.store.deleteBlob(sha);
      this.blobs.delete(sha);
    }
  }

  /** A draft was thrown away: its recordings and photos go too. */
  async forgetStory(story) {
    await this.forget([...this.blobs].filter(([, b]) => b.story === story).map(([sha]) => sha));
  }

  /**
   * A copy of a story now holds its attachments: bytes not uploaded yet go up with the copy (the
   * original waits, refused, and might never be confirmed).
   */
  async reassign(fromStory, toStory) {
    for (const [sha, b] of this.blobs) {
      if (b.story !== fromStory || b.state === 'done') continue;
      await this.store.updateBlob(sha, { story: toStory, uploadUrl: null, offset: 0 });
      Object.assign(b, { story: toStory, offset: 0 });
    }
    this.kick();
  }

  /** Keep new bytes (already hashed) for a story and upload them when possible. */
  async add(record) {
    await this.store.putBlob(record);
    this.remember({ ...record, state: 'pending', offset: 0 });
    this.kick();
  }
}
