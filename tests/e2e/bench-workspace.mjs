// Benchmark harness for the coordinators' workspace (not a test): run with
// `node tests/e2e/bench-workspace.mjs` after `cargo build -p vertel-server` (use a release build
// via VERTEL_SERVER_BIN for numbers worth comparing). Seeds the demo workspace ("DWO regio"), logs
// a coordinator in at 1366x900 in Debian's Chromium and times, per screen, from the hash change (or
// navigation start for the first load) to the view rendered (`#main[data-ready]`, set after the
// data arrived and the DOM was built). Prints a Markdown table for BENCHMARKS.md ("Coordinator
// workspace (issue 6)") and writes tests/artifacts/bench-workspace.json.

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Server, launch, ARTIFACTS } from './harness.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];

const server = new Server();
server.seedDemo();
await server.start();
const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  await page.goto(`${server.url}/werkruimte/`);
  await page.getByLabel('E-mailadres').fill('coordinator@dwo.example');
  await page.getByLabel('Wachtwoord').fill('vertel-demo-2026');
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.locator('#overview').waitFor();
  const screens = [
    ['Overview across activities', '#/overzicht'],
    ['Tellen en vertellen: VoorZorg (chart + stories)', '#/activiteit/voorzorg'],
    ['Same, filtered to Westland', '#/activiteit/voorzorg?municipality=Westland'],
    ['Stories: search "roken"', '#/verhalen?q=roken'],
    ['Stories: all', '#/verhalen'],
    ["Persona's", '#/personas'],
    ['Figures (table + import form)', '#/cijfers'],
  ];
  const results = [];
  // Full page load (navigation → overview rendered), the session kept in sessionStorage.
  const loads = [];
  await page.goto(`${server.url}/werkruimte/#/overzicht`);
  for (let i = 0; i < RUNS; i++) {
    await page.reload();
    await page.waitForFunction(() => document.getElementById('main').dataset.ready && document.getElementById('overview'));
    loads.push(await page.evaluate(() => Number(document.getElementById('main').dataset.ready) - performance.timeOrigin));
  }
  results.push(['Page load → overview rendered', loads]);
  for (const [name, hash] of screens) {
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      await page.evaluate(() => { location.hash = '#/blank'; });
      await page.waitForFunction(() => !document.getElementById('main').hasAttribute('aria-busy'));
      const ms = await page.evaluate((h) => new Promise((resolve) => {
        const main = document.getElementById('main');
        const start = performance.now();
        const before = main.dataset.ready;
        const obs = new MutationObserver(() => {
          if (main.dataset.ready !== before && !main.hasAttribute('aria-busy')) { obs.disconnect(); resolve(performance.now() - start); }
        });
        obs.observe(main, { attributes: true });
        location.hash = h;
      }), hash);
      times.push(ms);
    }
    results.push([name, times]);
  }
  const stories = await (await server.api('GET', '/api/v1/workspace/stories', { token: await server.login('coordinator@dwo.example', 'vertel-demo-2026') })).json();
  console.log(`Demo data: ${stories.stories.length} stories, ${RUNS} runs per screen.\n`);
  console.log('| screen | median | p90 |\n|---|---:|---:|');
  for (const [name, xs] of results) console.log(`| ${name} | ${Math.round(median(xs))} ms | ${Math.round(p90(xs))} ms |`);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'bench-workspace.json'), JSON.stringify({ runs: RUNS, results }, null, 2));
} finally {
  await browser.close();
  await server.stop();
}
