// The coordinators' workspace. Framework-free: every text from the server is put in the page as
// text (textContent via h()), never as markup, so story text with HTML or a script stays inert.
import nl from './i18n-nl.js';
import en from './i18n-en.js';
import { lineChart, fmt } from './chart.js';

const CATALOGUES = { nl, en };
let lang = localStorage.getItem('vertel-ws-lang') || 'nl';
const t = (key, vars = {}) => String((CATALOGUES[lang] || nl)[key] ?? nl[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');

let session = JSON.parse(sessionStorage.getItem('vertel-ws') || 'null');
let meta = null; // overview + taxonomy, loaded once per session
let expired = false; // the session ended (expired, or logged out elsewhere): say so on the login
const main = document.getElementById('main');

/** Make an element: attributes (on* functions become listeners), children (strings as text). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.classList.add('show');
  setTimeout(() => el.classList.remove('show'), 2500);
}

async function api(method, path, body, raw = false) {
  // The server answers errors (an import's bad lines) in the screen's language.
  const headers = { authorization: `Bearer ${session?.token}`, 'accept-language': lang };
  let payload;
  if (typeof body === 'string') { headers['content-type'] = 'text/csv'; payload = body; }
  else if (body !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body); }
  const resp = await fetch(`/api/v1${path}`, { method, headers, body: payload });
  if (resp.status === 401) { expired = true; logout(); throw new Error('401'); }
  if (raw) return resp;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) { const e = new Error(data.error || t('error')); e.data = data; e.status = resp.status; throw e; }
  return data;
}

async function download(path) {
  const resp = await api('GET', path, undefined, true);
  if (!resp.ok) { toast(t('error')); return; }
  const blob = await resp.blob();
  const name = (resp.headers.get('content-disposition') || '').match(/filename="([^"]+)"/)?.[1] || 'export';
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

function logout() {
  if (session) fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } }).catch(() => {});
  session = null;
  meta = null;
  sessionStorage.removeItem('vertel-ws');
  location.hash = '';
  render();
}

const label = (prefix, code) => (code ? t(`${prefix}-${code}`) : '');
const entryName = (list, code) => list?.find((e) => e.code === code)?.name || code || '';
const activityName = (code) => entryName(meta?.taxonomy.activities, code);
// The municipality key of stories without one: "" or "null" (SQL counts), "-" (older servers).
const isUnknownMunicipality = (m) => m === '' || m === 'null' || m === '-' || m === null || m === undefined;

// Names of the indicators the coalitions count: the same as reports use
// (server/src/workspace/labels.rs, `metric`).
const METRICS = {
  'gezinnen-bereikt': ['Gezinnen bereikt', 'Families reached'],
  'gezinnen-bezocht': ['Gezinnen bezocht', 'Families visited'],
  'gezinnen-doorverwezen': ['Gezinnen doorverwezen', 'Families referred'],
  'trajecten-lopend': ['Lopende trajecten', 'Ongoing programmes'],
  'trajecten-gestart': ['Gestarte trajecten', 'Programmes started'],
  deelnemers: ['Deelnemers', 'Participants'],
  gesprekken: ['Gesprekken', 'Conversations'],
  consulten: ['Consulten', 'Consultations'],
  bijeenkomsten: ['Bijeenkomsten', 'Meetings'],
  'bezoekers-per-week': ['Bezoekers per week', 'Visitors per week'],
  'besproken-gezinnen': ['Besproken gezinnen', 'Families discussed'],
  'ouders-gestopt': ['Ouders gestopt met roken', 'Parents who quit smoking'],
  'ouders-in-taaltraject': ['Ouders in een taaltraject', 'Parents in language courses'],
  'adviesvragen-veilig-thuis': ['Adviesvragen bij Veilig Thuis', 'Requests for advice to Veilig Thuis'],
  'in-zorg-voor-week-10': ['In zorg vóór week 10', 'In care before week 10'],
};

/** A figure's indicator code as a name ("trajecten-lopend" → "Lopende trajecten"; others with spaces). */
function metricName(code) {
  const known = METRICS[code];
  if (known) return known[lang === 'en' ? 1 : 0];
  const words = String(code || '').replace(/-/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Date and time of a moment in ms, in the screen's language ("11 feb 2025, 13:30"). */
function dateTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(lang === 'nl' ? 'nl-NL' : 'en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** m:ss of a time in ms. */
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The first words of a text, for a story that has no title or no typed text. */
function firstWords(text, n = 12) {
  const words = String(text || '').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '';
  return words.length > n ? `${words.slice(0, n).join(' ')}…` : words.join(' ');
}

/** A blob of a story as a URL an <audio> or <img> can load (they cannot send headers). */
function blobUrl(storyId, sha256, thumbnail = false) {
  return `/api/v1/blobs/${encodeURIComponent(sha256)}${thumbnail ? '/thumbnail' : ''}?story=${encodeURIComponent(storyId)}&token=${encodeURIComponent(session.token)}`;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---- views -----------------------------------------------------------------------------------

function loginView() {
  const err = h('p', { class: 'errors', role: 'alert' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const resp = await fetch('/api/v1/auth/login', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: fd.get('email'), password: fd.get('password') }),
      });
      if (!resp.ok) { err.textContent = loginFailure(resp); return; }
      expired = false;
      const data = await resp.json();
      session = { token: data.token, role: data.member.role, name: data.member.name, workspace: data.workspace?.name };
      sessionStorage.setItem('vertel-ws', JSON.stringify(session));
      location.hash = session.role === 'admin' ? '#/logboek' : '#/overzicht';
      render();
    },
  },
  h('label', {}, t('email'), h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true })),
  h('label', {}, t('password'), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
  h('button', { type: 'submit' }, t('login')), err);
  return h('div', { class: 'login card' }, h('h1', {}, t('title')),
    expired ? h('p', { class: 'notice', role: 'status' }, t('session_expired')) : null, form);
}

/** Why a login was refused, with the wait the server asks for (Retry-After, seconds). */
function loginFailure(resp) {
  const wait = Number.parseInt(resp.headers.get('retry-after') || '', 10) || 0;
  if (resp.status === 429) return wait >= 120 ? t('login_wait_minutes', { n: Math.ceil(wait / 60) }) : t('login_wait_seconds', { n: wait || 60 });
  if (resp.status === 503) return t('login_busy');
  return t('login_failed');
}

async function loadMeta() {
  if (!meta) meta = await api('GET', '/workspace/overview');
  return meta;
}

async function overviewView() {
  meta = null;
  const m = await loadMeta();
  // Stories without a municipality get their own column, "onbekend", when there are any.
  const unknownKey = (a) => Object.keys(a.stories || {}).find(isUnknownMunicipality);
  const hasUnknown = m.activities.some((a) => unknownKey(a) !== undefined);
  const columns = [...m.municipalities.map((name) => ({ name, title: t('col_municipality_title', { m: name }), count: (a) => a.stories[name] || 0 })),
    ...(hasUnknown ? [{ name: t('unknown_municipality'), title: t('unknown_municipality_title'), unknown: true, count: (a) => a.stories[unknownKey(a)] || 0 }] : [])];
  const head = h('tr', {}, h('th', {}, t('activity')),
    h('th', { class: 'num', title: t('col_confirmed_title') }, t('col_confirmed')),
    h('th', { class: 'num', title: t('col_suggested_title') }, t('col_suggested')),
    h('th', { class: 'num', title: t('col_total_title') }, t('col_total')),
    ...columns.map((c) => h('th', { class: 'num', title: c.title, dataset: c.unknown ? { unknown: '1' } : {} }, c.name)),
    h('th', { title: t('latest_title') }, t('latest')));
  const rows = m.activities.map((a) => h('tr', { dataset: { activity: a.code } },
    h('td', {}, h('a', { href: `#/activiteit/${encodeURIComponent(a.code)}` }, a.name)),
    h('td', { class: 'num', title: t('col_confirmed_title') }, a.confirmed), h('td', { class: 'num', title: t('col_suggested_title') }, a.suggested),
    h('td', { class: 'num', title: t('col_total_title') }, a.confirmed + a.suggested),
    ...columns.map((c) => h('td', { class: 'num', title: c.title }, c.count(a))),
    h('td', {}, a.metrics.map((metric) => {
      const values = Object.values(a.latest[metric] || {}).map(([, v]) => v);
      // Counts add up over the municipalities; shares do not: their lowest to highest.
      const shown = !values.length ? '' : a.units[metric] === 'percent'
        ? `${fmt(Math.min(...values), lang)}–${fmt(Math.max(...values), lang)} %`
        : fmt(values.reduce((s, v) => s + v, 0), lang);
      return h('div', { class: 'meta' }, `${metricName(metric)}: ${shown}`);
    }))));
  return h('section', {}, h('h1', {}, t('overview')),
    h('p', { class: 'meta', id: 'stories-total' }, `${m.stories_total} ${t('total_stories_note')}`),
    h('p', { class: 'meta', id: 'overview-note' }, t('overview_note')),
    h('table', { id: 'overview' }, h('thead', {}, head), h('tbody', {}, rows)),
    h('div', { class: 'row spaced' },
      h('button', { type: 'button', class: 'secondary', onclick: () => download(`/workspace/export/stories.csv${query({ lang })}`) }, '⬇ ', t('export_stories')),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('/workspace/export/figures.csv') }, '⬇ ', t('export_figures')),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('/workspace/export/project.qdpx') }, '⬇ ', t('export_qdpx'))));
}

