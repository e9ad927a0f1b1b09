// webhooks.js: webhook endpoints: the list (#/webhooks), an endpoint's page
// (#/webhooks/<id>) with its delivery attempts, the dialog that creates and
// edits one (#hook-dialog), and a new endpoint's signing secret, shown once
// (#hook-secret-dialog).

import { api } from './api.js';
import {
  $, h, dash, timeEl, notify, notifyError, detail, resetForm, formError, openDialog, confirmAction, busy, submitForm,
  view, stale, setView, pageHead, crumbs, pagedTable, newPaging,
} from './ui.js';

// EVENT_TYPES are the event types of the contract, in its order.
export const EVENT_TYPES = [
  'key.created', 'key.updated', 'key.revoked', 'key.rotated', 'key.deleted', 'key.expiring', 'key.credits_exhausted',
  'owner.credits_exhausted', 'key.leaked', 'owner.updated', 'owner.deleted', 'role.updated', 'role.deleted', 'webhook.test',
];

export const hookHref = (id) => `#/webhooks/${encodeURIComponent(id)}`;

const deliveriesPaging = newPaging();
// reloadDeliveries shows the current page of the open endpoint's deliveries again.
let reloadDeliveries = () => {};

function enabledBadge(w, id) {
  return h('span', { class: `badge badge-${w.enabled ? 'active' : 'disabled'}`, id }, w.enabled ? 'Enabled' : 'Disabled');
}

function eventChips(events, id) {
  if (events.length === 1 && events[0] === '*') return h('span', { class: 'chips', id }, h('span', { class: 'chip' }, 'All events'));
  return h('span', { class: 'chips', id }, events.map((e) => h('span', { class: 'chip' }, e)));
}

// ---- The list ----

export async function webhooksView(gen) {
  const body = h('tbody', { id: 'hooks-body', 'aria-busy': 'true' });
  const add = h('button', { type: 'button', class: 'btn btn-primary', id: 'new-hook', onclick: () => openHookForm(null) }, 'New endpoint');
  setView('Webhooks', pageHead('Webhooks', add),
    h('p', { class: 'muted lead' }, 'keyward POSTs each event to every enabled endpoint that subscribes to its type, signed as Standard Webhooks says with the endpoint’s secret. Failed deliveries are retried for 24 hours.'),
    h('div', { class: 'card card-flush' }, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'hooks-table' },
      h('caption', { class: 'sr-only' }, 'Webhook endpoints, oldest first'),
      h('thead', {}, h('tr', {}, ['Endpoint', 'Events', 'Status', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      body))));
  const res = await api.listWebhooks();
  if (stale(gen)) return;
  const items = res.items || [];
  body.replaceChildren(...items.map((w) => h('tr', { 'data-hook': w.id },
    h('td', { class: 'cell-name' }, h('a', { href: hookHref(w.id) }, w.url),
      w.description ? h('span', { class: 'sub', title: w.description }, w.description) : null),
    h('td', {}, eventChips(w.events)),
    h('td', {}, enabledBadge(w)),
    h('td', { class: 'nowrap' }, timeEl(w.created_at)))));
  if (!items.length) body.append(h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No endpoints yet: add one with New endpoint.')));
  body.setAttribute('aria-busy', 'false');
}

// ---- One endpoint ----

function resultCell(a) {
  if (!a.error) return h('td', {}, h('span', { class: 'badge badge-active' }, String(a.status)));
  return h('td', {}, h('span', { class: `badge ${a.status ? 'badge-expired' : 'badge-revoked'}` }, a.status ? String(a.status) : 'No answer'),
    h('span', { class: 'attempt-error small muted' }, a.error));
}

function attemptRow(a) {
  return h('tr', { 'data-event': a.event_id, 'data-attempt': a.attempt },
    h('td', { class: 'nowrap' }, timeEl(a.at)),
    h('td', {}, h('code', { class: 'id' }, a.event_id)),
    h('td', {}, h('code', {}, a.type)),
    h('td', { class: 'num' }, String(a.attempt)),
    resultCell(a),
    h('td', { class: 'nowrap' }, a.next_attempt_at ? timeEl(a.next_attempt_at) : h('span', { class: 'muted' }, 'Done')));
}

function hookActions(w) {
  const toggle = h('button', {
    type: 'button', class: 'btn', id: 'hook-toggle',
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        await api.updateWebhook(w.id, { enabled: !w.enabled });
        notify(w.enabled ? 'Endpoint disabled: it gets no new events.' : 'Endpoint enabled.');
        view.route();
      } catch (err) {
        notifyError(err);
      }
    }),
  }, w.enabled ? 'Disable' : 'Enable');
  const test = h('button', {
    type: 'button', class: 'btn', id: 'hook-test', disabled: !w.enabled, title: w.enabled ? null : 'Enable the endpoint to test it',
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        const res = await api.testWebhook(w.id);
        notify(`Test event ${res.event_id} queued.`);
        reloadDeliveries();
      } catch (err) {
        notifyError(err);
      }
    }),
  }, 'Send test event');
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Endpoint actions' }, test,
    h('button', { type: 'button', class: 'btn', id: 'hook-edit', onclick: () => openHookForm(w) }, 'Edit'),
    toggle,
    h('button', {
      type: 'button', class: 'btn btn-danger-outline', id: 'hook-delete',
      onclick: () => confirmAction({
        title: 'Delete this endpoint?',
        text: `${w.url} gets no more events; its pending deliveries and its delivery log are deleted.`,
        ok: 'Delete endpoint',
        action: async () => { await api.deleteWebhook(w.id); notify('Endpoint deleted.'); location.hash = '#/webhooks'; },
      }),
    }, 'Delete'));
}

