// roles.js: roles (#/roles), named sets of scopes that keys get by having
// the role, and the editor that creates, replaces and deletes one.

import { api, exists } from './api.js';
import {
  $, h, timeEl, dash, scopeList, splitList, resetForm, formError, openDialog, confirmAction, notify, submitForm, view,
  setView, pageHead, searchForm, pagedTable, newPaging,
} from './ui.js';

const paging = newPaging();

export async function rolesView(gen, params) {
  const filters = { q: params.get('q') || '' };
  const q = h('input', { id: 'filter-q', type: 'search', name: 'q', value: filters.q, autocomplete: 'off' });
  const search = searchForm('Search roles', '#/roles', [['q', 'Search by name', q]], filters.q);
  const list = pagedTable({
    gen, paging, filters, size: 20, noun: 'roles', caption: 'Roles, by name', tableId: 'roles-table', bodyId: 'roles-body',
    columns: ['Name', 'Description', 'Scopes', 'Updated', 'Actions'],
    fetch: (page) => api.listRoles({ ...page, ...filters }),
    row: roleRow,
    empty: filters.q ? 'No roles match this search.' : 'No roles yet: create one with New role.',
  });
  const add = h('button', { type: 'button', class: 'btn btn-primary', id: 'new-role', onclick: () => openRoleForm(null) }, 'New role');
  setView('Roles', pageHead('Roles', add),
    h('p', { class: 'muted lead' }, 'A role is a named set of scopes. A key’s effective scopes are its own and those of its roles; a change to a role reaches every key that has it within a second.'),
    search.form, list.card);
  await list.load();
}

function roleRow(r) {
  return h('tr', { 'data-role': r.name },
    h('td', { class: 'cell-name nowrap' }, h('strong', {}, r.name)),
    h('td', {}, r.description || dash()),
    h('td', {}, scopeList(r.scopes)),
    h('td', { class: 'nowrap' }, timeEl(r.updated_at)),
    h('td', {}, h('div', { class: 'actions row-actions' },
      h('button', { type: 'button', class: 'btn btn-small', 'data-edit-role': r.name, 'aria-label': `Edit the role ${r.name}`, onclick: () => openRoleForm(r) }, 'Edit'),
      h('button', {
        type: 'button', class: 'btn btn-small btn-danger-outline', 'data-delete-role': r.name, 'aria-label': `Delete the role ${r.name}`,
        onclick: () => confirmAction({
          title: `Delete the role ${r.name}?`,
          text: 'A role that keys still have cannot be deleted: take it off them first. Deleting cannot be undone.',
          ok: 'Delete role',
          action: async () => { await api.deleteRole(r.name); notify('Role deleted.'); view.route(); },
        }),
      }, 'Delete'))));
}

let editing = null; // the role being edited; null when creating
const FIELD_INPUT = { name: 'r-name', description: 'r-description', scopes: 'r-scopes' };

function openRoleForm(r) {
  editing = r;
  resetForm($('role-form'), $('role-form-error'));
  $('role-dialog-title').textContent = r ? `Edit role ${r.name}` : 'New role';
  $('role-form-submit').textContent = r ? 'Save role' : 'Create role';
  $('r-name').readOnly = !!r;
  $('r-name').value = r ? r.name : '';
  $('r-description').value = r ? r.description : '';
  $('r-scopes').value = r ? r.scopes.join(' ') : '';
  openDialog($('role-dialog'));
  if (r) $('r-description').focus(); // the name cannot change
}

submitForm($('role-form'), $('role-form-submit'), $('role-form-error'), FIELD_INPUT, async () => {
  const name = $('r-name').value.trim();
  if (!name) throw formError('name', 'give the role a name, like invoices-reader');
  // PUT replaces a role: a new one must not overwrite another.
  if (!editing && await exists(api.getRole, name)) throw formError('name', `a role named “${name}” exists already: edit it in the list`);
  const body = { description: $('r-description').value.trim(), scopes: splitList($('r-scopes').value.trim()) };
  await api.putRole(name, body);
  $('role-dialog').close();
  notify(editing ? 'Role saved.' : 'Role created.');
  view.route();
});