function select(name, labelText, options, value) {
  return h('label', {}, labelText, h('select', { name },
    h('option', { value: '' }, t('any')),
    options.map(([code, text]) => h('option', { value: code, selected: code === value }, text))));
}

function filterForm(state, onChange, { withActivity = false } = {}) {
  const tx = meta.taxonomy;
  const quarters = [];
  for (let y = 2023; y <= 2027; y++) for (let q = 1; q <= 4; q++) quarters.push(`${y}-Q${q}`);
  const form = h('form', { class: 'filters card', onchange: () => onChange(Object.fromEntries(new FormData(form))), onsubmit: (e) => { e.preventDefault(); onChange(Object.fromEntries(new FormData(form))); } },
    withActivity ? select('activity', t('activity'), tx.activities.map((a) => [a.code, a.name]), state.activity) : null,
    select('municipality', t('municipality'), meta.municipalities.map((m) => [m, m]), state.municipality),
    select('from', t('from'), quarters.map((q) => [q, q]), state.from),
    select('to', t('to'), quarters.map((q) => [q, q]), state.to),
    select('phase', t('phase'), tx.phases.map((p) => [p.code, p.name]), state.phase),
    select('target_group', t('target_group'), tx.target_groups.map((p) => [p.code, p.name]), state.target_group),
    select('place_type', t('place_type'), tx.place_types.map((p) => [p.code, p.name]), state.place_type),
    select('kind', t('kind'), ['parent-story', 'community-conversation', 'persona-story', 'impact-narrative'].map((k) => [k, label('kind', k)]), state.kind),
    select('review', t('review'), ['draft', 'submitted', 'reviewed', 'approved', 'returned'].map((k) => [k, label('review', k)]), state.review),
    h('label', {}, t('search'), h('input', { name: 'q', type: 'search', value: state.q || '' })),
    h('button', { type: 'submit' }, '🔍 ', t('search_button')),
    h('button', { type: 'button', class: 'secondary', onclick: () => onChange({}) }, t('clear')));
  return form;
}

