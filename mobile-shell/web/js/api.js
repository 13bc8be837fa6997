// REST calls to vertel-server (README: API v1) and the session kept in localStorage (a bearer token,
// not a cookie: ARCHITECTURE.md "Sessions and tokens" says why).

const SESSION_KEY = 'vertel.session';

export class ApiError extends Error {
  /** `code`: the server's reason code (a refused password); `retryAfter`: seconds to wait (429, 503). */
  constructor(status, message, { code = null, retryAfter = 0 } = {}) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

async function call(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const retryAfter = Number.parseInt(resp.headers.get('retry-after') ?? '', 10) || 0;
    throw new ApiError(resp.status, data?.error, { code: data?.code ?? null, retryAfter });
  }
  return data;
}

export const api = {
  login: (email, password) => call('POST', '/api/v1/auth/login', { body: { email, password } }),
  enroll: (code, password) => call('POST', '/api/v1/auth/enroll', { body: { code, password } }),
  logout: (token) => call('POST', '/api/v1/auth/logout', { token }),
  me: (token) => call('GET', '/api/v1/me', { token }),
  taxonomy: (token) => call('GET', '/api/v1/taxonomy', { token }),
  changes: (token, since, limit = 1000) =>
    call('GET', `/api/v1/stories/changes?since=${encodeURIComponent(since)}&limit=${limit}`, { token }),
};

/** The websocket URL of the sync endpoint on this origin. */
export function syncUrl(token) {
  const u = new URL('/sync', location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('token', token);
  return u.toString();
}
