// Account, language, whether the app works offline, and logging out (which wipes this device,
// after a warning when anything has not reached the server).

import { t, tn, setLanguage, language, APP_LANGUAGES } from '../i18n.js';
import { icon } from '../icons.js';
import { $, esc } from '../dom.js';

export function settingsView(app, main) {
  const m = app.session.member;
  const w = app.session.workspace;
  const offline = document.documentElement.dataset.offlineReady === '1';
  main.innerHTML = `
    <h1>${icon('gear')} ${t('settings.title')}</h1>
    <section aria-labelledby="h-account"><h2 id="h-account">${t('settings.account')}</h2>
      <dl class="facts">
        <dt>${t('settings.name')}</dt><dd>${esc(m?.name)}</dd>
        <dt>${t('settings.email')}</dt><dd>${esc(m?.email)}</dd>
        <dt>${t('settings.role')}</dt><dd>${esc(t(`member-role.${m?.role}`))}</dd>
        <dt>${t('settings.workspace')}</dt><dd>${esc(w?.name)}</dd>
      </dl>
    </section>
    <section aria-labelledby="h-lang"><h2 id="h-lang">${icon('globe')} ${t('settings.language')}</h2>
      <p class="hint">${t('settings.language-hint')}</p>
      <div class="tiles two" role="radiogroup" aria-labelledby="h-lang">
        ${APP_LANGUAGES.map((l) => `<label class="tile"><input type="radio" name="lang" value="${l.code}" ${language() === l.code ? 'checked' : ''}><span lang="${l.code}" dir="${l.dir}">${l.name}</span></label>`).join('')}
      </div>
    </section>
    <section aria-labelledby="h-device"><h2 id="h-device">${icon('phone')} ${t('settings.device')}</h2>
      <p>${icon(offline ? 'check' : 'hourglass')} ${t(offline ? 'settings.offline-ready' : 'settings.offline-pending')}</p>
      <p>${tn('settings.stories-here', app.device.stories().length)}</p>
    </section>
    <button type="button" class="big danger" id="logout">${icon('logout')}<span>${t('settings.logout')}</span></button>
    <dialog id="logout-dialog" aria-labelledby="logout-title" aria-describedby="logout-text">
      <h2 id="logout-title">${icon('warning')} ${t('logout.title')}</h2>
      <p id="logout-text"></p>
      <div class="row">
        <button type="button" id="logout-cancel" class="primary">${icon('back')}<span>${t('logout.cancel')}</span></button>
        <button type="button" id="logout-confirm" class="danger">${icon('logout')}<span>${t('logout.confirm')}</span></button>
      </div>
    </dialog>`;

  main.querySelectorAll('input[name="lang"]').forEach((r) => {
    r.onchange = () => {
      setLanguage(r.value);
      app.rerender();
    };
  });
  const dialog = $('#logout-dialog');
  $('#logout').onclick = () => {
    const stories = app.device.unconfirmed().length;
    const uploads = app.uploader.pending().length;
    if (stories || uploads) {
      $('#logout-text').textContent = [
        stories ? tn('logout.unsynced', stories) : '',
        uploads ? tn('logout.uploads', uploads) : '',
        t('logout.lost'),
      ].filter(Boolean).join(' ');
    } else {
      $('#logout-text').textContent = t('logout.safe');
    }
    dialog.showModal();
  };
  $('#logout-cancel').onclick = () => dialog.close();
  $('#logout-confirm').onclick = () => {
    dialog.close();
    app.logout();
  };
  return null;
}