function tagBadges(tags, activity) {
  return tags.filter((tg) => tg.state !== 'rejected' || tg.code === activity).map((tg) =>
    h('span', { class: `badge ${tg.state}`, title: t(tg.state), dataset: { tag: tg.code, state: tg.state } },
      activityName(tg.code), tg.state === 'suggested' ? ` (${t('suggested')})` : ''));
}

/** A search hit's snippet: pieces of text, the hits marked (as text in <mark>, never markup). */
function snippet(pieces) {
  return h('p', { class: 'excerpt snippet' }, pieces.map((p) => (p.hit ? h('mark', {}, p.text) : p.text)));
}

function storyCard(s, activity) {
  const open = () => storyDialog(s.id);
  const when = s.captured_at ? dateTime(s.captured_at) : s.quarter;
  return h('article', { class: 'card story', tabindex: 0, dataset: { id: s.id, review: s.review }, onclick: open, onkeydown: (e) => { if (e.key === 'Enter') open(); } },
    h('h3', {}, s.title || firstWords(s.excerpt, 8) || '—'),
    h('div', { class: 'meta' }, [label('kind', s.kind), s.municipality, when, s.told_by, s.recorded_by].filter(Boolean).join(' · '),
      s.has_audio ? h('span', { class: 'icon', title: t('has_audio'), 'aria-label': t('has_audio'), dataset: { media: 'audio' } }, ' 🎤') : null,
      s.has_photo ? h('span', { class: 'icon', title: t('has_photo'), 'aria-label': t('has_photo'), dataset: { media: 'photo' } }, ' 📷') : null),
    Array.isArray(s.snippet) && s.snippet.length ? snippet(s.snippet) : h('p', { class: 'excerpt' }, s.excerpt),
    h('div', {}, h('span', { class: `badge review-${s.review}` }, label('review', s.review)),
      s.changed_after_approval ? h('span', { class: 'badge changed' }, '⚠ ', t('changed_after_approval')) : null,
      tagBadges(s.tags, activity)));
}

/**
 * The stories matching `params`, a page at a time: the first page now, the next ones (`next`)
 * when the end of the list scrolls into view or "Meer laden" is pressed. An answer without `next`
 * holds every story. Returns {first, count, list}: the first page's stories and the elements.
 */
