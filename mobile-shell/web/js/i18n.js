// The string catalogues: every word a person sees comes from here. Dutch is the default and
// complete; English is complete too. Arabic (right to left), Turkish and Polish cover the capture
// path (new story, consent, recording, the list and a story's status); what they lack is shown in
// Dutch. The app's language is the person's choice in Settings; the language a story is told in
// is a field of the story and separate from it.

import nl from './i18n/nl.js';
import en from './i18n/en.js';
import ar from './i18n/ar.js';
import tr from './i18n/tr.js';
import pl from './i18n/pl.js';

export const CATALOGUES = { nl, en, ar, tr, pl };
/** The app's languages, each in its own words, with its writing direction. */
export const APP_LANGUAGES = [
  { code: 'nl', name: 'Nederlands', dir: 'ltr' },
  { code: 'en', name: 'English', dir: 'ltr' },
  { code: 'ar', name: 'العربية', dir: 'rtl' },
  { code: 'tr', name: 'Türkçe', dir: 'ltr' },
  { code: 'pl', name: 'Polski', dir: 'ltr' },
];
const known = (code) => (CATALOGUES[code] ? code : 'nl');
let lang = known(localStorage.getItem('vertel.lang'));

export function language() {
  return lang;
}

/** `rtl` or `ltr` for the app's language. */
export function direction() {
  return APP_LANGUAGES.find((l) => l.code === lang)?.dir ?? 'ltr';
}

export function setLanguage(next) {
  lang = known(next);
  localStorage.setItem('vertel.lang', lang);
  document.documentElement.lang = lang;
  document.documentElement.dir = direction();
}

/** The string for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = CATALOGUES[lang][key] ?? CATALOGUES.nl[key];
  if (s === undefined) {
    console.warn('missing string', key);
    return key;
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
  return s;
}

export function has(key) {
  return key in CATALOGUES[lang] || key in CATALOGUES.nl;
}

/** Pick `key.one` or `key.other` by count. */
export function tn(key, n, vars = {}) {
  return t(n === 1 ? `${key}.one` : `${key}.other`, { n, ...vars });
}
