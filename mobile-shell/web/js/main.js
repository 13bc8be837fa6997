// Boot, the frame around every screen (connection state, what waits, "Nu synchroniseren", the
// navigation) and hash routing. Screens live in views/.

import { installIcons, icon } from './icons.js';
import { t, tn, setLanguage, language } from './i18n.js';
import { $, toast } from './dom.js';
import { loadSession, clearSession, api } from './api.js';
import { Store } from './store.js';
import { Device } from './device.js';
import { Sync } from './sync.js';
import { Uploader } from './upload.js';
import { Taxonomy } from './taxonomy.js';
import { loginView } from './views/login.js';
import { listView } from './views/list.js';
import { captureView } from './views/capture.js';
import { storyView } from './views/story.js';
import { personasView, personaView, personaFormView } from './views/personas.js';
import { settingsView } from './views/settings.js';
import { summary } from './status.js';
import { draftToReopen, recoverRecordings, eraseDiscarded } from './drafts.js';

const app = {
  session: null,
  store: null,
  device: null,
  sync: null,
  uploader: null,
  taxonomy: null,
  view: null,
  listState: null,
};
globalThis.vertel = app;

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => console.warn('service worker:', e));
  navigator.serviceWorker.ready.then(() => {
    document.documentElement.dataset.offlineReady = '1';
  });
}

// ---- the frame ------------------------------------------------------------------------------

function renderTop() {
  const top = $('#top');
  const state = app.sync?.state ?? 'offline';
  // The same statuses the cards show (status.js), counted: a story with a recording still to send
  // is "op dit toestel" like any other, and a refused story is counted apart: while there is one
  // the bar never says that everything was sent.
  const { local, returned, refused } = summary(app.device ? app.device.stories() : [], app.uploader);
  const stateIcon = state === 'online' ? 'online' : state === 'connecting' ? 'sync' : 'offline';
  const line = local ? tn('top.waiting', local) : t(refused ? 'top.rest-sent' : 'top.all-synced');
  top.innerHTML = `
    <div class="bar">
      <span class="brand">${icon('text')} Vertel</span>
      <span class="conn conn-${state}" id="conn" role="status" aria-live="polite" data-state="${state}">${icon(stateIcon)}<span>${t(`conn.${state}`)}</span></span>
    </div>
    <div class="bar">
      <span class="waiting" id="waiting" data-count="${local}" data-refused="${refused}" data-returned="${returned}" role="status" aria-live="polite">${icon(local ? 'phone' : 'cloud')}<span>${line}</span></span>
      <button type="button" id="sync-now" class="small">${icon('sync')}<span>${t('top.sync-now')}</span></button>
    </div>
    ${returned ? `<button type="button" class="refused-bar returned-bar" id="returned-count" data-count="${returned}">${icon('undo')}<span>${tn('top.returned', returned)}</span></button>` : ''}
    ${refused ? `<button type="button" class="refused-bar" id="refused-count" data-count="${refused}">${icon('blocked')}<span>${tn('top.refused', refused)}</span></button>` : ''}
    ${app.expired ? `<div class="bar expired" role="alert">${icon('key')}<span>${t('login.expired')}</span>
      <button type="button" id="relogin" class="small">${t('login.again')}</button></div>` : ''}`;
  const refusedButton = $('#refused-count');
  if (refusedButton) {
    // To the list, showing only the stories the server did not accept.
    refusedButton.onclick = () => {
      app.listState = { q: '', kind: '', place: '', from: '', to: '', open: false, ...app.listState, refused: true };
      if (app.route === 'list') route();
      else location.hash = '#/';
    };
  }
  const returnedButton = $('#returned-count');
  if (returnedButton) {
    // To the list, showing only the stories sent back.
    returnedButton.onclick = () => {
      app.listState = { q: '', kind: '', place: '', from: '', to: '', open: false, refused: false, ...app.listState, review: 'returned' };
      if (app.route === 'list') route();
      else location.hash = '#/';
    };
  }
  const relogin = $('#relogin');
  if (relogin) relogin.onclick = () => loginView(app, $('#main'));
  $('#sync-now').onclick = () => {
    if (!navigator.onLine) {
      toast(t('top.no-network'));
      return;
    }
    app.sync.connectNow();
    app.uploader.kick();
    app.taxonomy.refresh({ force: true });
    toast(t('top.syncing'));
  };
}

function renderNav(active) {
  const items = [
    ['#/', 'list', 'nav.stories', 'list'],
    ['#/new', 'plus', 'nav.new', 'new'],
    ['#/personas', 'persona', 'nav.personas', 'personas'],
    ['#/settings', 'gear', 'nav.settings', 'settings'],
  ];
  $('#nav').innerHTML = `<ul>${items
    .map(([href, ic, label, key]) => `<li><a href="${href}" ${key === active ? 'aria-current="page"' : ''} class="${key === 'new' ? 'nav-new' : ''}">${icon(ic)}<span>${t(label)}</span></a></li>`)
    .join('')}</ul>`;
  $('#nav').setAttribute('aria-label', t('nav.label'));
}

let topQueued = false;
function scheduleTop() {
  if (topQueued) return;
  topQueued = true;
  requestAnimationFrame(() => {
    topQueued = false;
    renderTop();
  });
}

// ---- routing ------------------------------------------------------------------------------

