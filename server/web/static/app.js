// app.js: keyward's admin page. Hash routes (#/overview, #/keys,
// #/keys/<id>) render views into #view; dialogs are in index.html. All text
// from the API goes in through textContent (h() makes text nodes of
// strings), never as markup.

import { api, token, onUnauthorized, ApiError } from './api.js';
import { drawChart } from './chart.js';

const $ = (id) => document.getElementById(id);

// h builds an element: props are attributes, except class, on<event>
// handlers; children that are strings become text nodes.
function h(tag, props = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const keyHref = (id) => `#/keys/${encodeURIComponent(id)}`;
const dash = () => h('span', { class: 'muted' }, '—');
const capital = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

// ---- Times ----

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
const UNITS = [['year', 365 * 864e5], ['month', 30 * 864e5], ['day', 864e5], ['hour', 36e5], ['minute', 6e4]];

// relative says "3 minutes ago" or "in 29 days".
function relative(ms) {
  const d = ms - Date.now();
  const a = Math.abs(d);
  if (a < 45e3) return d <= 0 ? 'just now' : 'in a few seconds';
  for (const [unit, size] of UNITS) {
    if (a >= size || unit === 'minute') return rtf.format(Math.round(d / size), unit);
  }
}

const exact = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'long' });

// timeEl shows a time relative to now, with the exact time as its title.
function timeEl(iso, none = 'Never') {
  if (!iso) return h('span', { class: 'muted' }, none);
  return h('time', { datetime: iso, title: exact(iso), 'data-rel': '' }, relative(Date.parse(iso)));
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = relative(Date.parse(t.dateTime));
}, 30e3);

// goDuration reads a Go duration string ("1m0s", "24h0m0s") in ms.
function goDuration(s) {
  const units = { h: 36e5, m: 6e4, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };
  let ms = 0;
  for (const [, n, u] of String(s).matchAll(/([0-9.]+)(h|ms|us|µs|ns|m|s)/g)) ms += Number(n) * units[u];
  return ms;
}

const PERIODS = { 1e3: 'second', 6e4: 'minute', 36e5: 'hour', 864e5: 'day' };

function rateText(rl) {
  if (!rl) return 'No limit';
  const per = PERIODS[goDuration(rl.period)];
  return per ? `${rl.limit.toLocaleString('en')} per ${per}` : `${rl.limit.toLocaleString('en')} every ${rl.period}`;
}

// ---- Messages ----

function toApiError(err) {
  if (err instanceof ApiError) return err;
  return new ApiError(0, { title: 'Something went wrong', detail: String(err && err.message ? err.message : err) });
}

// fillError writes an error into a box: the problem's title, its detail,
// and each broken rule as "field: message".
function fillError(box, err) {
  box.replaceChildren();
  if (!err) return box;
  const e = toApiError(err);
  box.append(h('strong', {}, e.title));
  if (e.detail) box.append(h('p', {}, `${capital(e.detail)}${/[.!?]$/.test(e.detail) ? '' : '.'}`));
  const fields = e.fields();
  if (fields.length) box.append(h('ul', {}, fields.map((f) => h('li', {}, f))));
  return box;
}

const alertBox = (err) => fillError(h('div', { class: 'alert', role: 'alert' }), err);

let toastTimer;
// notify announces a success in the polite live region.
function notify(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.classList.remove('show'); t.textContent = ''; }, 4000);
}

function badge(status, id) {
  return h('span', { class: `badge badge-${status}`, id }, status);
}

function scopeList(scopes) {
  if (!scopes || !scopes.length) return dash();
  return h('span', { class: 'chips' }, scopes.map((s) => h('span', { class: 'chip' }, s)));
}

// ---- Dialogs ----

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
const focusables = (root) => [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length);

