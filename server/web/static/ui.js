// ui.js: what every view of the admin page shares: building elements,
// times and durations, messages, dialogs, paged tables and the view state.
// All text from the API goes in through textContent (h() makes text nodes
// of strings), never as markup.

import { ApiError } from './api.js';

export const $ = (id) => document.getElementById(id);

// h builds an element: props are attributes, except class, on<event>
// handlers; children that are strings become text nodes.
export function h(tag, props = {}, ...kids) {
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

// Links to the pages of a key, an owner and a role search; names are
// URL-escaped (an owner may be "acme corp/eu").
export const keyHref = (id) => `#/keys/${encodeURIComponent(id)}`;
export const ownerHref = (name) => `#/owners/${encodeURIComponent(name)}`;
export const roleHref = (name) => `#/roles?q=${encodeURIComponent(name)}`;
export const dash = () => h('span', { class: 'muted' }, '—');
export const capital = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);
export const num = (n) => Number(n).toLocaleString('en');

// ---- Times and durations ----

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
export function timeEl(iso, none = 'Never') {
  if (!iso) return h('span', { class: 'muted' }, none);
  return h('time', { datetime: iso, title: exact(iso), 'data-rel': '' }, relative(Date.parse(iso)));
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = relative(Date.parse(t.dateTime));
}, 30e3);

// goDuration reads a Go duration string ("1m0s", "24h0m0s") in ms.
export function goDuration(s) {
  const units = { h: 36e5, m: 6e4, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };
  let ms = 0;
  for (const [, n, u] of String(s).matchAll(/([0-9.]+)(h|ms|us|µs|ns|m|s)/g)) ms += Number(n) * units[u];
  return ms;
}

const PERIODS = { 1e3: 'second', 6e4: 'minute', 36e5: 'hour', 864e5: 'day' };

// rateText says "120 per minute", or "500 every 90s".
export function rateText(rl) {
  if (!rl) return 'No limit';
  const per = PERIODS[goDuration(rl.period)];
  return per ? `${num(rl.limit)} per ${per}` : `${num(rl.limit)} every ${rl.period}`;
}

// creditsText says what is left of a key's or an owner's credits.
export function creditsText(o) {
  if (o.remaining === null || o.remaining === undefined) return 'Unlimited';
  const n = num(o.remaining);
  return o.refill ? `${n}, refilled to ${num(o.refill.amount)} ${o.refill.interval}` : n;
}

// ---- Messages ----

function toApiError(err) {
  if (err instanceof ApiError) return err;
  return new ApiError(0, { title: 'Something went wrong', detail: String(err && err.message ? err.message : err) });
}

// fillError writes an error into a box: the problem's title, its detail,
// and each broken rule as "field: message".
export function fillError(box, err) {
  box.replaceChildren();
  if (!err) return box;
  const e = toApiError(err);
  box.append(h('strong', {}, e.title));
  if (e.detail) box.append(h('p', {}, `${capital(e.detail)}${/[.!?]$/.test(e.detail) ? '' : '.'}`));
  const fields = e.fields();
  if (fields.length) box.append(h('ul', {}, fields.map((f) => h('li', {}, f))));
  return box;
}

export const alertBox = (err) => fillError(h('div', { class: 'alert', role: 'alert' }), err);

// formError is a mistake found before the request is sent, shown like the
// API's own.
export const formError = (field, message) => new ApiError(0, { title: 'Check the form', errors: [{ location: `body.${field}`, message }] });

let toastTimer;
// notify announces a success in the polite live region.
export function notify(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.classList.remove('show'); t.textContent = ''; }, 4000);
}

// notifyError announces a failed action that has no form to show it in.
export function notifyError(err) {
  if (err.status === 401) return; // the sign-in form says it
  const e = toApiError(err);
  notify(e.detail ? `${e.title}: ${e.detail}` : e.title);
}

export function badge(status, id) {
  return h('span', { class: `badge badge-${status}`, id }, status);
}

