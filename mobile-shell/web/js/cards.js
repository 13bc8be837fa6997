// A story's list entry: what its card shows, small enough to keep for every story in the list
// index (store.js `index`) so the list opens without loading a single document (device.js). A card
// can be told apart from the others: a title (typed, or the first words of the text or transcript),
// when, where (place icon and municipality), a line of the story, and one status.

import { t } from './i18n.js';
import { icon } from './icons.js';
import { esc, formatDate } from './dom.js';
import { KINDS } from './codes.js';
import { storyStatus, statusChip } from './status.js';

const KIND_ICON = Object.fromEntries(KINDS.map((k) => [k.code, k.icon]));
const TITLE_WORDS = 6;
const LINE_CHARS = 90;
const SEARCH_CHARS = 4000;

/** The first readable text of a story: typed body, transcript, or the first impact answer. */
function firstText(story, details) {
  for (const text of [story.body, story.transcript?.text, ...Object.values(details?.sections ?? {})]) {
    const clean = String(text ?? '').replace(/\s+/g, ' ').trim();
    if (clean) return clean;
  }
  return '';
}

/** The first words of a text, as a title. */
function firstWords(text) {
  const words = text.split(' ');
  return words.length > TITLE_WORDS ? `${words.slice(0, TITLE_WORDS).join(' ')}…` : text;
}

/** The list entry of a story view (vertel-shell's `View`). */
export function entryOf(view) {
  const st = view.story;
  const d = view.details ?? {};
  const text = firstText(st, d);
  const running = (d.transcriptions ?? []).find((x) => x.status === 'queued' || x.status === 'running');
  const search = [st.title, st.body, st.transcript?.text, st.municipality, st.told_by?.name, ...Object.values(d.sections ?? {})]
    .filter(Boolean).join('\n').toLowerCase().slice(0, SEARCH_CHARS);
  return {
    id: view.id,
    type: 'story',
    kind: st.kind ?? null,
    title: st.title?.trim() ?? '',
    auto: firstWords(text),
    line: text.length > LINE_CHARS ? `${text.slice(0, LINE_CHARS)}…` : text,
    at: st.captured_at ?? 0,
    place: st.place_type ?? null,
    municipality: st.municipality ?? null,
    review: st.review ?? null,
    persona: st.persona ?? null,
    confirmed: Boolean(view.confirmed),
    refused: view.refused ?? null,
    attachments: (st.attachments ?? []).map((a) => ({ sha256: a.sha256, mime: a.mime })),
    transcribing: running ? (running.progress ?? 0) : null,
    textReady: Boolean(st.transcript?.text) || (d.transcriptions ?? []).some((x) => x.status === 'done'),
    heads: view.heads ?? [],
    search,
  };
}

/** A story's title: typed, else its first words, else its kind. Takes a story or an entry. */
export function storyTitle(s) {
  const typed = s.title?.trim();
  if (typed) return typed;
  const auto = s.auto ?? firstWords(firstText(s, null));
  if (auto) return auto;
  return t('story.untitled', { kind: s.kind ? t(`kind.${s.kind}`) : t('kind.none') });
}

const cards = new Map(); // id → {key, html}

/** A story's card; the markup is kept per entry, language and status. */
export function storyCard(e, uploader, lang) {
  const status = storyStatus(e, uploader);
  const key = `${lang}|${status.code}|${status.percent ?? ''}`;
  const cached = cards.get(e.id);
  if (cached?.entry === e && cached.key === key) return cached.html;
  const html = cardHtml(e, status, lang);
  cards.set(e.id, { entry: e, key, html });
  return html;
}

function cardHtml(e, status, lang) {
  const where = [e.place ? t(`place.${e.place}`) : '', e.municipality ?? ''].filter(Boolean).map(esc).join(', ');
  const cls = status.code === 'refused' ? ' card-refused' : status.code === 'returned' ? ' card-returned' : '';
  return `<li><a class="card${cls}" href="#/story/${esc(e.id)}" data-id="${esc(e.id)}"${e.review ? ` data-review="${esc(e.review)}"` : ''}${e.refused ? ' data-refused="1"' : ''}>
    <span class="card-icon">${icon(KIND_ICON[e.kind] ?? 'text')}<span class="sr-only">${e.kind ? t(`kind.${e.kind}`) : ''}</span></span>
    <span class="card-main"><strong>${esc(storyTitle(e))}</strong>
      <span class="meta"><span class="when">${icon('calendar')}${esc(formatDate(e.at, lang))}</span>${where ? `<span class="where">${icon(e.place ?? 'anders')}${where}</span>` : ''}</span>
      ${e.line && (e.title || e.line !== e.auto) ? `<span class="line" dir="auto">${esc(e.line)}</span>` : ''}
      <span class="chips">${statusChip(status)}</span></span></a></li>`;
}