async function storyList(params, activity) {
  const first = await api('GET', `/workspace/stories${query(params)}`);
  const loaded = [...first.stories];
  const total = Number.isInteger(first.total) ? first.total : loaded.length;
  let next = first.next || null;
  const list = h('div', { id: 'stories', dataset: { total } }, loaded.map((s) => storyCard(s, activity)));
  // A word in very many stories is listed newest first, not by best match: say so.
  const newest = first.order === 'newest' && params.q ? ` · ${t('order_newest')}` : '';
  const count = h('span', { class: 'meta', id: 'story-count' }, t('count_stories', { n: total }) + newest);
  const shown = h('p', { class: 'meta', id: 'stories-shown', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary', id: 'load-more' }, t('load_more'));
  const sentinel = h('div', { id: 'stories-end', 'aria-hidden': 'true' });
  let busy = false;
  const update = () => {
    shown.textContent = next ? t('shown_of', { shown: loaded.length, total }) : '';
    more.hidden = !next;
    list.dataset.loaded = String(loaded.length);
    list.dataset.more = String(Boolean(next));
  };
  const loadMore = async () => {
    if (busy || !next) return;
    busy = true;
    more.disabled = true;
    more.textContent = t('loading');
    try {
      const page = await api('GET', `/workspace/stories${query({ ...params, after: next })}`);
      loaded.push(...page.stories);
      list.append(...page.stories.map((s) => storyCard(s, activity)));
      next = page.next || null;
    } catch (e) {
      if (e.message !== '401') toast(t('error'));
    } finally {
      busy = false;
      more.disabled = false;
      more.textContent = t('load_more');
      update();
    }
    // Still at the end of the list (a short page on a tall screen): the next page too.
    if (next && sentinel.isConnected && sentinel.getBoundingClientRect().top < window.innerHeight + 400) loadMore();
  };
  more.addEventListener('click', loadMore);
  if ('IntersectionObserver' in window) {
    const watch = new IntersectionObserver((entries) => {
      if (!sentinel.isConnected) { watch.disconnect(); return; }
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '400px' });
    watch.observe(sentinel);
  }
  update();
  return { first: first.stories, count, list: h('div', {}, list, shown, sentinel, more) };
}

/** Voice notes beside their transcript segments: a click on a segment plays from there. */
function voiceNotes(s) {
  const audio = s.media.filter((m) => m.kind === 'audio');
  if (!audio.length) return null;
  const corrected = s.transcript_state && s.transcript_state !== 'automatic';
  return h('section', { class: 'evidence', id: 'voice-notes' }, h('h3', {}, '🎤 ', t('voice_notes')),
    audio.map((m, i) => {
      // Segments of this recording (older transcripts without a source belong to the first).
      const segments = s.segments.filter((g) => g.source === m.sha256 || (!g.source && i === 0));
      const player = m.available
        ? h('audio', { controls: true, preload: 'metadata', src: blobUrl(s.id, m.sha256), 'aria-label': t('audio_label', { n: i + 1 }), dataset: { sha256: m.sha256 } })
        : h('p', { class: 'notice' }, m.transcription ? t('audio_gone') : t('audio_missing'));
      const status = m.transcription === 'queued' || m.transcription === 'running' ? t('transcribing')
        : m.transcription === 'failed' ? t('transcription_failed')
        : m.reason === 'no-speech' ? t('no_speech') : (!segments.length ? t('no_transcript') : '');
      const items = segments.map((g) => h('li', {}, h('button', {
        type: 'button', class: 'segment', dataset: { start: g.start_ms, end: g.end_ms }, title: t('play_from', { time: clock(g.start_ms) }),
        onclick: () => {
          if (!(player instanceof HTMLAudioElement)) return;
          player.currentTime = g.start_ms / 1000;
          player.play().catch(() => {});
        },
      }, h('span', { class: 'time' }, clock(g.start_ms)), ' ', ...segmentWords(g))));
      if (player instanceof HTMLAudioElement) {
        // The segment being heard stands out.
        player.addEventListener('timeupdate', () => {
          const ms = player.currentTime * 1000;
          for (const b of list.querySelectorAll('button.segment')) b.classList.toggle('playing', ms >= Number(b.dataset.start) && ms < Number(b.dataset.end));
        });
      }
      const list = h('ol', { class: 'segments' }, items);
      // The machine translation of this recording, beside the original and marked as such.
      const english = (s.translation || []).filter((g) => g.source === m.sha256 || (!g.source && i === 0));
      const translation = english.length ? h('div', { class: 'translation', lang: 'en' },
        h('p', { class: 'meta machine' }, '⚙ ', t('machine_translation')),
        h('ol', { class: 'segments' }, english.map((g) => h('li', {}, h('span', { class: 'time' }, clock(g.start_ms)), ' ', g.text)))) : null;
      return h('div', { class: 'voice-note', dataset: { sha256: m.sha256 } },
        h('div', { class: 'player' }, player, status ? h('p', { class: 'meta' }, status) : null),
        h('div', { class: 'transcript' }, segments.length ? list : null, segments.length && corrected ? h('p', { class: 'meta' }, t('transcript_corrected')) : null, translation));
    }));
}

/** A segment's words, those the recogniser was unsure of lightly marked (a whole segment when it
 * was unsure of all of it). */
function segmentWords(g) {
  const unsure = new Set(g.uncertain || []);
  const low = typeof g.confidence === 'number' && g.confidence < 0.5;
  if (!unsure.size && !low) return [g.text];
  if (low) return [h('span', { class: 'uncertain', title: t('uncertain_segment') }, g.text)];
  const out = [];
  g.text.split(/\s+/).forEach((w, i) => {
    if (i) out.push(' ');
    out.push(unsure.has(i) ? h('span', { class: 'uncertain', title: t('uncertain_word') }, w) : w);
  });
  return out;
}

/** Photos as thumbnails; one opens large in its own window. */
function photos(s) {
  const shots = s.media.filter((m) => m.kind === 'photo');
  if (!shots.length) return null;
  return h('section', { class: 'evidence', id: 'photos' }, h('h3', {}, '📷 ', t('photos')),
    h('div', { class: 'thumbs' }, shots.map((m, i) => (m.available
      ? h('button', { type: 'button', class: 'thumb', title: t('photo_open', { n: i + 1 }), dataset: { sha256: m.sha256 }, onclick: () => photoLarge(s, m, i) },
        h('img', { src: blobUrl(s.id, m.sha256, true), alt: t('photo_label', { n: i + 1 }), loading: 'lazy' }))
      : h('p', { class: 'notice' }, t('photo_missing'))))));
}

function photoLarge(s, m, i) {
  const big = h('dialog', { class: 'photo-large', 'aria-label': t('photo_label', { n: i + 1 }) },
    h('img', { src: blobUrl(s.id, m.sha256), alt: t('photo_label', { n: i + 1 }) }),
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => { big.close(); big.remove(); } }, t('close'))));
  big.addEventListener('close', () => big.remove());
  document.body.append(big);
  big.showModal();
}

