// The mobile shell end to end, as a professional and a coordinator would use it, in Debian's
// Chromium at 360x640 against a real vertel-server: enrol and log in online; go offline; capture a
// typed story and a voice note; reload offline and see both; go online and see both reach the
// server (the voice note's upload cut off halfway and resumed); see a coordinator's edit from
// another device; be warned about unsynced data at logout.
// Phases, target groups and activities are the server's taxonomy (GET /api/v1/taxonomy): its codes
// in the documents, its Dutch names on the screen, retired activities no longer offered.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Server, speechWav, launch, phone, screenshot, pngPhoto, PASSWORD } from './harness.mjs';
import { FALLBACK } from '../../mobile-shell/web/js/taxonomy-data.js';

const WAIT = { timeout: 30000 };

describe('mobile shell', { timeout: 600000 }, () => {
  const server = new Server();
  let code;
  let browser;
  let nina; // the professional's phone: {context, page}
  let cor; // the coordinator's device
  let coordinatorToken;
  const ids = {};

  const conn = (page) => page.locator('#conn');
  const storyIds = (page) =>
    page.evaluate(() => [...window.vertel.device.views.values()].filter((v) => v.type === 'story' && v.story)
      .map((v) => ({ id: v.id, kind: v.story.kind, title: v.story.title, attachments: v.story.attachments })));
  const options = (page, id) =>
    page.locator(`#${id} option`).evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));

  before(async () => {
    code = server.setUp();
    await server.start();
    coordinatorToken = await server.login('coordinator@e2e.test');
    browser = await launch(speechWav(server.dir, 'Mijn dochter slaapt nu beter. Het consultatiebureau hielp ons echt goed.'));
    nina = await phone(browser);
  });

  after(async () => {
    await browser?.close();
    await server.stop();
  });

  it('serves the app shell at / with a service worker that must be revalidated', async () => {
    const index = await server.api('GET', '/');
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<script type="module" src="js\/main.js">/);
    const sw = await server.api('GET', '/sw.js');
    assert.equal(sw.status, 200);
    assert.equal(sw.headers.get('cache-control'), 'no-cache');
    assert.match(sw.headers.get('content-type'), /javascript/);
    const wasm = await fetch(`${server.url}/pkg/vertel_shell_bg.wasm`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('content-encoding'), 'gzip');
  });

  it("ships a built-in taxonomy with exactly the server's codes, names and glosses", async () => {
    const resp = await server.api('GET', '/api/v1/taxonomy', { token: coordinatorToken });
    assert.equal(resp.status, 200);
    const taxonomy = await resp.json();
    for (const dim of ['activities', 'phases', 'target_groups', 'themes']) {
      assert.deepEqual(FALLBACK[dim], taxonomy[dim].map(({ code, name, gloss }) => ({ code, name, gloss })), dim);
    }
    assert.deepEqual(taxonomy.tag_prefixes, { activity: '', phase: 'phase:', theme: 'theme:', target_group: 'group:' });
  });

  it('enrols with the code from `member add`, logs out and logs in again', async () => {
    const { page } = nina;
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Eerste keer? Code' }).click();
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByLabel('Nieuw wachtwoord').fill(PASSWORD);
    await page.getByLabel('Wachtwoord nog een keer').fill(PASSWORD);
    await screenshot(page, '01-enrol');
    await page.getByRole('button', { name: 'Account maken' }).click();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.locator('html[data-offline-ready="1"]').waitFor(WAIT);
    await screenshot(page, '02-stories-empty');

    // Nothing unsynced: logging out says so and wipes the device.
    await page.getByRole('link', { name: 'Instellingen' }).click();
    await page.getByRole('button', { name: 'Uitloggen' }).click();
    const dialog = page.getByRole('dialog');
    await assert.doesNotReject(dialog.getByText('Alles staat op de server').waitFor(WAIT));
    await dialog.getByRole('button', { name: 'Toch uitloggen' }).click();

    await page.getByLabel('E-mailadres').fill('nina@e2e.test');
    await page.getByLabel('Wachtwoord', { exact: true }).fill('fout-wachtwoord');
    await page.getByRole('button', { name: 'Inloggen' }).click();
    await page.getByText('Het e-mailadres of wachtwoord klopt niet.').waitFor(WAIT);
    await page.getByLabel('Wachtwoord', { exact: true }).fill(PASSWORD);
    await screenshot(page, '03-login');
    await page.getByRole('button', { name: 'Inloggen' }).click();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.locator('html[data-offline-ready="1"]').waitFor(WAIT);
    assert.equal(await page.evaluate(() => window.vertel.session.member.email), 'nina@e2e.test');
    // The workspace's taxonomy is fetched after login and kept for offline use.
    await page.waitForFunction(() => window.vertel.taxonomy.source === 'server' && localStorage.getItem('vertel.taxonomy'), null, WAIT);
  });

  it('captures a typed story while offline, and asks for consent first', async () => {
    const { context, page } = nina;
    await context.setOffline(true);
    await page.locator('#conn[data-state="offline"]').waitFor(WAIT);
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await page.getByLabel('Ouderverhaal').check();
    await page.getByLabel('Vertel het verhaal').fill('Op het bankje vertelde ze over de eerste nachten met de baby na de bevalling. De VoorZorg-verpleegkundige komt elke week.');
    await page.getByLabel('Speeltuin').check();
    // The draft is kept from the first tap; handing it in needs consent.
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.getByText('Vraag eerst toestemming').waitFor(WAIT);
    const draft = await storyIds(page);
    assert.equal(draft.length, 1, 'the draft is on the device');
    assert.equal(await page.evaluate((id) => window.vertel.device.views.get(id).story.review, draft[0].id), 'draft', 'not handed in without consent');

    await page.locator('#consent-ask').getByRole('button', { name: /In een verslag, zonder naam/ }).click();
    await page.locator('#consent-done').waitFor(WAIT);
    await page.getByText('Meer vastleggen').click();
    await page.getByLabel('Wie vertelde het?').selectOption('moeder');
    await page.locator('#teller-name').fill('Roos');
    await page.getByLabel('Titel', { exact: true }).fill('Op het bankje');
    // The taxonomy's phases, target groups and activities, by their Dutch names (offline: cached).
    assert.deepEqual(await options(page, 'phase'), [
      { value: '', label: 'Kies…' },
      { value: 'preconceptie', label: 'Vóór de zwangerschap' },
      { value: 'zwangerschap', label: 'Tijdens de zwangerschap' },
      { value: 'na-geboorte', label: 'Na de geboorte' },
    ]);
    const activities = await options(page, 'activity');
    assert.ok(activities.some((o) => o.value === 'voorzorg' && o.label === 'VoorZorg'), JSON.stringify(activities));
    assert.equal(activities.length, 1 + FALLBACK.activities.length, 'every activity of the taxonomy, nothing else');
    await page.getByLabel('Fase').selectOption({ label: 'Na de geboorte' });
    await page.getByLabel('Doelgroep').selectOption({ label: 'Statushouders, vluchtelingen en nieuwkomers' });
    await page.getByLabel('Activiteit').selectOption({ label: 'Stevig Ouderschap' });
    await screenshot(page, '04-capture-typed', { full: true });
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.getByRole('heading', { name: 'Op het bankje' }).waitFor(WAIT);
    await page.locator('#story-status [data-status="local"]').waitFor(WAIT);
    await page.locator('.facts').getByText('Na de geboorte').waitFor(WAIT);
    await page.locator('.facts').getByText('Statushouders, vluchtelingen en nieuwkomers').waitFor(WAIT);
    await screenshot(page, '05-story-local');
    const stories = await storyIds(page);
    assert.equal(stories.length, 1);
    ids.typed = stories[0].id;
    // Taxonomy codes in the document.
    const saved = await page.evaluate((id) => window.vertel.device.views.get(id), ids.typed);
    assert.equal(saved.details.phase, 'na-geboorte');
    assert.equal(saved.details.target_group, 'nieuwkomers');
    assert.deepEqual(saved.story.tags.map((t) => [t.code, t.state]), [['stevig-ouderschap', 'confirmed']]);
  });

  it('records a voice note with a running time, a level meter and pause/resume, offline', async () => {
    const { page } = nina;
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await page.getByLabel('Gesprek in de gemeenschap').check();
    // Consent before the recording starts: "Opnemen" asks for it first.
    await page.getByRole('button', { name: 'Opnemen' }).click();
    await page.locator('#consent-ask').waitFor({ state: 'visible', ...WAIT });
    await page.getByText('Meer vastleggen').click();
    await page.getByLabel('Wie vertelde het?').selectOption('groep');
    await page.locator('#teller-name').fill('Moedergroep');
    await page.locator('#consent-ask').getByRole('button', { name: /Alleen voor ons team/ }).click();
    await page.getByText('Opname loopt').waitFor(WAIT);
    await page.waitForFunction(() => Number(document.querySelector('#recorder').dataset.peak) > 5, null, WAIT);
    await page.waitForFunction(() => document.querySelector('.rec-time')?.textContent >= '0:02', null, WAIT);
    await screenshot(page, '06-recording');
    await page.getByRole('button', { name: 'Pauze' }).click();
    await page.getByText('Gepauzeerd').waitFor(WAIT);
    const paused = await page.locator('.rec-time').textContent();
    await page.waitForTimeout(1500);
    assert.equal(await page.locator('.rec-time').textContent(), paused, 'the time stands still while paused');
    await page.getByRole('button', { name: 'Verder' }).click();
    await page.waitForTimeout(1200);
    await page.getByRole('button', { name: 'Klaar' }).click();
    await page.getByLabel('Opname terugluisteren').waitFor(WAIT);
    await page.getByLabel('Markt').check();
    await page.getByLabel('Op papier').check();
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.locator('#story-status [data-status="local"]').waitFor(WAIT);
    await page.locator('audio').first().waitFor(WAIT);
    const voice = (await storyIds(page)).find((s) => s.kind === 'community-conversation');
    assert.equal(voice.attachments.length, 1);
    assert.match(voice.attachments[0].mime, /^audio\//);
    assert.ok(voice.attachments[0].size > 1000, `a real recording (${voice.attachments[0].size} bytes)`);
    ids.voice = voice.id;
    ids.audio = voice.attachments[0];
    // Truly offline: the server has neither.
    assert.deepEqual(await server.feed(coordinatorToken), []);
  });

  it('shows both stories after a reload while offline', async () => {
    const { page } = nina;
    await page.getByRole('link', { name: 'Verhalen' }).click();
    await page.reload();
    await page.locator('html[data-ready="1"]').waitFor(WAIT);
    await page.locator('#conn[data-state="offline"]').waitFor(WAIT);
    await page.getByText('2 verhalen', { exact: true }).waitFor(WAIT);
    assert.equal(await page.evaluate(() => window.vertel.taxonomy.source), 'cache', 'the taxonomy fetched online serves offline');
    assert.equal(await page.locator('.card [data-status="local"]').count(), 2);
    await page.getByText('2 verhalen staan alleen op dit toestel').waitFor(WAIT);
    await screenshot(page, '07-stories-offline');
    // Search and filters on the device.
    await page.getByLabel('Zoeken in verhalen').fill('bankje');
    await page.getByText('1 van 2 verhalen').waitFor(WAIT);
    await page.getByLabel('Zoeken in verhalen').fill('');
    await page.getByRole('button', { name: 'Filters', exact: true }).click();
    await page.getByLabel('Plek', { exact: true }).selectOption('markt');
    await page.getByText('1 van 2 verhalen').waitFor(WAIT);
    assert.equal(await page.locator('.card:visible').getAttribute('data-id'), ids.voice);
    await screenshot(page, '08-filters');
    await page.getByRole('button', { name: 'Filters wissen' }).click();
    await page.getByText('2 verhalen', { exact: true }).waitFor(WAIT);
  });

  it('sends both to the server when the connection returns, resuming an upload cut off halfway', async () => {
    const { context, page } = nina;
    // The voice note's first append is cut off halfway: half of its bytes reach the server, then
    // the connection breaks. The uploader must ask the server where it stands (HEAD) and go on
    // from there; the server checks the whole file's sha256 at the end.
    const requests = [];
    let cut = null;
    await page.route('**/api/v1/uploads/**', async (route) => {
      const req = route.request();
      requests.push(req.method());
      const body = req.postDataBuffer();
      if (req.method() === 'PATCH' && !cut && body && body.length > 1) {
        const half = body.subarray(0, Math.floor(body.length / 2));
        const resp = await route.fetch({ postData: half });
        cut = { sent: half.length, of: body.length, status: resp.status(), offset: resp.headers()['upload-offset'] };
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    });
    await context.setOffline(false);
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.locator('#waiting[data-count="0"]').waitFor(WAIT);
    await page.waitForFunction(() => document.querySelectorAll('.card [data-status="local"]').length === 0, null, WAIT);
    const feed = await server.feed(coordinatorToken);
    assert.deepEqual(feed.map((c) => c.id).sort(), [ids.typed, ids.voice].sort());
    // The voice note's bytes reach the blob store, exactly as recorded.
    await page.waitForFunction(() => window.vertel.uploader.pending().length === 0, null, WAIT);
    const blob = await server.api('GET', `/api/v1/blobs/${ids.audio.sha256}?story=${ids.voice}`, { token: coordinatorToken });
    assert.equal(blob.status, 200);
    const bytes = Buffer.from(await blob.arrayBuffer());
    assert.equal(bytes.length, ids.audio.size);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), ids.audio.sha256);
    assert.ok(cut, `an append was cut off (requests: ${requests})`);
    assert.deepEqual([cut.status, Number(cut.offset)], [204, cut.sent], 'the server kept the first half');
    const after = requests.slice(requests.indexOf('PATCH') + 1);
    assert.equal(after[0], 'HEAD', `the uploader asked where to go on (requests: ${requests})`);
    assert.ok(after.includes('PATCH'), 'and sent the rest');
    await page.unroute('**/api/v1/uploads/**');
    await screenshot(page, '09-stories-synced');
  });

  it("shows the tagger's suggestions by name, and stops offering a retired activity", async () => {
    const { page } = nina;
    // The server's tagger read "VoorZorg" and "na de bevalling" in the story: its suggestions,
    // under their Dutch names.
    await page.locator(`.card[data-id="${ids.typed}"]`).click();
    const suggestion = page.locator('.tag[data-code="voorzorg"]');
    await suggestion.waitFor(WAIT);
    assert.equal(await suggestion.locator('strong').textContent(), 'VoorZorg');
    assert.match(await suggestion.textContent(), /voorstel/);
    assert.equal(await page.evaluate((id) => window.vertel.device.views.get(id).story.tags.find((t) => t.code === 'voorzorg')?.by, ids.typed), 'vertel-tagger');
    const phase = page.locator('.tag[data-code="phase:na-geboorte"]');
    await phase.waitFor(WAIT);
    assert.equal(await phase.locator('.tag-dim').textContent(), 'Fase:');
    assert.equal(await phase.locator('strong').textContent(), 'Na de geboorte');
    // The phase was chosen in the form: the tagger's same suggestion is not asked again.
    assert.equal(await phase.getAttribute('data-own'), '1');
    assert.equal(await phase.getByRole('button').count(), 0);
    assert.match(await phase.textContent(), /door jou gekozen/);

    // A coordinator retires an activity; "Nu synchroniseren" fetches the taxonomy again.
    const retired = await server.api('DELETE', '/api/v1/activities/stevig-ouderschap', { token: coordinatorToken });
    assert.equal(retired.status, 200);
    await page.getByRole('button', { name: 'Nu synchroniseren' }).click();
    await page.waitForFunction(() => window.vertel.taxonomy.entry('activities', 'stevig-ouderschap')?.retired, null, WAIT);
    // The old story still shows it by name ...
    assert.equal(await page.locator('.tag[data-code="stevig-ouderschap"] strong').textContent(), 'Stevig Ouderschap');
    await screenshot(page, '09b-story-tags', { full: true });
    // ... and its edit form too, as no longer in use ...
    await page.getByRole('link', { name: 'Bewerken' }).click();
    assert.equal(await page.getByLabel('Activiteit').inputValue(), 'stevig-ouderschap');
    assert.equal(await page.locator('#activity option:checked').textContent(), 'Stevig Ouderschap (niet meer in gebruik)');
    // ... but a new story cannot have it.
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await page.getByLabel('Ouderverhaal').waitFor(WAIT);
    const offered = (await options(page, 'activity')).map((o) => o.value);
    assert.ok(offered.includes('voorzorg'));
    assert.ok(!offered.includes('stevig-ouderschap'), 'a retired activity is not offered');
    await page.getByRole('link', { name: 'Verhalen' }).click();
  });

  it("shows a coordinator's edit made on a second device", async () => {
    cor = await phone(browser);
    const { page } = cor;
    await page.goto(server.url);
    await page.getByLabel('E-mailadres').fill('coordinator@e2e.test');
    await page.getByLabel('Wachtwoord', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Inloggen' }).click();
    await page.locator('#conn[data-state="online"]').waitFor(WAIT);
    await page.getByText('2 verhalen', { exact: true }).waitFor(WAIT);
    await page.locator(`.card[data-id="${ids.typed}"]`).click();
    await page.getByRole('heading', { name: 'Op het bankje' }).waitFor(WAIT);
    await page.getByRole('link', { name: 'Bewerken' }).click();
    await page.getByLabel('Titel', { exact: true }).fill('Op het bankje in de speeltuin');
    await screenshot(page, '10-coordinator-edit');
    await page.getByRole('button', { name: 'Opslaan' }).click();
    await page.getByRole('heading', { name: 'Op het bankje in de speeltuin' }).waitFor(WAIT);

    const phonePage = nina.page;
    await phonePage.locator(`.card[data-id="${ids.typed}"]`).getByText('Op het bankje in de speeltuin').waitFor(WAIT);
    await phonePage.locator(`.card[data-id="${ids.typed}"]`).click();
    await phonePage.getByRole('heading', { name: 'Op het bankje in de speeltuin' }).waitFor(WAIT);
    // The tagger's suggestion, confirmed on the phone.
    await phonePage.locator('.tag[data-code="voorzorg"]').getByRole('button', { name: 'Klopt', exact: true }).click();
    await phonePage.locator('.tag-confirmed[data-code="voorzorg"]').waitFor(WAIT);
    await screenshot(phonePage, '11-story-edited-by-coordinator');
    await page.waitForFunction(
      (id) => window.vertel.device.views.get(id)?.story.tags.some((t) => t.code === 'voorzorg' && t.state === 'confirmed'),
      ids.typed, WAIT);

    // A transcript arrives on the phone and is corrected there.
    await page.waitForFunction((id) => window.vertel.device.has(id), ids.voice, WAIT);
    await page.evaluate((id) => window.vertel.device.editStory(id, { transcript: 'Mijn dochter slaapt nu beter.' }), ids.voice);
    await phonePage.getByRole('link', { name: 'Verhalen' }).click();
    await phonePage.locator(`.card[data-id="${ids.voice}"]`).click();
    // A story told by voice without a typed title is called by the transcript's first words.
    await phonePage.getByRole('heading', { name: 'Mijn dochter slaapt nu beter.' }).waitFor(WAIT);
    await phonePage.locator('#transcript-body').getByText('Mijn dochter slaapt nu beter.').waitFor(WAIT);
    await phonePage.getByRole('button', { name: 'Tekst verbeteren' }).click();
    await phonePage.getByLabel('Verbeter de tekst').fill('Mijn dochter slaapt nu veel beter.');
    await phonePage.getByRole('button', { name: 'Opslaan' }).click();
    await phonePage.locator('#transcript-body').getByText('Mijn dochter slaapt nu veel beter.').waitFor(WAIT);
    await phonePage.getByText('Verbeterd', { exact: true }).waitFor(WAIT);
    await screenshot(phonePage, '12-transcript-corrected');
    await page.waitForFunction(
      (id) => window.vertel.device.views.get(id)?.story.transcript?.text === 'Mijn dochter slaapt nu veel beter.',
      ids.voice, WAIT);
  });

  it('keeps impact narratives as sections and links stories to personas', async () => {
    const { page } = nina;
    await page.getByRole('link', { name: "Persona's" }).click();
    await page.getByRole('link', { name: 'Nieuwe persona' }).click();
    await page.getByLabel('Naam', { exact: true }).fill('Samira');
    await page.getByLabel('Leeftijd').selectOption('18-25');
    await page.getByLabel('Situatie').fill('Net in Nederland, eerste kind.');
    await page.getByLabel('Wat heeft deze persoon nodig?').fill('Uitleg in eigen taal.');
    await page.getByRole('button', { name: 'Persona opslaan' }).click();
    await page.getByRole('heading', { name: 'Samira' }).waitFor(WAIT);
    await page.getByRole('link', { name: 'Nieuw verhaal bij deze persona' }).click();
    await page.getByLabel('Impactverhaal').check();
    await page.getByLabel('Wat hebben jullie gedaan?').fill('Een inloopochtend in het buurthuis.');
    await page.getByLabel('Wat is er veranderd, en voor wie?').fill('Moeders kennen elkaar nu.');
    await page.getByLabel('Buurthuis').check();
    await page.getByLabel('Titel', { exact: true }).fill('Inloopochtend');
    // A photo, made smaller on the device before it is kept.
    await page.locator('#photo-file').setInputFiles({ name: 'foto.png', mimeType: 'image/png', buffer: pngPhoto(2400, 1800) });
    await page.locator('#photos img').waitFor(WAIT);
    await screenshot(page, '13-capture-impact', { full: true });
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.getByRole('heading', { name: 'Inloopochtend' }).waitFor(WAIT);
    await page.getByText('Moeders kennen elkaar nu.').waitFor(WAIT);
    await page.getByRole('link', { name: 'Samira' }).click();
    await page.locator('#persona-stories .card').getByText('Inloopochtend').waitFor(WAIT);
    await screenshot(page, '14-persona');
    const impact = await page.evaluate(() => [...window.vertel.device.views.values()].find((v) => v.story?.kind === 'impact-narrative'));
    assert.equal(impact.details.sections['what-we-did'], 'Een inloopochtend in het buurthuis.');
    assert.ok(impact.story.persona);
    assert.equal(impact.story.attachments.length, 1);
    assert.equal(impact.story.attachments[0].mime, 'image/jpeg');
    const size = await page.evaluate(async (sha) => {
      const rec = await window.vertel.store.getBlob(sha);
      const bitmap = await createImageBitmap(rec.blob);
      return [bitmap.width, bitmap.height];
    }, impact.story.attachments[0].sha256);
    assert.deepEqual(size, [1600, 1200], 'downscaled to 1600 px on the longest side');
  });

  it('warns before a logout would lose unsynced stories', async () => {
    const { context, page } = nina;
    await context.setOffline(true);
    await page.locator('#conn[data-state="offline"]').waitFor(WAIT);
    await page.getByRole('link', { name: 'Nieuw', exact: true }).click();
    await page.getByLabel('Personaverhaal').check();
    await page.getByLabel('Vertel het verhaal').fill('Nog niet verstuurd.');
    await page.getByRole('button', { name: 'Indienen' }).click();
    await page.locator('#story-status [data-status="local"]').waitFor(WAIT);
    await page.getByRole('link', { name: 'Instellingen' }).click();
    await page.getByRole('button', { name: 'Uitloggen' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('1 verhaal is nog niet naar de server gestuurd.').waitFor(WAIT);
    await screenshot(page, '15-logout-warning');
    await dialog.getByRole('button', { name: 'Niet uitloggen' }).click();
    assert.equal(await dialog.isVisible(), false);
    assert.equal((await storyIds(page)).length, 4, 'nothing was wiped');
    // English beside Dutch.
    await page.getByLabel('English').check();
    await page.getByRole('heading', { name: 'Settings' }).waitFor(WAIT);
    await screenshot(page, '16-settings-english');
    // Taxonomy names in English are its glosses.
    await page.evaluate((id) => { location.hash = `#/story/${id}`; }, ids.typed);
    await page.locator('.tag[data-code="voorzorg"] strong').getByText('VoorZorg (nurse home visiting for young first-time mothers)').waitFor(WAIT);
    await page.locator('.facts').getByText('After birth (up to the second birthday)').waitFor(WAIT);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Nederlands').check();
    await page.getByRole('heading', { name: 'Instellingen' }).waitFor(WAIT);
  });
});
