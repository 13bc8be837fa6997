// Capture a new story in half a minute, or edit one afterwards: the kind (with icons), speaking
// (a voice note) or typing, the place, consent before a story about a person can be saved, and
// optional details (title, language, phase, target group, activity, municipality, persona,
// photos). An impact narrative is typed as answers to four guided prompts, stored as sections.
// Phases, target groups and activities are the server's taxonomy codes (taxonomy.js): a retired
// activity is never offered, but a story that has one keeps showing it.

import { t, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $, $$, esc, toast } from '../dom.js';
import {
  KINDS, PLACES, TELLER_ROLES, CONSENT_HOW, CONSENT_SCOPES, IMPACT_SECTIONS, ABOUT_A_PERSON, LANGUAGES,
} from '../codes.js';
import { VoiceRecorder } from '../recorder.js';
import { downscale } from '../photo.js';
import { sha256Hex } from '../device.js';
import { storyTitle } from './list.js';

const radio = (name, value, current, body, cls = 'tile') => `<label class="${cls}">
  <input type="radio" name="${name}" value="${esc(value)}" ${value === current ? 'checked' : ''}>${body}</label>`;

const option = (value, label, current) =>
  `<option value="${esc(value)}" ${value === (current ?? '') ? 'selected' : ''}>${esc(label)}</option>`;

function select(id, label, values, prefix, current, emptyLabel) {
  return `<label for="${id}">${label}</label><select id="${id}">${option('', emptyLabel ?? t('capture.choose'), current)}${values
    .map((v) => option(v, t(`${prefix}.${v}`), current)).join('')}</select>`;
}

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

/** The dimension of each taxonomy field of the form. */
const TAXONOMY_FIELDS = { phase: 'phases', 'target-group': 'target_groups', activity: 'activities' };

