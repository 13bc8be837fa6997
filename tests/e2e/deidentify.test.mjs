// Issue 16 (docs/deidentify.md): while a story is typed, the shell says gently what looks like a
// name, an address or a number ("Dit lijkt een adres"), from client-core's de-identifier in the
// wasm module; it blocks nothing and changes nothing of what was typed. A transcript shown on the
// phone says the same of what was spoken.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, phone, screenshot } from './harness.mjs';

const WAIT = { timeout: 30000 };

describe('shell: a gentle hint at what looks identifying', { timeout: 300000 }, () => {
  const server = new Server();
  let browser;

  before(async () => {
    server.env.VERTEL_TAGGER = 'off';
    server.seedDemo();
    await server.start();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server.stop();
  });

  it('hints at an address and a phone number, and keeps the text as typed', async () => {
    const { page } = await phone(browser);
    await page.goto(server.url);
    await page.getByLabel('E-mailadres').fill('professional@dwo.example');
    await page.getByLabel('Wachtwoord', { exact: true }).fill('vertel-demo-2026');
    await page.getByRole('button', { name: 'Inloggen' }).click();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await page.getByLabel('Een ouder vertelt').check();
    const body = page.getByLabel('Vertel het verhaal');
    const hint = page.locator('#deid-hint');

    await body.fill('Ze woont op de Molenstraat 12 met haar kinderen.');
    await hint.filter({ hasText: 'Dit lijkt een adres: “Molenstraat 12”' }).waitFor(WAIT);
    assert.equal(await hint.getAttribute('role'), 'status', 'read out, not a dialog');
    await screenshot(page, 'deid-nl-01-hint');

    await body.fill('Ze woont op de Molenstraat 12. Bel haar op 06-12345678.');
    await hint.filter({ hasText: 'Dit lijkt een telefoonnummer: “06-12345678”' }).waitFor(WAIT);
    // Nothing is blocked or changed: the text stays as typed.
    assert.equal(await body.inputValue(), 'Ze woont op de Molenstraat 12. Bel haar op 06-12345678.');

    await body.fill('Ze was blij met het consultatiebureau.');
    await hint.waitFor({ state: 'hidden', timeout: 30000 });

    // A transcript is checked as the story shows it: what looks identifying, said gently.
    const id = await page.evaluate(() => location.hash.match(/#\/story\/([^/]+)\/edit/)?.[1] ?? null);
    assert.ok(id, 'a draft');
    await page.evaluate((i) => window.vertel.device.editStory(i, { transcript: 'Mijn buurvrouw Anja belde vanaf 06-12345678.' }), id);
    await page.evaluate((i) => { location.hash = `#/story/${i}`; }, id);
    await page.locator('#transcript-deid')
      .filter({ hasText: 'Dit lijkt herkenbaar: “Anja” (een naam), “06-12345678” (een telefoonnummer).' })
      .waitFor(WAIT);
    await screenshot(page, 'deid-nl-02-transcript');
  });
});