async function storyDialog(id) {
  const s = await api('GET', `/workspace/stories/${encodeURIComponent(id)}`);
  s.media ||= [];
  s.segments ||= [];
  s.tag_evidence ||= {};
  for (const d of document.querySelectorAll('dialog')) d.remove();
  const comment = h('textarea', { name: 'comment', rows: 3, 'aria-label': t('comment_label') });
  const review = async (state) => {
    if (state === 'returned' && !comment.value.trim()) { toast(t('comment_needed')); comment.focus(); return; }
    // Issue 16: with an approval, the quote's spans the coordinator keeps visible on purpose.
    const keep = state === 'approved' ? keepBoxes.filter(([box]) => box.checked).map(([, m]) => `${m.kind}:${m.text}`) : undefined;
    await api('POST', `/workspace/stories/${encodeURIComponent(id)}/review`, { state, comment: comment.value.trim() || undefined, keep });
    toast(t('saved'));
    dlg.close();
    dlg.remove();
    render();
  };
  const decide = async (code, state) => {
    await api('POST', `/workspace/stories/${encodeURIComponent(id)}/tags/${encodeURIComponent(code)}`, { state });
    toast(t('saved'));
    dlg.remove();
    storyDialog(id);
  };
  const evidence = (code) => {
    const words = s.tag_evidence[code] || [];
    return words.length ? h('div', { class: 'because meta' }, `${t('because')} `, words.flatMap((w, i) => [i ? ', ' : null, h('q', {}, w)])) : null;
  };
  const tagRow = (tg) => h('li', { dataset: { tag: tg.code } },
    h('span', { class: `badge ${tg.state}` }, activityName(tg.code), ` (${t(tg.state)})`),
    tg.written_by ? h('small', { class: 'meta' }, ` ${tg.written_by} `) : null,
    tg.state !== 'confirmed' ? h('button', { type: 'button', class: 'secondary', onclick: () => decide(tg.code, 'confirmed') }, '✓ ', t('confirm_tag')) : null,
    tg.state !== 'rejected' ? h('button', { type: 'button', class: 'secondary', onclick: () => decide(tg.code, 'rejected') }, '✗ ', t('reject_tag')) : null,
    evidence(tg.code));
  // Issue 16: what the de-identifier finds, marked. The quote's spans are masked in every output
  // unless kept (a tick per span, stored with the approval); the transcript's are shown to check.
  const keepBoxes = [];
  const marked = (text, marks) => {
    const out = [];
    let at = 0;
    for (const m of marks) {
      out.push(text.slice(at, m.start), h('mark', { class: `deid ${m.kind}`, title: `${m.label} · ${m.reason}` }, text.slice(m.start, m.end)));
      at = m.end;
    }
    out.push(text.slice(at));
    return out;
  };
  const quoteText = (s.approved && s.approved.quote) || s.quote;
  const quoteMarks = s.quote_marks || [];
  const deidQuote = quoteText && quoteMarks.length ? h('div', { class: 'deid-quote', id: 'quote-marks' },
    h('h3', {}, t('deid_quote')), h('p', { class: 'meta' }, t('deid_quote_note')),
    h('blockquote', {}, h('p', {}, marked(quoteText, quoteMarks))),
    h('ul', { class: 'deid-keep' }, quoteMarks.map((m) => {
      const box = h('input', { type: 'checkbox', checked: m.kept, dataset: { kind: m.kind } });
      keepBoxes.push([box, m]);
      return h('li', {}, h('label', {}, box, ` ${t('deid_keep')} `, h('strong', {}, m.text), ` ${m.label}`));
    }))) : null;
  const transcriptMarks = s.transcript_marks || [];
  const deidTranscript = s.transcript && transcriptMarks.length ? h('div', { class: 'deid-transcript notice', id: 'transcript-marks', role: 'note' },
    h('strong', {}, t('deid_transcript')), ' ', h('span', {}, marked(s.transcript, transcriptMarks))) : null;
  const voiceOnly = !s.body.trim() && Boolean(s.transcript);
  const title = s.title || firstWords(s.transcript || s.body, 8) || '—';
  const dlg = h('dialog', { 'aria-labelledby': 'story-title', dataset: { id } },
    h('h2', { id: 'story-title' }, title),
    h('p', { class: 'meta' }, [label('kind', s.kind), s.municipality, s.quarter, entryName(meta.taxonomy.phases, s.phase), entryName(meta.taxonomy.target_groups, s.target_group), entryName(meta.taxonomy.place_types, s.place_type)].filter(Boolean).join(' · ')),
    h('p', { class: 'meta', id: 'recorded' },
      s.recorded_by ? [`${t('recorded_by')}: `, h('strong', { id: 'recorded-by' }, s.recorded_by), ' · '] : null,
      `${t('recorded_at')}: `, h('time', { id: 'recorded-at', datetime: s.captured_at ? new Date(s.captured_at).toISOString() : null }, dateTime(s.captured_at) || '—')),
    h('p', { class: 'meta' }, `${t('told_by')}: ${[s.told_by, s.told_by_role].filter(Boolean).join(', ')} · ${t('consent')}: ${label('consent', s.consent_scope) || '—'} · ${t('review')}: `, h('strong', { id: 'review-state' }, label('review', s.review))),
    s.changed_after_approval && s.approved ? h('div', { class: 'changed-after-approval', role: 'note' },
      h('strong', {}, '⚠ ', t('changed_after_approval')),
      h('p', {}, t('approved_version_note')),
      h('details', {}, h('summary', {}, t('approved_version')), h('h4', {}, s.approved.title || '—'), h('div', { class: 'body', id: 'approved-body' }, s.approved.body))) : null,
    s.reviewed_by ? h('p', { class: 'meta', id: 'reviewed-by' }, `${t('reviewed_by')}: ${s.reviewed_by}`) : null,
    voiceOnly ? h('p', { class: 'notice', id: 'voice-only' }, '🎤 ', t('voice_only')) : null,
    h('div', { class: 'body', id: 'story-body' }, voiceOnly ? s.transcript : s.body),
    voiceNotes(s),
    s.transcript && !voiceOnly ? h('div', {}, h('h3', {}, t('transcript')), h('div', { class: 'body', id: 'transcript' }, s.transcript)) : null,
    deidTranscript,
    photos(s),
    deidQuote,
    s.sections.length ? h('div', {}, s.sections.map(([k, v]) => h('div', {}, h('h3', {}, k), h('div', { class: 'body' }, v)))) : null,
    h('h3', {}, t('tags')), h('ul', { class: 'tags' }, s.tags.map(tagRow)),
    h('h3', {}, t('comments')), h('ul', {}, s.comments.map((c) => h('li', {}, h('strong', { title: c.written_by ? '' : t('author_unverified') }, c.written_by || `${c.author} (?)`), ': ', c.text))),
    h('label', {}, t('comment_label'), comment),
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => review('reviewed') }, '👁 ', t('set_reviewed')),
      h('button', { type: 'button', onclick: () => review('approved') }, '✓ ', t('set_approved')),
      h('button', { type: 'button', class: 'danger', onclick: () => review('returned') }, '↩ ', t('set_returned')),
      h('button', { type: 'button', class: 'secondary', onclick: () => { dlg.close(); dlg.remove(); } }, t('close'))));
  // Closing the window stops its recordings.
  dlg.addEventListener('close', () => { for (const a of dlg.querySelectorAll('audio')) a.pause(); });
  document.body.append(dlg);
  dlg.showModal();
}

