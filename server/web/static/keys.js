// keys.js: the keys table (#/keys) and a key's page (#/keys/<id>).

import { api } from './api.js';
import { openKeyForm, openRotate } from './keyform.js';
import { limitRows } from './limits.js';
import { usageCard } from './usage.js';
import {
  h, keyHref, ownerHref, roleHref, dash, capital, timeEl, creditsText, alertBox, notify, notifyError, badge, scopeList,
  detail, metadataView, busy, confirmAction, view, stale, setView, pageHead, crumbs, searchForm, pagedTable, newPaging, goSpan,
} from './ui.js';

export const STATUSES = ['active', 'disabled', 'revoked', 'expired'];
const paging = newPaging();

// HYGIENE are the filters by use and expiry the overview's hygiene card
// links to: the query parameter, and what it shows in words.
const HYGIENE = [
  ['never_used', (v) => (v === 'true' ? 'never used' : '')],
  ['unused_for', (v) => `not used for ${goSpan(v)}`],
  ['expires_within', (v) => `expiring within ${goSpan(v)}`],
  ['no_expiry', (v) => (v === 'true' ? 'without expiry' : '')],
];

// hygieneNotice says which filters by use and expiry the list applies.
function hygieneNotice(hygiene) {
  const words = HYGIENE.filter(([k]) => hygiene[k]).map(([k, say]) => say(hygiene[k])).filter(Boolean);
  if (!words.length) return null;
  return h('p', { class: 'notice', id: 'keys-hygiene' }, `Showing keys ${words.join(', ')}. `, h('a', { href: '#/keys' }, 'Show every key'));
}

export async function keysView(gen, params) {
  const hygiene = {};
  for (const [k] of HYGIENE) if (params.get(k)) hygiene[k] = params.get(k);
  const filters = { q: params.get('q') || '', owner: params.get('owner') || '', status: params.get('status') || '', ...hygiene };
  const q = h('input', { id: 'filter-q', type: 'search', name: 'q', value: filters.q, autocomplete: 'off' });
  const owner = h('input', { id: 'filter-owner', name: 'owner', value: filters.owner, autocomplete: 'off' });
  const status = h('select', { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, capital(s))));
  status.value = filters.status;
  const filtered = filters.q || filters.owner || filters.status || Object.keys(hygiene).length;
  const search = searchForm('Filter keys', '#/keys', [['q', 'Search by name', q], ['owner', 'Owner', owner], ['status', 'Status', status]],
    filtered, hygiene);
  status.addEventListener('change', search.apply);
  const list = pagedTable({
    gen, paging, filters, size: 20, noun: 'keys', caption: 'Keys, newest first', tableId: 'keys-table', bodyId: 'keys-body',
    columns: KEY_COLUMNS,
    fetch: (page) => api.listKeys({ ...page, ...filters }),
    row: keyRow,
    empty: filtered ? 'No keys match these filters.' : 'No keys yet: create one with New key.',
  });
  const newKey = h('button', { type: 'button', class: 'btn btn-primary', id: 'new-key', onclick: () => openKeyForm() }, 'New key');
  setView('Keys', pageHead('Keys', newKey), search.form, hygieneNotice(hygiene) || [], list.card);
  await list.load();
}

// KEY_COLUMNS are the columns of a keyRow.
export const KEY_COLUMNS = ['Name', 'ID', 'Owner', 'Scopes and roles', 'Status', 'Last used', 'Expires'];

// accessList shows a key's scopes, then its roles.
function accessList(k) {
  const roles = k.roles || [];
  if (!roles.length) return scopeList(k.scopes);
  return h('span', { class: 'chips' }, (k.scopes || []).map((s) => h('span', { class: 'chip' }, s)),
    roles.map((r) => h('span', { class: 'chip chip-role', title: 'role' }, h('span', { class: 'sr-only' }, 'role '), r)));
}