// openDialog shows a modal dialog (the rest of the page is inert; Escape
// closes it) and gives focus back to where it was when it closes.
function openDialog(dlg) {
  const back = document.activeElement;
  dlg.showModal();
  (dlg.querySelector('[autofocus]') || focusables(dlg)[0])?.focus();
  dlg.addEventListener('close', () => {
    if (back && back.isConnected && back !== document.body) back.focus();
    else focusView();
  }, { once: true });
}

// Tab and Shift+Tab cycle inside an open dialog rather than leaving for the
// browser's own controls.
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Tab') return;
  const dlg = document.querySelector('dialog[open]');
  if (!dlg) return;
  const f = focusables(dlg);
  if (!f.length) return;
  const first = f[0];
  const last = f[f.length - 1];
  if (e.shiftKey && (document.activeElement === first || !dlg.contains(document.activeElement))) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (document.activeElement === last || !dlg.contains(document.activeElement))) {
    e.preventDefault();
    first.focus();
  }
});

document.addEventListener('click', (e) => {
  const btn = e.target.closest('[data-close]');
  if (btn) btn.closest('dialog').close();
});

function closeDialogs() {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
}

// busy disables a button while fn runs.
async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// showSecret shows a new key's secret once; it resolves when the dialog
// closes, after the secret has been removed from the page.
function showSecret(title, issued) {
  const dlg = $('secret-dialog');
  $('secret-title').textContent = title;
  $('secret-key').replaceChildren('Key ', h('strong', {}, issued.key.name), ' · id ', h('code', {}, issued.key.id));
  $('secret-value').textContent = issued.secret;
  $('copy-status').textContent = '';
  openDialog(dlg);
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      $('secret-value').textContent = '';
      resolve();
    }, { once: true });
  });
}

$('secret-copy').addEventListener('click', async () => {
  const el = $('secret-value');
  try {
    await navigator.clipboard.writeText(el.textContent);
    $('copy-status').textContent = 'Copied to the clipboard.';
  } catch {
    // No clipboard access (plain HTTP to another host): select the secret so
    // that Ctrl+C copies it.
    const range = document.createRange();
    range.selectNodeContents(el);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('copy-status').textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
  }
});

// confirmAction asks before a destructive action, and shows its error.
function confirmAction({ title, text, ok, action }) {
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  const btn = $('confirm-ok');
  btn.textContent = ok;
  fillError($('confirm-error'), null);
  const dlg = $('confirm-dialog');
  btn.onclick = () => busy(btn, async () => {
    try {
      await action();
      dlg.close();
    } catch (err) {
      fillError($('confirm-error'), err);
    }
  });
  openDialog(dlg);
}

// ---- The key form: create and edit ----

let editing = null; // the key being edited; null when creating

const FIELD_INPUT = {
  name: 'f-name', description: 'f-description', owner: 'f-owner', scopes: 'f-scopes',
  expires_at: 'f-expiry', expires_in: 'f-expiry', rate_limit: 'f-rl-limit',
  remaining: 'f-remaining', refill: 'f-refill', metadata: 'f-metadata',
};

function syncExpiry() {
  const date = $('f-expiry').value === 'date';
  $('f-expires-at-field').hidden = !date;
  $('f-expires-at').required = date;
}
$('f-expiry').addEventListener('change', syncExpiry);

function selectPeriod(period) {
  const sel = $('f-rl-period');
  const ms = goDuration(period);
  let opt = [...sel.options].find((o) => goDuration(o.value) === ms);
  if (!opt) {
    opt = h('option', { value: period }, period);
    sel.append(opt);
  }
  sel.value = opt.value;
}

