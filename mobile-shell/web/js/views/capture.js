// Capture a story, or edit one afterwards. A new story exists from the first tap: choosing the
// kind creates a draft on the device (drafts.js), and from then on every choice is stored at once
// and every word typed within half a second; a recording is stored second by second. Consent is
// asked before the recording starts (two short sentences with pictograms, one tap for what the
// story may be used for, or the teller's own voice as a short clip). "Indienen" hands the draft
// in; "Later verder" keeps it as it is; "Weggooien" throws it away after a confirmation.
// Shortest voice story: kind, record, consent, stop, hand in (5 taps).
//
// Editing a story that was handed in keeps the explicit "Opslaan" (a coordinator edits on a
// device too). Phases, target groups and activities are the server's taxonomy codes
// (taxonomy.js): a retired activity is never offered, but a story that has one keeps showing it.

import { t, has, language, direction } from '../i18n.js';
import { icon } from '../icons.js';
import { $, $$, esc, toast } from '../dom.js';
import {
  KINDS, PLACES, TELLER_ROLES, CONSENT_HOW, CONSENT_SCOPES, IMPACT_SECTIONS, ABOUT_A_PERSON, LANGUAGES,
} from '../codes.js';
import { VoiceRecorder } from '../recorder.js';
// A namespace import: an older wasm build without findIdentifiers leaves the hint out.
import * as shell from '../../pkg/vertel_shell.js';
import { downscale } from '../photo.js';
import { storyTitle } from '../cards.js';
import { attach, activeTakes, rememberOpen, forgetOpen, discardDraft } from '../drafts.js';

const radio = (name, value, current, body, cls = 'tile') => `<label class="${cls}">
  <input type="radio" name="${name}" value="${esc(value)}" ${value === current ? 'checked' : ''}>${body}</label>`;

const option = (value, label, current) =>
  `<option value="${esc(value)}" ${value === (current ?? '') ? 'selected' : ''}>${esc(label)}</option>`;

function select(id, label, values, prefix, current, emptyLabel) {
  return `<label for="${id}">${label}</label><select id="${id}">${option('', emptyLabel ?? t('capture.choose'), current)}${values
    .map((v) => option(v, t(`${prefix}.${v}`), current)).join('')}</select>`;
}

/** A plain word with the professional term under it, when there is one. */
const plain = (key) => `<span>${t(key)}</span>${has(`${key}.term`) ? `<small class="term">${t(`${key}.term`)}</small>` : ''}`;

/**
 * The options of a taxonomy dimension: what may be chosen now (not retired), and the current
 * value even when it is retired or unknown, so an old story shows what it has.
 */
function taxonomyOptions(taxonomy, dim, current) {
  const offered = taxonomy.offered(dim);
  const extra = current && !offered.some((e) => e.code === current)
    ? option(current, t('capture.no-longer-offered', { name: taxonomy.name(dim, current) }), current) : '';
  return option('', t('capture.choose'), current)
    + offered.map((e) => option(e.code, taxonomy.label(e), current)).join('') + extra;
}

/** The workspace's municipalities (the desk's names), and the story's own when it is not one. */
function municipalityOptions(list, current) {
  const extra = current && !list.includes(current) ? option(current, current, current) : '';
  return option('', t('capture.choose'), current) + list.map((m) => option(m, m, current)).join('') + extra;
}

/** The dimension of each taxonomy field of the form. */
const TAXONOMY_FIELDS = { phase: 'phases', 'target-group': 'target_groups', activity: 'activities' };

const SCOPE_ICON = { 'internal-only': 'shield', 'anonymised-in-reports': 'text', 'may-be-quoted': 'comment' };

/** The municipality this member chose last on this device: the default of a new story. */
const municipalityKey = (session) => `vertel.municipality.${session.member?.id ?? session.member?.email ?? ''}`;

const TYPING_DELAY_MS = 400;

