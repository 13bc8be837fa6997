// Capture that never loses a word (issue 13), in Debian's Chromium at 360x640 against a real
// vertel-server with the demo workspace: a draft exists from the first tap and survives leaving
// the form, a reload, and a browser killed with SIGKILL (typed text, and the recording up to its
// last stored second); consent is asked before the recording starts; a story sent back by the
// coordinator is shown first; the shortest voice story takes at most 6 taps; the capture path in
// Arabic lays out right to left. Screenshots of each screen in Dutch and Arabic: tests/artifacts/
// cap-nl-*.png and cap-ar-*.png.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, speechWav, launch, phone, screenshot, CHROMIUM } from './harness.mjs';

const WAIT = { timeout: 30000 };
const DEMO_PASSWORD = 'vertel-demo-2026';
const PROFESSIONAL = 'professional@dwo.example';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

/** A phone whose storage lives in `dir`, so it survives the browser being killed. */
async function persistentPhone(dir, wav) {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: [...ARGS, `--use-file-for-fake-audio-capture=${wav}`],
    viewport: { width: 360, height: 640 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'nl-NL',
    permissions: ['microphone'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  return { context, page };
}

/** SIGKILL every process of the browser that uses `dir` (a crash, a dead battery): by id. */
function killBrowser(dir) {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  const pids = ps.split('\n').filter((l) => l.includes(`--user-data-dir=${dir}`)).map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.length > 0, 'the browser runs');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone with its parent.
    }
  }
}

async function login(page, url) {
  await page.goto(url);
  await page.getByLabel('E-mailadres').fill(PROFESSIONAL);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Inloggen' }).click();
  await page.locator('#conn[data-state="online"]').waitFor(WAIT);
}