export function scopeList(scopes, id) {
  if (!scopes || !scopes.length) return h('span', { class: 'muted', id }, '—');
  return h('span', { class: 'chips', id }, scopes.map((s) => h('span', { class: 'chip' }, s)));
}

export function detail(label, value, cls) {
  return h('div', { class: `detail ${cls || ''}` }, h('dt', {}, label), h('dd', {}, value));
}

export function metadataView(m) {
  return m && Object.keys(m).length ? h('pre', { class: 'mono' }, JSON.stringify(m, null, 2)) : dash();
}

// ---- Form fields ----

export function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

// splitList reads scopes typed with spaces or commas between them.
export const splitList = (s) => s.split(/[\s,]+/).filter(Boolean);

// readMetadata reads a textarea of JSON: null when empty, else an object.
export function readMetadata(id, field = 'metadata') {
  const text = $(id).value.trim();
  if (!text) return null;
  let m;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw formError(field, `is not valid JSON (${e.message})`);
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw formError(field, 'must be a JSON object, like {"plan": "pro"}');
  return m;
}

export const metadataText = (m) => (m && Object.keys(m).length ? JSON.stringify(m, null, 2) : '');

// refillOf reads a refill select and amount: null for none.
export function refillOf(intervalId, amountId, remaining) {
  const interval = $(intervalId).value;
  const amount = numberOrNull(amountId) ?? remaining;
  if (interval && !amount) throw formError('refill', 'give the credits, or the amount to refill to');
  return interval ? { interval, amount } : null;
}

export const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

// createBody leaves out the empty fields.
export function createBody(f) {
  const b = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    b[k] = v;
  }
  return b;
}

// resetForm empties a form and its error box.
export function resetForm(form, errorBox) {
  form.reset();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  fillError(errorBox, null);
}

// markInvalid flags the inputs of the fields an error names; fields maps a
// body field to an input id, or to a function of the rest of the location
// (e.g. "[0].limit") that returns the element.
function markInvalid(err, fields) {
  for (const e of err.errors || []) {
    const loc = String(e.location || '').replace(/^(body|path)\./, '');
    const [, top, rest] = loc.match(/^([a-z_]+)(.*)$/) || [];
    const f = fields[top];
    const el = typeof f === 'function' ? f(rest) : f && $(f);
    if (el) el.setAttribute('aria-invalid', 'true');
  }
}

// ---- Dialogs ----

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
const focusables = (root) => [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length);

// openDialog shows a modal dialog (the rest of the page is inert; Escape
// closes it) and gives focus back to where it was when it closes.
export function openDialog(dlg) {
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

export function closeDialogs() {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
}

// busy disables a button while fn runs.
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// confirmAction asks before a destructive action, and shows its error.
export function confirmAction({ title, text, ok, action }) {
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

// submitForm runs save on a form's submit with its button busy, showing a
// failure in box and flagging the fields it names.
export function submitForm(form, button, box, fields, save) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!form.reportValidity()) return;
    fillError(box, null);
    await busy(button, async () => {
      try {
        await save();
      } catch (err) {
        fillError(box, err);
        markInvalid(err, fields);
        box.scrollIntoView({ block: 'nearest' });
      }
    });
  });
}

// ---- The view ----

// view is the state of the page's view: gen is bumped on every render (a
// slower, older render stops when it sees a newer one), timer is a view's
// auto-refresh, and route renders the current hash again (set by app.js).
export const view = { gen: 0, timer: undefined, route: () => {} };

// stale says a render has been replaced by a newer one.
export const stale = (gen) => gen !== view.gen;

export function focusView() {
  const h1 = $('view').querySelector('h1');
  if (h1) h1.focus();
  else $('main').focus();
}

export function setView(title, ...kids) {
  document.title = `${title} · keyward`;
  $('view').replaceChildren(...kids.flat());
}

// pageHead is a view's heading, with its actions at the right.
export function pageHead(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), h('div', { class: 'actions' }, actions));
}

// crumbs is a breadcrumb from a list to one of its items.
export function crumbs(listHref, listName, here) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: listHref }, listName),
    h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, here));
}

