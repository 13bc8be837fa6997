// One story: what reached the server (a story the server did not accept says so first, with the
// server's reason, and offers to undo the refused change or keep a copy), where it is in the
// coordinators' review (a story sent back
// stands out, with the coordinator's comment, a reply and "submit again"), its facts, text or
// impact sections, voice notes and photos, the transcript (correctable), tags suggested by the
// server (confirm or reject): activities, and the phase, themes and target groups, each shown by
// its name in the taxonomy (taxonomy.js), and the comments.

import { t, has, language } from '../i18n.js';
import { icon } from '../icons.js';
import { $, esc, formatDate, toast } from '../dom.js';
import { KINDS, IMPACT_SECTIONS } from '../codes.js';
import { storyStatus, statusChip } from '../status.js';
import { TAG_PREFIXES } from '../taxonomy.js';
import { storyTitle, entryOf } from '../cards.js';
import { reviewState, reviewChip, returnComment, commentElement, MAX_COMMENT_CHARS } from '../review.js';
// A namespace import: an older wasm build without findIdentifiers shows no transcript hint.
import * as shell from '../../pkg/vertel_shell.js';

/** What in `text` looks like a name, an address or a number (issue 16): [{start, end, kind}]. */
function identifying(text) {
  try {
    return typeof shell.findIdentifiers === 'function' ? JSON.parse(shell.findIdentifiers(text)) : [];
  } catch {
    return [];
  }
}

/** Issue 16: the transcript is checked as it is shown: what looks identifying, said gently. */
function transcriptHint(text) {
  const found = identifying(text);
  if (!found.length) return '';
  const list = found.slice(0, 8).map((f) => `“${text.slice(f.start, f.end)}” (${t(`deid.${f.kind}`)})`).join(', ');
  return `<p class="hint deid-hint" id="transcript-deid" role="note">${esc(t('deid.transcript', { list }))}</p>`;
}

const KIND_ICON = Object.fromEntries(KINDS.map((k) => [k.code, k.icon]));

function paragraphs(text) {
  return String(text ?? '').split(/\n+/).filter((p) => p.trim()).map((p) => `<p>${esc(p)}</p>`).join('');
}

function label(prefix, code) {
  return code ? t(`${prefix}.${code}`) : '';
}

/** A tag's name; a tag that is not an activity says what it is first (`Fase`, `Thema`, `Doelgroep`). */
function tagLabel(taxonomy, code) {
  const tag = taxonomy.tag(code);
  // `phase:…`, `theme:…`, `group:…` (TAG_PREFIXES): say which.
  const prefix = TAG_PREFIXES[tag.dim].replace(':', '');
  const dim = prefix ? `<span class="tag-dim">${t(`tag.dim.${prefix}`)}:</span> ` : '';
  return `${dim}<strong>${esc(tag.name)}</strong>`;
}

/** Object URLs for attachments: this device's copy, else the server's (when reachable). */
async function mediaUrl(app, storyId, a) {
  const local = await app.store.getBlob(a.sha256);
  if (local?.blob) return URL.createObjectURL(local.blob);
  if (!navigator.onLine) return null;
  const resp = await fetch(`/api/v1/blobs/${encodeURIComponent(a.sha256)}?story=${encodeURIComponent(storyId)}`, {
    headers: { authorization: `Bearer ${app.session.token}` },
  });
  if (!resp.ok) return null;
  return URL.createObjectURL(await resp.blob());
}

