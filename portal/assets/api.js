// The portal's only connection to the outside: fetch() of vigild's REST API
// on the same origin, with the session cookie and, on every change, the
// session's CSRF token. A 401 sends the user to the sign-in page.

let csrf = '';

// Sets the CSRF token sent with each request that changes something.
export function setCsrf(token) { csrf = token || ''; }

// An error answered by the API: status, code and message from its
// {"error": {...}} body, and field when the API names one.
class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }
}

// api(METHOD, PATH, BODY, OPTS): the parsed JSON answer (null for 204).
// Throws ApiError for an error status; a 401 (unless OPTS.quiet401) fires
// "vigil-signed-out" on window and goes to #/signin first.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-Vigil-CSRF'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', `the server cannot be reached (${e.message})`);
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && !opts.quiet401) {
      // the page to come back to; a second 401 (on the sign-in page) keeps it
      if (!location.hash.startsWith('#/signin')) sessionStorage.setItem('vigil.after', location.hash);
      window.dispatchEvent(new Event('vigil-signed-out'));
      location.hash = '#/signin';
    }
    throw new ApiError(res.status, err.code, err.message || `HTTP ${res.status}`, err.field);
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

// q(PARAMS): a query string ("?a=1&b=2") of the members of PARAMS that are
// not empty, or "".
export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) u.set(k, v);
  const t = u.toString();
  return t ? `?${t}` : '';
}

// enc(ID): a path segment.
export const enc = (id) => encodeURIComponent(id);

// all(PATH, LIMIT, MAX): every element of a paged list (limit/offset
// and next_offset), at most MAX.
export async function all(path, limit = 500, max = 5000) {
  const out = [];
  let offset = 0;
  const sep = path.includes('?') ? '&' : '?';
  while (out.length < max) {
    const page = await get(`${path}${sep}limit=${limit}&offset=${offset}`);
    out.push(...page.value);
    if (page.next_offset === null || page.next_offset === undefined || page.value.length === 0) break;
    offset = page.next_offset;
  }
  return out;
}

// devices(): every device record (the devices list pages by top/skip).
export async function devices() {
  const out = [];
  for (let skip = 0; skip < 100000; skip += 1000) {
    const page = await get(`/api/v1/devices?top=1000&skip=${skip}`);
    out.push(...page.value);
    if (page.value.length < 1000) break;
  }
  return out;
}