function stateFromHash() {
  const [path, qs] = location.hash.slice(1).split('?');
  return { path, params: Object.fromEntries(new URLSearchParams(qs || '')) };
}

function setParams(path, params) {
  location.hash = `${path}${query(params)}`;
}

async function activityView(code, params) {
  await loadMeta();
  if (!code) code = meta.activities[0]?.code || meta.taxonomy.activities[0]?.code;
  const path = `/activiteit/${encodeURIComponent(code)}`;
  const [{ first: stories, count, list }, { figures }] = await Promise.all([
    storyList({ ...params, activity: code }, code),
    api('GET', `/workspace/figures${query({ activity: code })}`),
  ]);
  const picker = h('label', {}, t('activity'), h('select', { name: 'activity-pick', onchange: (e) => setParams(`/activiteit/${encodeURIComponent(e.target.value)}`, params) },
    meta.taxonomy.activities.map((a) => h('option', { value: a.code, selected: a.code === code }, a.name))));
  // Figures: one chart per metric, one line per municipality, within the filters.
  const shown = figures.filter((f) => (!params.municipality || f.municipality === params.municipality)
    && (!params.from || f.quarter >= params.from) && (!params.to || f.quarter <= params.to));
  const metrics = [...new Set(shown.map((f) => f.metric))];
  const charts = metrics.map((metric) => {
    const rows = shown.filter((f) => f.metric === metric);
    const quarters = [...new Set(rows.map((f) => f.quarter))].sort();
    const names = [...new Set(rows.map((f) => f.municipality))].sort();
    const series = names.map((name) => ({ name, values: quarters.map((q) => rows.find((f) => f.municipality === name && f.quarter === q)?.value ?? null) }));
    const unit = rows[0]?.unit === 'percent' ? ` (${t('unit_percent')})` : '';
    return h('div', { class: 'card', dataset: { metric } }, lineChart(`${metricName(metric)}${unit}`, quarters, series, lang));
  });
  const quotes = stories.filter((s) => s.quote);
  const left = h('section', { 'aria-label': t('figures') }, h('h2', {}, '▦ ', t('figures')), charts.length ? charts : h('p', {}, t('no_figures')),
    h('h2', {}, '❝ ', t('quotes')), h('p', { class: 'meta' }, t('quotes_note')),
    quotes.length ? quotes.map((s) => h('blockquote', { dataset: { id: s.id } }, h('p', {}, `“${s.quote}”`),
      h('p', { class: 'meta' }, `— ${[s.told_by, s.municipality, s.quarter].filter(Boolean).join(', ')}`, s.review === 'approved' ? ` · ${t('approved_quote')}` : ''))) : h('p', {}, t('no_quotes')));
  const right = h('section', { 'aria-label': t('stories') }, h('h2', {}, '✎ ', t('stories'), ' ', count), list);
  const reportParams = { activity: code, from: params.from, to: params.to, municipality: params.municipality, lang };
  return h('section', {}, h('h1', {}, t('nav_activity'), ': ', activityName(code)),
    h('div', { class: 'row' }, picker,
      h('button', { type: 'button', class: 'secondary', onclick: () => download(`/workspace/report${query(reportParams)}`) }, '⬇ ', t('report_html')),
      h('button', { type: 'button', class: 'secondary', onclick: () => download(`/workspace/report${query({ ...reportParams, format: 'md' })}`) }, '⬇ ', t('report_md'))),
    filterForm(params, (p) => setParams(path, p)),
    h('div', { class: 'cols' }, left, right));
}

