// A few DOM helpers: escaping for markup built as strings, and element lookup.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Set an element's markup and return it. */
export function render(el, html) {
  el.innerHTML = html;
  return el;
}

let toastTimer = 0;
/** A short polite message at the bottom of the screen. */
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

const dateFormats = new Map();
const LOCALES = { nl: 'nl-NL', en: 'en-GB', ar: 'ar', tr: 'tr-TR', pl: 'pl-PL' };
export function formatDate(ms, lang) {
  if (!ms) return '';
  let f = dateFormats.get(lang);
  if (!f) {
    // One formatter per language: building one per call costs more than the whole list.
    f = new Intl.DateTimeFormat(LOCALES[lang] ?? 'nl-NL', {
      day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
    });
    dateFormats.set(lang, f);
  }
  return f.format(ms);
}

export function formatDuration(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A random hex string from the platform's random source. */
export function randomHex(bytes) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
