// app.js: keyward's admin page. Hash routes (#/overview, #/keys,
// #/keys/<id>, #/owners, #/owners/<name>, #/roles, #/webhooks,
// #/webhooks/<id>) render views into #view;
// dialogs are in index.html. Names and ids in routes are URL-escaped.

import { api, token, onUnauthorized, ApiError } from './api.js';
import { drawChart } from './chart.js';
import { keysView, keyView, STATUSES } from './keys.js';
import { ownersView, ownerView } from './owners.js';
import { rolesView } from './roles.js';
import { webhooksView, webhookView } from './webhooks.js';
import {
  $, h, capital, fillError, alertBox, notify, busy, closeDialogs, focusView, view, stale, setView, pageHead, goSpan, goHours,
} from './ui.js';

// ---- Routing ----

// Each route: the hash's path, its view, and the navigation link it lights.
// A name in a path is URL-escaped, so it holds no "/".
const ROUTES = [
  [/^#\/overview$/, overviewView, 'overview'],
  [/^#\/keys$/, keysView, 'keys'],
  [/^#\/keys\/([^/]+)$/, keyView, 'keys'],
  [/^#\/owners$/, ownersView, 'owners'],
  [/^#\/owners\/([^/]+)$/, ownerView, 'owners'],
  [/^#\/roles$/, rolesView, 'roles'],
  [/^#\/webhooks$/, webhooksView, 'webhooks'],
  [/^#\/webhooks\/([^/]+)$/, webhookView, 'webhooks'],
];

// route renders the view of the current hash. moveFocus, after a
// navigation, moves focus to the new view's heading for screen readers.
function route(moveFocus = false) {
  closeDialogs();
  clearInterval(view.timer);
  const gen = ++view.gen;
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
      if (stale(gen) || err.status === 401) return;
      setView('Error', h('h1', { tabindex: '-1' }, 'Something went wrong'), alertBox(err));
    })
    .finally(() => {
      // After a navigation, or when the focused control was re-rendered away.
      const lost = !document.activeElement || document.activeElement === document.body;
      if (!stale(gen) && (moveFocus || lost)) focusView();
    });
}

view.route = route;
window.addEventListener('hashchange', () => route(true));

// ---- Sign-in ----

function showSignIn(message) {
  closeDialogs();
  clearInterval(view.timer);
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
  ++view.gen;
  showSignIn(new ApiError(401, { title: 'Please sign in again', detail: err.detail || 'the admin token is no longer accepted' }));
});

// ---- Overview ----

async function overviewView(gen) {
  const stats = h('div', { class: 'stat-grid', 'aria-busy': 'true' });
  const hygiene = h('div', { class: 'stat-grid hygiene-grid', id: 'hygiene', 'aria-busy': 'true' });
  const chart = h('div', { class: 'chart-host', id: 'overview-chart' });
  const refresh = h('button', { type: 'button', class: 'btn', id: 'overview-refresh' }, 'Refresh');
  setView('Overview', pageHead('Overview', refresh), stats,
    h('section', { class: 'card', 'aria-labelledby': 'ov-hygiene' },
      h('div', { class: 'card-head' }, h('h2', { id: 'ov-hygiene' }, 'Key hygiene'),
        h('p', { class: 'muted' }, 'Active keys that deserve a look: revoke those nobody uses, renew those about to expire.')),
      hygiene),
    h('section', { class: 'card', 'aria-labelledby': 'ov-usage' },
      h('div', { class: 'card-head' }, h('h2', { id: 'ov-usage' }, 'Verifications in the last hour'),
        h('p', { class: 'muted' }, 'All keys, per minute, by outcome.')),
      chart));

  const load = async () => {
    const [s, hy] = await Promise.all([api.stats(), api.hygiene()]);
    if (stale(gen)) return;
    hygiene.replaceChildren(...hygieneCards(hy));
    hygiene.setAttribute('aria-busy', 'false');
    stats.replaceChildren(...STATUSES.map((st) => h('a', { class: `stat stat-${st}`, href: `#/keys?status=${st}` },
      h('span', { class: 'stat-label' }, capital(st)),
      h('span', { class: 'stat-value', 'data-status': st }, (s.keys[st] || 0).toLocaleString('en')))));
    stats.setAttribute('aria-busy', 'false');
    drawChart(chart, s.usage, 'Verifications per minute, last hour, all keys');
  };
  refresh.addEventListener('click', () => busy(refresh, () => load().catch((err) => chart.replaceChildren(alertBox(err)))));
  await load();
  view.timer = setInterval(() => load().catch(() => {}), 30e3);
}

// hygieneCards are the links of the hygiene card: each count of
// GET /v1/stats/hygiene, to the keys list with the filter behind it.
function hygieneCards(hy) {
  const cards = [
    ['never-used', 'Never used', hy.never_used, 'never_used=true'],
    ['unused', `Unused for ${goSpan(hy.unused_for)}`, hy.unused, `unused_for=${goHours(hy.unused_for)}`],
    ['expiring', `Expiring within ${goSpan(hy.expires_within)}`, hy.expiring, `expires_within=${goHours(hy.expires_within)}`],
    ['no-expiry', 'No expiry', hy.no_expiry, 'no_expiry=true'],
  ];
  return cards.map(([id, label, n, query]) => h('a', { class: `stat stat-hygiene stat-${id}`, id: `hygiene-${id}`, href: `#/keys?status=active&${query}` },
    h('span', { class: 'stat-label' }, label),
    h('span', { class: 'stat-value' }, (n || 0).toLocaleString('en'))));
}

// ---- Start ----

if (token.get()) showApp();
route();