function parseRoute() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const params = Object.fromEntries(new URLSearchParams(query));
  if (parts.length === 0) return { name: 'list', nav: 'list' };
  if (parts[0] === 'new') return { name: 'capture', nav: 'new', params };
  if (parts[0] === 'story' && parts[2] === 'edit') return { name: 'capture', nav: 'list', params: { id: parts[1] } };
  if (parts[0] === 'story' && parts[1]) return { name: 'story', nav: 'list', params: { id: parts[1] } };
  if (parts[0] === 'personas' && parts[1] === 'new') return { name: 'persona-form', nav: 'personas', params };
  if (parts[0] === 'personas') return { name: 'personas', nav: 'personas' };
  if (parts[0] === 'persona' && parts[1]) return { name: 'persona', nav: 'personas', params: { id: parts[1] } };
  if (parts[0] === 'settings') return { name: 'settings', nav: 'settings' };
  return { name: 'list', nav: 'list' };
}

const VIEWS = {
  list: listView,
  capture: captureView,
  story: storyView,
  personas: personasView,
  persona: personaView,
  'persona-form': personaFormView,
  settings: settingsView,
};

let routing = 0;
async function route() {
  app.view?.leave?.();
  app.view = null;
  const r = parseRoute();
  const main = $('#main');
  renderNav(r.nav);
  // A story is loaded into the engine when it is opened (the list needs only its index entry).
  const id = r.params?.id;
  if (id && !app.device.has(id) && app.device.knows(id)) {
    const mine = ++routing;
    await app.device.ensure(id).catch((e) => console.error(e));
    if (mine !== routing) return;
  }
  app.view = VIEWS[r.name](app, main, r.params ?? {}) ?? null;
  app.route = r.name;
  document.title = `${t(`title.${r.name}`)} · Vertel`;
  if (app.routedOnce) main.focus({ preventScroll: true });
  app.routedOnce = true;
  window.scrollTo(0, 0);
}

/** Re-render chrome and the current screen (language switch). */
app.rerender = () => {
  $('#skip').textContent = t('skip');
  if (app.session) {
    renderTop();
    route();
  } else {
    loginView(app, $('#main'));
  }
};

// ---- start ------------------------------------------------------------------------------

app.start = async (session) => {
  app.session = session;
  // Names and codes of phases, target groups and activities: cached or built in now, the
  // workspace's own from the server as soon as it answers (and again whenever online).
  app.taxonomy = new Taxonomy(session);
  app.taxonomy.addEventListener('change', () => app.view?.onTaxonomy?.());
  app.taxonomy.refresh();
  app.store = await Store.open();
  app.device = await Device.open(app.store);
  app.uploader = new Uploader(app.store, app.device, session);
  await app.uploader.init();
  app.sync = new Sync(app.device, session, {
    onUnauthorized: () => {
      toast(t('login.expired'));
      app.expired = true;
      renderTop();
    },
  });
  app.device.addEventListener('change', (e) => {
    scheduleTop();
    app.view?.onChange?.(e.detail);
    app.uploader.kick();
  });
  app.device.addEventListener('error', (e) => {
    console.error(e.detail.error);
    toast(t('error.store'));
  });
  app.uploader.addEventListener('progress', (e) => {
    scheduleTop();
    app.view?.onChange?.({ id: e.detail.story });
  });
  app.sync.addEventListener('state', () => {
    scheduleTop();
    if (app.sync.state === 'online') {
      app.uploader.kick();
      app.taxonomy.refresh();
    }
  });
  $('#top').hidden = false;
  $('#nav').hidden = false;
  renderTop();
  // The draft that was open when the app stopped (a reload, a crash, a dead battery) opens again.
  const reopen = !location.hash || location.hash === '#/' ? draftToReopen(app) : null;
  if (reopen) history.replaceState(null, '', `#/story/${reopen}/edit`);
  addEventListener('hashchange', route);
  await route();
  // Stories with changes the server does not have yet are loaded now, behind the first screen.
  app.pending = app.device.loadPending().catch((e) => console.error(e));
  app.sync.start();
  app.uploader.kick();
  // Recordings cut off by a crash become attachments of their stories; drafts thrown away while
  // offline are erased on the server.
  recoverRecordings(app).then((n) => {
    if (n) toast(tn('capture.recovered', n));
  });
  eraseDiscarded(app);
  app.sync.addEventListener('state', () => {
    if (app.sync.state === 'online') eraseDiscarded(app);
  });
};

/** Log out: revoke the token (when reachable), wipe this device's data, back to the login. */
app.logout = async () => {
  app.sync?.stop();
  app.uploader?.stop();
  try {
    if (navigator.onLine) await api.logout(app.session.token);
  } catch {
    // Offline or already revoked: the token dies with the session anyway.
  }
  await app.store.wipe();
  Taxonomy.clear();
  clearSession();
  location.hash = '';
  location.reload();
};

async function boot() {
  installIcons();
  setLanguage(language());
  $('#skip').textContent = t('skip');
  registerServiceWorker();
  const session = loadSession();
  try {
    if (session) await app.start(session);
    else loginView(app, $('#main'));
  } catch (e) {
    console.error(e);
    $('#main').innerHTML = `<p class="error" role="alert">${icon('warning')} ${t('error.boot')}</p>`;
  }
  $('#app').removeAttribute('aria-busy');
  document.documentElement.dataset.ready = '1';
  performance.mark('vertel-interactive');
}

boot();