export async function webhookView(gen, _params, id) {
  setView('Webhook endpoint', h('p', { class: 'muted' }, 'Loading…'));
  const w = await api.getWebhook(id);
  if (stale(gen)) return;
  const list = pagedTable({
    gen, paging: deliveriesPaging, filters: { id }, size: 20, noun: 'attempts', caption: 'Delivery attempts, newest first',
    tableId: 'deliveries-table', bodyId: 'deliveries-body',
    columns: ['When', 'Event', 'Type', 'Attempt', 'Result', 'Next attempt'],
    fetch: (page) => api.deliveries(id, page),
    row: attemptRow,
    empty: 'No delivery attempts yet.',
  });
  const refresh = h('button', { type: 'button', class: 'btn btn-small', id: 'deliveries-refresh' }, 'Refresh');
  list.card.prepend(h('div', { class: 'card-head' }, h('h2', { id: 'deliveries-title' }, 'Deliveries'),
    h('p', { class: 'muted' }, 'Every attempt: a failed one is tried again after about 5 s, 30 s, 2 min, 10 min, 1 h, then every 4 h, for 24 hours, with the same webhook-id.'),
    refresh));
  const details = h('dl', { class: 'details' },
    detail('ID', h('code', {}, w.id)),
    detail('URL', h('code', { id: 'hook-url' }, w.url), 'wide'),
    detail('Events', eventChips(w.events, 'hook-events'), 'wide'),
    detail('Description', w.description || dash(), 'wide'),
    detail('Created', timeEl(w.created_at)),
    detail('Updated', timeEl(w.updated_at)));
  setView('Webhook endpoint',
    crumbs('#/webhooks', 'Webhooks', w.description || w.id),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, w.description || 'Webhook endpoint', ' ', enabledBadge(w, 'hook-status')),
        h('p', { class: 'muted sub-head' }, h('code', {}, w.id))),
      hookActions(w)),
    w.enabled ? [] : h('div', { class: 'notice', id: 'hook-disabled' }, 'Disabled: it gets no new events. Deliveries it already had wait, and go out when it is enabled again (unless older than 7 days: they are pruned).'),
    h('section', { class: 'card', 'aria-labelledby': 'hook-details-title' }, h('h2', { id: 'hook-details-title' }, 'Details'), details),
    list.card);
  const reload = () => list.load().catch(() => {});
  refresh.addEventListener('click', () => busy(refresh, reload));
  reloadDeliveries = reload;
  await list.load();
  view.timer = setInterval(reload, 3e3);
}

