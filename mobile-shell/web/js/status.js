// What reached the server, per story (docs/media.md): alleen op dit toestel / audio uploaden (n%) /
// wordt uitgeschreven / tekst klaar / gesynchroniseerd; or niet geaccepteerd door de server, which
// comes before everything else (a refused story is never shown as synced or as merely waiting).

import { t } from './i18n.js';
import { icon } from './icons.js';

/** {code, percent?} for a story view, given the uploader's state of this device's blobs. */
export function storyStatus(view, uploader) {
  if (view.refused) return { code: 'refused' };
  if (!view.confirmed) return { code: 'local' };
  const story = view.story;
  for (const a of story.attachments) {
    const u = uploader?.status(a.sha256);
    if (u && u.state !== 'done') {
      if (u.state === 'failed') return { code: 'upload-failed' };
      const percent = u.size ? Math.floor((100 * u.offset) / u.size) : 0;
      return { code: a.mime.startsWith('audio/') ? 'uploading' : 'uploading-photo', percent };
    }
  }
  const runs = (view.details?.transcriptions ?? []).filter((s) => s.status === 'queued' || s.status === 'running');
  if (runs.length) return { code: 'transcribing', percent: runs[0].progress ?? 0 };
  const transcribed = (view.details?.transcriptions ?? []).some((s) => s.status === 'done');
  if (transcribed || story.transcript?.text) return { code: 'text-ready' };
  return { code: 'synced' };
}

const ICONS = {
  local: 'phone', synced: 'cloud', uploading: 'upload', 'uploading-photo': 'upload', transcribing: 'hourglass',
  'text-ready': 'text', 'upload-failed': 'warning', refused: 'blocked',
};

export function statusLabel(s) {
  return t(`status.${s.code}`, { percent: s.percent ?? 0 });
}

export function statusChip(s) {
  return `<span class="chip status-${s.code}" data-status="${s.code}">${icon(ICONS[s.code])}<span>${statusLabel(s)}</span></span>`;
}
