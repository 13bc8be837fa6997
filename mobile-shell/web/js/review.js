// Where a story is in the coordinators' review (docs/schema.md: `review`, `comments`): the state as
// an icon with plain words, and the comments. Comment text and authors are other people's input:
// they are only ever put into the page as text nodes, never as markup.

import { t } from './i18n.js';
import { icon } from './icons.js';
import { formatDate } from './dom.js';
import { REVIEW_STATES } from './codes.js';

const REVIEW_ICON = Object.fromEntries(REVIEW_STATES.map((s) => [s.code, s.icon]));

/** The longest comment in characters (vertel-shell's MAX_COMMENT_CHARS, the workspace's limit). */
export const MAX_COMMENT_CHARS = 4000;

/** The story's review state code, or null for a document that has none (or one this app does not know). */
export function reviewState(story) {
  return REVIEW_ICON[story?.review] ? story.review : null;
}

/** The state as a chip: icon and words; `label` puts "Beoordeling:" before it for screen readers. */
export function reviewChip(state, { label = false, small = false } = {}) {
  if (!state) return '';
  const prefix = label ? `<span class="sr-only">${t('review.title')}: </span>` : '';
  return `<span class="chip review review-${state}${small ? ' small' : ''}" data-review="${state}">${icon(REVIEW_ICON[state])}<span>${prefix}${t(`review.state.${state}`)}</span></span>`;
}

/**
 * The comment the coordinator sent the story back with: the newest comment by someone else than
 * `me` (the member's own replies may follow it), else the newest one.
 */
export function returnComment(story, me) {
  const comments = story?.comments ?? [];
  for (let i = comments.length - 1; i >= 0; i--) if (comments[i].author !== me) return comments[i];
  return comments[comments.length - 1] ?? null;
}

/** One comment as an element: author and date above the text, all set as text. */
export function commentElement(comment, lang, tag = 'li') {
  const el = document.createElement(tag);
  el.className = 'comment';
  if (comment.id) el.dataset.id = comment.id;
  const meta = document.createElement('p');
  meta.className = 'comment-meta';
  const author = document.createElement('strong');
  author.className = 'comment-author';
  author.textContent = comment.author?.trim() || t('comments.unknown-author');
  meta.append(author);
  if (comment.at && Number.isFinite(new Date(comment.at).getTime())) {
    const time = document.createElement('time');
    time.className = 'comment-date';
    time.dateTime = new Date(comment.at).toISOString();
    time.textContent = formatDate(comment.at, lang);
    meta.append(' · ', time);
  }
  const text = document.createElement('p');
  text.className = 'comment-text';
  text.textContent = comment.text ?? '';
  el.append(meta, text);
  return el;
}