async function storiesView(params) {
  await loadMeta();
  const { count, list } = await storyList(params, params.activity);
  return h('section', {}, h('h1', {}, t('stories')),
    filterForm(params, (p) => setParams('/verhalen', p), { withActivity: true }),
    h('p', {}, count), list);
}

async function personasView() {
  await loadMeta();
  const { personas } = await api('GET', '/workspace/personas');
  return h('section', {}, h('h1', {}, t('personas')), personas.map((p) => h('article', { class: 'card', dataset: { id: p.id } },
    h('h2', {}, '👤 ', p.name, p.age_band ? ` (${p.age_band})` : ''),
    h('p', {}, h('strong', {}, t('situation'), ': '), p.situation),
    h('p', {}, h('strong', {}, t('needs'), ': '), p.needs),
    h('h3', {}, t('linked'), ` (${p.stories.length})`),
    h('ul', {}, p.stories.map((s) => h('li', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); storyDialog(s.id); } }, s.title),
      h('span', { class: 'meta' }, ` · ${[label('kind', s.kind), s.municipality, label('review', s.review)].filter(Boolean).join(' · ')} `),
      s.tags.map((c) => h('span', { class: 'badge confirmed' }, activityName(c)))))))));
}

async function figuresView() {
  await loadMeta();
  const { figures } = await api('GET', '/workspace/figures');
  const result = h('div', { id: 'import-result', role: 'status' });
  const file = h('input', { type: 'file', name: 'csv', accept: '.csv,text/csv', 'aria-label': t('csv_file') });
  const importForm = h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const text = await f.text();
    result.replaceChildren();
    try {
      const r = await api('POST', `/workspace/figures/import${query({ lang })}`, text);
      result.append(h('p', { class: 'ok' }, t('import_ok', { n: r.imported })));
      setTimeout(render, 600);
    } catch (err) {
      result.append(h('p', { class: 'errors' }, err.data?.errors ? t('import_bad') : err.message),
        h('ul', { class: 'errors' }, (err.data?.errors || []).map((x) => h('li', { dataset: { line: x.line } }, `${t('line')} ${x.line}: ${x.message}`))));
    }
  } }, h('h2', {}, '⬆ ', t('import_title')), h('p', { class: 'meta' }, t('import_help')), h('p', { class: 'meta' }, t('import_help_names')),
  h('div', { class: 'row' }, h('label', {}, t('csv_file'), file), h('button', { type: 'submit' }, t('import')),
    h('button', { type: 'button', class: 'secondary', id: 'template', onclick: () => download(`/workspace/figures/template.csv${query({ lang })}`) }, '⬇ ', t('template'))), result);
  // What the import accepts in the activity column, beside it.
  const accepted = h('details', { class: 'card', id: 'accepted', open: true }, h('summary', {}, t('accepted')),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('code')), h('th', {}, t('name')))),
      h('tbody', {}, meta.taxonomy.activities.filter((a) => !a.retired).map((a) => h('tr', { dataset: { code: a.code } }, h('td', {}, h('code', {}, a.code)), h('td', {}, a.name))))));
  const manual = h('form', { class: 'card filters', onsubmit: async (e) => {
    e.preventDefault();
    const fd = Object.fromEntries(new FormData(manual));
    try {
      await api('PUT', `/workspace/figures${query({ lang })}`, { activity_code: fd.activity_code, municipality: fd.municipality, quarter: fd.quarter, metric: fd.metric, unit: fd.unit, value: Number(String(fd.value).replace(',', '.')), source: fd.source || null });
      toast(t('saved'));
      render();
    } catch (err) { toast(err.message); }
  } }, h('h2', { class: 'full' }, '✎ ', t('manual_title')),
  h('label', {}, t('activity'), h('select', { name: 'activity_code' }, meta.taxonomy.activities.map((a) => h('option', { value: a.code }, a.name)))),
  h('label', {}, t('municipality'), h('select', { name: 'municipality' }, meta.municipalities.map((m) => h('option', { value: m }, m)))),
  h('label', {}, t('period'), h('input', { name: 'quarter', placeholder: '2026-Q1', required: true })),
  h('label', {}, t('metric'), h('input', { name: 'metric', required: true })),
  h('label', {}, t('value'), h('input', { name: 'value', required: true, inputmode: 'decimal' })),
  h('label', {}, t('unit'), h('select', { name: 'unit' }, h('option', { value: 'count' }, t('unit_count')), h('option', { value: 'percent' }, t('unit_percent')))),
  h('label', {}, t('source'), h('input', { name: 'source' })),
  h('button', { type: 'submit' }, t('save')));
  const table = h('table', { id: 'figures' }, h('thead', {}, h('tr', {}, [t('activity'), t('municipality'), t('period'), t('metric'), t('value'), t('source')].map((x) => h('th', {}, x)))),
    h('tbody', {}, figures.map((f) => h('tr', {}, h('td', {}, activityName(f.activity_code)), h('td', {}, f.municipality), h('td', {}, f.quarter), h('td', { title: f.metric }, f.metric),
      h('td', { class: 'num' }, fmt(f.value, lang), f.unit === 'percent' ? ' %' : ''), h('td', {}, f.source || '')))));
  return h('section', {}, h('h1', {}, t('figures')), h('div', { class: 'import-cols' }, importForm, accepted), manual,
    h('button', { type: 'button', class: 'secondary', onclick: () => download('/workspace/export/figures.csv') }, '⬇ ', t('export_figures')), table);
}

