// The user's stories on this device: those the coordinator sent back first (a banner with their
// count shows only them), then the drafts ("Nog niet af"), then the rest, newest first. Search and
// filters (text, kind, place, review state, date). Stories the server did not accept are counted
// in a banner of their own. The list is drawn from the list index (cards.js entries), never from
// the documents: the matching cards in slices, the first screenfuls at once, so thousands of
// stories render and filter quickly.

import { t, tn, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $, esc } from '../dom.js';
import { KINDS, PLACES } from '../codes.js';
import { storyCard } from '../cards.js';

export { storyTitle } from '../cards.js';

/** The review filter's choices (`review` of a story; `draft` is "Nog niet af"). */
const REVIEW_FILTERS = ['draft', 'submitted', 'returned', 'approved'];

/** Whether a story passes the filter `f` ({q, kind, place, review, from, to, refused}). */
export function matcher(f) {
  const q = f.q.trim().toLowerCase();
  const from = f.from ? new Date(`${f.from}T00:00:00`).getTime() : -Infinity;
  const to = f.to ? new Date(`${f.to}T23:59:59.999`).getTime() : Infinity;
  const review = (e) => (e.review === 'reviewed' ? 'submitted' : (e.review ?? 'draft'));
  return (e) => (!f.refused || Boolean(e.refused)) && (!f.kind || e.kind === f.kind) && (!f.place || e.place === f.place)
    && (!f.review || review(e) === f.review)
    && e.at >= from && e.at <= to && (!q || e.search.includes(q));
}

const newest = (a, b) => b.at - a.at || (a.id < b.id ? -1 : 1);

/** The groups in the order they are shown: sent back, not finished, the rest. */
export function groups(entries) {
  const returned = [];
  const drafts = [];
  const rest = [];
  for (const e of entries) {
    if (e.review === 'returned') returned.push(e);
    else if (!e.review || e.review === 'draft') drafts.push(e);
    else rest.push(e);
  }
  return { returned: returned.sort(newest), drafts: drafts.sort(newest), rest: rest.sort(newest) };
}

const GROUPS = [
  ['returned', 'list.group.returned', 'undo'],
  ['drafts', 'list.group.drafts', 'pen'],
  ['rest', 'list.group.rest', 'list'],
];

