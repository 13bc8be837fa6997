// The taxonomy of the member's workspace, as the server gives it (GET /api/v1/taxonomy: the default
// of fixtures/taxonomy/ with the workspace's own activities, renames and retirements): the codes the
// capture form offers for phase, target group and activity, and the names shown for them and for
// the tags the server's tagger writes (`voorzorg`, `phase:zwangerschap`, `theme:…`, `group:…`;
// docs/schema.md, docs/tagger.md). Dutch names, English glosses in English.
//
// Fetched after login and whenever the app comes online (and on "Nu synchroniseren"), kept in
// localStorage for use offline. Before the first fetch the built-in FALLBACK serves. A `change`
// event says a fetch brought something new.

import { api } from './api.js';
import { language } from './i18n.js';
import { FALLBACK } from './taxonomy-data.js';

const KEY = 'vertel.taxonomy';
/** Coming online this soon after a fetch does not fetch again (start-up: login, then the socket). */
const FRESH_MS = 10000;

/** The dimensions the shell uses, and the prefix of their codes in a story's `tags`. */
export const TAG_PREFIXES = { activities: '', phases: 'phase:', themes: 'theme:', target_groups: 'group:' };
const DIMENSIONS = Object.keys(TAG_PREFIXES);

/** Only what the shell shows: code, name, gloss, retired. Null when `data` is not a taxonomy. */
function trim(data) {
  if (!data || typeof data !== 'object' || !DIMENSIONS.every((d) => Array.isArray(data[d]))) return null;
  const out = {};
  for (const d of DIMENSIONS) {
    out[d] = data[d]
      .filter((e) => e && typeof e.code === 'string' && e.code && typeof e.name === 'string')
      .map((e) => ({
        code: e.code,
        name: e.name,
        gloss: typeof e.gloss === 'string' ? e.gloss : '',
        ...(e.retired === true ? { retired: true } : {}),
      }));
  }
  // The workspace's municipalities, the names the desk filters by (a story's `municipality`).
  out.municipalities = Array.isArray(data.municipalities) ? data.municipalities.filter((m) => typeof m === 'string' && m) : [];
  return out;
}

function readCache(workspace) {
  try {
    const c = JSON.parse(localStorage.getItem(KEY) || 'null');
    if (c && c.workspace === workspace) return { data: trim(c.data), at: c.at };
  } catch {
    // Unreadable: as if there were none.
  }
  return null;
}

/** A code no taxonomy knows (from an older version, or another workspace): readable at least. */
const readable = (code) => String(code).replace(/[-_]/g, ' ');

export class Taxonomy extends EventTarget {
  constructor(session) {
    super();
    this.session = session;
    this.workspace = session.workspace?.id ?? session.workspace?.slug ?? null;
    const cached = readCache(this.workspace);
    /** `fallback` (built in), `cache` (fetched earlier) or `server` (fetched now). */
    this.source = cached?.data ? 'cache' : 'fallback';
    this.data = cached?.data ?? trim(FALLBACK);
    this.fetchedAt = cached?.at ?? 0;
    this.inflight = null;
  }

  /**
   * Fetch the workspace's taxonomy when online; keeps what it has when that fails. Resolves to
   * whether anything changed. Unless `force`d, a copy fetched in the last few seconds is kept.
   */
  refresh({ force = false } = {}) {
    if (this.inflight || !navigator.onLine) return this.inflight ?? Promise.resolve(false);
    if (!force && this.source === 'server' && Date.now() - this.fetchedAt < FRESH_MS) return Promise.resolve(false);
    this.inflight = (async () => {
      try {
        const data = trim(await api.taxonomy(this.session.token));
        if (!data) return false;
        const changed = JSON.stringify(data) !== JSON.stringify(this.data);
        this.data = data;
        this.source = 'server';
        this.fetchedAt = Date.now();
        try {
          localStorage.setItem(KEY, JSON.stringify({ workspace: this.workspace, at: this.fetchedAt, data }));
        } catch (e) {
          console.warn('taxonomy cache:', e);
        }
        if (changed) this.dispatchEvent(new CustomEvent('change'));
        return changed;
      } catch (e) {
        // Offline, or the session expired (sync reports that): the cached copy serves.
        console.warn('taxonomy:', e?.message ?? e);
        return false;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** Every entry of a dimension, retired ones included. */
  entries(dim) {
    return this.data[dim] ?? [];
  }

  /** The workspace's municipalities (names), as the desk has them. */
  municipalities() {
    return this.data.municipalities ?? [];
  }

  /** The entries a person may choose for a new story or tag: not retired. */
  offered(dim) {
    return this.entries(dim).filter((e) => !e.retired);
  }

  entry(dim, code) {
    return this.entries(dim).find((e) => e.code === code) ?? null;
  }

  /** What a person sees for an entry: its Dutch name, or in English its gloss. */
  label(e) {
    return (language() === 'en' && e.gloss) || e.name;
  }

  /** The name of a code of a dimension, retired ones too; unknown codes stay readable. */
  name(dim, code) {
    if (!code) return '';
    const e = this.entry(dim, code);
    return e ? this.label(e) : readable(code);
  }

  /** A tag code (`voorzorg`, `phase:zwangerschap`) as `{dim, code, name, retired}`. */
  tag(tagCode) {
    const dim = DIMENSIONS.find((d) => TAG_PREFIXES[d] && tagCode.startsWith(TAG_PREFIXES[d])) ?? 'activities';
    const code = tagCode.slice(TAG_PREFIXES[dim].length);
    const e = this.entry(dim, code);
    return { dim, code, name: e ? this.label(e) : readable(code), retired: Boolean(e?.retired) };
  }

  /** Forget the cached copy (logout). */
  static clear() {
    localStorage.removeItem(KEY);
  }
}
