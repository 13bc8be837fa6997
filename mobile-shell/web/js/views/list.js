// The user's stories on this device, with search and filters (text, kind, place, date). Stories the
// server did not accept are counted in a banner above the list, which can show only them. Filtering
// runs over summaries cached per document view; the list is rendered as one string of markup so a
// thousand stories render and filter well within 100 ms.

import { t, tn, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $, esc, formatDate } from '../dom.js';
import { KINDS, PLACES } from '../codes.js';
import { storyStatus, statusChip } from '../status.js';
import { reviewState, reviewChip } from '../review.js';

const KIND_ICON = Object.fromEntries(KINDS.map((k) => [k.code, k.icon]));
const summaries = new WeakMap();

export function storyTitle(story) {
  return story.title?.trim() || t('story.untitled', { kind: story.kind ? t(`kind.${story.kind}`) : t('kind.none') });
}

function summary(view) {
  let s = summaries.get(view);
  if (!s) {
    const st = view.story;
    const text = [
      st.title, st.body, st.transcript?.text, st.municipality, st.told_by?.name,
      ...Object.values(view.details?.sections ?? {}),
    ].join('\n').toLowerCase();
    s = { id: view.id, kind: st.kind, place: st.place_type, at: st.captured_at ?? 0, text };
    summaries.set(view, s);
  }
  return s;
}

/** Whether a story passes the filter `f` ({q, kind, place, from, to, refused}). */
export function matcher(f) {
  const q = f.q.trim().toLowerCase();
  const from = f.from ? new Date(`${f.from}T00:00:00`).getTime() : -Infinity;
  const to = f.to ? new Date(`${f.to}T23:59:59.999`).getTime() : Infinity;
  return (v) => {
    const s = summary(v);
    return (!f.refused || Boolean(v.refused)) && (!f.kind || s.kind === f.kind) && (!f.place || s.place === f.place)
      && s.at >= from && s.at <= to && (!q || s.text.includes(q));
  };
}

export function newestFirst(views) {
  return views.sort((a, b) => summary(b).at - summary(a).at);
}

/** Stories matching the filter, newest first. */
export function filterStories(views, f) {
  return newestFirst(views.filter(matcher(f)));
}

const cards = new WeakMap();

/** A story's list entry; the markup is kept per view, language and status. */
export function storyCard(view, uploader, lang) {
  const status = storyStatus(view, uploader);
  const key = `${lang}|${status.code}|${status.percent ?? ''}|${view.story.review ?? ''}`;
  const cached = cards.get(view);
  if (cached?.key === key) return cached.html;
  const html = cardHtml(view, status, lang);
  cards.set(view, { key, html });
  return html;
}

function cardHtml(view, status, lang) {
  const st = view.story;
  const meta = [
    st.kind ? t(`kind.${st.kind}`) : '',
    formatDate(st.captured_at, lang),
    st.place_type ? t(`place.${st.place_type}`) : '',
  ].filter(Boolean).map(esc).join(' · ');
  const review = reviewState(st);
  const cls = status.code === 'refused' ? ' card-refused' : review === 'returned' ? ' card-returned' : '';
  return `<li><a class="card${cls}" href="#/story/${esc(view.id)}" data-id="${esc(view.id)}"${review ? ` data-review="${review}"` : ''}${view.refused ? ' data-refused="1"' : ''}>
    <span class="card-icon">${icon(KIND_ICON[st.kind] ?? 'text')}</span>
    <span class="card-main"><strong>${esc(storyTitle(st))}</strong><span class="meta">${meta}</span>
      <span class="chips">${statusChip(status)}${reviewChip(review, { label: true, small: true })}</span></span></a></li>`;
}