// keyRow is a key's row in a keys table.
export function keyRow(k) {
  return h('tr', {},
    h('td', { class: 'cell-name' }, h('a', { href: keyHref(k.id) }, k.name),
      k.description ? h('span', { class: 'sub', title: k.description }, k.description) : null),
    h('td', {}, h('code', { class: 'id' }, k.id)),
    h('td', { class: 'nowrap' }, k.owner ? h('a', { href: ownerHref(k.owner) }, k.owner) : dash()),
    h('td', {}, accessList(k)),
    h('td', {}, badge(k.status)),
    h('td', { class: 'nowrap' }, timeEl(k.last_used_at, 'Never')),
    h('td', { class: 'nowrap' }, timeEl(k.expires_at, 'Never')));
}

const ACTIONS = { 'key.create': 'Created', 'key.update': 'Updated', 'key.revoke': 'Revoked', 'key.rotate': 'Rotated', 'key.delete': 'Deleted' };

function auditDetails(d) {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
}

// effectiveScopes is the key's scopes and its roles' scopes, each once
// (the key's first); from maps each scope a role gave to that role's name.
// A role that cannot be read is reported in missing.
async function effectiveScopes(k) {
  const roles = await Promise.all((k.roles || []).map((name) => api.getRole(name).catch((err) => {
    if (err.status === 404) return { name, missing: true, scopes: [] };
    throw err;
  })));
  const scopes = [...(k.scopes || [])];
  const from = new Map();
  for (const r of roles) {
    for (const s of r.scopes) {
      if (scopes.includes(s)) continue;
      scopes.push(s);
      from.set(s, r.name);
    }
  }
  return { scopes, from, missing: roles.filter((r) => r.missing).map((r) => r.name) };
}

function effectiveList({ scopes, from, missing }) {
  const chips = scopes.length
    ? h('span', { class: 'chips', id: 'key-effective-scopes' }, scopes.map((s) => (from.has(s)
      ? h('span', { class: 'chip chip-role', title: `from the role ${from.get(s)}` }, s, h('span', { class: 'sr-only' }, ` (from the role ${from.get(s)})`))
      : h('span', { class: 'chip' }, s))))
    : h('span', { class: 'muted', id: 'key-effective-scopes' }, 'None');
  const note = missing.length ? h('p', { class: 'help' }, `Role not found: ${missing.join(', ')}.`) : null;
  return [chips, note];
}

