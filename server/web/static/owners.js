// owners.js: owner records: the list (#/owners), an owner's page
// (#/owners/<URL-escaped name>), and the dialogs that create, edit and top
// up one. Keys whose owner string is a record's name share its rate limits
// and credits.

import { api, exists } from './api.js';
import { openKeyForm } from './keyform.js';
import { keyRow, KEY_COLUMNS } from './keys.js';
import { limitsEditor, sameLimits, limitChips, limitRows } from './limits.js';
import { usageCard } from './usage.js';
import {
  $, h, ownerHref, num, timeEl, creditsText, detail, metadataView, numberOrNull, readMetadata, metadataText, refillOf, same,
  createBody, resetForm, formError, openDialog, confirmAction, notify, submitForm, view, stale, setView, pageHead, crumbs,
  searchForm, pagedTable, newPaging,
} from './ui.js';

const paging = newPaging();
const keysPaging = newPaging();

// ---- The list ----

export async function ownersView(gen, params) {
  const filters = { q: params.get('q') || '' };
  const q = h('input', { id: 'filter-q', type: 'search', name: 'q', value: filters.q, autocomplete: 'off' });
  const search = searchForm('Search owners', '#/owners', [['q', 'Search by name', q]], filters.q);
  const list = pagedTable({
    gen, paging, filters, size: 20, noun: 'owners', caption: 'Owner records, by name', tableId: 'owners-table', bodyId: 'owners-body',
    columns: ['Name', 'Keys', 'Shared limits', 'Credits left', 'Updated'],
    fetch: (page) => api.listOwners({ ...page, ...filters }),
    row: (o) => h('tr', {},
      h('td', { class: 'cell-name' }, h('a', { href: ownerHref(o.name) }, o.name)),
      h('td', {}, num(o.key_count)),
      h('td', {}, limitChips(o.rate_limits)),
      h('td', {}, creditsText(o)),
      h('td', { class: 'nowrap' }, timeEl(o.updated_at))),
    empty: filters.q ? 'No owner records match this search.' : 'No owner records yet: create one with New owner.',
  });
  const add = h('button', { type: 'button', class: 'btn btn-primary', id: 'new-owner', onclick: () => openOwnerForm(null) }, 'New owner');
  setView('Owners', pageHead('Owners', add),
    h('p', { class: 'muted lead' }, 'An owner record gives every key whose owner is its name shared rate limits and credits: a customer’s quota, whichever of its keys it spends.'),
    search.form, list.card);
  await list.load();
}

// ---- One owner ----

// record is the owner record of name, or null when there is none (its keys
// then share nothing).
async function record(name) {
  try {
    return await api.getOwner(name);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

function tile(label, value, id, sub) {
  return h('div', { class: 'tile' }, h('span', { class: 'stat-label' }, label),
    h('span', { class: 'tile-value', id }, value), sub ? h('span', { class: 'tile-sub' }, sub) : null);
}

function ownerActions(name, o) {
  const newKey = h('button', { type: 'button', class: 'btn', id: 'owner-new-key', onclick: () => openKeyForm(null, { owner: name }) }, 'New key');
  if (!o) {
    return h('div', { class: 'actions', role: 'group', 'aria-label': 'Owner actions' }, newKey,
      h('button', { type: 'button', class: 'btn btn-primary', id: 'action-create', onclick: () => openOwnerForm(null, name) }, 'Create record'));
  }
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Owner actions' }, newKey,
    h('button', { type: 'button', class: 'btn', id: 'action-topup', onclick: () => openTopUp(o) }, 'Top up credits'),
    h('button', { type: 'button', class: 'btn', id: 'action-edit', onclick: () => openOwnerForm(o) }, 'Edit'),
    h('button', {
      type: 'button', class: 'btn btn-danger-outline', id: 'action-delete',
      onclick: () => confirmAction({
        title: 'Delete this owner record?',
        text: `Its ${num(o.key_count)} keys keep “${o.name}” as their owner, but its shared limits and credits end at once. Its usage counts stay.`,
        ok: 'Delete record',
        action: async () => { await api.deleteOwner(o.name); notify('Owner record deleted.'); location.hash = '#/owners'; },
      }),
    }, 'Delete'));
}

export async function ownerView(gen, _params, name) {
  setView('Owner', h('p', { class: 'muted' }, 'Loading…'));
  const o = await record(name);
  if (stale(gen)) return;

  const usage = usageCard((q) => api.ownerUsage(name, q), `all keys of ${name}`);
  const keys = pagedTable({
    gen, paging: keysPaging, filters: { owner: name }, size: 20, noun: 'keys', caption: `Keys of ${name}, newest first`, bodyId: 'owner-keys-body',
    columns: KEY_COLUMNS,
    fetch: (page) => api.listKeys({ ...page, owner: name }),
    row: keyRow,
    empty: 'No keys carry this owner yet.',
  });
  keys.card.prepend(h('div', { class: 'card-head' }, h('h2', { id: 'owner-keys-title' }, 'Keys'),
    h('p', { class: 'muted' }, 'The keys whose owner is this name.')));

  const parts = [];
  if (o) {
    parts.push(h('div', { class: 'tile-grid' },
      tile('Keys', num(o.key_count), 'owner-key-count'),
      tile('Credits left', o.remaining === null ? 'Unlimited' : num(o.remaining), 'owner-credits',
        o.refill ? `Refilled to ${num(o.refill.amount)} ${o.refill.interval}` : (o.remaining === null ? 'Not counted at the owner' : 'No refill')),
      h('div', { class: 'tile' }, h('span', { class: 'stat-label' }, 'Shared rate limits'),
        h('span', { class: 'tile-chips' }, limitChips(o.rate_limits, 'owner-limit-chips')),
        h('span', { class: 'tile-sub' }, o.rate_limits.length ? 'Counted across all its keys' : 'Each key’s own limits only'))));
  } else {
    parts.push(h('div', { class: 'notice', id: 'owner-no-record' },
      `No owner record for “${name}”: its keys share no limits and no credits. Create a record to give them some.`));
  }
  parts.push(usage.card, keys.card);
  if (o) {
    const limitBody = h('tbody', { id: 'owner-limits' }, o.rate_limits.length
      ? limitRows(o.rate_limits, () => 'All its keys')
      : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No shared rate limits.')));
    parts.push(h('section', { class: 'card', 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title' }, 'Shared limits and credits'),
      h('div', { class: 'table-wrap table-inset' }, h('table', { class: 'table' },
        h('caption', { class: 'sr-only' }, 'Rate limits shared by the owner’s keys'),
        h('thead', {}, h('tr', {}, ['Applies to', 'Name', 'Limit'].map((c) => h('th', { scope: 'col' }, c)))),
        limitBody)),
      h('dl', { class: 'details' },
        detail('Credits left', h('span', { id: 'owner-credits-text' }, creditsText(o))),
        detail('Created', timeEl(o.created_at)),
        detail('Updated', timeEl(o.updated_at)),
        detail('Metadata', metadataView(o.metadata), 'wide'))));
  }

  setView(name,
    crumbs('#/owners', 'Owners', name),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, name),
        h('p', { class: 'muted sub-head' }, o ? ['Owner record · created ', timeEl(o.created_at)] : 'No owner record')),
      ownerActions(name, o)),
    parts);
  await Promise.all([usage.load(), keys.load()]);
}

