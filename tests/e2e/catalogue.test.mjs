// Every user-visible string is in the Dutch catalogue with an English one beside it: the two have
// the same keys, no value is empty, placeholders match, and every key the code asks for exists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

const JS = join(ROOT, 'mobile-shell/web/js');
const load = async (lang) => (await import(join(JS, 'i18n', `${lang}.js`))).default;

function sources(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'i18n' ? [] : sources(p);
    return p.endsWith('.js') ? [readFileSync(p, 'utf8')] : [];
  });
}

test('Dutch and English catalogues have the same keys and placeholders', async () => {
  const nl = await load('nl');
  const en = await load('en');
  assert.deepEqual(Object.keys(en).sort(), Object.keys(nl).sort());
  const holes = (s) => (s.match(/\{\w+\}/g) ?? []).sort();
  for (const key of Object.keys(nl)) {
    assert.ok(nl[key].trim() && en[key].trim(), `empty string for ${key}`);
    assert.deepEqual(holes(en[key]), holes(nl[key]), `placeholders of ${key}`);
  }
});

test('every key the app asks for is in the catalogue', async () => {
  const nl = await load('nl');
  const code = sources(JS).join('\n');
  const literal = [...code.matchAll(/\bt\('([a-z0-9.-]+)'/g)].map((m) => m[1]);
  const plural = [...code.matchAll(/\btn\('([a-z0-9.-]+)'/g)].flatMap((m) => [`${m[1]}.one`, `${m[1]}.other`]);
  const codes = await import(join(JS, 'codes.js'));
  const families = [
    ...codes.KINDS.map((k) => `kind.${k.code}`),
    ...codes.PLACES.map((p) => `place.${p}`),
    ...codes.TELLER_ROLES.map((r) => `role.${r}`),
    ...codes.CONSENT_HOW.map((h) => `consent.how.${h}`),
    ...codes.CONSENT_SCOPES.flatMap((c) => [`consent.scope.${c}`, `consent.scope.${c}.hint`]),
    ...codes.IMPACT_SECTIONS.flatMap((c) => [`impact.${c}`, `impact.${c}.hint`]),
    ...codes.LANGUAGES.map((l) => `lang.${l}`),
    ...['local', 'sent', 'transcribing', 'text-ready', 'submitted', 'returned', 'approved', 'upload-failed', 'refused'].map((s) => `status.${s}`),
    ...codes.KINDS.map((k) => `kind.${k.code}.term`),
    ...['draft', 'submitted', 'returned', 'approved'].map((r) => `list.review.${r}`),
    ...['returned', 'drafts', 'rest'].map((g) => `list.group.${g}`),
    ...['online', 'connecting', 'offline'].map((s) => `conn.${s}`),
    ...['list', 'capture', 'story', 'personas', 'persona', 'persona-form', 'settings', 'login'].map((r) => `title.${r}`),
    ...['automatic', 'corrected', 'approved'].map((s) => `transcript.state.${s}`),
    // The server's reasons a recording cannot be transcribed (TranscribeError::reason).
    ...['too-long', 'no-sound', 'unsupported', 'damaged'].map((r) => `transcript.failed.${r}`),
    ...['suggested', 'confirmed', 'rejected'].map((s) => `tag.${s}`),
    ...['confirmed', 'rejected'].map((s) => `tag.done.${s}`),
    ...['phase', 'theme', 'group'].map((d) => `tag.dim.${d}`),
    ...codes.REVIEW_STATES.map((s) => `review.state.${s.code}`),
    ...codes.REVIEW_STATES.filter((s) => s.code !== 'returned').map((s) => `review.hint.${s.code}`),
    'review.resubmitted', 'review.replied',
    ...['professional', 'sleutelpersoon', 'coordinator', 'admin'].map((r) => `member-role.${r}`),
    ...['kind', 'date', 'place', 'municipality', 'teller', 'consent', 'phase', 'target-group', 'recorded-by'].map((k) => `story.${k}`),
    'login.bad', 'enroll.bad', 'rec.recording', 'rec.paused', 'settings.offline-ready', 'settings.offline-pending',
  ];
  const missing = [...new Set([...literal, ...plural, ...families])].filter((k) => !(k in nl));
  assert.deepEqual(missing, []);
});

test('the Arabic, Turkish and Polish catalogues cover the capture path with the Dutch keys and placeholders', async () => {
  const nl = await load('nl');
  const holes = (s) => (s.match(/\{\w+\}/g) ?? []).sort();
  // What a sleutelpersoon sees from "Nieuw" to "Indienen".
  const path = [
    'capture.title', 'capture.kind', 'capture.how', 'capture.body', 'capture.place', 'capture.hand-in', 'capture.later',
    'capture.discard', 'capture.need-consent', 'consent.ask-title', 'consent.sentence-1', 'consent.sentence-2',
    'consent.ask-scope', 'consent.record', 'rec.start', 'rec.stop', 'rec.recording', 'status.local', 'status.submitted',
    'status.returned', 'list.group.drafts', 'list.returned.one', 'list.returned.other', 'top.waiting.one', 'top.waiting.other',
    ...['internal-only', 'anonymised-in-reports', 'may-be-quoted'].flatMap((c) => [`consent.scope.${c}`, `consent.scope.${c}.hint`]),
    ...['parent-story', 'community-conversation', 'persona-story', 'impact-narrative'].flatMap((k) => [`kind.${k}`, `kind.${k}.term`]),
  ];
  for (const lang of ['ar', 'tr', 'pl']) {
    const cat = await load(lang);
    assert.deepEqual(Object.keys(cat).filter((k) => !(k in nl)), [], `${lang}: keys Dutch does not have`);
    assert.deepEqual(path.filter((k) => !cat[k]?.trim()), [], `${lang}: the capture path`);
    for (const [key, value] of Object.entries(cat)) assert.deepEqual(holes(value), holes(nl[key]), `${lang}: placeholders of ${key}`);
  }
});
