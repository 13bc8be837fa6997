// Benchmark harness for the mobile shell (not a test): run with `node tests/e2e/bench.mjs` after
// `mobile-shell/build.sh` and `cargo build -p vertel-server`. Prints a Markdown table for
// BENCHMARKS.md ("Mobile shell (issue 3)") and writes tests/artifacts/bench-shell.json.
//
// * App shell transfer size: every file the service worker precaches, fetched from vertel-server
//   with `Accept-Encoding: gzip`, counting the bytes on the wire (target: at most 1 MB).
// * Navigation to interactive, offline: after one online visit, reloads with the network off,
//   from navigation start to the app's `vertel-interactive` mark (list rendered, handlers bound).
// * Render and filter 1,000 stories: 1,000 stories created on the device, then the list's search
//   and filters timed in the page, including style and layout (target: under 100 ms).
// * Interactive offline with 1,000 and 5,000 stories (synced, as on a phone in use), unthrottled
//   and with Chromium's CPU throttled 4x (the usual mid-range phone profile, DevTools protocol
//   `Emulation.setCPUThrottlingRate`): targets 1.5 s (1,000 at 4x) and 2.5 s (5,000 at 4x).
//   BENCH_LARGE=0 skips the 5,000.

import http from 'node:http';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Server, launch, phone, DIST, ARTIFACTS, PASSWORD } from './harness.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const STORIES = Number(process.env.BENCH_STORIES ?? 1000);
const LARGE = Number(process.env.BENCH_LARGE ?? 5000);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const p = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

function wireBytes(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => resolve({ bytes: n, encoding: res.headers['content-encoding'] ?? 'identity' }));
    }).on('error', reject);
  });
}

async function transferSize(base) {
  const sw = readFileSync(join(DIST, 'sw.js'), 'utf8');
  const files = JSON.parse(sw.match(/const FILES = (\[.*\]);/)[1]);
  let total = 0;
  let wasm = 0;
  for (const f of [...files.filter((x) => x !== '/'), '/sw.js']) {
    const { bytes } = await wireBytes(base + f);
    total += bytes;
    if (f.endsWith('.wasm')) wasm = bytes;
  }
  return { files: files.length, total, wasm };
}

