// Drafts that cannot be lost. A story exists on the device from the first tap on the capture
// screen (a draft, `review = draft`, client_core::story::create_draft); every word typed is stored
// within half a second, every recorded second as it arrives (store.js `chunks`). A recording that
// was cut off (a crash, a closed tab, a dead battery) is put together from its pieces at the next
// start and attached to its story. Until "Indienen" a draft stays a draft; throwing one away is
// an explicit choice.

import { sha256Hex } from './device.js';

/** Takes being recorded in this page right now: never "recovered" from under the recorder. */
export const activeTakes = new Set();

const REOPEN = 'vertel.reopen';
const ERASE = 'vertel.erase';

/** Keep a recording (or photo) with its story: the bytes for upload, the attachment in the story. */
export async function attach(app, storyId, blob, mime) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const sha256 = sha256Hex(bytes);
  const type = (mime || blob.type || 'application/octet-stream').split(';')[0];
  await app.uploader.add({ sha256, mime: type, size: bytes.length, story: storyId, blob: new Blob([bytes], { type }) });
  await app.device.addAttachment(storyId, { sha256, mime: type, size: bytes.length });
  return { sha256, mime: type, size: bytes.length };
}

/**
 * Put recordings that were cut off back together: every take whose pieces are still in the store
 * and that nobody records now becomes an attachment of its story. Resolves with how many.
 */
export async function recoverRecordings(app) {
  const takes = new Map();
  for (const c of await app.store.allChunks()) {
    const key = `${c.story}\u0000${c.take}`;
    if (activeTakes.has(key)) continue;
    if (!takes.has(key)) takes.set(key, { story: c.story, take: c.take, mime: c.mime, blobs: [] });
    takes.get(key).blobs.push(c.blob);
  }
  let n = 0;
  for (const t of takes.values()) {
    try {
      await app.device.ensure(t.story);
      if (app.device.views.get(t.story)?.story) {
        await attach(app, t.story, new Blob(t.blobs, { type: t.mime }), t.mime);
        n += 1;
      }
      await app.store.deleteTake(t.story, t.take);
    } catch (e) {
      console.error('recovering a recording:', e);
    }
  }
  return n;
}

/** The capture screen of a draft is open: reopen it after a reload or crash. */
export function rememberOpen(id) {
  localStorage.setItem(REOPEN, id);
}

export function forgetOpen(id) {
  if (!id || localStorage.getItem(REOPEN) === id) localStorage.removeItem(REOPEN);
}

/** The draft that was open when the app last stopped, if it is still a draft here. */
export function draftToReopen(app) {
  const id = localStorage.getItem(REOPEN);
  if (!id) return null;
  const entry = app.device.entry(id);
  if (entry?.review === 'draft') return id;
  localStorage.removeItem(REOPEN);
  return null;
}

/**
 * Throw a draft away (after the person confirmed): off this device, its recordings and photos too,
 * and off the server when it got there (now, or when the server is next reachable).
 */
export async function discardDraft(app, id) {
  const reached = app.device.views.get(id)?.confirmed || app.device.entry(id)?.confirmed;
  await app.uploader.forgetStory?.(id);
  await app.device.purge(id);
  forgetOpen(id);
  if (reached) {
    const pending = new Set(JSON.parse(localStorage.getItem(ERASE) || '[]'));
    pending.add(id);
    localStorage.setItem(ERASE, JSON.stringify([...pending]));
    eraseDiscarded(app);
  }
}

/** Ask the server to erase drafts thrown away on this device (the recorder may erase their own). */
export async function eraseDiscarded(app) {
  if (!navigator.onLine) return;
  const pending = JSON.parse(localStorage.getItem(ERASE) || '[]');
  const left = [];
  for (const id of pending) {
    try {
      const resp = await fetch(`/api/v1/stories/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${app.session.token}` },
      });
      if (!resp.ok && resp.status !== 404) left.push(id);
    } catch {
      left.push(id);
    }
  }
  localStorage.setItem(ERASE, JSON.stringify(left));
}