export function captureView(app, main, params) {
  const { device, uploader, session, taxonomy } = app;
  const editing = params.id ? device.views.get(params.id) : null;
  if (params.id && !editing?.story) {
    main.innerHTML = `<p class="error" role="alert">${icon('warning')} ${t('story.not-found')}</p>`;
    return null;
  }
  const s = editing?.story ?? {};
  const d = editing?.details ?? {};
  const startedAt = Date.now();
  const personas = device.personas();
  const initialPersona = s.persona ?? params.persona ?? '';
  const initialKind = s.kind ?? (params.persona ? 'persona-story' : '');
  const sections = d.sections ?? {};
  const hasSections = Object.keys(sections).length > 0;
  // The activity a person confirmed (phase:, theme: and group: tags are not activities).
  const activity = (s.tags ?? []).find((tag) => tag.state === 'confirmed' && !tag.code.includes(':'))?.code ?? '';
  const initial = { phase: d.phase ?? '', 'target-group': d.target_group ?? '', activity };
  const taxonomySelect = (id, label) => `<label for="${id}">${label}</label>
      <select id="${id}">${taxonomyOptions(taxonomy, TAXONOMY_FIELDS[id], initial[id])}</select>`;

  main.innerHTML = `
  <form id="capture" novalidate>
    ${editing ? `<a href="#/story/${esc(params.id)}" class="back">${icon('back')}<span>${t('nav.back')}</span></a>` : ''}
    <h1>${icon(editing ? 'pen' : 'plus')} ${editing ? t('capture.edit-title') : t('capture.title')}</h1>
    ${editing ? '' : `<p class="hint">${t('capture.intro')}</p>`}

    <fieldset class="tiles" id="kinds"><legend><span class="step">1</span> ${t('capture.kind')}</legend>
      ${KINDS.map((k) => radio('kind', k.code, initialKind, `${icon(k.icon)}<span>${t(`kind.${k.code}`)}</span>`)).join('')}
    </fieldset>

    <fieldset id="how"><legend><span class="step">2</span> ${editing ? t('capture.how-edit') : t('capture.how')}</legend>
      <div class="tiles two">
        ${radio('mode', 'voice', editing ? 'type' : '', `${icon('mic')}<span>${t('capture.voice')}</span>`)}
        ${radio('mode', 'type', editing ? 'type' : '', `${icon('keyboard')}<span>${t('capture.type')}</span>`)}
      </div>
      <div id="voice-panel" hidden><div id="recorder" class="recorder"></div></div>
      <div id="type-panel" hidden>
        <div id="body-field">
          <label for="body">${t('capture.body')}</label>
          <textarea id="body" rows="6">${esc(s.body ?? '')}</textarea>
        </div>
        <div id="sections-field" hidden>
          <p class="hint">${t('impact.intro')}</p>
          ${IMPACT_SECTIONS.map((code) => `<label for="section-${code}">${t(`impact.${code}`)}</label>
            <p class="hint" id="hint-${code}">${t(`impact.${code}.hint`)}</p>
            <textarea id="section-${code}" data-section="${code}" rows="3" aria-describedby="hint-${code}">${esc(sections[code] ?? '')}</textarea>`).join('')}
        </div>
      </div>
    </fieldset>

    <fieldset class="tiles places" id="places"><legend><span class="step">3</span> ${t('capture.place')}</legend>
      ${PLACES.map((p) => radio('place', p, s.place_type ?? '', `${icon(p)}<span>${t(`place.${p}`)}</span>`)).join('')}
    </fieldset>

    <fieldset id="consent" hidden><legend><span class="step">4</span> ${icon('shield')} ${t('consent.title')}</legend>
      <p class="hint">${t('consent.intro')}</p>
      ${select('teller-role', t('consent.who'), TELLER_ROLES, 'role', s.told_by?.role)}
      <label for="teller-name">${t('consent.pseudonym')}</label>
      <input id="teller-name" value="${esc(s.told_by?.name ?? '')}" aria-describedby="pseudonym-hint" autocomplete="off">
      <p class="hint" id="pseudonym-hint">${t('consent.pseudonym-hint')}</p>
      <fieldset class="choices"><legend>${t('consent.how')}</legend>
        ${CONSENT_HOW.map((h) => radio('consent-how', h, s.consent?.how ?? '', `<span>${t(`consent.how.${h}`)}</span>`, 'choice')).join('')}
      </fieldset>
      <fieldset class="choices"><legend>${t('consent.scope')}</legend>
        ${CONSENT_SCOPES.map((c) => radio('consent-scope', c, s.consent?.scope ?? '', `<span><strong>${t(`consent.scope.${c}`)}</strong><br><small>${t(`consent.scope.${c}.hint`)}</small></span>`, 'choice')).join('')}
      </fieldset>
      <label class="check"><input type="checkbox" id="consent-given" ${s.consent?.given ? 'checked' : ''}> ${t('consent.given')}</label>
    </fieldset>

    <details id="more" ${initialPersona || editing ? 'open' : ''}>
      <summary>${icon('plus')} ${t('capture.more')}</summary>
      <label for="title">${t('capture.story-title')}</label>
      <input id="title" value="${esc(s.title ?? '')}" autocomplete="off">
      <label for="persona">${icon('persona')} ${t('capture.persona')}</label>
      <select id="persona">${option('', t('capture.no-persona'), initialPersona)}${personas
        .map((p) => option(p.id, p.persona?.name || t('persona.unnamed'), initialPersona)).join('')}</select>
      ${taxonomySelect('phase', t('capture.phase'))}
      ${taxonomySelect('target-group', t('capture.target-group'))}
      ${taxonomySelect('activity', t('capture.activity'))}
      <label for="municipality">${t('capture.municipality')}</label>
      <input id="municipality" value="${esc(s.municipality ?? '')}" autocomplete="address-level2">
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
    <button type="submit" class="big primary" id="save">${icon('check')}<span>${t('capture.save')}</span></button>
  </form>`;

  const form = $('#capture');
  const recorder = new VoiceRecorder($('#recorder'));
  const photos = []; // {blob, url}
  const error = $('#form-error');
  const value = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value ?? '';

  function layout() {
    const kind = value('kind');
    const mode = value('mode');
    $('#voice-panel').hidden = mode !== 'voice';
    $('#type-panel').hidden = mode !== 'type';
    const impact = kind === 'impact-narrative' && (hasSections || !(s.body ?? '').trim());
    $('#sections-field').hidden = !impact;
    $('#body-field').hidden = impact;
    $('#consent').hidden = !ABOUT_A_PERSON.has(kind);
    if (kind === 'persona-story') $('#more').open = true;
  }
  form.addEventListener('change', () => {
    layout();
    error.textContent = '';
  });
  layout();

  async function addPhotos(files) {
    for (const file of files) {
      try {
        const { blob } = await downscale(file);
        photos.push({ blob, url: URL.createObjectURL(blob) });
      } catch (e) {
        console.warn('photo:', e);
        toast(t('capture.photo-failed'));
      }
    }
    $('#photos').innerHTML = photos
      .map((p, i) => `<li><img src="${p.url}" alt="${t('capture.photo-n', { n: i + 1 })}"><button type="button" class="small" data-remove="${i}">${icon('cross')}<span>${t('capture.remove')}</span></button></li>`)
      .join('');
  }
  $('#photo-camera').onchange = (e) => addPhotos([...e.target.files]);
  $('#photo-file').onchange = (e) => addPhotos([...e.target.files]);
  $('#photos').onclick = (e) => {
    const i = e.target.closest('[data-remove]')?.dataset.remove;
    if (i === undefined) return;
    URL.revokeObjectURL(photos[i].url);
    photos.splice(Number(i), 1);
    addPhotos([]);
  };

  function fail(message, focus) {
    error.textContent = message;
    focus?.focus();
    return null;
  }

  function collect() {
    const kind = value('kind');
    if (!kind) return fail(t('capture.need-kind'), $('#kinds input'));
    if (recorder.busy) return fail(t('capture.stop-first'), $('#recorder button'));
    const body = $('#body').value;
    const secs = {};
    if (!$('#sections-field').hidden) {
      for (const el of $$('[data-section]')) {
        if (el.value.trim() || sections[el.dataset.section] !== undefined) secs[el.dataset.section] = el.value;
      }
    }
    const hasContent = body.trim() || Object.values(secs).some((v) => v.trim()) || recorder.blob || photos.length || editing;
    if (!hasContent) return fail(t('capture.need-content'), $('#how input'));
    let consent = null;
    let toldBy = null;
    if (ABOUT_A_PERSON.has(kind)) {
      const how = value('consent-how');
      const scope = value('consent-scope');
      if (!$('#consent-given').checked || !how || !scope) return fail(t('capture.need-consent'), $('#consent-given'));
      const unchanged = s.consent?.given && s.consent.how === how && s.consent.scope === scope;
      consent = { given: true, how, scope, recorded_at: unchanged ? s.consent.recorded_at : Date.now() };
    }
    const role = $('#teller-role').value;
    const name = $('#teller-name').value.trim();
    if (role || name) toldBy = { role, name };
    return {
      kind, body, sections: secs, consent, toldBy,
      title: $('#title').value.trim(),
      place: value('place'),
      persona: $('#persona').value,
      phase: $('#phase').value,
      group: $('#target-group').value,
      activity: $('#activity').value,
      municipality: $('#municipality').value.trim(),
      language: $('#language').value || 'nl',
    };
  }

  async function keepBlobs(storyId) {
    const blobs = [];
    if (recorder.blob) blobs.push(recorder.blob);
    for (const p of photos) blobs.push(p.blob);
    const attachments = [];
    for (const blob of blobs) {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const sha256 = sha256Hex(bytes);
      const mime = (blob.type || 'application/octet-stream').split(';')[0];
      await uploader.add({ sha256, mime, size: bytes.length, story: storyId, blob: new Blob([bytes], { type: mime }) });
      attachments.push({ sha256, mime, size: bytes.length });
    }
    return attachments;
  }

  async function saveNew(v) {
    const id = device.newId();
    const attachments = await keepBlobs(id);
    const input = {
      kind: v.kind, title: v.title, body: v.body, language: v.language, captured_at: startedAt,
      place_type: v.place || null, municipality: v.municipality || null, told_by: v.toldBy,
      recorded_by: { role: session.member.role, name: session.member.name },
      consent: v.consent, persona: v.persona || null, phase: v.phase || null,
      target_group: v.group || null, sections: v.sections, attachments,
      activities: v.activity ? [v.activity] : [],
    };
    try {
      await device.createStory(input, id);
    } catch (e) {
      await uploader.forget(attachments.map((a) => a.sha256));
      throw e;
    }
    return id;
  }

  async function saveEdit(v) {
    const id = params.id;
    const patch = {};
    if (v.kind !== s.kind) patch.kind = v.kind;
    if (v.title !== (s.title ?? '')) patch.title = v.title;
    if (!$('#body-field').hidden && v.body !== (s.body ?? '')) patch.body = v.body;
    if (v.place && v.place !== s.place_type) patch.place_type = v.place;
    if (v.municipality !== (s.municipality ?? '')) patch.municipality = v.municipality;
    if (v.language !== (s.language ?? 'nl')) patch.language = v.language;
    if (v.toldBy && (v.toldBy.role !== (s.told_by?.role ?? '') || v.toldBy.name !== (s.told_by?.name ?? ''))) patch.told_by = v.toldBy;
    if (v.consent && JSON.stringify(v.consent) !== JSON.stringify(s.consent)) patch.consent = v.consent;
    if (v.persona !== (s.persona ?? '')) patch.persona = v.persona;
    if (v.phase !== (d.phase ?? '')) patch.phase = v.phase;
    if (v.group !== (d.target_group ?? '')) patch.target_group = v.group;
    const changedSections = Object.fromEntries(Object.entries(v.sections).filter(([k, text]) => text !== (sections[k] ?? '')));
    if (Object.keys(changedSections).length) patch.sections = changedSections;
    if (Object.keys(patch).length) await device.editStory(id, patch);
    for (const a of await keepBlobs(id)) await device.addAttachment(id, a);
    if (v.activity && !(s.tags ?? []).some((tag) => tag.code === v.activity && tag.state === 'confirmed')) {
      await device.setTag(id, v.activity, 'confirmed', session.member.name);
    }
    return id;
  }

  form.onsubmit = async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const v = collect();
    if (!v) return;
    const button = $('#save');
    button.disabled = true;
    try {
      const id = editing ? await saveEdit(v) : await saveNew(v);
      toast(t('capture.saved'));
      location.hash = `#/story/${id}`;
    } catch (e) {
      console.error(e);
      fail(String(e?.message ?? e).includes('consent') ? t('capture.need-consent') : t('capture.save-failed'));
      button.disabled = false;
    }
  };

  return {
    /**
     * A newer taxonomy arrived: new options and names. What the story had stays; a choice made
     * here stays unless its activity was retired meanwhile.
     */
    onTaxonomy() {
      for (const [id, dim] of Object.entries(TAXONOMY_FIELDS)) {
        const el = $(`#${id}`);
        const chosen = el.value;
        const keep = chosen === initial[id] || taxonomy.offered(dim).some((e) => e.code === chosen);
        el.innerHTML = taxonomyOptions(taxonomy, dim, initial[id]);
        el.value = keep ? chosen : '';
      }
    },
    leave() {
      recorder.release();
      for (const p of photos) URL.revokeObjectURL(p.url);
    },
    title: editing ? storyTitle(s) : null,
    lang: language(),
  };
}