// ---- Create and edit ----

let editing = null; // the endpoint being edited; null when creating
const FIELD_INPUT = { url: 'w-url', events: 'w-events', description: 'w-description' };

// eventBoxes fills the event checkboxes, checking those of events.
function eventBoxes(events) {
  const all = events.includes('*');
  $('w-all').checked = all;
  $('w-events-list').replaceChildren(...EVENT_TYPES.map((t, i) => {
    const box = h('input', { type: 'checkbox', id: `w-event-${i}`, name: 'events', value: t });
    box.checked = all || events.includes(t);
    box.disabled = all;
    return h('div', { class: 'check' }, box, h('label', { for: box.id }, t));
  }));
}

// "All events" checks every type and locks them; unchecking it clears
// them, for a choice.
$('w-all').addEventListener('change', () => {
  for (const box of $('w-events-list').querySelectorAll('input')) {
    box.disabled = $('w-all').checked;
    box.checked = $('w-all').checked;
  }
});

function openHookForm(w) {
  editing = w;
  resetForm($('hook-form'), $('hook-form-error'));
  $('hook-dialog-title').textContent = w ? 'Edit endpoint' : 'New webhook endpoint';
  $('hook-form-submit').textContent = w ? 'Save changes' : 'Create endpoint';
  $('w-url').value = w ? w.url : '';
  $('w-description').value = w ? w.description : '';
  $('w-enabled').checked = w ? w.enabled : true;
  eventBoxes(w ? w.events : ['*']);
  openDialog($('hook-dialog'));
}

function readEvents() {
  if ($('w-all').checked) return ['*'];
  const events = [...$('w-events-list').querySelectorAll('input:checked')].map((b) => b.value);
  if (!events.length) throw formError('events', 'choose the events to send, or All events');
  return events;
}

submitForm($('hook-form'), $('hook-form-submit'), $('hook-form-error'), FIELD_INPUT, async () => {
  const body = { url: $('w-url').value.trim(), events: readEvents(), description: $('w-description').value.trim(), enabled: $('w-enabled').checked };
  if (!body.url) throw formError('url', 'give the URL to POST events to, like https://example.com/hooks/keyward');
  if (editing) {
    const changed = {};
    for (const k of Object.keys(body)) if (JSON.stringify(body[k]) !== JSON.stringify(editing[k])) changed[k] = body[k];
    if (Object.keys(changed).length) await api.updateWebhook(editing.id, changed);
    $('hook-dialog').close();
    notify(Object.keys(changed).length ? 'Endpoint saved.' : 'Nothing changed.');
    view.route();
    return;
  }
  const created = await api.createWebhook(body);
  $('hook-dialog').close();
  await showHookSecret(created);
  const next = hookHref(created.webhook.id);
  if (location.hash === next) view.route();
  else location.hash = next;
});

// showHookSecret shows a new endpoint's signing secret once; it resolves
// when the dialog closes, after the secret has been removed from the page.
function showHookSecret(created) {
  const dlg = $('hook-secret-dialog');
  $('hook-secret-url').replaceChildren('Endpoint ', h('code', {}, created.webhook.url), ' · id ', h('code', {}, created.webhook.id));
  $('hook-secret-value').textContent = created.secret;
  $('hook-copy-status').textContent = '';
  openDialog(dlg);
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      $('hook-secret-value').textContent = '';
      resolve();
    }, { once: true });
  });
}

$('hook-secret-copy').addEventListener('click', async () => {
  const el = $('hook-secret-value');
  try {
    await navigator.clipboard.writeText(el.textContent);
    $('hook-copy-status').textContent = 'Copied to the clipboard.';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(el);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('hook-copy-status').textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
  }
});
