// api.js: the admin API client. The admin token is kept in sessionStorage
// (this tab only, gone when it closes) and sent as Authorization: Bearer; it
// never goes in a URL. Secrets returned by create and rotate (and a new
// webhook endpoint's signing secret) are handed to the caller and never
// stored here.

const TOKEN_KEY = 'keyward.adminToken';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// ApiError is a failed request, from the problem+json body the API sends:
// title, detail, code and errors [{location, message}].
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.title = p.title || (status ? `HTTP ${status}` : 'Network error');
    this.detail = p.detail || '';
    this.code = p.code || '';
    this.errors = Array.isArray(p.errors) ? p.errors : [];
  }

  // fields returns each broken rule as "field: message", without the
  // body./query./path. prefix of its location.
  fields() {
    return this.errors.map((e) => {
      const where = String(e.location || '').replace(/^(body|query|path)\.?/, '');
      return where ? `${where}: ${e.message}` : String(e.message);
    });
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the API answers 401 to the stored
// token (the app signs out and shows the sign-in form).
export function onUnauthorized(fn) { unauthorized = fn; }

// request calls the API. opts.token overrides the stored token (sign-in
// checks a candidate without storing it, and a 401 then is not a sign-out).
export async function request(method, path, opts = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, v);
  }
  const qs = params.toString();
  const url = qs ? `${path}?${qs}` : path;
  const headers = { Accept: 'application/json, application/problem+json' };
  const tok = opts.token ?? token.get();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, { title: 'Network error', detail: 'The server could not be reached. Is keyward running?' });
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: handled below */ }
  if (!res.ok) {
    // Never show a raw body: a problem's fields, or the status text.
    const problem = data && typeof data === 'object' ? data : { title: res.statusText || `HTTP ${res.status}` };
    const err = new ApiError(res.status, problem);
    if (res.status === 401 && opts.token === undefined) unauthorized(err);
    throw err;
  }
  return data;
}

// Ids and names go in paths URL-escaped: an owner may be "acme corp/eu".
const key = (id) => `/v1/keys/${encodeURIComponent(id)}`;
const owner = (name) => `/v1/owners/${encodeURIComponent(name)}`;
const role = (name) => `/v1/roles/${encodeURIComponent(name)}`;
const hook = (id) => `/v1/webhooks/${encodeURIComponent(id)}`;

export const api = {
  stats: (tok) => request('GET', '/v1/stats', { token: tok }),
  hygiene: () => request('GET', '/v1/stats/hygiene'),
  policy: () => request('GET', '/v1/policy'),
  listKeys: (query) => request('GET', '/v1/keys', { query }),
  getKey: (id) => request('GET', key(id)),
  createKey: (body) => request('POST', '/v1/keys', { body }),
  updateKey: (id, body) => request('PATCH', key(id), { body }),
  deleteKey: (id) => request('DELETE', key(id)),
  revokeKey: (id) => request('POST', `${key(id)}/revoke`),
  rotateKey: (id, gracePeriod) => request('POST', `${key(id)}/rotate`, { body: { grace_period: gracePeriod } }),
  usage: (id, query) => request('GET', `${key(id)}/usage`, { query }),
  audit: (query) => request('GET', '/v1/audit', { query }),
  listOwners: (query) => request('GET', '/v1/owners', { query }),
  getOwner: (name) => request('GET', owner(name)),
  putOwner: (name, body) => request('PUT', owner(name), { body }),
  updateOwner: (name, body) => request('PATCH', owner(name), { body }),
  deleteOwner: (name) => request('DELETE', owner(name)),
  ownerUsage: (name, query) => request('GET', `${owner(name)}/usage`, { query }),
  listRoles: (query) => request('GET', '/v1/roles', { query }),
  getRole: (name) => request('GET', role(name)),
  putRole: (name, body) => request('PUT', role(name), { body }),
  deleteRole: (name) => request('DELETE', role(name)),
  listWebhooks: () => request('GET', '/v1/webhooks'),
  getWebhook: (id) => request('GET', hook(id)),
  createWebhook: (body) => request('POST', '/v1/webhooks', { body }),
  updateWebhook: (id, body) => request('PATCH', hook(id), { body }),
  deleteWebhook: (id) => request('DELETE', hook(id)),
  testWebhook: (id) => request('POST', `${hook(id)}/test`),
  deliveries: (id, query) => request('GET', `${hook(id)}/deliveries`, { query }),
};

// exists says whether get(name) finds a record: false on a 404.
export async function exists(get, name) {
  try {
    await get(name);
    return true;
  } catch (err) {
    if (err.status === 404) return false;
    throw err;
  }
}

// allRoles lists every role, by name (the key form offers them all).
export async function allRoles() {
  const out = [];
  let cursor = '';
  do {
    const page = await api.listRoles({ limit: 1000, cursor });
    out.push(...(page.items || []));
    cursor = page.next_cursor || '';
  } while (cursor);
  return out;
}