// ownerRecord is the record of the key's owner, or null when there is none.
async function ownerRecord(k) {
  if (!k.owner) return null;
  try {
    return await api.getOwner(k.owner);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

// limitsCard lists every limit a request with the key must pass, and the
// credits it spends: the key's, then its owner's, shared with its other keys.
function limitsCard(k, owner) {
  const ownerLink = () => h('a', { href: ownerHref(k.owner) }, k.owner);
  const rows = [...limitRows(k.rate_limits, () => 'This key'), ...limitRows(owner && owner.rate_limits, () => ['Owner ', ownerLink()])];
  const body = h('tbody', { id: 'limits-body' }, rows.length ? rows : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No rate limits: requests are not counted.')));
  const credits = h('dl', { class: 'details details-tight' },
    detail('Credits left on this key', h('span', { id: 'key-credits' }, creditsText(k))),
    owner ? detail(['Credits shared by ', ownerLink()], h('span', { id: 'key-owner-credits' }, creditsText(owner))) : null);
  let note = 'A request must pass every limit; each admitted request spends its cost in each, and in the credits.';
  if (k.owner && !owner) note += ` The owner ${k.owner} has no record, so nothing is shared with its other keys.`;
  return h('section', { class: 'card card-flush', 'aria-labelledby': 'limits-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'limits-title' }, 'Limits and credits'), h('p', { class: 'muted' }, note)),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('caption', { class: 'sr-only' }, 'Rate limits of this key and of its owner'),
      h('thead', {}, h('tr', {}, ['Applies to', 'Name', 'Limit'].map((c) => h('th', { scope: 'col' }, c)))),
      body)),
    h('div', { class: 'card-body' }, credits));
}

function keyActions(k) {
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
            view.route();
          } catch (err) {
            notifyError(err);
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
        action: async () => { await api.revokeKey(k.id); notify('Key revoked.'); view.route(); },
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
  return actions;
}

function auditCard(k, gen) {
  const auditBody = h('tbody', { id: 'audit-body' });
  const more = h('button', { type: 'button', class: 'btn btn-small' }, 'Show older entries');
  let auditCursor = '';
  const load = async () => {
    const page = await api.audit({ key_id: k.id, limit: 20, cursor: auditCursor });
    if (stale(gen)) return;
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
  more.addEventListener('click', () => busy(more, () => load().catch((err) => more.replaceWith(alertBox(err)))));
  const card = h('section', { class: 'card card-flush', 'aria-labelledby': 'audit-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'audit-title' }, 'Audit log')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('caption', { class: 'sr-only' }, 'Admin actions on this key, newest first'),
      h('thead', {}, h('tr', {}, ['When', 'Action', 'Actor', 'Client address', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
      auditBody)),
    h('div', { class: 'pager', hidden: true }, more));
  return { card, load };
}

export async function keyView(gen, _params, id) {
  setView('Key', h('p', { class: 'muted' }, 'Loading…'));
  const k = await api.getKey(id);
  if (stale(gen)) return;
  const [eff, owner] = await Promise.all([effectiveScopes(k), ownerRecord(k)]);
  if (stale(gen)) return;

  const notices = [];
  if (k.status === 'revoked') notices.push(h('div', { class: 'notice notice-danger' }, 'Revoked ', timeEl(k.revoked_at), '. Revocation is final: every request with this key is rejected.'));
  if (k.replaced_by) {
    notices.push(h('div', { class: 'notice' }, 'Rotated: replaced by ', h('a', { href: keyHref(k.replaced_by) }, h('code', {}, k.replaced_by)),
      '. This key stops working ', timeEl(k.expires_at), '.'));
  }

  const usage = usageCard((q) => api.usage(k.id, q));
  const roles = k.roles && k.roles.length
    ? h('span', { class: 'chips', id: 'key-roles' }, k.roles.map((r) => h('a', { class: 'chip chip-link', href: roleHref(r) }, r)))
    : h('span', { class: 'muted', id: 'key-roles' }, 'None');
  const details = h('dl', { class: 'details' },
    detail('ID', h('code', {}, k.id)),
    detail('Owner', k.owner ? h('a', { href: ownerHref(k.owner), id: 'key-owner' }, k.owner) : dash()),
    detail('Scopes', scopeList(k.scopes, 'key-scopes')),
    detail('Roles', roles),
    detail('Effective scopes', effectiveList(eff), 'wide'),
    detail('Created', timeEl(k.created_at)),
    detail('Last used', timeEl(k.last_used_at, 'Never')),
    detail('Expires', timeEl(k.expires_at, 'Never')),
    detail('Allowed addresses', k.allowed_cidrs && k.allowed_cidrs.length ? k.allowed_cidrs.join(', ') : 'Any'),
    detail('Updated', timeEl(k.updated_at)),
    detail('Key prefix', h('code', {}, k.prefix)),
    k.replaces ? detail('Replaces', h('a', { href: keyHref(k.replaces) }, h('code', {}, k.replaces))) : null,
    detail('Description', k.description || dash(), 'wide'),
    detail('Metadata', metadataView(k.metadata), 'wide'));
  const audit = auditCard(k, gen);

  setView(k.name,
    crumbs('#/keys', 'Keys', k.name),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, k.name, ' ', badge(k.status, 'key-status')),
        h('p', { class: 'muted sub-head' }, h('code', {}, k.id), k.owner ? ` · ${k.owner}` : '')),
      keyActions(k)),
    notices,
    usage.card,
    h('section', { class: 'card', 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title' }, 'Details'), details),
    limitsCard(k, owner),
    audit.card);

  await Promise.all([usage.load(), audit.load()]);
}
