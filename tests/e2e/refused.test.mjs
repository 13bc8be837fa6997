// A story the server does not accept, end to end in Debian's Chromium at 360x640 against a real
// vertel-server. A professional's phone writes what only the server may write (a label "by"
// vertel-tagger), the way a buggy old app would: through the app's own core, store and sync. The
// server refuses that one story and keeps syncing the others over the same connection. The phone
// keeps the story, marks it "niet geaccepteerd door de server" with the server's reason, counts it
// apart from what waits, and offers "Ongedaan maken" (the story then syncs) and "Bewaar als kopie"
// (a new story that syncs; the refused one stays).

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, phone, screenshot, PASSWORD } from './harness.mjs';

const WAIT = { timeout: 30000 };
/** What the server says for a label that is not the member's to write (ownership::Violation::Tags). */
const TAGS_REASON = 'Een label van de coördinator of van de server mag alleen een coördinator veranderen.';

describe('a story the server refuses', { timeout: 300000 }, () => {
  const server = new Server();
  let code;
  let browser;
  let page;
  let coordinatorToken;
  /** Every sync websocket the page opened: the step that opened it and the one that saw it close. */
  const sockets = [];
  let step = 'start';
  const ids = {};

  /** The heads the server stored for each story, from the coordinator's changes feed. */
  async function serverHeads() {
    const feed = await server.feed(coordinatorToken);
    return new Map(feed.map((c) => [c.id, [...c.heads].sort()]));
  }
  /** Wait until the server stored exactly what the phone has of `id` (the phone says confirmed). */
  async function waitStored(id) {
    await page.waitForFunction((id) => window.vertel.device.views.get(id)?.confirmed === true, id, WAIT);
    const heads = await serverHeads();
    assert.ok(heads.has(id), `the server has ${id}`);
    return heads.get(id);
  }

  before(async () => {
    code = server.setUp();
    await server.start();
    coordinatorToken = await server.login('coordinator@e2e.test');
    browser = await launch();
    ({ page } = await phone(browser));
    page.on('websocket', (ws) => {
      const entry = { opened: step, closed: null };
      sockets.push(entry);
      ws.on('close', () => { entry.closed = step; });
    });
  });

  beforeEach((t) => {
    step = t.name;
  });

  after(async () => {
    await browser?.close();
    await server.stop();
  });

  it('enrols and syncs three stories', async () => {
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Eerste keer? Code' }).click();
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByLabel('Nieuw wachtwoord').fill(PASSWORD);
    await page.getByLabel('Wachtwoord nog een keer').fill(PASSWORD);
    await page.getByRole('button', { name: 'Account maken' }).click();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    for (const [key, title] of [['a', 'Inloopochtend'], ['b', 'Taalcafé'], ['c', 'Babymassage']]) {
      ids[key] = await page.evaluate((title) => window.vertel.device.createStory({
        kind: 'impact-narrative',
        title,
        body: 'Moeders komen elke week terug.',
        captured_at: Date.now(),
        recorded_by: { role: 'professional', name: window.vertel.session.member.name },
      }), title);
    }
    for (const id of Object.values(ids)) await waitStored(id);
    await page.locator('#waiting[data-count="0"]').waitFor(WAIT);
    assert.equal(sockets.length, 1);
  });

  it('refuses the forged labels, keeps the stories on the phone and syncs the other story', async () => {
    const before = await serverHeads();
    // A buggy old app writes labels as the server's tagger, and a new title beside one of them.
    await page.evaluate(async ({ a, b, c }) => {
      const d = window.vertel.device;
      await d.setTag(a, 'centering', 'confirmed', 'vertel-tagger');
      await d.editStory(a, { title: 'Inloopochtend in het buurthuis' });
      await d.setTag(c, 'babycafe', 'confirmed', 'vertel-tagger');
      await d.editStory(b, { title: 'Taalcafé in de bibliotheek' });
    }, ids);
    await page.waitForFunction(({ a, c }) => window.vertel.device.views.get(a)?.refused
      && window.vertel.device.views.get(c)?.refused, ids, WAIT);
    const refused = await page.evaluate((a) => window.vertel.device.views.get(a).refused, ids.a);
    assert.deepEqual(refused, { code: 'field-not-yours', message: TAGS_REASON });
    // The other story went through on the same connection.
    const afterB = await waitStored(ids.b);
    assert.notDeepEqual(afterB, before.get(ids.b));
    // The server has nothing of the refused changes.
    const now = await serverHeads();
    assert.deepEqual(now.get(ids.a), before.get(ids.a));
    assert.deepEqual(now.get(ids.c), before.get(ids.c));
    // Kept on the phone, with what the user wrote.
    const a = await page.evaluate((a) => window.vertel.device.views.get(a), ids.a);
    assert.equal(a.story.title, 'Inloopochtend in het buurthuis');
    assert.equal(a.confirmed, false);
  });

  it('shows the refused stories apart in the list, never as synced', async () => {
    // The top bar counts them apart: neither waiting nor "Alles is verstuurd".
    await page.locator('#refused-count').getByText('2 verhalen niet geaccepteerd door de server').waitFor(WAIT);
    assert.equal(await page.locator('#waiting').getAttribute('data-count'), '0');
    assert.equal(await page.locator('#waiting').getAttribute('data-refused'), '2');
    await page.locator('#waiting').getByText('De rest is verstuurd').waitFor(WAIT);
    assert.equal(await page.getByText('Alles is verstuurd').count(), 0);
    // It leads to the list, showing only them.
    await page.locator('#refused-count').click();
    await page.getByText('2 van 3 verhalen').waitFor(WAIT);
    assert.equal(await page.locator(`.card[data-id="${ids.b}"]`).isVisible(), false);
    await page.getByText('2 verhalen zijn niet geaccepteerd door de server. Ze staan nog op dit toestel.').waitFor(WAIT);
    await page.getByRole('button', { name: 'Toon alle verhalen' }).click();
    await page.getByText('3 verhalen', { exact: true }).waitFor(WAIT);
    for (const id of [ids.a, ids.c]) {
      const card = page.locator(`.card[data-id="${id}"]`);
      assert.equal(await card.locator('[data-status]').getAttribute('data-status'), 'refused');
      assert.equal(await card.getByText('Niet geaccepteerd door de server').count(), 1);
    }
    assert.equal(await page.locator(`.card[data-id="${ids.b}"] [data-status="refused"]`).count(), 0);
    await screenshot(page, '30-refused-list');
    await page.getByRole('button', { name: 'Toon deze verhalen' }).click();
    await page.getByText('2 van 3 verhalen').waitFor(WAIT);
    await page.getByRole('button', { name: 'Toon alle verhalen' }).click();
    await page.getByText('3 verhalen', { exact: true }).waitFor(WAIT);
  });

  it('shows the badge and the reason on the story, in Dutch and in English', async () => {
    await page.locator(`.card[data-id="${ids.a}"]`).click();
    await page.getByRole('heading', { name: 'Niet geaccepteerd door de server' }).waitFor(WAIT);
    assert.equal(await page.locator('#story-status [data-status]').getAttribute('data-status'), 'refused');
    assert.equal(await page.locator('#refused-reason').textContent(), TAGS_REASON);
    await page.getByRole('button', { name: 'Ongedaan maken' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Bewaar als kopie' }).waitFor(WAIT);
    await screenshot(page, '31-refused-story');
    await screenshot(page, '31b-refused-story-full', { full: true });

    await page.evaluate(() => { localStorage.setItem('vertel.lang', 'en'); });
    await page.reload();
    await page.getByRole('heading', { name: 'Not accepted by the server' }).waitFor(WAIT);
    assert.equal(await page.locator('#refused-reason').textContent(),
      'It contains a change that only a coordinator or the server may make.');
    await page.getByRole('button', { name: 'Undo' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Keep as a copy' }).waitFor(WAIT);
    await screenshot(page, '32-refused-story-english');
    await page.evaluate(() => { localStorage.setItem('vertel.lang', 'nl'); });
    await page.reload();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    // After the reload the phone pushed the story once more, and the server refused it again.
    await page.getByRole('heading', { name: 'Niet geaccepteerd door de server' }).waitFor(WAIT);
  });

  it('"Ongedaan maken" takes the forged label out, keeps the new title, and the story syncs', async () => {
    await page.getByRole('button', { name: 'Ongedaan maken' }).click();
    await page.waitForFunction((a) => window.vertel.device.views.get(a)?.confirmed === true, ids.a, WAIT);
    await page.locator('#story-status [data-status]:not([data-status="refused"]):not([data-status="local"])').waitFor(WAIT);
    assert.equal(await page.locator('#refused').count(), 0, 'the badge is gone');
    const a = await page.evaluate((a) => window.vertel.device.views.get(a), ids.a);
    assert.equal(a.story.title, 'Inloopochtend in het buurthuis');
    assert.ok(!a.story.tags.some((t) => t.code === 'centering' && t.by === 'vertel-tagger' && t.state === 'confirmed'));
    await waitStored(ids.a);
    await screenshot(page, '33-undone');
  });

  it('"Bewaar als kopie" makes a new story that syncs, and the refused one stays', async () => {
    await page.getByRole('link', { name: 'Verhalen' }).click();
    await page.locator(`.card[data-id="${ids.c}"]`).click();
    await page.getByRole('button', { name: 'Bewaar als kopie' }).click();
    await page.waitForFunction((c) => location.hash.startsWith('#/story/') && !location.hash.includes(c), ids.c, WAIT);
    const copy = decodeURIComponent(await page.evaluate(() => location.hash.slice('#/story/'.length)));
    await page.getByRole('heading', { name: 'Babymassage' }).waitFor(WAIT);
    await waitStored(copy);
    const views = await page.evaluate(({ c, copy }) => [c, copy].map((id) => window.vertel.device.views.get(id)), { c: ids.c, copy });
    assert.ok(views[0].refused, 'the original stays refused');
    assert.equal(views[1].refused, undefined);
    assert.ok(!views[1].story.tags.some((t) => t.by === 'vertel-tagger' && t.state === 'confirmed'), 'not the forged label');
    await page.getByRole('link', { name: 'Verhalen' }).click();
    await page.getByText('1 verhaal is niet geaccepteerd door de server. Het staat nog op dit toestel.').waitFor(WAIT);
    await page.getByText('4 verhalen', { exact: true }).waitFor(WAIT);
    await screenshot(page, '34-copy-kept');
  });

  it('never lost the connection over a refusal', async () => {
    // One websocket from the start, and one after each of the two reloads (the language switch):
    // no refusal ever made the phone connect again.
    const reloads = 'shows the badge and the reason on the story, in Dutch and in English';
    assert.deepEqual(sockets.map((s) => s.opened), ['enrols and syncs three stories', reloads, reloads],
      JSON.stringify(sockets, null, 1));
    assert.ok(!server.log.join('').includes('panicked'), server.log.join(''));
  });
});