function openKeyForm(key) {
  editing = key || null;
  const form = $('key-form');
  form.reset();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  fillError($('key-form-error'), null);
  $('key-dialog-title').textContent = key ? 'Edit key' : 'New key';
  $('key-form-submit').textContent = key ? 'Save changes' : 'Create key';
  const keep = form.querySelector('[data-edit-only]');
  keep.hidden = keep.disabled = !key;
  $('f-expiry').value = key ? 'keep' : '';
  if (key) {
    $('f-name').value = key.name;
    $('f-description').value = key.description || '';
    $('f-owner').value = key.owner || '';
    $('f-scopes').value = (key.scopes || []).join(' ');
    if (key.rate_limit) {
      $('f-rl-limit').value = key.rate_limit.limit;
      selectPeriod(key.rate_limit.period);
    }
    $('f-remaining').value = key.remaining ?? '';
    $('f-refill').value = key.refill ? key.refill.interval : '';
    $('f-refill-amount').value = key.refill ? key.refill.amount : '';
    const meta = key.metadata && Object.keys(key.metadata).length ? JSON.stringify(key.metadata, null, 2) : '';
    $('f-metadata').value = meta;
  }
  syncExpiry();
  openDialog($('key-dialog'));
}

const formError = (field, message) => new ApiError(0, { title: 'Check the form', errors: [{ location: `body.${field}`, message }] });

function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

// readKeyForm returns the form as the API's fields, all of them.
function readKeyForm() {
  const text = (id) => $(id).value.trim();
  const f = {
    name: text('f-name'), description: text('f-description'), owner: text('f-owner'),
    scopes: text('f-scopes').split(/[\s,]+/).filter(Boolean),
  };
  const limit = numberOrNull('f-rl-limit');
  f.rate_limit = limit === null ? null : { limit, period: $('f-rl-period').value };
  f.remaining = numberOrNull('f-remaining');
  const interval = $('f-refill').value;
  const amount = numberOrNull('f-refill-amount') ?? f.remaining;
  if (interval && !amount) throw formError('refill', 'give the credits, or the amount to refill to');
  f.refill = interval ? { interval, amount } : null;
  const meta = text('f-metadata');
  f.metadata = null;
  if (meta) {
    try {
      f.metadata = JSON.parse(meta);
    } catch (e) {
      throw formError('metadata', `is not valid JSON (${e.message})`);
    }
    if (!f.metadata || typeof f.metadata !== 'object' || Array.isArray(f.metadata)) {
      throw formError('metadata', 'must be a JSON object, like {"plan": "pro"}');
    }
  }
  const exp = $('f-expiry').value;
  if (exp === 'date') {
    const at = $('f-expires-at').value;
    if (!at) throw formError('expires_at', 'pick a date and time');
    f.expires_at = new Date(at).toISOString();
  } else if (exp === '') {
    f.expires_at = null;
  } else if (exp !== 'keep') {
    f.expires_in = exp;
  }
  return f;
}

// createBody leaves out the empty fields.
function createBody(f) {
  const b = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    b[k] = v;
  }
  return b;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

// patchBody keeps only what differs from the key; null clears a field.
function patchBody(f, key) {
  const b = {};
  for (const k of ['name', 'description', 'owner']) if (f[k] !== (key[k] || '')) b[k] = f[k];
  if (!same(f.scopes, key.scopes || [])) b.scopes = f.scopes;
  const rl = key.rate_limit;
  if (!(f.rate_limit === null && !rl) && !(f.rate_limit && rl && f.rate_limit.limit === rl.limit && goDuration(f.rate_limit.period) === goDuration(rl.period))) {
    b.rate_limit = f.rate_limit;
  }
  if (!same(f.remaining, key.remaining)) b.remaining = f.remaining;
  if (!same(f.refill, key.refill && { interval: key.refill.interval, amount: key.refill.amount })) b.refill = f.refill;
  const meta = (m) => (m && Object.keys(m).length ? m : {});
  if (!same(meta(f.metadata), meta(key.metadata))) b.metadata = meta(f.metadata);
  if ('expires_in' in f) b.expires_in = f.expires_in;
  else if ('expires_at' in f && !(f.expires_at === null && !key.expires_at)) b.expires_at = f.expires_at;
  return b;
}