export function listView(app, main) {
  const f = (app.listState ??= { q: '', kind: '', place: '', from: '', to: '', open: false, refused: false });
  const option = (value, label, current) => `<option value="${esc(value)}" ${value === current ? 'selected' : ''}>${esc(label)}</option>`;
  main.innerHTML = `
    <h1>${icon('list')} ${t('list.title')}</h1>
    <div class="search">
      <label for="q" class="sr-only">${t('list.search')}</label>
      ${icon('search')}<input id="q" type="search" placeholder="${t('list.search')}" value="${esc(f.q)}" autocomplete="off">
    </div>
    <button type="button" id="filters-toggle" class="small" aria-expanded="${f.open}" aria-controls="filters">${icon('filter')}<span>${t('list.filters')}</span></button>
    <div id="filters" class="filters" ${f.open ? '' : 'hidden'}>
      <label for="f-kind">${t('list.kind')}</label>
      <select id="f-kind">${option('', t('list.all-kinds'), f.kind)}${KINDS.map((k) => option(k.code, t(`kind.${k.code}`), f.kind)).join('')}</select>
      <label for="f-place">${t('list.place')}</label>
      <select id="f-place">${option('', t('list.all-places'), f.place)}${PLACES.map((p) => option(p, t(`place.${p}`), f.place)).join('')}</select>
      <div class="row">
        <div><label for="f-from">${icon('calendar')} ${t('list.from')}</label><input id="f-from" type="date" value="${esc(f.from)}"></div>
        <div><label for="f-to">${icon('calendar')} ${t('list.to')}</label><input id="f-to" type="date" value="${esc(f.to)}"></div>
      </div>
      <button type="button" id="f-reset" class="small">${icon('cross')}<span>${t('list.reset')}</span></button>
    </div>
    <div id="refused-banner" class="refused-banner" role="alert" hidden></div>
    <p id="count" class="count" role="status" aria-live="polite"></p>
    <ul id="stories" class="cards" aria-label="${t('list.title')}"></ul>
    <a href="#/new" class="button big primary">${icon('plus')}<span>${t('list.new')}</span></a>`;

  const ul = $('#stories');
  const count = $('#count');
  const banner = $('#refused-banner');
  let bannerKey = '';
  /** The banner: how many stories the server refused, and a button to show only those. */
  function updateBanner(n) {
    if (!n) f.refused = false;
    const key = `${n}|${f.refused}`;
    if (key === bannerKey) return;
    bannerKey = key;
    banner.hidden = n === 0;
    if (!n) {
      banner.innerHTML = '';
      return;
    }
    banner.innerHTML = `<p>${icon('blocked')}<span>${tn('list.refused', n)}</span></p>
      <button type="button" id="refused-only" class="small" aria-pressed="${f.refused}">${icon(f.refused ? 'list' : 'filter')}<span>${t(f.refused ? 'list.refused-all' : 'list.refused-show')}</span></button>`;
    $('#refused-only').onclick = () => {
      f.refused = !f.refused;
      update();
      $('#refused-only')?.focus();
    };
  }
  const lang = language();
  // Every story has one <li>, rendered once; filtering only hides and shows them, and a changed
  // story replaces its own <li>. `full` renders the whole list anew.
  let rendered = []; // [{view, li, html}]
  function update({ full = false } = {}) {
    const all = newestFirst(app.device.stories());
    const same = !full && all.length === rendered.length && all.every((v, i) => v.id === rendered[i].view.id);
    if (!same) {
      const html = all.map((v) => storyCard(v, app.uploader, lang));
      ul.innerHTML = html.join('');
      const lis = ul.children;
      rendered = all.map((view, i) => ({ view, li: lis[i], html: html[i] }));
    } else {
      for (let i = 0; i < all.length; i++) {
        const r = rendered[i];
        const html = storyCard(all[i], app.uploader, lang);
        if (html !== r.html) {
          const tpl = document.createElement('template');
          tpl.innerHTML = html;
          const li = tpl.content.firstElementChild;
          r.li.replaceWith(li);
          r.li = li;
          r.html = html;
        }
        r.view = all[i];
      }
    }
    updateBanner(all.filter((v) => v.refused).length);
    const matches = matcher(f);
    let shown = 0;
    for (const r of rendered) {
      const hide = !matches(r.view);
      if (r.li.hidden !== hide) r.li.hidden = hide;
      if (!hide) shown += 1;
    }
    if (all.length === 0) count.textContent = t('list.empty');
    else if (shown === all.length) count.textContent = tn('list.count', all.length);
    else count.textContent = tn('list.count-filtered', shown, { total: all.length });
  }
  const bind = (sel, key) => {
    $(sel).addEventListener('input', (e) => {
      f[key] = e.target.value;
      update();
    });
  };
  bind('#q', 'q');
  bind('#f-kind', 'kind');
  bind('#f-place', 'place');
  bind('#f-from', 'from');
  bind('#f-to', 'to');
  $('#filters-toggle').onclick = () => {
    f.open = !f.open;
    $('#filters').hidden = !f.open;
    $('#filters-toggle').setAttribute('aria-expanded', String(f.open));
  };
  $('#f-reset').onclick = () => {
    Object.assign(f, { q: '', kind: '', place: '', from: '', to: '', refused: false });
    for (const sel of ['#q', '#f-kind', '#f-place', '#f-from', '#f-to']) $(sel).value = '';
    update();
  };
  update();
  let queued = false;
  return {
    onChange() {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        update();
      });
    },
    update,
  };
}
