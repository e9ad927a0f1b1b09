// keyform.js: the dialogs that change keys: create and edit (#key-dialog),
// rotate (#rotate-dialog), and the secret shown once (#secret-dialog).

import { api, allRoles } from './api.js';
import { limitsEditor, sameLimits } from './limits.js';
import {
  $, h, keyHref, numberOrNull, splitList, readMetadata, metadataText, refillOf, same, createBody,
  resetForm, fillError, formError, openDialog, busy, notify, submitForm, view, goMinutes, goSpan,
} from './ui.js';

let editing = null; // the key being edited; null when creating
const limits = limitsEditor('f-limits', 'default');

// The roles the form offers, once loaded; null until then (the form then
// keeps the key's roles as they are).
let offered = null;

const FIELD_INPUT = {
  name: 'f-name', description: 'f-description', owner: 'f-owner', scopes: 'f-scopes',
  expires_at: 'f-expiry', expires_in: 'f-expiry', rate_limit: (rest) => limits.invalid(rest),
  rate_limits: (rest) => limits.invalid(rest), roles: 'f-roles', remaining: 'f-remaining', refill: 'f-refill', metadata: 'f-metadata',
};

function syncExpiry() {
  const date = $('f-expiry').value === 'date';
  $('f-expires-at-field').hidden = !date;
  $('f-expires-at').required = date;
}
$('f-expiry').addEventListener('change', syncExpiry);

// loadPolicy fits the expiry choices to the key lifetime policy
// (GET /v1/policy): a new key is offered the default lifetime, and under a
// maximum "Never expires" and the choices beyond it are disabled. Without
// the policy the choices stay as they are: the server still refuses what
// the policy does not allow, with a message.
let policySeq = 0;

async function loadPolicy(creating) {
  const seq = ++policySeq;
  const sel = $('f-expiry');
  const byPolicy = sel.querySelector('option[value="policy"]');
  byPolicy.hidden = byPolicy.disabled = true;
  for (const o of sel.options) if (o.value !== 'policy' && o.value !== 'keep') o.disabled = false;
  $('f-expiry-help').textContent = '';
  let p;
  try {
    p = await api.policy();
  } catch {
    return;
  }
  if (seq !== policySeq) return;
  const max = p.max_key_lifetime ? goMinutes(p.max_key_lifetime) : null;
  const notes = [];
  if (max !== null) {
    for (const o of sel.options) {
      if (o.value === '' || (goMinutes(o.value) || 0) > max) o.disabled = true;
    }
    notes.push(`Keys expire within ${goSpan(p.max_key_lifetime)} at most (the key lifetime policy).`);
  }
  if (creating && p.default_key_lifetime) {
    byPolicy.hidden = byPolicy.disabled = false;
    byPolicy.textContent = `Policy default: in ${goSpan(p.default_key_lifetime)}`;
    notes.push(`Without a choice a new key expires in ${goSpan(p.default_key_lifetime)}.`);
    if (sel.value === '') sel.value = 'policy';
  }
  if (sel.selectedOptions[0] && sel.selectedOptions[0].disabled) {
    const fits = [...sel.options].filter((o) => !o.disabled && !o.hidden && goMinutes(o.value) !== null);
    sel.value = fits.length ? fits[fits.length - 1].value : 'date';
  }
  $('f-expiry-help').textContent = notes.join(' ');
  syncExpiry();
}

// loadRoles fills the roles fieldset with a checkbox per role, the key's
// own checked.
let rolesSeq = 0; // the latest loadRoles: an older one that ends later stops

async function loadRoles(checked) {
  const list = $('f-roles-list');
  const seq = ++rolesSeq;
  offered = null;
  list.setAttribute('aria-busy', 'true');
  list.replaceChildren(h('p', { class: 'muted small' }, 'Loading roles…'));
  let roles;
  try {
    roles = await allRoles();
  } catch (err) {
    if (seq !== rolesSeq) return;
    list.replaceChildren(fillError(h('div', { class: 'alert', role: 'alert' }), err));
    list.setAttribute('aria-busy', 'false');
    return;
  }
  if (seq !== rolesSeq) return;
  // A role the key has but the list lacks (deleted meanwhile) stays offered.
  const names = new Set(roles.map((r) => r.name));
  for (const n of checked) if (!names.has(n)) roles.push({ name: n, scopes: [] });
  list.replaceChildren(...roles.map((r, i) => {
    const box = h('input', { type: 'checkbox', id: `f-role-${i}`, name: 'roles', value: r.name, 'aria-describedby': `f-role-${i}-scopes` });
    box.checked = checked.includes(r.name);
    return h('div', { class: 'check' }, box, h('label', { for: box.id }, r.name),
      h('span', { class: 'muted small', id: `f-role-${i}-scopes` }, r.scopes.length ? r.scopes.join(' ') : 'no scopes'));
  }));
  if (!roles.length) list.replaceChildren(h('p', { class: 'muted small' }, 'No roles yet: create them on the ', h('a', { href: '#/roles' }, 'Roles'), ' page.'));
  offered = roles.map((r) => r.name);
  list.setAttribute('aria-busy', 'false');
}