export function storyView(app, main, { id }) {
  const urls = new Map(); // sha256 → object URL (or null: not to be had now)
  const tried = new Map(); // sha256 → when it was last fetched
  let editingTranscript = false;
  let replyDraft = ''; // what is typed in the reply box: kept when the screen renders anew
  let replyBusy = false;
  let left = false; // the user went to another screen

  /** The review: its state in words; a story sent back gets the notice, the comment and the reply. */
  function reviewHtml(state) {
    if (!state) return '';
    if (state !== 'returned') {
      return `<section class="review" id="review" aria-labelledby="h-review">
        <h2 id="h-review" tabindex="-1">${t('review.title')}</h2>
        <p>${reviewChip(state)}</p>
        <p class="hint">${t(`review.hint.${state}`)}</p></section>`;
    }
    return `<section class="review review-returned" id="review" aria-labelledby="h-review">
      <h2 id="h-review" tabindex="-1">${icon('undo')} ${t('review.returned-title')}</h2>
      <p>${reviewChip(state, { label: true })}</p>
      <div id="return-comment"></div>
      <p>${t('review.returned-what')}</p>
      <label for="reply-text">${t('review.reply-label')}</label>
      <p class="hint" id="reply-hint">${t('review.reply-hint')}</p>
      <textarea id="reply-text" rows="4" maxlength="${MAX_COMMENT_CHARS}" aria-describedby="reply-hint reply-error"></textarea>
      <p class="error" id="reply-error" role="alert"></p>
      <button type="button" class="primary big" id="resubmit">${icon('send')}<span>${t('review.resubmit')}</span></button>
      <button type="button" class="big" id="reply-only">${icon('comment')}<span>${t('review.reply-only')}</span></button>
    </section>`;
  }

  /** The refusal: the badge's words, the server's reason, and the two ways out. */
  function refusedHtml(refused) {
    if (!refused) return '';
    // "Undo" puts back fields that belong to someone else; for a refusal about size or unreadable
    // changes there is nothing to put back, so only the copy is offered.
    const undo = refused.code === 'too-large' || refused.code === 'invalid' ? '' : `
      <button type="button" class="primary big" id="refused-undo">${icon('undo')}<span>${t('refused.undo')}</span></button>
      <p class="hint">${t('refused.undo-hint')}</p>`;
    return `<section class="refused" id="refused" aria-labelledby="h-refused" data-code="${esc(refused.code)}">
      <h2 id="h-refused" tabindex="-1">${icon('blocked')} ${t('refused.title')}</h2>
      <p class="refused-reason"><span class="sr-only">${t('refused.reason')} </span><span id="refused-reason"></span></p>
      <p>${t('refused.kept')}</p>
      <p>${t('refused.choose')}</p>
      ${undo}
      <button type="button" class="big" id="refused-copy">${icon('copy')}<span>${t('refused.copy')}</span></button>
      <p class="hint">${t('refused.copy-hint')}</p>
      <p class="error" id="refused-error" role="alert"></p>
    </section>`;
  }

  /** The server's reason in the user's language: its own Dutch words, or ours for its code. */
  function refusedReason(refused) {
    const known = has(`refused.reason.${refused.code}`) ? `refused.reason.${refused.code}` : null;
    if (language() === 'nl' && refused.message?.trim()) return refused.message;
    return t(known ?? 'refused.reason.other');
  }

  async function resolveRefusal(how) {
    const buttons = [$('#refused-undo'), $('#refused-copy')].filter(Boolean);
    for (const b of buttons) b.disabled = true;
    try {
      if (how === 'undo') {
        await app.device.undoRefused(id);
        toast(t('refused.undone'));
      } else {
        const copy = await app.device.keepCopy(id);
        await app.uploader.reassign(id, copy);
        toast(t('refused.copied'));
        if (!left) location.hash = `#/story/${copy}`;
        return;
      }
    } catch (e) {
      console.error(e);
      if (left) return;
      for (const b of buttons) b.disabled = false;
      const err = $('#refused-error');
      if (err) err.textContent = t('refused.failed');
      return;
    }
    if (left) return;
    render();
    // The section with the buttons is gone: show where the story stands now, from the top.
    window.scrollTo(0, 0);
    $('#story-status')?.focus({ preventScroll: true });
  }

  async function reply(resubmit) {
    const box = $('#reply-text');
    const error = $('#reply-error');
    const text = box.value.trim();
    error.textContent = '';
    if (!text && !resubmit) {
      error.textContent = t('review.need-text');
      box.focus();
      return;
    }
    if ([...text].length > MAX_COMMENT_CHARS) {
      error.textContent = t('review.too-long', { max: MAX_COMMENT_CHARS });
      box.focus();
      return;
    }
    replyBusy = true;
    for (const b of [$('#resubmit'), $('#reply-only')]) b.disabled = true;
    try {
      await app.device.replyToReview(id, { text, author: app.session.member?.name ?? '', resubmit });
    } catch (e) {
      console.error(e);
      replyBusy = false;
      if (left) return;
      for (const b of [$('#resubmit'), $('#reply-only')]) if (b) b.disabled = false;
      const err = $('#reply-error');
      if (err) err.textContent = t('review.failed');
      return;
    }
    replyBusy = false;
    replyDraft = '';
    toast(t(resubmit ? 'review.resubmitted' : 'review.replied'));
    if (left) return;
    render();
    // Say where the story stands now: focus the review's heading.
    $('#h-review')?.focus();
  }

  function render() {
    const view = app.device.views.get(id);
    if (!view?.story) {
      main.innerHTML = `<a href="#/" class="back">${icon('back')}<span>${t('nav.back')}</span></a>
        <p class="error" role="alert">${icon('warning')} ${t('story.not-found')}</p>`;
      return;
    }
    const s = view.story;
    const d = view.details ?? {};
    const lang = language();
    const review = reviewState(s);
    const comments = s.comments ?? [];
    // Keep what is being typed in the reply box (and the caret) across a render.
    const typing = document.activeElement?.id === 'reply-text' ? document.activeElement : null;
    const caret = typing ? [typing.selectionStart, typing.selectionEnd] : null;
    const status = storyStatus(entryOf(view), app.uploader);
    const draft = (s.review ?? 'draft') === 'draft';
    // What the person chose themselves is not asked again: a suggestion of the server's tagger
    // that says the same (the phase or target group chosen in the form) counts as agreed.
    const ownChoice = new Set([d.phase ? `phase:${d.phase}` : '', d.target_group ? `group:${d.target_group}` : ''].filter(Boolean));
    const persona = s.persona ? app.device.views.get(s.persona) : null;
    const facts = [
      ['kind', label('kind', s.kind)],
      ['date', formatDate(s.captured_at, lang)],
      ['place', label('place', s.place_type)],
      ['municipality', s.municipality],
      ['teller', s.told_by ? [label('role', s.told_by.role), s.told_by.name].filter(Boolean).join(', ') : ''],
      ['consent', s.consent?.given ? `${label('consent.how', s.consent.how)} · ${label('consent.scope', s.consent.scope)}` : ''],
      ['phase', app.taxonomy.name('phases', d.phase)],
      ['target-group', app.taxonomy.name('target_groups', d.target_group)],
      ['recorded-by', s.recorded_by?.name],
    ].filter(([, v]) => v);
    const sectionCodes = [...IMPACT_SECTIONS, ...Object.keys(d.sections ?? {}).filter((c) => !IMPACT_SECTIONS.includes(c))];
    const sectionHtml = sectionCodes
      .filter((c) => d.sections?.[c]?.trim())
      .map((c) => `<h3>${esc(has(`impact.${c}`) ? t(`impact.${c}`) : c)}</h3>${paragraphs(d.sections[c])}`)
      .join('');
    const audio = s.attachments.filter((a) => a.mime.startsWith('audio/'));
    const images = s.attachments.filter((a) => a.mime.startsWith('image/'));
    const media = (a, i) => {
      const url = urls.get(a.sha256);
      if (url === undefined) return `<p class="hint">${t('story.media-loading')}</p>`;
      if (url === null) return `<p class="hint">${icon('offline')} ${t('story.media-offline')}</p>`;
      return a.mime.startsWith('audio/')
        ? `<audio controls src="${url}" aria-label="${t('story.voice-n', { n: i + 1 })}"></audio>`
        : `<img src="${url}" alt="${t('capture.photo-n', { n: i + 1 })}">`;
    };
    const tr = s.transcript;
    const running = (d.transcriptions ?? []).find((x) => x.status === 'queued' || x.status === 'running');
    const failed = (d.transcriptions ?? []).find((x) => x.status === 'failed');
    const silent = (d.transcriptions ?? []).find((x) => x.status === 'done' && x.reason === 'no-speech');
    let transcript = '';
    if (editingTranscript) {
      transcript = `<label for="transcript-text">${t('transcript.edit-label')}</label>
        <textarea id="transcript-text" rows="6">${esc(tr?.text ?? '')}</textarea>
        <div class="row"><button type="button" class="primary" id="transcript-save">${icon('check')}<span>${t('transcript.save')}</span></button>
        <button type="button" id="transcript-cancel">${icon('cross')}<span>${t('transcript.cancel')}</span></button></div>`;
    } else if (tr?.text) {
      transcript = `<p class="chip">${icon(tr.state === 'automatic' ? 'hourglass' : 'check')}<span>${t(`transcript.state.${tr.state ?? 'automatic'}`)}</span></p>
        <div class="transcript" id="transcript-body">${paragraphs(tr.text)}</div>
        ${transcriptHint(tr.text)}
        <button type="button" id="transcript-edit">${icon('pen')}<span>${t('transcript.correct')}</span></button>`;
    } else if (running) {
      transcript = `<p>${icon('hourglass')} ${t('status.transcribing', { percent: running.progress ?? 0 })}</p>`;
    } else if (failed) {
      const why = failed.reason && has(`transcript.failed.${failed.reason}`) ? ` ${t(`transcript.failed.${failed.reason}`)}` : '';
      transcript = `<p>${icon('warning')} ${t('transcript.failed')}${why}</p>`;
    } else if (silent) {
      transcript = `<p class="hint">${t('transcript.no-speech')}</p>`;
    } else if (audio.length) {
      transcript = `<p class="hint">${t('transcript.waiting')}</p>`;
    }
    const tags = s.tags.map((tag) => {
      const own = tag.state === 'suggested' && ownChoice.has(tag.code);
      const state = own ? 'confirmed' : tag.state;
      return `<li class="tag tag-${state}" data-code="${esc(tag.code)}"${own ? ' data-own="1"' : ''}>
        <span>${icon('tag')} ${tagLabel(app.taxonomy, tag.code)} — ${own ? t('tag.own') : t(`tag.${tag.state}`)}</span>
        ${tag.evidence?.length && !own ? `<small>${t('tag.evidence')}: ${tag.evidence.map(esc).join(', ')}</small>` : ''}
        ${tag.state === 'suggested' && !own ? `<div class="row">
          <button type="button" class="primary" data-tag="confirmed" data-code="${esc(tag.code)}">${icon('check')}<span>${t('tag.confirm')}</span></button>
          <button type="button" data-tag="rejected" data-code="${esc(tag.code)}">${icon('cross')}<span>${t('tag.reject')}</span></button></div>` : ''}
      </li>`;
    }).join('');

    main.innerHTML = `
      <a href="#/" class="back">${icon('back')}<span>${t('nav.back')}</span></a>
      <h1 id="story-title">${icon(KIND_ICON[s.kind] ?? 'text')} ${esc(storyTitle(s))}</h1>
      <p class="status-line" id="story-status" tabindex="-1">${statusChip(status)}</p>
      ${refusedHtml(view.refused)}
      ${draft ? `<section class="draft-box" id="draft-box" aria-labelledby="h-draft">
        <h2 id="h-draft">${icon('pen')} ${t('story.draft-title')}</h2>
        <p>${t('story.draft-hint')}</p>
        <a href="#/story/${esc(id)}/edit" class="button big" id="continue">${icon('pen')}<span>${t('story.continue')}</span></a>
        <button type="button" class="big primary" id="story-hand-in">${icon('send')}<span>${t('capture.hand-in')}</span></button>
        <p class="error" id="hand-in-error" role="alert"></p></section>` : reviewHtml(review)}
      <dl class="facts">${facts.map(([k, v]) => `<dt>${t(`story.${k}`)}</dt><dd>${esc(v)}</dd>`).join('')}
        ${persona ? `<dt>${t('story.persona')}</dt><dd><a href="#/persona/${esc(s.persona)}">${icon('persona')} ${esc(persona.persona?.name || t('persona.unnamed'))}</a></dd>` : ''}
      </dl>
      ${s.body?.trim() || sectionHtml ? `<section aria-labelledby="h-story"><h2 id="h-story">${t('story.text')}</h2>
        <div class="story-body" id="story-body">${paragraphs(s.body)}${sectionHtml}</div></section>` : ''}
      ${audio.length || images.length ? `<section aria-labelledby="h-media"><h2 id="h-media">${t('story.media')}</h2>
        ${audio.map(media).join('')}<div class="photos">${images.map(media).join('')}</div></section>` : ''}
      ${transcript ? `<section aria-labelledby="h-transcript" id="transcript"><h2 id="h-transcript">${icon('text')} ${t('transcript.title')}</h2>${transcript}</section>` : ''}
      ${tags ? `<section aria-labelledby="h-tags"><h2 id="h-tags">${icon('tag')} ${t('tag.title')}</h2><ul class="tags">${tags}</ul></section>` : ''}
      ${comments.length ? `<section aria-labelledby="h-comments"><h2 id="h-comments">${icon('comment')} ${t('comments.title')}</h2>
        <ol class="comments" id="comments"></ol></section>` : ''}
      ${draft ? '' : `<a href="#/story/${esc(id)}/edit" class="button big" id="edit-story">${icon('pen')}<span>${t('story.edit')}</span></a>`}`;
    const handIn = $('#story-hand-in');
    if (handIn) {
      handIn.onclick = async () => {
        handIn.disabled = true;
        try {
          await app.device.handIn(id);
          toast(t('capture.handed-in'));
        } catch (e) {
          const err = $('#hand-in-error');
          if (err) err.textContent = String(e?.message ?? e).includes('consent') ? t('capture.need-consent') : t('capture.save-failed');
          handIn.disabled = false;
          return;
        }
        if (!left) render();
      };
    }

    // The server's words are put in as text, never as markup.
    if (view.refused) {
      $('#refused-reason').textContent = refusedReason(view.refused);
      const undo = $('#refused-undo');
      if (undo) undo.onclick = () => resolveRefusal('undo');
      $('#refused-copy').onclick = () => resolveRefusal('copy');
    }
    // Comments are other people's words: added as text, never as markup.
    const list = $('#comments');
    if (list) list.append(...comments.map((c) => commentElement(c, lang)));
    const returned = review === 'returned' ? returnComment(s, app.session.member?.name) : null;
    if (returned) {
      const quote = commentElement(returned, lang, 'div');
      quote.classList.add('return-comment');
      $('#return-comment').append(quote);
    }
    const box = $('#reply-text');
    if (box) {
      box.value = replyDraft;
      box.oninput = () => { replyDraft = box.value; };
      if (typing) {
        box.focus();
        box.setSelectionRange(...caret);
      }
      $('#resubmit').onclick = () => reply(true);
      $('#reply-only').onclick = () => reply(false);
      for (const b of [$('#resubmit'), $('#reply-only')]) b.disabled = replyBusy;
    }

    for (const a of s.attachments) {
      const retry = urls.get(a.sha256) === null && navigator.onLine && Date.now() - (tried.get(a.sha256) ?? 0) > 15000;
      if ((!urls.has(a.sha256) || retry) && (a.mime.startsWith('audio/') || a.mime.startsWith('image/'))) {
        urls.set(a.sha256, undefined);
        tried.set(a.sha256, Date.now());
        mediaUrl(app, id, a)
          .catch(() => null)
          .then((url) => {
            urls.set(a.sha256, url);
            schedule();
          });
      }
    }
    const edit = $('#transcript-edit');
    if (edit) edit.onclick = () => { editingTranscript = true; render(); $('#transcript-text').focus(); };
    const cancel = $('#transcript-cancel');
    if (cancel) cancel.onclick = () => { editingTranscript = false; render(); };
    const save = $('#transcript-save');
    if (save) {
      save.onclick = async () => {
        await app.device.editStory(id, { transcript: $('#transcript-text').value });
        editingTranscript = false;
        toast(t('capture.saved'));
        render();
      };
    }
    main.querySelectorAll('[data-tag]').forEach((b) => {
      b.onclick = async () => {
        await app.device.setTag(id, b.dataset.code, b.dataset.tag, app.session.member.name);
        toast(t(`tag.done.${b.dataset.tag}`));
      };
    });
  }

  let queued = false;
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      // Never pull text from under someone's fingers.
      if (!editingTranscript) render();
    });
  }

  render();
  return {
    onTaxonomy: schedule,
    onChange(detail) {
      if (!detail?.id || detail.id === id || detail.id === app.device.views.get(id)?.story?.persona) schedule();
    },
    leave() {
      left = true;
      for (const url of urls.values()) if (url) URL.revokeObjectURL(url);
    },
  };
}