function markInvalid(err) {
  for (const e of err.errors || []) {
    const top = String(e.location || '').replace(/^body\./, '').split('.')[0];
    if (FIELD_INPUT[top]) $(FIELD_INPUT[top]).setAttribute('aria-invalid', 'true');
  }
}

$('key-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!form.reportValidity()) return;
  const box = $('key-form-error');
  fillError(box, null);
  await busy($('key-form-submit'), async () => {
    try {
      const f = readKeyForm();
      if (editing) {
        const body = patchBody(f, editing);
        if (!Object.keys(body).length) {
          $('key-dialog').close();
          notify('Nothing changed.');
          return;
        }
        await api.updateKey(editing.id, body);
        $('key-dialog').close();
        notify('Key saved.');
        route();
        return;
      }
      const issued = await api.createKey(createBody(f));
      $('key-dialog').close();
      await showSecret('Key created', issued);
      location.hash = keyHref(issued.key.id);
    } catch (err) {
      fillError(box, err);
      markInvalid(err);
      box.scrollIntoView({ block: 'nearest' });
    }
  });
});

function openRotate(key) {
  const form = $('rotate-form');
  form.reset();
  fillError($('rotate-error'), null);
  form.onsubmit = (e) => {
    e.preventDefault();
    busy($('rotate-submit'), async () => {
      try {
        const issued = await api.rotateKey(key.id, $('rotate-grace').value);
        $('rotate-dialog').close();
        await showSecret('Key rotated', issued);
        location.hash = keyHref(issued.key.id);
      } catch (err) {
        fillError($('rotate-error'), err);
      }
    });
  };
  openDialog($('rotate-dialog'));
}

// ---- Routing ----

let renderGen = 0; // bumped on every render: a slower, older render stops
let viewTimer; // a view's auto-refresh

function focusView() {
  const h1 = $('view').querySelector('h1');
  if (h1) h1.focus();
  else $('main').focus();
}

function setView(title, ...kids) {
  document.title = `${title} · keyward`;
  $('view').replaceChildren(...kids.flat());
}

