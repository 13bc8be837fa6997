// Personas: fictional people who stand for a group (name, age band, situation, needs). Stories link
// to one; a persona's page lists its stories.

import { t, tn, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $, esc, toast } from '../dom.js';
import { AGE_BANDS } from '../codes.js';
import { storyCard } from '../cards.js';

function linkedStories(app, personaId) {
  return app.device.stories()
    .filter((e) => e.persona === personaId)
    .sort((a, b) => b.at - a.at);
}

export function personasView(app, main) {
  function render() {
    const personas = app.device.personas().sort((a, b) => (a.persona?.name ?? '').localeCompare(b.persona?.name ?? ''));
    main.innerHTML = `
      <h1>${icon('persona')} ${t('persona.list-title')}</h1>
      <p class="hint">${t('persona.intro')}</p>
      <ul class="cards" id="personas">${personas.map((p) => {
        const n = linkedStories(app, p.id).length;
        return `<li><a class="card" href="#/persona/${esc(p.id)}"><span class="card-icon">${icon('persona')}</span>
          <span class="card-main"><strong>${esc(p.persona?.name || t('persona.unnamed'))}</strong>
          <span class="meta">${esc([p.persona?.age_band ? t('persona.age', { band: p.persona.age_band }) : '', tn('persona.stories', n)].filter(Boolean).join(' · '))}</span></span></a></li>`;
      }).join('')}</ul>
      ${personas.length ? '' : `<p>${t('persona.none')}</p>`}
      <a href="#/personas/new" class="button big primary">${icon('plus')}<span>${t('persona.new')}</span></a>`;
  }
  render();
  return { onChange: render };
}

export function personaFormView(app, main) {
  main.innerHTML = `
    <form id="persona-form" novalidate>
      <a href="#/personas" class="back">${icon('back')}<span>${t('nav.back')}</span></a>
      <h1>${icon('persona')} ${t('persona.new')}</h1>
      <p class="hint">${t('persona.intro')}</p>
      <label for="p-name">${t('persona.name')}</label>
      <input id="p-name" required autocomplete="off">
      <label for="p-age">${t('persona.age-band')}</label>
      <select id="p-age"><option value="">${t('capture.choose')}</option>${AGE_BANDS.map((b) => `<option value="${esc(b)}">${esc(b)}</option>`).join('')}</select>
      <label for="p-situation">${t('persona.situation')}</label>
      <textarea id="p-situation" rows="4"></textarea>
      <label for="p-needs">${t('persona.needs')}</label>
      <textarea id="p-needs" rows="4"></textarea>
      <p id="form-error" class="error" role="alert"></p>
      <button type="submit" class="big primary">${icon('check')}<span>${t('persona.save')}</span></button>
    </form>`;
  $('#persona-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const name = $('#p-name').value.trim();
    if (!name) {
      $('#form-error').textContent = t('persona.need-name');
      $('#p-name').focus();
      return;
    }
    try {
      const id = await app.device.createPersona({
        name,
        age_band: $('#p-age').value || null,
        situation: $('#p-situation').value,
        needs: $('#p-needs').value,
      });
      toast(t('capture.saved'));
      location.hash = `#/persona/${id}`;
    } catch (e) {
      console.error(e);
      $('#form-error').textContent = t('capture.save-failed');
    }
  };
  return null;
}

export function personaView(app, main, { id }) {
  function render() {
    const view = app.device.views.get(id);
    if (!view?.persona) {
      main.innerHTML = `<a href="#/personas" class="back">${icon('back')}<span>${t('nav.back')}</span></a>
        <p class="error" role="alert">${icon('warning')} ${t('persona.not-found')}</p>`;
      return;
    }
    const p = view.persona;
    const stories = linkedStories(app, id);
    const lang = language();
    main.innerHTML = `
      <a href="#/personas" class="back">${icon('back')}<span>${t('nav.back')}</span></a>
      <h1>${icon('persona')} ${esc(p.name || t('persona.unnamed'))}</h1>
      <dl class="facts">
        ${p.age_band ? `<dt>${t('persona.age-band')}</dt><dd>${esc(p.age_band)}</dd>` : ''}
        ${p.situation ? `<dt>${t('persona.situation')}</dt><dd>${esc(p.situation)}</dd>` : ''}
        ${p.needs ? `<dt>${t('persona.needs')}</dt><dd>${esc(p.needs)}</dd>` : ''}
      </dl>
      <h2>${tn('persona.stories', stories.length)}</h2>
      <ul class="cards" id="persona-stories">${stories.map((v) => storyCard(v, app.uploader, lang)).join('')}</ul>
      <a href="#/new?persona=${esc(id)}" class="button big primary">${icon('plus')}<span>${t('persona.new-story')}</span></a>`;
  }
  render();
  return { onChange: render };
}