async function auditView() {
  if (session.role !== 'admin') return h('p', {}, t('admin_only'));
  const { entries } = await api('GET', '/workspace/audit');
  return h('section', {}, h('h1', {}, t('audit')), h('table', { id: 'audit' },
    h('thead', {}, h('tr', {}, [t('when'), t('who'), t('action'), t('what')].map((x) => h('th', {}, x)))),
    h('tbody', {}, entries.map((e) => h('tr', { dataset: { action: e.action } }, h('td', {}, new Date(e.at).toLocaleString(lang)),
      h('td', {}, e.member_name || ''), h('td', {}, e.action), h('td', {}, [e.doc_id, e.detail].filter(Boolean).join(' ')))))));
}

function navBar() {
  const nav = document.getElementById('nav');
  const { path } = stateFromHash();
  const items = session.role === 'admin'
    ? [['/logboek', 'nav_audit']]
    : [['/overzicht', 'nav_overview'], ['/activiteit', 'nav_activity'], ['/verhalen', 'nav_stories'], ['/personas', 'nav_personas'], ['/cijfers', 'nav_figures']];
  nav.replaceChildren(...items.map(([p, key]) => h('a', { href: `#${p}`, 'aria-current': path.startsWith(p) ? 'page' : null }, t(key))));
  nav.hidden = false;
}

async function render() {
  document.documentElement.lang = lang;
  document.title = t('title');
  document.getElementById('app-title').textContent = t('title');
  document.getElementById('lang-label').textContent = t('lang');
  document.getElementById('lang').value = lang;
  const out = document.getElementById('logout');
  out.textContent = t('logout');
  out.hidden = !session;
  if (!session) {
    document.getElementById('nav').hidden = true;
    main.replaceChildren(loginView());
    return;
  }
  navBar();
  const { path, params } = stateFromHash();
  main.setAttribute('aria-busy', 'true');
  try {
    let view;
    if (session.role !== 'coordinator' && session.role !== 'admin') view = h('p', {}, t('not_coordinator'));
    else if (path.startsWith('/logboek')) view = await auditView();
    else if (session.role === 'admin') view = h('p', {}, t('not_coordinator'));
    else if (path.startsWith('/activiteit')) view = await activityView(decodeURIComponent(path.split('/')[2] || ''), params);
    else if (path.startsWith('/verhalen')) view = await storiesView(params);
    else if (path.startsWith('/personas')) view = await personasView();
    else if (path.startsWith('/cijfers')) view = await figuresView();
    else view = await overviewView();
    main.replaceChildren(view);
  } catch (e) {
    if (e.message !== '401') main.replaceChildren(h('p', { class: 'errors' }, `${t('error')}: ${e.message}`));
  } finally {
    main.removeAttribute('aria-busy');
    main.dataset.ready = String(Date.now());
  }
}

document.getElementById('lang').addEventListener('change', (e) => {
  lang = e.target.value;
  localStorage.setItem('vertel-ws-lang', lang);
  render();
});
document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', render);
render();