// goHours reads a Go duration as the API writes it ("2160h0m0s", "90m0s")
// and writes it in whole hours or minutes as the API takes it ("2160h").
export function goHours(d) {
  const mins = goMinutes(d);
  if (mins === null) return String(d);
  return mins % 60 ? `${mins}m` : `${mins / 60}h`;
}

// goMinutes is a Go duration of whole minutes ("720h0m0s", "90m") in
// minutes; null for anything else.
export function goMinutes(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(String(d || ''));
  if (!m) return null;
  const mins = (+m[1] || 0) * 60 + (+m[2] || 0);
  return +m[3] || !mins ? null : mins;
}

// goSpan writes a Go duration for people: "90 days", "36 hours".
export function goSpan(d) {
  const m = /^(\d+)h$/.exec(goHours(d));
  if (!m) return String(d);
  const hours = +m[1];
  if (hours % 24 === 0) return hours === 24 ? '1 day' : `${hours / 24} days`;
  return hours === 1 ? '1 hour' : `${hours} hours`;
}

// searchForm is a list's filter form; apply navigates to the hash of its
// fields' values, fields being [[query name, label, element]], keeping the
// query parameters of keep (filters the form does not show).
export function searchForm(label, base, fields, active, keep = {}) {
  const apply = () => {
    const p = new URLSearchParams(keep);
    for (const [k, , el] of fields) if (el.value.trim()) p.set(k, el.value.trim());
    const hash = p.toString() ? `${base}?${p}` : base;
    if (hash === location.hash) view.route();
    else location.hash = hash;
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': label, onsubmit: (e) => { e.preventDefault(); apply(); } },
    fields.map(([, text, el]) => h('div', { class: 'field' }, h('label', { for: el.id }, text), el)),
    h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'btn' }, 'Filter'),
      active ? h('a', { class: 'btn btn-ghost', href: base }, 'Clear') : null));
  return { form, apply };
}

// pagedTable is a table that shows a list by pages of size, going forward
// by the API's cursors and back by remembered ones. paging keeps the
// position while filters stay the same; fetch(cursor) gets a page, row(item)
// makes a row. It returns the table's card and load, which shows the
// current page.
export function pagedTable({ gen, paging, filters, size, noun, caption, columns, tableId, bodyId, fetch, row, empty }) {
  const key = JSON.stringify(filters);
  if (key !== paging.filters) Object.assign(paging, { filters: key, cursors: [''], page: 0 });
  const tbody = h('tbody', { id: bodyId, 'aria-busy': 'true' });
  const table = h('table', { class: 'table', id: tableId },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const info = h('span', { class: 'muted', id: 'page-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'btn', id: 'page-prev', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'btn', id: 'page-next', disabled: true }, 'Next →');
  const card = h('div', { class: 'card card-flush' }, h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, info, h('div', { class: 'actions' }, prev, next)));
  const cell = (content) => h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, content));

  const load = async () => {
    tbody.setAttribute('aria-busy', 'true');
    const res = await fetch({ limit: size, cursor: paging.cursors[paging.page] });
    if (stale(gen)) return;
    const items = res.items || [];
    paging.cursors.length = paging.page + 1;
    if (res.next_cursor) paging.cursors.push(res.next_cursor);
    tbody.replaceChildren(...items.map(row));
    if (!items.length) tbody.append(cell(empty));
    tbody.setAttribute('aria-busy', 'false');
    const first = paging.page * size;
    info.textContent = items.length ? `${capital(noun)} ${first + 1}–${first + items.length} · page ${paging.page + 1}` : '';
    prev.disabled = paging.page === 0;
    next.disabled = !res.next_cursor;
  };
  const turn = (delta) => {
    paging.page += delta;
    load().catch((err) => tbody.replaceChildren(h('tr', {}, h('td', { colspan: columns.length }, alertBox(err)))));
  };
  prev.addEventListener('click', () => turn(-1));
  next.addEventListener('click', () => turn(1));
  return { card, load };
}

// newPaging is the position in a paged list: cursors[i] starts page i.
export const newPaging = () => ({ filters: null, cursors: [''], page: 0 });