export function listView(app, main) {
  const f = (app.listState ??= { q: '', kind: '', place: '', review: '', from: '', to: '', open: false, refused: false });
  f.review ??= '';
  const option = (value, label, current) => `<option value="${esc(value)}" ${value === current ? 'selected' : ''}>${esc(label)}</option>`;
  main.innerHTML = `
    <h1>${icon('list')} ${t('list.title')}</h1>
    <div id="returned-banner" class="returned-banner" role="alert" hidden></div>
    <div class="search">
      <label for="q" class="sr-only">${t('list.search')}</label>
      ${icon('search')}<input id="q" type="search" placeholder="${t('list.search')}" value="${esc(f.q)}" autocomplete="off">
    </div>
    <button type="button" id="filters-toggle" class="small" aria-expanded="${f.open}" aria-controls="filters">${icon('filter')}<span>${t('list.filters')}</span></button>
    <div id="filters" class="filters" ${f.open ? '' : 'hidden'}>
      <label for="f-review">${t('list.review')}</label>
      <select id="f-review">${option('', t('list.all-states'), f.review)}${REVIEW_FILTERS.map((r) => option(r, t(`list.review.${r}`), f.review)).join('')}</select>
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
    <div id="stories">${GROUPS.map(([key, label, ic]) => `<section class="group" id="group-${key}" aria-labelledby="h-${key}" hidden>
      <h2 id="h-${key}">${icon(ic)} ${t(label)}</h2>
      <ul id="list-${key}" class="cards" aria-labelledby="h-${key}"></ul></section>`).join('')}</div>
    <a href="#/new" class="button big primary">${icon('plus')}<span>${t('list.new')}</span></a>`;

  const count = $('#count');
  const banner = $('#refused-banner');
  const returnedBanner = $('#returned-banner');
  let bannerKey = '';
  let returnedKey = '';

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

  /** Stories sent back by the coordinator: first on the screen, with a button to show only them. */
  function updateReturned(n) {
    const only = f.review === 'returned';
    const key = `${n}|${only}`;
    if (key === returnedKey) return;
    returnedKey = key;
    returnedBanner.hidden = n === 0;
    if (!n) {
      returnedBanner.innerHTML = '';
      return;
    }
    returnedBanner.innerHTML = `<p>${icon('undo')}<span>${tn('list.returned', n)}</span></p>
      <button type="button" id="returned-only" class="small" aria-pressed="${only}">${icon(only ? 'list' : 'filter')}<span>${t(only ? 'list.returned-all' : 'list.returned-show')}</span></button>`;
    $('#returned-only').onclick = () => {
      f.review = only ? '' : 'returned';
      $('#f-review').value = f.review;
      update();
      $('#returned-only')?.focus();
    };
  }

  const lang = language();
  // The cards that match are drawn in order: the first screenfuls at once, the rest in slices
  // between frames, so the list is usable at once with thousands of stories. Drawing starts
  // again (from cached card markup) when the filter or the stories change.
  const FIRST = 40;
  const SLICE = 400;
  let generation = 0;
  function draw(shown) {
    const mine = ++generation;
    const queue = [];
    for (const [key] of GROUPS) {
      const ul = $(`#list-${key}`);
      ul.textContent = '';
      $(`#group-${key}`).hidden = shown[key].length === 0;
      for (const e of shown[key]) queue.push([ul, e]);
    }
    let i = 0;
    const slice = (n) => {
      if (mine !== generation) return;
      let group = null;
      let html = '';
      const flush = () => {
        if (group && html) group.insertAdjacentHTML('beforeend', html);
        html = '';
      };
      for (const end = Math.min(queue.length, i + n); i < end; i++) {
        const [ul, e] = queue[i];
        if (ul !== group) {
          flush();
          group = ul;
        }
        html += storyCard(e, app.uploader, lang);
      }
      flush();
      if (i < queue.length) setTimeout(() => slice(SLICE), 0);
      else main.dataset.drawn = String(mine);
    };
    slice(FIRST);
  }

  function update() {
    const all = app.device.stories();
    const g = groups(all);
    let refused = 0;
    for (const e of all) if (e.refused) refused += 1;
    updateBanner(refused);
    updateReturned(g.returned.length);
    const matches = matcher(f);
    const shown = {};
    let n = 0;
    for (const [key] of GROUPS) {
      shown[key] = g[key].filter(matches);
      n += shown[key].length;
    }
    draw(shown);
    if (all.length === 0) count.textContent = t('list.empty');
    else if (n === all.length) count.textContent = tn('list.count', all.length);
    else count.textContent = tn('list.count-filtered', n, { total: all.length });
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
  bind('#f-review', 'review');
  bind('#f-from', 'from');
  bind('#f-to', 'to');
  $('#filters-toggle').onclick = () => {
    f.open = !f.open;
    $('#filters').hidden = !f.open;
    $('#filters-toggle').setAttribute('aria-expanded', String(f.open));
  };
  $('#f-reset').onclick = () => {
    Object.assign(f, { q: '', kind: '', place: '', review: '', from: '', to: '', refused: false });
    for (const sel of ['#q', '#f-kind', '#f-place', '#f-review', '#f-from', '#f-to']) $(sel).value = '';
    update();
  };
  update();
  // While many stories change at once (a first sync brings thousands), a long list is drawn again
  // at most every few times what drawing it costs, never on every arrival.
  let queued = false;
  let cost = 0;
  let last = 0;
  return {
    onChange() {
      if (queued) return;
      queued = true;
      const wait = Math.max(0, Math.min(1000, cost * 4) - (performance.now() - last));
      setTimeout(() => requestAnimationFrame(() => {
        queued = false;
        const t = performance.now();
        update();
        last = performance.now();
        cost = last - t;
      }), wait);
    },
    update,
  };
}