async function main() {
  const server = new Server();
  server.setUp();
  await server.start();
  const results = { date: new Date().toISOString() };
  results.transfer = await transferSize(server.url);

  const browser = await launch();
  const { context, page } = await phone(browser);
  await page.goto(server.url);
  await page.getByLabel('E-mailadres').fill('coordinator@e2e.test');
  await page.getByLabel('Wachtwoord', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.locator('#conn[data-state="online"]').waitFor({ timeout: 30000 });
  await page.locator('html[data-offline-ready="1"]').waitFor({ timeout: 30000 });
  await context.setOffline(true);

  const interactive = async () => {
    await page.reload();
    await page.locator('html[data-ready="1"]').waitFor({ timeout: 60000 });
    return page.evaluate(() => performance.getEntriesByName('vertel-interactive')[0].startTime);
  };
  const cdp = await context.newCDPSession(page);
  /** Offline reloads to interactive at a CPU slowdown of `rate` (1: none). */
  const throttled = async (rate, runs) => {
    await cdp.send('Emulation.setCPUThrottlingRate', { rate });
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await interactive());
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
    return { rate, median: median(times), p90: p(times, 0.9), runs: times };
  };
  /** Make stories online (each synced as it is made) until the device holds `n`. */
  const fill = async (n) => {
    await context.setOffline(false);
    await page.locator('#conn[data-state="online"]').waitFor({ timeout: 60000 });
    const t = Date.now();
    // Made from another screen, as a phone syncing in the background; measured on the list.
    await page.evaluate(() => { location.hash = '#/settings'; });
    await page.evaluate(async (total) => {
      const kinds = ['parent-story', 'community-conversation', 'persona-story', 'impact-narrative'];
      const places = ['markt', 'speeltuin', 'buurthuis', 'thuis', 'consultatiebureau', 'gebedshuis', 'school-kinderopvang', 'anders'];
      const words = 'moeder vader baby slapen voeding consultatiebureau kraamzorg zwanger taal buurt vriendin hulp huisarts school opvang geld werk rust zorgen blij'.split(' ');
      const year = 365 * 24 * 3600 * 1000;
      for (let i = window.vertel.device.stories().length; i < total; i++) {
        const body = Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * 13) % words.length]).join(' ');
        await window.vertel.device.createStory({
          kind: kinds[i % 4], title: `Verhaal ${i} ${words[i % words.length]}`, body, language: 'nl',
          captured_at: Date.now() - Math.floor((i / total) * year), place_type: places[i % places.length],
          municipality: i % 3 ? 'Westland' : 'Delft',
          consent: { given: true, how: 'spoken', scope: 'internal-only', recorded_at: Date.now() },
          told_by: { role: 'moeder', name: `Ouder ${i}` },
        });
      }
    }, n);
    await page.waitForFunction(() => window.vertel.device.unconfirmed().length === 0, null, { timeout: 600000, polling: 1000 });
    // The list index is written a moment after the last change.
    await page.waitForTimeout(1000);
    await page.evaluate(() => { location.hash = '#/'; });
    await context.setOffline(true);
    return (Date.now() - t) / 1000;
  };
  const empty = [];
  for (let i = 0; i < RUNS; i++) empty.push(await interactive());
  results.interactiveOffline = { median: median(empty), p90: p(empty, 0.9), runs: empty };

  // 1,000 stories on the device.
  const t0 = Date.now();
  await page.evaluate(async (n) => {
    const kinds = ['parent-story', 'community-conversation', 'persona-story', 'impact-narrative'];
    const places = ['markt', 'speeltuin', 'buurthuis', 'thuis', 'consultatiebureau', 'gebedshuis', 'school-kinderopvang', 'anders'];
    const words = 'moeder vader baby slapen voeding consultatiebureau kraamzorg zwanger taal buurt vriendin hulp huisarts school opvang geld werk rust zorgen blij'.split(' ');
    const year = 365 * 24 * 3600 * 1000;
    for (let i = 0; i < n; i++) {
      const kind = kinds[i % 4];
      const body = Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * 13) % words.length]).join(' ');
      await window.vertel.device.createStory({
        kind, title: `Verhaal ${i} ${words[i % words.length]}`, body, language: 'nl',
        captured_at: Date.now() - Math.floor((i / n) * year), place_type: places[i % places.length],
        municipality: i % 3 ? 'Westland' : 'Delft',
        consent: { given: true, how: 'spoken', scope: 'internal-only', recorded_at: Date.now() },
        told_by: { role: 'moeder', name: `Ouder ${i}` },
      });
    }
  }, STORIES);
  results.create = { stories: STORIES, seconds: (Date.now() - t0) / 1000 };

  const full = [];
  for (let i = 0; i < Math.max(3, RUNS / 2); i++) full.push(await interactive());
  results.interactiveOffline1000 = { median: median(full), p90: p(full, 0.9), runs: full };
  // The same stories once the server has them (a phone in use): only documents that must sync
  // are loaded at start; the list comes from the index.
  results.sync1000 = await fill(STORIES);
  results.synced1000 = [await throttled(1, RUNS), await throttled(4, RUNS)];

  results.filter = await page.evaluate(async () => {
    const q = document.querySelector('#q');
    const timeIt = async (fn) => {
      const t = performance.now();
      fn();
      void document.body.offsetHeight; // style and layout
      const sync = performance.now() - t;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return { sync, frame: performance.now() - t };
    };
    const input = (el, v) => () => {
      el.value = v;
      el.dispatchEvent(new Event('input'));
    };
    const out = { render: [], search: [], kind: [], place: [], date: [] };
    const kind = document.querySelector('#f-kind');
    const place = document.querySelector('#f-place');
    const from = document.querySelector('#f-from');
    for (let i = 0; i < 5; i++) {
      out.render.push(await timeIt(() => window.vertel.view.update()));
      out.search.push(await timeIt(input(q, ['slapen', 'verhaal 1', 'westland', 'zzz', 'moeder'][i])));
      out.search.push(await timeIt(input(q, '')));
      out.kind.push(await timeIt(input(kind, 'parent-story')));
      out.kind.push(await timeIt(input(kind, '')));
      out.place.push(await timeIt(input(place, 'markt')));
      out.place.push(await timeIt(input(place, '')));
      const d = new Date(Date.now() - 90 * 24 * 3600 * 1000).toISOString().slice(0, 10);
      out.date.push(await timeIt(input(from, d)));
      out.date.push(await timeIt(input(from, '')));
    }
    // Every matching card, drawn in slices after the first screenfuls.
    const drawn = () => new Promise((resolve) => {
      const before = document.getElementById('main').dataset.drawn;
      const t = performance.now();
      window.vertel.view.update();
      const check = () => (document.getElementById('main').dataset.drawn !== before ? resolve(performance.now() - t) : setTimeout(check, 5));
      check();
    });
    out.all = [];
    for (let i = 0; i < 3; i++) out.all.push(await drawn());
    const cards = document.querySelectorAll('#stories .card').length;
    return { cards, ...out };
  });

  if (LARGE > STORIES) {
    results.syncLarge = await fill(LARGE);
    results.syncedLarge = [await throttled(1, Math.max(3, RUNS / 2)), await throttled(4, Math.max(3, RUNS / 2))];
  }

  await browser.close();
  await server.stop();

  const f = results.filter;
  const med = (xs, k) => median(xs.map((x) => x[k]));
  const all = [...f.search, ...f.kind, ...f.place, ...f.date];
  const kb = (b) => `${(b / 1024).toFixed(0)} KiB`;
  const rows = [
    ['App shell transfer size, gzipped (all precached files, incl. wasm)', `${kb(results.transfer.total)} (wasm ${kb(results.transfer.wasm)}, ${results.transfer.files} files)`, '≤ 1 MB'],
    ['Navigation → interactive, offline, empty device (median / p90)', `${results.interactiveOffline.median.toFixed(0)} ms / ${results.interactiveOffline.p90.toFixed(0)} ms`, '< 1.5 s'],
    [`Navigation → interactive, offline, ${STORIES} stories on the device (median / p90)`, `${results.interactiveOffline1000.median.toFixed(0)} ms / ${results.interactiveOffline1000.p90.toFixed(0)} ms`, '< 1.5 s'],
    [`Render the list of ${f.cards} stories: first screenfuls (median, incl. layout / to next frame); every card, in slices`, `${med(f.render, 'sync').toFixed(1)} ms / ${med(f.render, 'frame').toFixed(1)} ms; ${median(f.all).toFixed(0)} ms`, '< 100 ms'],
    [`Filter ${STORIES} stories: text, kind, place, date (median, incl. layout / to next frame)`, `${med(all, 'sync').toFixed(1)} ms / ${med(all, 'frame').toFixed(1)} ms (worst ${Math.max(...all.map((x) => x.frame)).toFixed(1)} ms)`, '< 100 ms'],
    [`Create ${STORIES} stories on the device (each durable in IndexedDB)`, `${results.create.seconds.toFixed(1)} s`, '—'],
  ];
  const synced = (n, r, target) => [`Navigation → interactive, offline, ${n} synced stories, CPU ${r.rate}x (median / p90)`, `${r.median.toFixed(0)} ms / ${r.p90.toFixed(0)} ms`, target];
  rows.push(synced(STORIES, results.synced1000[0], '—'), synced(STORIES, results.synced1000[1], '< 1.5 s'));
  if (results.syncedLarge) rows.push(synced(LARGE, results.syncedLarge[0], '—'), synced(LARGE, results.syncedLarge[1], '< 2.5 s'));
  console.log('| measure | result | target |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'bench-shell.json'), JSON.stringify(results, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