const ROUTES = [
  [/^#\/overview$/, overviewView, 'overview'],
  [/^#\/keys$/, keysView, 'keys'],
  [/^#\/keys\/([^/]+)$/, keyView, 'keys'],
];

// route renders the view of the current hash. moveFocus, after a
// navigation, moves focus to the new view's heading for screen readers.
function route(moveFocus = false) {
  closeDialogs();
  clearInterval(viewTimer);
  const gen = ++renderGen;
  if (!token.get()) {
    showSignIn();
    return;
  }
  const [path, query = ''] = location.hash.split('?');
  const match = ROUTES.map(([re, fn, nav]) => [path.match(re), fn, nav]).find(([m]) => m);
  if (!match) {
    location.replace('#/overview');
    return;
  }
  const [m, fn, nav] = match;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const args = m.slice(1).map((s) => {
    try { return decodeURIComponent(s); } catch { return s; } // a malformed %-escape
  });
  Promise.resolve(fn(gen, new URLSearchParams(query), ...args))
    .catch((err) => {
      if (gen !== renderGen || err.status === 401) return;
      setView('Error', h('h1', { tabindex: '-1' }, 'Something went wrong'), alertBox(err));
    })
    .finally(() => {
      // After a navigation, or when the focused control was re-rendered away.
      const lost = !document.activeElement || document.activeElement === document.body;
      if (gen === renderGen && (moveFocus || lost)) focusView();
    });
}

window.addEventListener('hashchange', () => route(true));

// ---- Sign-in ----

function showSignIn(message) {
  closeDialogs();
  clearInterval(viewTimer);
  $('topbar').hidden = true;
  $('view').replaceChildren();
  $('signin').hidden = false;
  document.title = 'Sign in · keyward';
  fillError($('signin-error'), message || null);
  $('signin-token').focus();
}

function showApp() {
  $('signin').hidden = true;
  $('topbar').hidden = false;
  fillError($('signin-error'), null);
}

$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('signin-token');
  const t = input.value.trim();
  if (!t) {
    fillError($('signin-error'), new ApiError(0, { title: 'Enter a token', detail: 'paste an admin key or the server’s admin token' }));
    input.focus();
    return;
  }
  busy($('signin-submit'), async () => {
    try {
      await api.stats(t); // checks the token without storing it
      token.set(t);
      input.value = '';
      showApp();
      route(true);
    } catch (err) {
      const e2 = err.status === 401 || err.status === 403
        ? new ApiError(err.status, { title: 'That token was not accepted', detail: err.detail })
        : err;
      fillError($('signin-error'), e2);
      input.select();
      input.focus();
    }
  });
});

$('signout').addEventListener('click', () => {
  token.clear();
  showSignIn();
  notify('Signed out.');
});

onUnauthorized((err) => {
  token.clear();
  ++renderGen;
  showSignIn(new ApiError(401, { title: 'Please sign in again', detail: err.detail || 'the admin token is no longer accepted' }));
});

// ---- Overview ----

const STATUSES = ['active', 'disabled', 'revoked', 'expired'];

async function overviewView(gen) {
  const stats = h('div', { class: 'stat-grid', 'aria-busy': 'true' });
  const chart = h('div', { class: 'chart-host', id: 'overview-chart' });
  const refresh = h('button', { type: 'button', class: 'btn', id: 'overview-refresh' }, 'Refresh');
  setView('Overview',
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Overview'), h('div', { class: 'actions' }, refresh)),
    stats,
    h('section', { class: 'card', 'aria-labelledby': 'ov-usage' },
      h('div', { class: 'card-head' }, h('h2', { id: 'ov-usage' }, 'Verifications in the last hour'),
        h('p', { class: 'muted' }, 'All keys, per minute, by outcome.')),
      chart));

  const load = async () => {
    const s = await api.stats();
    if (gen !== renderGen) return;
    stats.replaceChildren(...STATUSES.map((st) => h('a', { class: `stat stat-${st}`, href: `#/keys?status=${st}` },
      h('span', { class: 'stat-label' }, capital(st)),
      h('span', { class: 'stat-value', 'data-status': st }, (s.keys[st] || 0).toLocaleString('en')))));
    stats.setAttribute('aria-busy', 'false');
    drawChart(chart, s.usage, 'Verifications per minute, last hour, all keys');
  };
  refresh.addEventListener('click', () => busy(refresh, () => load().catch((err) => chart.replaceChildren(alertBox(err)))));
  await load();
  viewTimer = setInterval(() => load().catch(() => {}), 30e3);
}

// ---- Keys ----

const PAGE_SIZE = 20;
// Paging: cursors[i] starts page i; going back reuses a remembered cursor.
const paging = { filters: null, cursors: [''], page: 0 };

async function keysView(gen, params) {
  const filters = { q: params.get('q') || '', owner: params.get('owner') || '', status: params.get('status') || '' };
  if (JSON.stringify(filters) !== paging.filters) {
    Object.assign(paging, { filters: JSON.stringify(filters), cursors: [''], page: 0 });
  }
  const q = h('input', { id: 'filter-q', type: 'search', name: 'q', value: filters.q, autocomplete: 'off' });
  const owner = h('input', { id: 'filter-owner', name: 'owner', value: filters.owner, autocomplete: 'off' });
  const status = h('select', { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, capital(s))));
  status.value = filters.status;
  const apply = () => {
    const p = new URLSearchParams();
    for (const [k, el] of [['q', q], ['owner', owner], ['status', status]]) if (el.value.trim()) p.set(k, el.value.trim());
    const hash = p.toString() ? `#/keys?${p}` : '#/keys';
    if (hash === location.hash) route();
    else location.hash = hash;
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter keys', onsubmit: (e) => { e.preventDefault(); apply(); } },
    h('div', { class: 'field' }, h('label', { for: 'filter-q' }, 'Search by name'), q),
    h('div', { class: 'field' }, h('label', { for: 'filter-owner' }, 'Owner'), owner),
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
    h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'btn' }, 'Filter'),
      filters.q || filters.owner || filters.status ? h('a', { class: 'btn btn-ghost', href: '#/keys' }, 'Clear') : null));
  status.addEventListener('change', apply);

  const tbody = h('tbody', { id: 'keys-body', 'aria-busy': 'true' });
  const table = h('table', { class: 'table', id: 'keys-table' },
    h('caption', { class: 'sr-only' }, 'Keys, newest first'),
    h('thead', {}, h('tr', {}, ['Name', 'ID', 'Owner', 'Scopes', 'Status', 'Last used', 'Expires'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const info = h('span', { class: 'muted', id: 'page-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'btn', id: 'page-prev', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'btn', id: 'page-next', disabled: true }, 'Next →');
  const newKey = h('button', { type: 'button', class: 'btn btn-primary', id: 'new-key', onclick: () => openKeyForm() }, 'New key');

  setView('Keys',
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Keys'), h('div', { class: 'actions' }, newKey)),
    form,
    h('div', { class: 'card card-flush' }, h('div', { class: 'table-wrap' }, table),
      h('div', { class: 'pager' }, info, h('div', { class: 'actions' }, prev, next))));

  const load = async () => {
    tbody.setAttribute('aria-busy', 'true');
    const res = await api.listKeys({ limit: PAGE_SIZE, cursor: paging.cursors[paging.page], ...filters });
    if (gen !== renderGen) return;
    const items = res.items || [];
    paging.cursors.length = paging.page + 1;
    if (res.next_cursor) paging.cursors.push(res.next_cursor);
    tbody.replaceChildren(...items.map(keyRow));
    if (!items.length) {
      const msg = filters.q || filters.owner || filters.status ? 'No keys match these filters.' : 'No keys yet: create one with New key.';
      tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, msg)));
    }
    tbody.setAttribute('aria-busy', 'false');
    const first = paging.page * PAGE_SIZE;
    info.textContent = items.length ? `Keys ${first + 1}–${first + items.length} · page ${paging.page + 1}` : '';
    prev.disabled = paging.page === 0;
    next.disabled = !res.next_cursor;
  };
  const turn = (delta) => {
    paging.page += delta;
    load().catch((err) => tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7 }, alertBox(err)))));
  };
  prev.addEventListener('click', () => turn(-1));
  next.addEventListener('click', () => turn(1));
  await load();
}