const settle = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
const draftId = (page) => page.evaluate(() => location.hash.match(/#\/story\/([^/]+)\/edit/)?.[1] ?? null);

describe('capture: drafts, consent, hand in, returned stories, right to left', { timeout: 600000 }, () => {
  const server = new Server();
  let browser;
  let wav;
  let coordToken;
  const userDir = mkdtempSync(join(tmpdir(), 'vertel-phone-'));

  before(async () => {
    // Nothing here needs the tagger's suggestions; without it the server starts at once.
    server.env.VERTEL_TAGGER = 'off';
    server.seedDemo();
    await server.start();
    coordToken = await server.login('coordinator@dwo.example', DEMO_PASSWORD);
    wav = speechWav(server.dir, 'Op de markt vertelde ze over haar eerste weken met de baby. Het consultatiebureau hielp haar goed.');
    browser = await launch(wav);
  });

  after(async () => {
    await browser?.close();
    await server.stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('keeps a draft from the first tap: leaving the form, a reload, and a killed browser lose nothing', async () => {
    let { context, page } = await persistentPhone(userDir, wav);
    await login(page, server.url);
    await page.locator('html[data-offline-ready="1"]').waitFor(WAIT);
    // Offline from here on: the draft lives on the phone.
    await context.setOffline(true);
    await page.locator('#conn[data-state="offline"]').waitFor(WAIT);
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await screenshot(page, 'cap-nl-01-new');
    // The first tap makes the story: a draft, stored, and the address names it.
    await page.getByLabel('Een ouder vertelt').check();
    await page.waitForFunction(() => /#\/story\/[^/]+\/edit/.test(location.hash), null, WAIT);
    const id = await draftId(page);
    await page.waitForFunction((i) => window.vertel.device.entry(i)?.review === 'draft', id, WAIT);
    const stored = await page.evaluate((i) => window.vertel.store.load(i).then((b) => b?.length ?? 0), id);
    assert.ok(stored > 0, 'in IndexedDB from the first tap');

    // Typed words are stored as they are typed; leaving the form keeps them.
    const first = 'Op de markt vertelde Amina over haar eerste weken met de tweeling';
    await page.getByLabel('Vertel het verhaal').fill(first);
    await page.getByRole('link', { name: 'Verhalen' }).click();
    const card = page.locator(`.card[data-id="${id}"]`);
    // A card people can tell apart: the first words as its title, time, status.
    await card.locator('strong', { hasText: 'Op de markt vertelde Amina over…' }).waitFor(WAIT);
    assert.equal(await card.evaluate((a) => a.closest('section').id), 'group-drafts', 'listed under "Nog niet af"');
    assert.equal(await page.locator('#group-drafts h2').textContent().then((s) => s.trim()), 'Nog niet af');
    assert.equal(await card.locator('[data-status]').getAttribute('data-status'), 'local');
    await screenshot(page, 'cap-nl-02-list-draft');

    // Back into it from the story: "Verder vertellen".
    await card.click();
    await page.locator('#draft-box').waitFor(WAIT);
    await screenshot(page, 'cap-nl-03-story-draft');
    await page.getByRole('link', { name: 'Verder vertellen' }).click();
    assert.equal(await page.getByLabel('Vertel het verhaal').inputValue(), first);

    // A reload, typed a moment before it: the app opens the draft again with every word.
    const second = `${first}. Het consultatiebureau hielp.`;
    await page.getByLabel('Vertel het verhaal').fill(second);
    await page.waitForTimeout(700);
    await page.goto(`${server.url}/`);
    await page.locator('html[data-ready="1"]').waitFor(WAIT);
    await page.waitForFunction((i) => location.hash === `#/story/${i}/edit`, id, WAIT);
    assert.equal(await page.getByLabel('Vertel het verhaal').inputValue(), second);

    // Recording: consent first, in two sentences with pictograms and one tap.
    await page.getByRole('button', { name: 'Opnemen' }).click();
    const ask = page.locator('#consent-ask');
    await ask.waitFor({ state: 'visible', ...WAIT });
    assert.equal(await page.locator('#recorder').getAttribute('data-state'), 'idle', 'nothing recorded before consent');
    assert.equal(await ask.locator('.pictorow').count(), 2);
    await screenshot(page, 'cap-nl-04-consent');
    await ask.getByRole('button', { name: /Alleen voor ons team/ }).click();
    await page.getByText('Opname loopt').waitFor(WAIT);
    await page.waitForFunction((i) => window.vertel.device.views.get(i)?.story?.consent?.given, id, WAIT);
    await screenshot(page, 'cap-nl-05-recording');
    // More typing while the recording runs, then the browser dies.
    const third = `${second} Ze slaapt nu beter.`;
    await page.getByLabel('Vertel het verhaal').fill(third);
    await page.waitForTimeout(3500);
    const pieces = await page.evaluate(() => window.vertel.store.allChunks().then((c) => c.length));
    assert.ok(pieces >= 2, `the recording is stored second by second (${pieces} pieces)`);
    killBrowser(userDir);
    await context.close().catch(() => {});

    ({ context, page } = await persistentPhone(userDir, wav));
    await context.setOffline(true);
    await page.goto(`${server.url}/`);
    await page.locator('html[data-ready="1"]').waitFor(WAIT);
    await page.waitForFunction((i) => location.hash === `#/story/${i}/edit`, id, WAIT);
    assert.equal(await page.getByLabel('Vertel het verhaal').inputValue(), third, 'every word typed before the crash');
    // The recording up to its last stored piece is attached to the story.
    await page.waitForFunction((i) => window.vertel.device.views.get(i)?.story?.attachments?.some((a) => a.mime.startsWith('audio/')), id, WAIT);
    const audio = await page.evaluate((i) => window.vertel.device.views.get(i).story.attachments.find((a) => a.mime.startsWith('audio/')), id);
    assert.ok(audio.size > 2000, `recording kept (${audio.size} bytes)`);
    await page.locator('#kept-audio').getByText('Opnames bewaard bij dit verhaal: 1').waitFor(WAIT);
    assert.equal(await page.evaluate(() => window.vertel.store.allChunks().then((c) => c.length)), 0, 'its pieces became the attachment');
    const blob = await page.evaluate((sha) => window.vertel.store.getBlob(sha).then((b) => b.blob.size), audio.sha256);
    assert.equal(blob, audio.size, 'the bytes wait for upload');
    await screenshot(page, 'cap-nl-06-reopened');

    // Hand in: submitted, and it syncs once online.
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.getByRole('heading', { name: 'Op de markt vertelde Amina over…' }).waitFor(WAIT);
    assert.equal(await page.evaluate((i) => window.vertel.device.views.get(i).story.review, id), 'submitted');
    await context.setOffline(false);
    await page.locator('#story-status [data-status="submitted"]').waitFor({ timeout: 60000 });
    await screenshot(page, 'cap-nl-07-handed-in');
    await context.close();
  });

  it('throws a draft away only after asking', async () => {
    const { context, page } = await phone(browser);
    try {
      await login(page, server.url);
      await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
      await page.getByLabel('Wat ons werk opleverde').check();
      await page.waitForFunction(() => /#\/story\/[^/]+\/edit/.test(location.hash), null, WAIT);
      const id = await draftId(page);
      // The municipality from the workspace's list, the names the desk filters by; the choice
      // becomes this member's default on this device.
      const names = await page.locator('#municipality option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
      assert.deepEqual(names, ['Delft', 'Midden-Delfland', 'Pijnacker-Nootdorp', 'Westland']);
      await page.getByLabel('Gemeente').selectOption('Westland');
      await page.waitForFunction((i) => window.vertel.device.views.get(i)?.story?.municipality === 'Westland', id, WAIT);
      // Online, the draft reached the server.
      await page.waitForFunction((i) => window.vertel.device.views.get(i)?.confirmed, id, WAIT);
      await page.getByRole('button', { name: 'Weggooien' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor(WAIT);
      await screenshot(page, 'cap-nl-08-discard');
      await dialog.getByRole('button', { name: 'Niet weggooien' }).click();
      assert.ok(await page.evaluate((i) => window.vertel.device.knows(i), id), 'kept');
      await page.getByRole('button', { name: 'Weggooien' }).click();
      await dialog.getByRole('button', { name: 'Ja, weggooien' }).click();
      await page.waitForFunction(() => location.hash === '#/', null, WAIT);
      assert.equal(await page.evaluate((i) => window.vertel.device.knows(i), id), false);
      // Thrown away on the server too: the coordinator's feed says it is gone.
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        gone = (await server.feed(coordToken)).some((c) => c.id === id && c.deleted);
        if (!gone) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(gone, 'erased on the server');
      // The next story starts with the municipality chosen last.
      await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
      assert.equal(await page.getByLabel('Gemeente').inputValue(), 'Westland');
    } finally {
      await context.close();
    }
  });

  it('records the shortest voice story in at most 6 taps', async () => {
    const { context, page } = await phone(browser);
    try {
      await login(page, server.url);
      let taps = 0;
      const tap = async (locator) => {
        taps += 1;
        await locator.click();
      };
      await tap(page.getByRole('link', { name: 'Nieuw', exact: true }));
      await tap(page.getByLabel('Een ouder vertelt'));
      await tap(page.getByRole('button', { name: 'Opnemen' }));
      await tap(page.locator('#consent-ask').getByRole('button', { name: /In een verslag, zonder naam/ }));
      await page.getByText('Opname loopt').waitFor(WAIT);
      await page.waitForTimeout(2000);
      await tap(page.getByRole('button', { name: 'Klaar' }));
      await page.getByLabel('Opname terugluisteren').waitFor(WAIT);
      await tap(page.getByRole('button', { name: 'Indienen' }));
      await page.locator('#story-status').waitFor(WAIT);
      assert.ok(taps <= 6, `${taps} taps`);
      const id = await page.evaluate(() => location.hash.split('/')[2]);
      const story = await page.evaluate((i) => window.vertel.device.views.get(i).story, id);
      assert.equal(story.review, 'submitted');
      assert.equal(story.kind, 'parent-story');
      assert.deepEqual([story.consent.given, story.consent.scope], [true, 'anonymised-in-reports']);
      assert.equal(story.attachments.filter((a) => a.mime.startsWith('audio/')).length, 1);
      // One status line: on the device, then sent, then handed in.
      await page.locator('#story-status [data-status="submitted"]').waitFor({ timeout: 60000 });
      assert.equal(await page.locator('#story-status [data-status]').count(), 1);
    } finally {
      await context.close();
    }
  });

  it('takes consent given aloud: a short clip attached to the story as its consent', async () => {
    const { context, page } = await phone(browser);
    try {
      await login(page, server.url);
      await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
      await page.getByLabel('Gesprek met een groep').check();
      await page.waitForFunction(() => /#\/story\/[^/]+\/edit/.test(location.hash), null, WAIT);
      const id = await draftId(page);
      await page.getByRole('button', { name: 'Opnemen' }).click();
      const ask = page.locator('#consent-ask');
      await ask.getByRole('button', { name: 'Toestemming inspreken' }).click();
      await ask.getByText('Opname loopt').waitFor(WAIT);
      await page.waitForTimeout(1500);
      await ask.getByRole('button', { name: 'Klaar' }).click();
      await page.locator('#consent-voice[data-state="done"]').waitFor(WAIT);
      // The scope is still one tap; then the story's own recording starts.
      await ask.getByRole('button', { name: /Mag letterlijk in een verslag/ }).click();
      await page.locator('#recorder').getByText('Opname loopt').waitFor(WAIT);
      await page.waitForTimeout(1200);
      await page.locator('#recorder').getByRole('button', { name: 'Klaar' }).click();
      await page.locator('#kept-audio').getByText('Opnames bewaard bij dit verhaal: 1').waitFor(WAIT);
      const v = await page.evaluate((i) => window.vertel.device.views.get(i), id);
      const audio = v.story.attachments.filter((a) => a.mime.startsWith('audio/'));
      assert.equal(audio.length, 2, 'the consent clip and the story');
      assert.equal(v.details.consent_clip, audio[0].sha256, 'consent.clip names the first recording');
      assert.deepEqual([v.story.consent.given, v.story.consent.how, v.story.consent.scope], [true, 'spoken', 'may-be-quoted']);
      await page.getByRole('button', { name: 'Indienen' }).click();
      await page.locator('#story-status').waitFor(WAIT);
      assert.equal(await page.evaluate((i) => window.vertel.device.views.get(i).story.review, id), 'submitted');
    } finally {
      await context.close();
    }
  });

  it('shows a story the coordinator sent back first, with the comment at the top of the story', async () => {
    const list = await (await server.api('GET', '/api/v1/workspace/stories?q=roken', { token: coordToken })).json();
    const story = list.stories.find((s) => s.title === 'Roken voor twee');
    const comment = 'Wil je vragen of we haar woorden letterlijk mogen gebruiken?';
    const resp = await server.api('POST', `/api/v1/workspace/stories/${story.id}/review`, { token: coordToken, body: { state: 'returned', comment } });
    assert.equal(resp.status, 200);
    const { context, page } = await phone(browser);
    try {
      await login(page, server.url);
      const banner = page.locator('#returned-banner');
      await banner.waitFor({ state: 'visible', ...WAIT });
      assert.match(await banner.textContent(), /1 verhaal is teruggestuurd/);
      await page.locator('#waiting[data-returned="1"]').waitFor(WAIT);
      await page.locator('#returned-count').waitFor(WAIT);
      // In front: the first card on the screen.
      const firstCard = page.locator('#stories a.card').first();
      assert.equal(await firstCard.getAttribute('data-id'), story.id);
      assert.equal(await firstCard.locator('[data-status]').getAttribute('data-status'), 'returned');
      await screenshot(page, 'cap-nl-09-list-returned');
      // The filter on review state shows only those.
      await banner.getByRole('button', { name: 'Toon deze verhalen' }).click();
      await page.getByText(/^1 van \d+ verhalen$/).waitFor(WAIT);
      assert.equal(await page.locator('#f-review').inputValue(), 'returned');
      await firstCard.click();
      const review = page.locator('#review');
      await review.waitFor(WAIT);
      assert.equal(await review.locator('.return-comment .comment-text').textContent(), comment);
      const above = await page.evaluate(() => {
        const r = document.getElementById('review').getBoundingClientRect().top;
        const facts = document.querySelector('.facts').getBoundingClientRect().top;
        return r < facts;
      });
      assert.ok(above, 'the comment comes before the story');
      await screenshot(page, 'cap-nl-10-story-returned');
    } finally {
      await context.close();
    }
  });

  it('lays the capture path out right to left in Arabic', async () => {
    const { context, page } = await phone(browser);
    try {
      await login(page, server.url);
      await page.getByRole('link', { name: 'Instellingen' }).click();
      await page.getByLabel('العربية').check();
      await page.waitForFunction(() => document.documentElement.dir === 'rtl' && document.documentElement.lang === 'ar', null, WAIT);
      await page.getByRole('link', { name: 'القصص' }).click();
      await page.locator('#returned-banner').waitFor({ state: 'visible', ...WAIT });
      await settle(page);
      await screenshot(page, 'cap-ar-01-list');
      await page.getByRole('link', { name: 'جديد', exact: true }).click();
      await page.getByRole('heading', { name: 'قصة جديدة' }).waitFor(WAIT);
      // Right to left: the first tile of a row is on the right, text starts at the right edge.
      const layout = await page.evaluate(() => {
        const tiles = [...document.querySelectorAll('#kinds .tile')].map((t) => t.getBoundingClientRect());
        const h1 = document.querySelector('h1').getBoundingClientRect();
        const main = document.getElementById('main').getBoundingClientRect();
        return {
          direction: getComputedStyle(document.getElementById('capture')).direction,
          firstRight: tiles[0].left > tiles[1].left,
          sameRow: Math.abs(tiles[0].top - tiles[1].top) < 2,
          h1Right: Math.abs(main.right - h1.right) < 20,
          overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
        };
      });
      assert.deepEqual(layout, { direction: 'rtl', firstRight: true, sameRow: true, h1Right: true, overflow: false });
      await screenshot(page, 'cap-ar-02-new');
      await page.getByLabel('أحد الوالدين يحكي').check();
      await page.waitForFunction(() => /#\/story\/[^/]+\/edit/.test(location.hash), null, WAIT);
      await page.getByRole('button', { name: 'سجّل', exact: true }).click();
      const ask = page.locator('#consent-ask');
      await ask.waitFor({ state: 'visible', ...WAIT });
      const consent = await page.evaluate(() => {
        const row = document.querySelector('#consent-ask .pictorow');
        const [icon, text] = [row.querySelector('.icon').getBoundingClientRect(), row.querySelector('span').getBoundingClientRect()];
        return { iconRight: icon.left > text.left, overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth };
      });
      assert.deepEqual(consent, { iconRight: true, overflow: false }, 'pictograms stand at the start of the line, on the right');
      await screenshot(page, 'cap-ar-03-consent');
      await ask.getByRole('button', { name: /لفريقنا فقط/ }).click();
      await page.getByText('التسجيل جارٍ').waitFor(WAIT);
      await screenshot(page, 'cap-ar-04-recording');
      await page.waitForTimeout(1500);
      await page.getByRole('button', { name: 'انتهيت' }).click();
      await page.getByLabel('استمع إلى التسجيل').waitFor(WAIT);
      await page.getByLabel('احكِ القصة', { exact: true }).fill('كانت في السوق وتحدثت عن طفلها.');
      await page.getByRole('button', { name: 'سلِّم القصة' }).first().click();
      await page.locator('#story-status').waitFor(WAIT);
      await screenshot(page, 'cap-ar-05-story');
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('main')).direction), 'rtl');
      // The story's language is its own: the app's language did not change it.
      const id = await page.evaluate(() => location.hash.split('/')[2]);
      assert.equal(await page.evaluate((i) => window.vertel.device.views.get(i).story.language, id), 'nl');
      // The story the coordinator sent back, first in the list, with the comment on top.
      await page.getByRole('link', { name: 'القصص' }).click();
      await page.locator('#stories a.card').first().click();
      await page.locator('#review .return-comment').waitFor(WAIT);
      await screenshot(page, 'cap-ar-06-story-returned');
      // Settings: the app's language among the others, each in its own words.
      await page.getByRole('link', { name: 'الإعدادات' }).click();
      await screenshot(page, 'cap-ar-07-settings', { full: true });
      await page.getByLabel('Nederlands').check();
      await page.waitForFunction(() => document.documentElement.dir === 'ltr', null, WAIT);
      await screenshot(page, 'cap-nl-11-settings', { full: true });
    } finally {
      await context.close();
    }
  });
});