// openKeyForm opens the form to edit key, or to create a key when key is
// null; preset fills fields of a new key (e.g. {owner}).
export function openKeyForm(key, preset = {}) {
  editing = key || null;
  const form = $('key-form');
  resetForm(form, $('key-form-error'));
  $('key-dialog-title').textContent = key ? 'Edit key' : 'New key';
  $('key-form-submit').textContent = key ? 'Save changes' : 'Create key';
  const keep = form.querySelector('[data-edit-only]');
  keep.hidden = keep.disabled = !key;
  $('f-expiry').value = key ? 'keep' : '';
  $('f-owner').value = preset.owner || '';
  limits.set(key ? key.rate_limits : []);
  if (key) {
    $('f-name').value = key.name;
    $('f-description').value = key.description || '';
    $('f-owner').value = key.owner || '';
    $('f-scopes').value = (key.scopes || []).join(' ');
    $('f-remaining').value = key.remaining ?? '';
    $('f-refill').value = key.refill ? key.refill.interval : '';
    $('f-refill-amount').value = key.refill ? key.refill.amount : '';
    $('f-metadata').value = metadataText(key.metadata);
  }
  syncExpiry();
  openDialog($('key-dialog'));
  loadRoles(key ? key.roles || [] : []);
  loadPolicy(!key);
}

// readKeyForm returns the form as the API's fields, all of them.
function readKeyForm() {
  const text = (id) => $(id).value.trim();
  const f = {
    name: text('f-name'), description: text('f-description'), owner: text('f-owner'),
    scopes: splitList(text('f-scopes')), rate_limits: limits.get(),
  };
  f.roles = offered ? [...$('f-roles-list').querySelectorAll('input:checked')].map((b) => b.value) : (editing ? editing.roles || [] : []);
  f.remaining = numberOrNull('f-remaining');
  f.refill = refillOf('f-refill', 'f-refill-amount', f.remaining);
  f.metadata = readMetadata('f-metadata');
  const exp = $('f-expiry').value;
  if (exp === 'date') {
    const at = $('f-expires-at').value;
    if (!at) throw formError('expires_at', 'pick a date and time');
    f.expires_at = new Date(at).toISOString();
  } else if (exp === '' && !editing) {
    f.expires_in = 'never'; // opts out of a default lifetime
  } else if (exp === '') {
    f.expires_at = null;
  } else if (exp !== 'keep' && exp !== 'policy') {
    f.expires_in = exp;
  }
  return f;
}

// patchBody keeps only what differs from the key; null clears a field.
function patchBody(f, key) {
  const b = {};
  for (const k of ['name', 'description', 'owner']) if (f[k] !== (key[k] || '')) b[k] = f[k];
  if (!same(f.scopes, key.scopes || [])) b.scopes = f.scopes;
  if (!sameLimits(f.rate_limits, key.rate_limits)) b.rate_limits = f.rate_limits;
  if (!same([...f.roles].sort(), [...(key.roles || [])].sort())) b.roles = f.roles;
  if (!same(f.remaining, key.remaining)) b.remaining = f.remaining;
  if (!same(f.refill, key.refill && { interval: key.refill.interval, amount: key.refill.amount })) b.refill = f.refill;
  const meta = (m) => (m && Object.keys(m).length ? m : {});
  if (!same(meta(f.metadata), meta(key.metadata))) b.metadata = meta(f.metadata);
  if ('expires_in' in f) b.expires_in = f.expires_in;
  else if ('expires_at' in f && !(f.expires_at === null && !key.expires_at)) b.expires_at = f.expires_at;
  return b;
}

submitForm($('key-form'), $('key-form-submit'), $('key-form-error'), FIELD_INPUT, async () => {
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
    view.route();
    return;
  }
  const issued = await api.createKey(createBody(f));
  $('key-dialog').close();
  await showSecret('Key created', issued);
  const next = keyHref(issued.key.id);
  if (location.hash === next) view.route();
  else location.hash = next;
});

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

// openRotate asks for a grace period and rotates key.
export function openRotate(key) {
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
