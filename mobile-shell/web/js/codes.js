// The codes the app writes into documents (docs/schema.md). What a person sees for each code comes
// from the catalogues (`kind.<code>`, `place.<code>`, ...). Phases, target groups and activities are
// not here: they are the server's taxonomy (taxonomy.js), names included.

export const KINDS = [
  { code: 'parent-story', icon: 'parent' },
  { code: 'community-conversation', icon: 'group' },
  { code: 'persona-story', icon: 'persona' },
  { code: 'impact-narrative', icon: 'impact' },
];

/** Kinds that are about a person: consent first (client-core enforces it too). */
export const ABOUT_A_PERSON = new Set(['parent-story', 'community-conversation']);

export const PLACES = [
  'markt', 'speeltuin', 'buurthuis', 'thuis', 'consultatiebureau', 'gebedshuis',
  'school-kinderopvang', 'anders',
];

export const TELLER_ROLES = ['moeder', 'vader', 'zwangere', 'ouder', 'grootouder', 'groep', 'anders'];

export const CONSENT_HOW = ['spoken', 'written'];

export const CONSENT_SCOPES = ['internal-only', 'anonymised-in-reports', 'may-be-quoted'];

/** The guided prompts of an impact narrative (client_core::story::IMPACT_SECTIONS). */
export const IMPACT_SECTIONS = ['what-we-did', 'what-changed', 'why-it-matters', 'evidence'];

export const AGE_BANDS = ['<18', '18-25', '26-35', '36-45', '46+'];

export const LANGUAGES = ['nl', 'en', 'ar', 'tr', 'pl', 'ti', 'uk', 'pap'];

/** Where a story is in the coordinators' review (client_core::story::ReviewState), with its icon. */
export const REVIEW_STATES = [
  { code: 'draft', icon: 'pen' },
  { code: 'submitted', icon: 'send' },
  { code: 'reviewed', icon: 'eye' },
  { code: 'approved', icon: 'check' },
  { code: 'returned', icon: 'undo' },
];