function keyRow(k) {
  return h('tr', {},
    h('td', { class: 'cell-name' }, h('a', { href: keyHref(k.id) }, k.name),
      k.description ? h('span', { class: 'sub', title: k.description }, k.description) : null),
    h('td', {}, h('code', { class: 'id' }, k.id)),
    h('td', { class: 'nowrap' }, k.owner || dash()),
    h('td', {}, scopeList(k.scopes)),
    h('td', {}, badge(k.status)),
    h('td', { class: 'nowrap' }, timeEl(k.last_used_at, 'Never')),
    h('td', { class: 'nowrap' }, timeEl(k.expires_at, 'Never')));
}

// ---- One key ----

const RANGES = {
  hour: { label: 'Last hour', bucket: 'minute', n: 60, step: 6e4, what: 'Verifications per minute, last hour' },
  day: { label: 'Last 24 hours', bucket: 'hour', n: 24, step: 36e5, what: 'Verifications per hour, last 24 hours' },
  month: { label: 'Last 30 days', bucket: 'day', n: 30, step: 864e5, what: 'Verifications per day, last 30 days' },
};
let usageRange = 'hour';

async function loadUsage(host, id) {
  const r = RANGES[usageRange];
  // From the start of the oldest of n whole buckets; to defaults to now.
  const from = Math.floor(Date.now() / r.step) * r.step - (r.n - 1) * r.step;
  host.setAttribute('aria-busy', 'true');
  try {
    const rep = await api.usage(id, { from: new Date(from).toISOString(), bucket: r.bucket });
    drawChart(host, rep, r.what);
  } catch (err) {
    if (err.status !== 401) host.replaceChildren(alertBox(err));
  } finally {
    host.setAttribute('aria-busy', 'false');
  }
}