export function captureView(app, main, params) {
  const { device, session, taxonomy } = app;
  let id = params.id ?? null;
  const initialView = id ? device.views.get(id) : null;
  if (id && !initialView?.story) {
    main.innerHTML = `<p class="error" role="alert">${icon('warning')} ${t('story.not-found')}</p>`;
    return null;
  }
  // A draft is written as it is told; a story that was handed in changes only on "Opslaan".
  const draftMode = !id || (initialView.story.review ?? 'draft') === 'draft';
  // What the stored story holds: the baseline edits are compared with.
  let s = initialView?.story ?? {};
  let d = initialView?.details ?? {};
  const personas = device.personas();
  const initialPersona = s.persona ?? params.persona ?? '';
  const initialKind = s.kind ?? (params.persona ? 'persona-story' : '');
  const sections = () => d.sections ?? {};
  const hasSections = Object.keys(sections()).length > 0;
  // The activity a person confirmed (phase:, theme: and group: tags are not activities).
  const activity = (s.tags ?? []).find((tag) => tag.state === 'confirmed' && !tag.code.includes(':'))?.code ?? '';
  const initial = { phase: d.phase ?? '', 'target-group': d.target_group ?? '', activity };
  const taxonomySelect = (fid, label) => `<label for="${fid}">${label}</label>
      <select id="${fid}">${taxonomyOptions(taxonomy, TAXONOMY_FIELDS[fid], initial[fid])}</select>`;
  const municipalities = taxonomy.municipalities();
  const defaultMunicipality = localStorage.getItem(municipalityKey(session)) ?? '';
  const municipality = id ? (s.municipality ?? '') : (municipalities.includes(defaultMunicipality) ? defaultMunicipality : '');
  const existing = id && !draftMode;
  const audioCount = (s.attachments ?? []).filter((a) => a.mime.startsWith('audio/')).length;

  main.innerHTML = `
  <form id="capture" novalidate data-mode="${draftMode ? 'draft' : 'edit'}">
    ${existing ? `<a href="#/story/${esc(id)}" class="back">${icon('back')}<span>${t('nav.back')}</span></a>` : ''}
    <h1>${icon(existing ? 'pen' : 'plus')} ${existing ? t('capture.edit-title') : t('capture.title')}</h1>
    <p class="draft-note" id="draft-note" ${id && draftMode ? '' : 'hidden'}>${icon('phone')}<span>${t('capture.draft-kept')}</span></p>

    <fieldset class="tiles" id="kinds"><legend><span class="step">1</span> ${t('capture.kind')}</legend>
      ${KINDS.map((k) => radio('kind', k.code, initialKind, `${icon(k.icon)}${plain(`kind.${k.code}`)}`)).join('')}
    </fieldset>

    <div id="after-kind" ${initialKind ? '' : 'hidden'}>
    <section id="consent-ask" class="consent-ask" aria-labelledby="h-consent" hidden>
      <h2 id="h-consent" tabindex="-1"><span class="step">2</span> ${icon('shield')} ${t('consent.ask-title')}</h2>
      <p class="pictorow">${icon('shield')}<span>${t('consent.sentence-1')}</span></p>
      <p class="pictorow">${icon('blocked')}<span>${t('consent.sentence-2')}</span></p>
      <div id="consent-voice" class="recorder consent-voice"></div>
      <p class="label" id="scope-label">${t('consent.ask-scope')}</p>
      <div class="scope-buttons" role="group" aria-labelledby="scope-label">
        ${CONSENT_SCOPES.map((c) => `<button type="button" class="scope" data-scope="${c}">${icon(SCOPE_ICON[c])}<span><strong>${t(`consent.scope.${c}`)}</strong><small>${t(`consent.scope.${c}.hint`)}</small></span></button>`).join('')}
      </div>
      <button type="button" class="small no-consent" id="consent-no">${icon('cross')}<span>${t('consent.no')}</span></button>
    </section>
    <p class="consent-done" id="consent-done" hidden></p>

    <fieldset id="how"><legend><span class="step">2</span> ${existing ? t('capture.how-edit') : t('capture.how')}</legend>
      <div id="recorder" class="recorder"></div>
      <p id="kept-audio" class="kept" ${audioCount ? '' : 'hidden'}>${icon('check')}<span>${t('capture.kept-audio', { n: audioCount })}</span></p>
      <div id="body-field">
        <label for="body">${t('capture.body')}</label>
        <textarea id="body" rows="5" dir="auto">${esc(s.body ?? '')}</textarea>
      </div>
      <p id="deid-hint" class="hint deid-hint" role="status" hidden></p>
      <div id="sections-field" hidden>
        <p class="hint">${t('impact.intro')}</p>
        ${IMPACT_SECTIONS.map((code) => `<label for="section-${code}">${t(`impact.${code}`)}</label>
          <p class="hint" id="hint-${code}">${t(`impact.${code}.hint`)}</p>
          <textarea id="section-${code}" data-section="${code}" rows="3" dir="auto" aria-describedby="hint-${code}">${esc(sections()[code] ?? '')}</textarea>`).join('')}
      </div>
    </fieldset>

    <fieldset class="tiles places" id="places"><legend><span class="step">3</span> ${t('capture.place')}</legend>
      ${PLACES.map((p) => radio('place', p, s.place_type ?? '', `${icon(p)}<span>${t(`place.${p}`)}</span>`)).join('')}
    </fieldset>
    <label for="municipality">${icon('anders')} ${t('capture.municipality')}</label>
    <select id="municipality">${municipalityOptions(municipalities, municipality)}</select>

    <details id="more" ${initialPersona || existing ? 'open' : ''}>
      <summary>${icon('plus')} ${t('capture.more')}</summary>
      <label for="title">${t('capture.story-title')}</label>
      <input id="title" value="${esc(s.title ?? '')}" autocomplete="off" dir="auto">
      <fieldset id="consent"><legend>${icon('shield')} ${t('consent.title')}</legend>
        ${select('teller-role', t('consent.who'), TELLER_ROLES, 'role', s.told_by?.role)}
        <label for="teller-name">${t('consent.pseudonym')}</label>
        <input id="teller-name" value="${esc(s.told_by?.name ?? '')}" aria-describedby="pseudonym-hint" autocomplete="off" dir="auto">
        <p class="hint" id="pseudonym-hint">${t('consent.pseudonym-hint')}</p>
        <fieldset class="choices"><legend>${t('consent.how')}</legend>
          ${CONSENT_HOW.map((h) => radio('consent-how', h, s.consent?.how ?? '', `<span>${t(`consent.how.${h}`)}</span>`, 'choice')).join('')}
        </fieldset>
        <fieldset class="choices"><legend>${t('consent.scope')}</legend>
          ${CONSENT_SCOPES.map((c) => radio('consent-scope', c, s.consent?.scope ?? '', `<span><strong>${t(`consent.scope.${c}`)}</strong><br><small>${t(`consent.scope.${c}.hint`)}</small></span>`, 'choice')).join('')}
        </fieldset>
        <label class="check"><input type="checkbox" id="consent-given" ${s.consent?.given ? 'checked' : ''}> ${t('consent.given')}</label>
      </fieldset>
      <label for="persona">${icon('persona')} ${t('capture.persona')}</label>
      <select id="persona">${option('', t('capture.no-persona'), initialPersona)}${personas
        .map((p) => option(p.id, p.persona?.name || t('persona.unnamed'), initialPersona)).join('')}</select>
      ${taxonomySelect('phase', plain('capture.phase'))}
      ${taxonomySelect('target-group', plain('capture.target-group'))}
      ${taxonomySelect('activity', t('capture.activity'))}
      <label for="language">${t('capture.language')}</label>
      <select id="language">${LANGUAGES.map((l) => option(l, t(`lang.${l}`), s.language ?? 'nl')).join('')}</select>
      <p class="label">${icon('camera')} ${t('capture.photos')}</p>
      <div class="row">
        <label class="button" for="photo-camera">${icon('camera')}<span>${t('capture.take-photo')}</span></label>
        <input type="file" id="photo-camera" accept="image/*" capture="environment" class="sr-only">
        <label class="button" for="photo-file">${icon('image')}<span>${t('capture.pick-photo')}</span></label>
        <input type="file" id="photo-file" accept="image/*" multiple class="sr-only">
      </div>
      <ul id="photos" class="photos" aria-label="${t('capture.photos')}"></ul>
    </details>

    <p id="form-error" class="error" role="alert"></p>
    ${draftMode
    ? `<button type="submit" class="big primary" id="hand-in">${icon('send')}<span>${t('capture.hand-in')}</span></button>
      <div class="row draft-actions">
        <a class="button" href="#/" id="later">${icon('list')}<span>${t('capture.later')}</span></a>
        <button type="button" class="danger" id="discard" ${id ? '' : 'hidden'}>${icon('cross')}<span>${t('capture.discard')}</span></button>
      </div>`
    : `<button type="submit" class="big primary" id="save">${icon('check')}<span>${t('capture.save')}</span></button>`}
    </div>
    <dialog id="discard-dialog" aria-labelledby="discard-title">
      <h2 id="discard-title">${icon('warning')} ${t('capture.discard-title')}</h2>
      <p>${t('capture.discard-text')}</p>
      <div class="row">
        <button type="button" id="discard-cancel" class="primary">${icon('back')}<span>${t('capture.discard-cancel')}</span></button>
        <button type="button" id="discard-confirm" class="danger">${icon('cross')}<span>${t('capture.discard-confirm')}</span></button>
      </div>
    </dialog>
  </form>`;

  const form = $('#capture');
  const error = $('#form-error');
  const value = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value ?? '';
  const photos = []; // {blob, url} — only while editing a handed-in story (saved with "Opslaan")
  let left = false;
  let take = null; // the recording in progress: its pieces are stored under [story, take, seq]
  let resumeRecording = false; // consent was asked by "Opnemen": start recording once it is given

  const needsConsent = () => ABOUT_A_PERSON.has(value('kind')) && !(s.consent?.given || $('#consent-given').checked);

  const recorder = new VoiceRecorder($('#recorder'), {
    again: draftMode ? 'rec.more' : 'rec.again',
    start: audioCount && draftMode ? 'rec.more' : 'rec.start',
    // Consent before the first second is recorded.
    onStart: async () => {
      if (!draftMode) return true;
      await ensureDraft();
      if (needsConsent()) {
        resumeRecording = true;
        showConsent(true);
        return false;
      }
      take = Date.now();
      activeTakes.add(`${id}\u0000${take}`);
      return true;
    },
    onChunk: draftMode ? (blob, seq, mime) => app.store.putChunk({ story: id, take, seq, mime, blob }) : null,
    onChange: (r) => {
      if (r.state === 'done' && draftMode) keeping = keepRecording(r);
    },
  });
  let keeping = Promise.resolve(); // the last recording becoming an attachment

  /** The stopped recording becomes an attachment; its stored pieces are then no longer needed. */
  async function keepRecording(r) {
    const storyId = id;
    const thisTake = take;
    take = null;
    try {
      await attach(app, storyId, r.blob, r.blob.type);
      await app.store.deleteTake(storyId, thisTake);
    } catch (e) {
      console.error(e);
      toast(t('capture.save-failed'));
    } finally {
      activeTakes.delete(`${storyId}\u0000${thisTake}`);
    }
  }

  // The teller's consent spoken aloud: a short clip, attached to the story as its consent.
  let consentClip = null;
  let keepingClip = Promise.resolve();
  const consentRecorder = new VoiceRecorder($('#consent-voice'), {
    start: 'consent.record',
    again: 'rec.again',
    onStart: async () => {
      await ensureDraft();
      return true;
    },
    onChange: async (r) => {
      if (r.state !== 'done') return;
      keepingClip = attach(app, id, r.blob, r.blob.type).then((a) => {
        consentClip = a;
      }).catch((e) => {
        console.error(e);
        toast(t('capture.save-failed'));
      });
    },
  });

  function showConsent(focus) {
    const ask = $('#consent-ask');
    ask.hidden = false;
    if (focus) {
      ask.scrollIntoView({ block: 'start' });
      $('#h-consent').focus({ preventScroll: true });
    }
  }

  function layout() {
    const kind = value('kind');
    $('#after-kind').hidden = !kind;
    const impact = kind === 'impact-narrative' && (hasSections || !(s.body ?? '').trim());
    $('#sections-field').hidden = !impact;
    $('#body-field').hidden = impact;
    const about = ABOUT_A_PERSON.has(kind);
    $('#consent').hidden = !about;
    // Ask for consent in plain words before anything is told; once given, one line says so.
    const given = s.consent?.given;
    $('#consent-ask').hidden = !draftMode || !about || given || $('#consent-ask').dataset.closed === '1';
    const done = $('#consent-done');
    done.hidden = !about || !given;
    if (given) done.innerHTML = `${icon('check')}<span>${t('consent.given-line', { scope: t(`consent.scope.${s.consent.scope ?? 'internal-only'}`) })}</span>`;
    if (kind === 'persona-story') $('#more').open = true;
  }

  // ---- the draft: created on the first tap, written as it is told ---------------------------

  let creating = null;
  /** Make sure the draft exists on the device (it does after the first tap on a kind). */
  function ensureDraft() {
    if (id) return Promise.resolve(id);
    if (creating) return creating;
    const newId = device.newId();
    const kind = value('kind') || null;
    creating = (async () => {
      await device.createDraft({
        kind, title: '', body: '', language: 'nl', captured_at: Date.now(),
        place_type: null, municipality: $('#municipality').value || null, told_by: null,
        recorded_by: { role: session.member.role, name: session.member.name },
        consent: null, persona: $('#persona').value || null,
      }, newId);
      id = newId;
      refreshBaseline();
      if (left) return id;
      // The address names the draft: a reload or a crash opens it again.
      history.replaceState(null, '', `#/story/${id}/edit`);
      rememberOpen(id);
      $('#draft-note').hidden = false;
      const discard = $('#discard');
      if (discard) discard.hidden = false;
      return id;
    })();
    return creating;
  }

  function refreshBaseline() {
    const v = device.views.get(id);
    if (!v?.story) return;
    s = v.story;
    d = v.details ?? {};
  }

  /** What the form says, as values comparable with the stored story. */
  function collect() {
    const secs = {};
    if (!$('#sections-field').hidden) {
      for (const el of $$('[data-section]')) {
        if (el.value.trim() || sections()[el.dataset.section] !== undefined) secs[el.dataset.section] = el.value;
      }
    }
    const role = $('#teller-role').value;
    const name = $('#teller-name').value.trim();
    return {
      bodyShown: !$('#body-field').hidden,
      kind: value('kind'),
      body: $('#body').value,
      sections: secs,
      toldBy: role || name ? { role, name } : null,
      title: $('#title').value.trim(),
      place: value('place'),
      persona: $('#persona').value,
      phase: $('#phase').value,
      group: $('#target-group').value,
      activity: $('#activity').value,
      municipality: $('#municipality').value,
      language: $('#language').value || 'nl',
      consentHow: value('consent-how'),
      consentScope: value('consent-scope'),
      consentGiven: $('#consent-given').checked,
    };
  }

  /** The difference between the form and the stored story, as one StoryPatch. */
  function patchOf(v) {
    const patch = {};
    if (v.kind && v.kind !== s.kind) patch.kind = v.kind;
    if (v.title !== (s.title ?? '')) patch.title = v.title;
    if (v.bodyShown && v.body !== (s.body ?? '')) patch.body = v.body;
    if (v.place && v.place !== s.place_type) patch.place_type = v.place;
    if (v.municipality !== (s.municipality ?? '')) patch.municipality = v.municipality;
    if (v.language !== (s.language ?? 'nl')) patch.language = v.language;
    if (v.toldBy && (v.toldBy.role !== (s.told_by?.role ?? '') || v.toldBy.name !== (s.told_by?.name ?? ''))) patch.told_by = v.toldBy;
    if (v.persona !== (s.persona ?? '')) patch.persona = v.persona;
    if (v.phase !== (d.phase ?? '')) patch.phase = v.phase;
    if (v.group !== (d.target_group ?? '')) patch.target_group = v.group;
    const changedSections = Object.fromEntries(Object.entries(v.sections).filter(([k, text]) => text !== (sections()[k] ?? '')));
    if (Object.keys(changedSections).length) patch.sections = changedSections;
    // Consent from the details: the checkbox with how and what for.
    if (ABOUT_A_PERSON.has(v.kind) && v.consentGiven && v.consentHow && v.consentScope) {
      const same = s.consent?.given && s.consent.how === v.consentHow && s.consent.scope === v.consentScope;
      if (!same) patch.consent = { given: true, how: v.consentHow, scope: v.consentScope, recorded_at: Date.now() };
    }
    return patch;
  }

  let saving = Promise.resolve();
  let typingTimer = 0;
  /**
   * Store what changed, one edit at a time, in order. Resolves when it is on the device. The form
   * is read now: when the person leaves the screen it is gone by the time the edit is made.
   */
  function saveDraft() {
    clearTimeout(typingTimer);
    typingTimer = 0;
    const v = value('kind') ? collect() : null;
    saving = saving.then(async () => {
      if (!v) return;
      await ensureDraft();
      refreshBaseline();
      const patch = patchOf(v);
      if (Object.keys(patch).length) await device.editStory(id, patch);
      if (v.activity && v.activity !== initial.activity && !(s.tags ?? []).some((tag) => tag.code === v.activity && tag.state === 'confirmed')) {
        await device.setTag(id, v.activity, 'confirmed', session.member.name);
        initial.activity = v.activity;
      }
      if (v.municipality) localStorage.setItem(municipalityKey(session), v.municipality);
      refreshBaseline();
    }).catch((e) => {
      console.error(e);
      toast(t('capture.save-failed'));
    });
    return saving;
  }

  function typed() {
    if (!draftMode) return;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(saveDraft, TYPING_DELAY_MS);
  }

  // A page that is hidden may never come back (the tab is closed, the phone switched off).
  const flush = () => {
    if (draftMode && typingTimer) saveDraft();
  };
  const onHidden = () => {
    if (document.visibilityState === 'hidden') flush();
  };
  addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', onHidden);

  // Issue 16: a gentle hint when the text names someone, an address or a number ("Dit lijkt een
  // adres"). It blocks nothing: reports and exports make it unrecognisable anyway.
  const hint = $('#deid-hint');
  let hintTimer = null;
  const checkIdentifiers = (text) => {
    clearTimeout(hintTimer);
    hintTimer = setTimeout(() => {
      let found = [];
      try {
        found = typeof shell.findIdentifiers === 'function' ? JSON.parse(shell.findIdentifiers(text)) : [];
      } catch {
        found = [];
      }
      const last = found[found.length - 1];
      hint.hidden = !last;
      if (last) {
        hint.textContent = t('deid.hint', { what: t(`deid.${last.kind}`), text: text.slice(last.start, last.end) });
        hint.dataset.kind = last.kind;
      }
    }, 400);
  };
  form.addEventListener('input', (e) => {
    if (e.target.matches('textarea, input[type="text"], input:not([type])')) typed();
    if (e.target.matches('textarea')) checkIdentifiers(e.target.value);
  });
  form.addEventListener('change', (e) => {
    layout();
    error.textContent = '';
    if (!draftMode) return;
    if (e.target.name === 'kind' && !id) {
      ensureDraft().then(() => saveDraft());
      return;
    }
    if (e.target.type === 'file') return;
    if (e.target.matches('textarea, input[type="text"], input:not([type])')) return;
    saveDraft();
  });
  layout();

  // ---- consent in one tap ----------------------------------------------------------------------

  $('#consent-ask').addEventListener('click', async (e) => {
    const scope = e.target.closest('[data-scope]')?.dataset.scope;
    if (!scope) return;
    if (consentRecorder.busy) await consentRecorder.stop();
    await ensureDraft();
    await saving;
    await keepingClip;
    const consent = { given: true, how: 'spoken', scope, recorded_at: Date.now() };
    try {
      const patch = { consent };
      if (consentClip) patch.consent_clip = consentClip.sha256;
      await device.editStory(id, patch);
    } catch (err) {
      console.error(err);
      toast(t('capture.save-failed'));
      return;
    }
    refreshBaseline();
    // The details say the same.
    $('#consent-given').checked = true;
    for (const r of $$('input[name="consent-scope"]')) r.checked = r.value === scope;
    for (const r of $$('input[name="consent-how"]')) r.checked = r.value === 'spoken';
    layout();
    if (resumeRecording) {
      resumeRecording = false;
      recorder.start();
    }
  });
  $('#consent-no').onclick = () => {
    resumeRecording = false;
    $('#consent-ask').dataset.closed = '1';
    layout();
    toast(t('consent.not-given'));
  };

  // ---- photos ----------------------------------------------------------------------------------

  function renderPhotos() {
    $('#photos').innerHTML = photos
      .map((p, i) => `<li><img src="${p.url}" alt="${t('capture.photo-n', { n: i + 1 })}">${p.kept ? '' : `<button type="button" class="small" data-remove="${i}">${icon('cross')}<span>${t('capture.remove')}</span></button>`}</li>`)
      .join('');
  }
  async function addPhotos(files) {
    for (const file of files) {
      try {
        const { blob } = await downscale(file);
        const photo = { blob, url: URL.createObjectURL(blob), kept: draftMode };
        // In a draft a photo is kept with the story at once.
        if (draftMode) {
          await ensureDraft();
          await attach(app, id, blob, blob.type);
        }
        photos.push(photo);
      } catch (e) {
        console.warn('photo:', e);
        toast(t('capture.photo-failed'));
      }
    }
    renderPhotos();
  }
  $('#photo-camera').onchange = (e) => addPhotos([...e.target.files]);
  $('#photo-file').onchange = (e) => addPhotos([...e.target.files]);
  $('#photos').onclick = (e) => {
    const i = e.target.closest('[data-remove]')?.dataset.remove;
    if (i === undefined) return;
    URL.revokeObjectURL(photos[i].url);
    photos.splice(Number(i), 1);
    renderPhotos();
  };

  function fail(message, focus) {
    error.textContent = message;
    focus?.focus();
    return null;
  }

  // ---- hand in, save, discard ----------------------------------------------------------------

  async function handIn() {
    if (!value('kind')) return fail(t('capture.need-kind'), $('#kinds input'));
    if (recorder.busy) return fail(t('capture.stop-first'), $('#recorder button'));
    await ensureDraft();
    await saveDraft();
    await keeping;
    const v = device.views.get(id);
    const st = v?.story ?? {};
    const text = (st.body ?? '').trim() || Object.values(v?.details?.sections ?? {}).some((x) => x.trim());
    const told = st.attachments?.some((a) => a.mime.startsWith('audio/') && a.sha256 !== v?.details?.consent_clip);
    if (!text && !told && !st.attachments?.length) return fail(t('capture.need-content'), $('#recorder button'));
    if (ABOUT_A_PERSON.has(st.kind) && !st.consent?.given) {
      delete $('#consent-ask').dataset.closed;
      layout();
      showConsent(true);
      return fail(t('capture.need-consent'));
    }
    await device.handIn(id);
    forgetOpen(id);
    toast(t('capture.handed-in'));
    return id;
  }

  async function saveEdit() {
    const v = collect();
    if (!v.kind) return fail(t('capture.need-kind'), $('#kinds input'));
    if (recorder.busy) return fail(t('capture.stop-first'), $('#recorder button'));
    if (ABOUT_A_PERSON.has(v.kind) && !(v.consentGiven && v.consentHow && v.consentScope)) {
      return fail(t('capture.need-consent'), $('#consent-given'));
    }
    const patch = patchOf(v);
    if (Object.keys(patch).length) await device.editStory(id, patch);
    const blobs = [recorder.blob, ...photos.map((p) => p.blob)].filter(Boolean);
    for (const blob of blobs) await attach(app, id, blob, blob.type);
    if (v.activity && !(s.tags ?? []).some((tag) => tag.code === v.activity && tag.state === 'confirmed')) {
      await device.setTag(id, v.activity, 'confirmed', session.member.name);
    }
    toast(t('capture.saved'));
    return id;
  }

  form.onsubmit = async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const button = $('#hand-in') ?? $('#save');
    button.disabled = true;
    try {
      const done = draftMode ? await handIn() : await saveEdit();
      if (done && !left) location.hash = `#/story/${done}`;
    } catch (e) {
      console.error(e);
      fail(String(e?.message ?? e).includes('consent') ? t('capture.need-consent') : t('capture.save-failed'));
    } finally {
      button.disabled = false;
    }
  };

  const dialog = $('#discard-dialog');
  const discard = $('#discard');
  if (discard) discard.onclick = () => dialog.showModal();
  $('#discard-cancel').onclick = () => dialog.close();
  $('#discard-confirm').onclick = async () => {
    dialog.close();
    await saving;
    if (recorder.busy) await recorder.stop();
    await saving;
    if (id) await discardDraft(app, id);
    toast(t('capture.discarded'));
    location.hash = '#/';
  };
  const later = $('#later');
  if (later) later.onclick = () => saveDraft();

  if (id && draftMode) rememberOpen(id);

  /** How many recordings the story keeps (a recording cut off by a crash arrives at start). */
  function showKept() {
    const v = id ? device.views.get(id) : null;
    const clip = v?.details?.consent_clip;
    const n = (v?.story?.attachments ?? []).filter((a) => a.mime.startsWith('audio/') && a.sha256 !== clip).length;
    const el = $('#kept-audio');
    if (!el) return;
    el.hidden = n === 0;
    el.querySelector('span').textContent = t('capture.kept-audio', { n });
  }

  return {
    onChange(detail) {
      if (id && (!detail?.id || detail.id === id)) showKept();
    },
    /**
     * A newer taxonomy arrived: new options and names. What the story had stays; a choice made
     * here stays unless its activity was retired meanwhile.
     */
    onTaxonomy() {
      for (const [fid, dim] of Object.entries(TAXONOMY_FIELDS)) {
        const el = $(`#${fid}`);
        const chosen = el.value;
        const keep = chosen === initial[fid] || taxonomy.offered(dim).some((e) => e.code === chosen);
        el.innerHTML = taxonomyOptions(taxonomy, dim, initial[fid]);
        el.value = keep ? chosen : '';
      }
      const m = $('#municipality');
      const chosen = m.value;
      m.innerHTML = municipalityOptions(taxonomy.municipalities(), chosen);
      m.value = chosen;
    },
    leave() {
      left = true;
      // Leaving the form keeps everything: what was typed is stored now, a recording is stopped
      // and kept.
      flush();
      if (recorder.busy) recorder.stop();
      if (consentRecorder.busy) consentRecorder.stop();
      recorder.release();
      consentRecorder.release();
      removeEventListener('pagehide', flush);
      document.removeEventListener('visibilitychange', onHidden);
      forgetOpen(id);
      for (const p of photos) URL.revokeObjectURL(p.url);
    },
    /** The draft being written: the app reopens it after a reload. */
    get draft() {
      return draftMode ? id : null;
    },
    title: existing ? storyTitle(s) : null,
    lang: language(),
    dir: direction(),
  };
}
