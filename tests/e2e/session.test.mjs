// When the session ends (logged out elsewhere, expired), the shell keeps the stories on the
// phone, says so, and asks to log in again; after logging in as the same member they sync. Login
// and enrollment answers: the wait the server asks for after wrong passwords, a common password
// refused at enrollment (issue 10, findings 2, 5 and 14).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, phone, screenshot, PASSWORD } from './harness.mjs';

const WAIT = { timeout: 30000 };

describe('session end in the shell', { timeout: 300000 }, () => {
  const server = new Server();
  let browser;
  let nina;
  let coordinatorToken;
  let kimCode;

  before(async () => {
    const code = server.setUp();
    kimCode = server.cli(['member', 'add', '--workspace', 'e2e', '--email', 'kim@e2e.test', '--role', 'professional', '--name', 'Kim']);
    await server.start();
    const resp = await server.api('POST', '/api/v1/auth/enroll', { body: { code, password: PASSWORD } });
    assert.equal(resp.status, 200);
    coordinatorToken = await server.login('coordinator@e2e.test');
    browser = await launch();
    nina = await phone(browser);
  });

  after(async () => {
    await browser?.close();
    await server.stop();
  });

  async function logIn(page, password = PASSWORD) {
    await page.getByLabel('E-mailadres').fill('nina@e2e.test');
    await page.getByLabel('Wachtwoord', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Inloggen' }).click();
  }

  it('refuses a common password at enrollment, in Dutch', async () => {
    const { page } = nina;
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Eerste keer? Code' }).click();
    await page.getByLabel('Code', { exact: true }).fill(kimCode);
    await page.getByLabel('Nieuw wachtwoord').fill('Welkom12345');
    await page.getByLabel('Wachtwoord nog een keer').fill('Welkom12345');
    await page.getByRole('button', { name: 'Account maken' }).click();
    await page.getByText('Dit wachtwoord is te makkelijk te raden. Kies een ander.').waitFor(WAIT);
    await screenshot(page, 'session-01-common-password');
  });

  it('keeps unsynced stories when the session ends, and syncs them after logging in again', async () => {
    const { page } = nina;
    await page.getByRole('tab', { name: 'Inloggen' }).click();
    await logIn(page);
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    const token = await page.evaluate(() => window.vertel.session.token);

    // Logged out elsewhere (or expired): the server ends the sync connection.
    const ended = Date.now();
    const resp = await server.api('POST', '/api/v1/auth/logout', { token });
    assert.equal(resp.status, 200);
    await page.locator('.bar.expired').waitFor(WAIT);
    assert.ok(Date.now() - ended < 10000, `noticed after ${Date.now() - ended} ms`);
    assert.match(await page.locator('.bar.expired').innerText(), /Je moet opnieuw inloggen\. Je verhalen blijven op dit toestel\./);

    // The phone goes on working: a story made now waits on the device.
    const id = await page.evaluate(() => window.vertel.device.createStory({
      kind: 'parent-story', title: 'Na het verlopen', body: 'Blijft op de telefoon tot ik weer inlog.',
      language: 'nl', captured_at: Date.now(), place_type: null, municipality: null, told_by: null,
      recorded_by: null, persona: null,
      consent: { given: true, how: 'spoken', scope: 'anonymised-in-reports', recorded_at: Date.now() },
    }));
    assert.deepEqual(await page.evaluate(() => window.vertel.device.unconfirmed()), [id]);
    await screenshot(page, 'session-02-expired');

    // Wrong passwords: after five, the shell says how long to wait.
    await page.getByRole('button', { name: 'Opnieuw inloggen' }).click();
    for (let i = 0; i < 5; i++) {
      await logIn(page, `fout-wachtwoord-${i}`);
      await page.getByText('Het e-mailadres of wachtwoord klopt niet.').waitFor(WAIT);
      await page.locator('#login-error').evaluate((e) => { e.textContent = ''; });
    }
    await logIn(page, 'nog-een-gok-123');
    await page.getByText('Te veel pogingen. Probeer het over 2 seconden opnieuw.').waitFor(WAIT);
    await screenshot(page, 'session-03-wait');
    await page.waitForTimeout(2100);

    // The same member logs in again: the story is still there and reaches the server.
    await logIn(page);
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.waitForFunction(() => window.vertel.device.unconfirmed().length === 0, null, WAIT);
    assert.ok(await page.evaluate((i) => window.vertel.device.has(i), id));
    const feed = await server.feed(coordinatorToken);
    assert.ok(feed.some((c) => c.id === id), 'the story kept on the phone reached the server');
  });
});
