// Logging in (e-mail and password) and enrolling (the one-time code from `vertel-server member add`
// plus a new password). The session token is kept in localStorage. Logging in again after the
// session expired keeps what this device holds when it is the same member.

import { t, setLanguage, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $ } from '../dom.js';
import { api, saveSession, ApiError } from '../api.js';

/** The server's minimum (server/src/auth/policy.rs); it also refuses the commonest passwords. */
const MIN_PASSWORD = 10;

/** "Try again in …", from the server's Retry-After (seconds). */
function tooMany(seconds) {
  if (!seconds) return t('login.too-many');
  if (seconds < 120) return t('login.too-many-seconds', { n: seconds });
  return t('login.too-many-minutes', { n: Math.ceil(seconds / 60) });
}

export function loginView(app, main, mode = 'login') {
  $('#top').hidden = true;
  $('#nav').hidden = true;
  document.title = `${t('title.login')} · Vertel`;
  const other = language() === 'nl' ? 'en' : 'nl';
  main.innerHTML = `
    <div class="login">
      <div class="row end"><button type="button" id="lang" class="small" lang="${other}">${icon('globe')}<span>${t('lang.switch')}</span></button></div>
      <h1 class="brand-big">${icon('text')} Vertel</h1>
      <p>${t('login.intro')}</p>
      ${app.expired ? `<p class="notice" role="status">${icon('key')} ${t('login.expired')}</p>` : ''}
      <div class="tabs" role="tablist" aria-label="${t('login.tabs')}">
        <button type="button" role="tab" id="tab-login" aria-selected="${mode === 'login'}" aria-controls="login-form">${icon('key')}<span>${t('login.tab-login')}</span></button>
        <button type="button" role="tab" id="tab-enroll" aria-selected="${mode === 'enroll'}" aria-controls="enroll-form">${icon('mail')}<span>${t('login.tab-enroll')}</span></button>
      </div>
      <form id="login-form" role="tabpanel" aria-labelledby="tab-login" ${mode === 'login' ? '' : 'hidden'}>
        <label for="email">${icon('mail')} ${t('login.email')}</label>
        <input id="email" name="email" type="email" autocomplete="username" required inputmode="email">
        <label for="password">${icon('key')} ${t('login.password')}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit" class="big primary">${icon('check')}<span>${t('login.submit')}</span></button>
      </form>
      <form id="enroll-form" role="tabpanel" aria-labelledby="tab-enroll" ${mode === 'enroll' ? '' : 'hidden'}>
        <p class="hint">${t('enroll.intro')}</p>
        <label for="code">${icon('key')} ${t('enroll.code')}</label>
        <input id="code" name="code" autocomplete="one-time-code" required autocapitalize="characters">
        <label for="new-password">${icon('shield')} ${t('enroll.password')}</label>
        <input id="new-password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD}" required aria-describedby="pw-hint">
        <p class="hint" id="pw-hint">${t('enroll.password-hint')}</p>
        <label for="repeat-password">${icon('shield')} ${t('enroll.repeat')}</label>
        <input id="repeat-password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD}" required>
        <button type="submit" class="big primary">${icon('check')}<span>${t('enroll.submit')}</span></button>
      </form>
      <p id="login-error" class="error" role="alert"></p>
    </div>`;

  $('#lang').onclick = () => {
    setLanguage(other);
    $('#skip').textContent = t('skip');
    loginView(app, main, mode);
  };
  $('#tab-login').onclick = () => loginView(app, main, 'login');
  $('#tab-enroll').onclick = () => loginView(app, main, 'enroll');
  const error = $('#login-error');

  async function finish(session) {
    // Another member on this device: what the previous one left must not stay.
    if (app.session && app.session.member?.id !== session.member.id) await app.store?.wipe();
    saveSession(session);
    location.hash = '';
    location.reload();
  }

  function fail(e) {
    if (!(e instanceof ApiError)) error.textContent = t('login.unreachable');
    else if (e.status === 401) error.textContent = t(mode === 'login' ? 'login.bad' : 'enroll.bad');
    else if (e.status === 429) error.textContent = tooMany(e.retryAfter);
    else if (e.status === 503) error.textContent = t('login.busy');
    else if (e.status === 400 && e.code === 'password-too-common') error.textContent = t('enroll.password-common');
    else if (e.status === 400) error.textContent = t('enroll.password-hint');
    else error.textContent = t('login.unreachable');
  }

  $('#login-form').onsubmit = async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      await finish(await api.login($('#email').value.trim(), $('#password').value));
    } catch (e) {
      fail(e);
    }
  };
  $('#enroll-form').onsubmit = async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const pw = $('#new-password').value;
    if ([...pw].length < MIN_PASSWORD) {
      error.textContent = t('enroll.password-hint');
      return;
    }
    if (pw !== $('#repeat-password').value) {
      error.textContent = t('enroll.mismatch');
      return;
    }
    try {
      await finish(await api.enroll($('#code').value.trim(), pw));
    } catch (e) {
      fail(e);
    }
  };
}