function detail(label, value, cls) {
  return h('div', { class: `detail ${cls || ''}` }, h('dt', {}, label), h('dd', {}, value));
}

function creditsText(k) {
  if (k.remaining === null || k.remaining === undefined) return 'Unlimited';
  const n = k.remaining.toLocaleString('en');
  return k.refill ? `${n}, refilled to ${k.refill.amount.toLocaleString('en')} ${k.refill.interval}` : n;
}

const ACTIONS = { 'key.create': 'Created', 'key.update': 'Updated', 'key.revoke': 'Revoked', 'key.rotate': 'Rotated', 'key.delete': 'Deleted' };

function auditDetails(d) {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
}

async function keyView(gen, _params, id) {
  setView('Key', h('p', { class: 'muted' }, 'Loading…'));
  const k = await api.getKey(id);
  if (gen !== renderGen) return;
  const revoked = k.status === 'revoked';

  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Key actions' });
  if (!revoked) {
    actions.append(
      h('button', { type: 'button', class: 'btn', id: 'action-edit', onclick: () => openKeyForm(k) }, 'Edit'),
      h('button', {
        type: 'button', class: 'btn', id: 'action-toggle',
        onclick: (e) => busy(e.currentTarget, async () => {
          try {
            await api.updateKey(k.id, { enabled: !k.enabled });
            notify(k.enabled ? 'Key disabled.' : 'Key enabled.');
            route();
          } catch (err) {
            if (err.status !== 401) notify(`${toApiError(err).title}: ${toApiError(err).detail}`);
          }
        }),
      }, k.enabled ? 'Disable' : 'Enable'));
    if (!k.replaced_by) actions.append(h('button', { type: 'button', class: 'btn', id: 'action-rotate', onclick: () => openRotate(k) }, 'Rotate'));
    actions.append(h('button', {
      type: 'button', class: 'btn btn-danger-outline', id: 'action-revoke',
      onclick: () => confirmAction({
        title: 'Revoke this key?',
        text: `Requests with “${k.name}” will be rejected within a second. Revocation is final: it cannot be undone.`,
        ok: 'Revoke key',
        action: async () => { await api.revokeKey(k.id); notify('Key revoked.'); route(); },
      }),
    }, 'Revoke'));
  }
  actions.append(h('button', {
    type: 'button', class: 'btn btn-danger-outline', id: 'action-delete',
    onclick: () => confirmAction({
      title: 'Delete this key?',
      text: `“${k.name}” stops working at once and leaves the list. Its usage counts and audit entries stay.`,
      ok: 'Delete key',
      action: async () => { await api.deleteKey(k.id); notify('Key deleted.'); location.hash = '#/keys'; },
    }),
  }, 'Delete'));

  const notices = [];
  if (revoked) notices.push(h('div', { class: 'notice notice-danger' }, 'Revoked ', timeEl(k.revoked_at), '. Revocation is final: every request with this key is rejected.'));
  if (k.replaced_by) {
    notices.push(h('div', { class: 'notice' }, 'Rotated: replaced by ', h('a', { href: keyHref(k.replaced_by) }, h('code', {}, k.replaced_by)),
      '. This key stops working ', timeEl(k.expires_at), '.'));
  }

  const chart = h('div', { class: 'chart-host', id: 'usage', 'aria-busy': 'true' });
  const rangeButtons = Object.entries(RANGES).map(([name, r]) => h('button', {
    type: 'button', class: 'seg-btn', 'data-range': name, 'aria-pressed': String(name === usageRange),
    onclick: (e) => {
      usageRange = name;
      for (const b of e.currentTarget.parentElement.children) b.setAttribute('aria-pressed', String(b === e.currentTarget));
      loadUsage(chart, k.id);
    },
  }, r.label));
  const refresh = h('button', { type: 'button', class: 'btn btn-small', id: 'usage-refresh', onclick: (e) => busy(e.currentTarget, () => loadUsage(chart, k.id)) }, 'Refresh');

  const meta = k.metadata && Object.keys(k.metadata).length ? h('pre', { class: 'mono' }, JSON.stringify(k.metadata, null, 2)) : dash();
  const details = h('dl', { class: 'details' },
    detail('ID', h('code', {}, k.id)),
    detail('Owner', k.owner || dash()),
    detail('Scopes', scopeList(k.scopes)),
    detail('Created', timeEl(k.created_at)),
    detail('Last used', timeEl(k.last_used_at, 'Never')),
    detail('Expires', timeEl(k.expires_at, 'Never')),
    detail('Rate limit', rateText(k.rate_limit)),
    detail('Credits left', creditsText(k)),
    detail('Allowed addresses', k.allowed_cidrs && k.allowed_cidrs.length ? k.allowed_cidrs.join(', ') : 'Any'),
    detail('Updated', timeEl(k.updated_at)),
    detail('Key prefix', h('code', {}, k.prefix)),
    k.replaces ? detail('Replaces', h('a', { href: keyHref(k.replaces) }, h('code', {}, k.replaces))) : null,
    detail('Description', k.description || dash(), 'wide'),
    detail('Metadata', meta, 'wide'));

  const auditBody = h('tbody', { id: 'audit-body' });
  const more = h('button', { type: 'button', class: 'btn btn-small' }, 'Show older entries');
  let auditCursor = '';
  const loadAudit = async () => {
    const page = await api.audit({ key_id: k.id, limit: 20, cursor: auditCursor });
    if (gen !== renderGen) return;
    for (const a of page.items || []) {
      auditBody.append(h('tr', {},
        h('td', { class: 'nowrap' }, timeEl(a.at)),
        h('td', {}, h('span', { title: a.action }, ACTIONS[a.action] || a.action)),
        h('td', {}, h('code', {}, a.actor || '—')),
        h('td', {}, a.client_ip || dash()),
        h('td', { class: 'small' }, auditDetails(a.details) || dash())));
    }
    if (!auditBody.children.length) auditBody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No entries.')));
    auditCursor = page.next_cursor || '';
    more.parentElement.hidden = !auditCursor;
  };
  more.addEventListener('click', () => busy(more, () => loadAudit().catch((err) => more.replaceWith(alertBox(err)))));

  setView(k.name,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/keys' }, 'Keys'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, k.name)),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, k.name, ' ', badge(k.status, 'key-status')),
        h('p', { class: 'muted sub-head' }, h('code', {}, k.id), k.owner ? ` · ${k.owner}` : '')),
      actions),
    notices,
    h('section', { class: 'card', 'aria-labelledby': 'usage-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'usage-title' }, 'Usage'),
        h('div', { class: 'actions' }, h('div', { class: 'seg-group', role: 'group', 'aria-label': 'Period' }, rangeButtons), refresh)),
      chart),
    h('section', { class: 'card', 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title' }, 'Details'), details),
    h('section', { class: 'card card-flush', 'aria-labelledby': 'audit-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'audit-title' }, 'Audit log')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('caption', { class: 'sr-only' }, 'Admin actions on this key, newest first'),
        h('thead', {}, h('tr', {}, ['When', 'Action', 'Actor', 'Client address', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
        auditBody)),
      h('div', { class: 'pager', hidden: true }, more)));

  await Promise.all([loadUsage(chart, k.id), loadAudit()]);
}

// ---- Start ----

if (token.get()) showApp();
route();
