// The string catalogues: every word a person sees comes from here, in Dutch (default) or English.

import nl from './i18n/nl.js';
import en from './i18n/en.js';

export const CATALOGUES = { nl, en };
let lang = localStorage.getItem('vertel.lang') === 'en' ? 'en' : 'nl';

export function language() {
  return lang;
}

export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'nl';
  localStorage.setItem('vertel.lang', lang);
  document.documentElement.lang = lang;
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
