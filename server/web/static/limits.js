// limits.js: named rate limits, as the key and owner forms edit them and as
// the pages show them. A limit is {name, limit, period}; period is a Go
// duration ("1m", or "1m0s" as the API answers).

import { $, h, goDuration, rateText, formError } from './ui.js';

const MAX = 8;
const PERIOD_OPTIONS = [['1s', 'second'], ['1m', 'minute'], ['1h', 'hour'], ['24h', 'day']];

let rowSeq = 0; // makes every row's ids unique, removed rows included

// limitsEditor edits the list of limits in the fieldset of id: its rows go
// in #<id>-rows, and #<id>-add adds one. suggest names the first new limit
// (e.g. "default" for a key's, which is its rate_limit).
export function limitsEditor(id, suggest) {
  const rows = $(`${id}-rows`);
  const add = $(`${id}-add`);
  let sent = []; // the rows of the last list read, for errors that point into it

  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      row.setAttribute('aria-label', `Limit ${i + 1}`);
      row.querySelector('[data-remove]').setAttribute('aria-label', `Remove limit ${i + 1}`);
    });
    add.disabled = rows.children.length >= MAX;
  };

  const addRow = (l) => {
    const n = ++rowSeq;
    const fid = (part) => `${id}-${n}-${part}`;
    const names = [...rows.querySelectorAll('[name="limit_name"]')].map((i) => i.value);
    const name = h('input', { id: fid('name'), name: 'limit_name', maxlength: 32, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. burst' });
    name.value = l ? l.name : (suggest && !names.includes(suggest) ? suggest : '');
    const limit = h('input', { id: fid('limit'), name: 'limit_limit', type: 'number', min: 1, step: 1, inputmode: 'numeric' });
    limit.value = l ? l.limit : '';
    const period = h('select', { id: fid('period'), name: 'limit_period' }, PERIOD_OPTIONS.map(([v, t]) => h('option', { value: v }, t)));
    selectPeriod(period, l ? l.period : '1m');
    const remove = h('button', {
      type: 'button', class: 'btn btn-small btn-ghost', 'data-remove': '',
      onclick: () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        (next ? next.querySelector('input') : add).focus();
      },
    }, 'Remove');
    const row = h('div', { class: 'limit-row', role: 'group' },
      h('div', { class: 'field' }, h('label', { for: name.id }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: limit.id }, 'Requests'), limit),
      h('div', { class: 'field' }, h('label', { for: period.id }, 'Per'), period),
      remove);
    rows.append(row);
    renumber();
    return row;
  };

  add.addEventListener('click', () => addRow().querySelector('input').focus());

  return {
    // set shows a list of limits, replacing what the editor held.
    set(list) {
      rows.replaceChildren();
      for (const l of list || []) addRow(l);
      renumber();
    },
    // get reads the list; a row with neither name nor number is left out.
    get() {
      sent = [];
      const out = [];
      for (const row of rows.children) {
        const [name, limit, period] = row.querySelectorAll('input, select');
        const n = name.value.trim();
        const v = limit.value.trim();
        if (!n && !v) continue;
        const i = out.length;
        sent.push(row);
        if (!n) throw formError(`rate_limits[${i}].name`, 'give each limit a name, like burst or daily');
        if (!v) throw formError(`rate_limits[${i}].limit`, `give the number of requests of ${n}`);
        out.push({ name: n, limit: Number(v), period: period.value });
      }
      return out;
    },
    // invalid returns the input that an error's location points to, after
    // "rate_limits": "[1].limit" is the second limit's number; the whole
    // list's errors point to its first row.
    invalid(rest) {
      const [, i, part = 'name'] = String(rest).match(/^\[(\d+)\](?:\.(name|limit|period))?/) || [null, '0'];
      const row = sent[Number(i)] || rows.children[0];
      return row && row.querySelector(`[name="limit_${part}"]`);
    },
  };
}

function selectPeriod(sel, period) {
  const ms = goDuration(period);
  let opt = [...sel.options].find((o) => goDuration(o.value) === ms);
  if (!opt) {
    opt = h('option', { value: period }, `every ${period}`);
    sel.append(opt);
  }
  sel.value = opt.value;
}

// sameLimits says two lists hold the same limits, in any order.
export function sameLimits(a, b) {
  const norm = (l) => (l || []).map((x) => `${x.name}=${x.limit}/${goDuration(x.period)}`).sort().join(',');
  return norm(a) === norm(b);
}

// limitChips shows limits as "burst: 10 per second" chips.
export function limitChips(list, id) {
  if (!list || !list.length) return h('span', { class: 'muted', id }, 'None');
  return h('span', { class: 'chips', id }, list.map((l) => h('span', { class: 'chip' }, `${l.name}: ${rateText(l)}`)));
}

// limitRows are table rows of limits: applies to, name, limit. appliesTo
// makes the first cell's content, afresh for each row.
export function limitRows(list, appliesTo) {
  return (list || []).map((l) => h('tr', {},
    h('td', {}, appliesTo()),
    h('td', {}, h('code', {}, l.name)),
    h('td', {}, rateText(l))));
}