// ---- Create and edit ----

let editing = null; // the record being edited; null when creating
const limits = limitsEditor('o-limits');
const FIELD_INPUT = {
  name: 'o-name', rate_limits: (rest) => limits.invalid(rest), remaining: 'o-remaining', refill: 'o-refill', metadata: 'o-metadata',
};

// openOwnerForm edits o, or creates a record (named name, if given) when o
// is null.
function openOwnerForm(o, name = '') {
  editing = o;
  resetForm($('owner-form'), $('owner-form-error'));
  $('owner-dialog-title').textContent = o ? 'Edit owner' : 'New owner';
  $('owner-form-submit').textContent = o ? 'Save changes' : 'Create owner';
  $('o-name').readOnly = !!o;
  $('o-name-help').textContent = o
    ? 'A record’s name cannot change: it is the owner string its keys carry.'
    : 'The owner string of the keys that share this record, e.g. a customer or a tenant.';
  $('o-name').value = o ? o.name : name;
  limits.set(o ? o.rate_limits : []);
  $('o-remaining').value = o ? o.remaining ?? '' : '';
  $('o-refill').value = o && o.refill ? o.refill.interval : '';
  $('o-refill-amount').value = o && o.refill ? o.refill.amount : '';
  $('o-metadata').value = o ? metadataText(o.metadata) : '';
  openDialog($('owner-dialog'));
  if (o) $('o-limits-add').focus(); // the name cannot change
}

function readOwnerForm() {
  const f = { rate_limits: limits.get(), remaining: numberOrNull('o-remaining') };
  f.refill = refillOf('o-refill', 'o-refill-amount', f.remaining);
  f.metadata = readMetadata('o-metadata');
  return f;
}

submitForm($('owner-form'), $('owner-form-submit'), $('owner-form-error'), FIELD_INPUT, async () => {
  const f = readOwnerForm();
  if (editing) {
    const b = {};
    if (!sameLimits(f.rate_limits, editing.rate_limits)) b.rate_limits = f.rate_limits;
    if (!same(f.remaining, editing.remaining)) b.remaining = f.remaining;
    if (!same(f.refill, editing.refill && { interval: editing.refill.interval, amount: editing.refill.amount })) b.refill = f.refill;
    const meta = (m) => (m && Object.keys(m).length ? m : {});
    if (!same(meta(f.metadata), meta(editing.metadata))) b.metadata = meta(f.metadata);
    if (Object.keys(b).length) await api.updateOwner(editing.name, b);
    $('owner-dialog').close();
    notify(Object.keys(b).length ? 'Owner saved.' : 'Nothing changed.');
    view.route();
    return;
  }
  const name = $('o-name').value.trim();
  if (!name) throw formError('name', 'give the owner string of its keys');
  // PUT replaces a record: a new one must not overwrite another.
  if (await exists(api.getOwner, name)) throw formError('name', `an owner record named “${name}” exists already: open it to change it`);
  await api.putOwner(name, createBody(f));
  $('owner-dialog').close();
  notify('Owner created.');
  const next = ownerHref(name);
  if (location.hash === next) view.route();
  else location.hash = next;
});

// ---- Top up ----

let topping = null; // the record whose credits the top-up dialog sets

function openTopUp(o) {
  topping = o;
  resetForm($('topup-form'), $('topup-error'));
  $('topup-now').textContent = o.remaining === null
    ? `“${o.name}” counts no credits yet: a balance makes all its keys spend from it.`
    : `“${o.name}” has ${num(o.remaining)} credits left, shared by its ${num(o.key_count)} keys.`;
  $('topup-balance').value = o.remaining ?? '';
  openDialog($('topup-dialog'));
}

submitForm($('topup-form'), $('topup-submit'), $('topup-error'), { remaining: 'topup-balance' }, async () => {
  const n = numberOrNull('topup-balance');
  if (n === null) throw formError('remaining', 'give the new balance');
  await api.updateOwner(topping.name, { remaining: n });
  $('topup-dialog').close();
  notify(`Credits of ${topping.name} set to ${num(n)}.`);
  view.route();
});
