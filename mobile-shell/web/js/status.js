// One status per story, in the order a story goes (docs/media.md, docs/schema.md `review`), never
// two that contradict each other:
//   op dit toestel (also while its recordings or photos are still being sent)
//   → verstuurd (with the transcription's progress while it runs) → tekst klaar
//   → ingediend / teruggestuurd / goedgekeurd (the coordinators' review, once handed in).
// A story the server did not accept says so before everything else. The top bar counts the same
// codes (`summary`).

import { t } from './i18n.js';
import { icon } from './icons.js';

/**
 * `{code, percent?}` for a story's list entry (cards.js `entryOf`), given the uploader's state of
 * this device's recordings and photos.
 */
export function storyStatus(e, uploader) {
  if (e.refused) return { code: 'refused' };
  let sending = null;
  for (const a of e.attachments ?? []) {
    const u = uploader?.status(a.sha256);
    if (u && u.state !== 'done') {
      if (u.state === 'failed') return { code: 'upload-failed' };
      const percent = u.size ? Math.floor((100 * u.offset) / u.size) : 0;
      sending = Math.min(sending ?? 100, percent);
    }
  }
  if (!e.confirmed || sending !== null) return sending === null ? { code: 'local' } : { code: 'local', percent: sending };
  switch (e.review) {
    case 'returned': return { code: 'returned' };
    case 'approved': return { code: 'approved' };
    case 'submitted':
    case 'reviewed': return { code: 'submitted' };
    default:
      if (e.transcribing !== null && e.transcribing !== undefined) return { code: 'transcribing', percent: e.transcribing };
      if (e.textReady) return { code: 'text-ready' };
      return { code: 'sent' };
  }
}

/** The codes that mean "not on the server yet". */
export const ON_DEVICE = new Set(['local', 'upload-failed']);

/** What the top bar counts: stories only on this device, sent back, refused. */
export function summary(entries, uploader) {
  let local = 0;
  let returned = 0;
  let refused = 0;
  for (const e of entries) {
    const { code } = storyStatus(e, uploader);
    if (ON_DEVICE.has(code)) local += 1;
    else if (code === 'returned') returned += 1;
    else if (code === 'refused') refused += 1;
  }
  return { local, returned, refused };
}

/** Statuses that are the coordinators' review (cards and tests find them as `data-review`). */
const REVIEW_CODES = new Set(['submitted', 'returned', 'approved']);

const ICONS = {
  local: 'phone', sent: 'cloud', transcribing: 'hourglass', 'text-ready': 'text', submitted: 'send',
  returned: 'undo', approved: 'check', 'upload-failed': 'warning', refused: 'blocked',
};

export function statusLabel(s) {
  if (s.code === 'local' && s.percent !== undefined) return t('status.local-sending', { percent: s.percent });
  return t(`status.${s.code}`, { percent: s.percent ?? 0 });
}

export function statusChip(s) {
  const review = REVIEW_CODES.has(s.code) ? ` data-review="${s.code}"` : '';
  return `<span class="chip status-${s.code}" data-status="${s.code}"${review}${s.percent !== undefined ? ` data-percent="${s.percent}"` : ''}>${icon(ICONS[s.code])}<span>${statusLabel(s)}</span></span>`;
}
