// usage.js: the usage card of a key's and an owner's page: a chart of
// verifications by outcome over the last hour, day or month.

import { drawChart } from './chart.js';
import { h, alertBox, busy } from './ui.js';

const RANGES = {
  hour: { label: 'Last hour', bucket: 'minute', n: 60, step: 6e4, what: 'Verifications per minute, last hour' },
  day: { label: 'Last 24 hours', bucket: 'hour', n: 24, step: 36e5, what: 'Verifications per hour, last 24 hours' },
  month: { label: 'Last 30 days', bucket: 'day', n: 30, step: 864e5, what: 'Verifications per day, last 30 days' },
};
let usageRange = 'hour'; // kept from page to page

// usageCard is a card with the chart of fetch(query), a usage report, and
// the buttons that pick its range. of says whose verifications they are
// ("all keys of acme"). It returns the card and load, which draws the chart.
export function usageCard(fetch, of) {
  const chart = h('div', { class: 'chart-host', id: 'usage', 'aria-busy': 'true' });
  const load = async () => {
    const r = RANGES[usageRange];
    // From the start of the oldest of n whole buckets; to defaults to now.
    const from = Math.floor(Date.now() / r.step) * r.step - (r.n - 1) * r.step;
    chart.setAttribute('aria-busy', 'true');
    try {
      const rep = await fetch({ from: new Date(from).toISOString(), bucket: r.bucket });
      drawChart(chart, rep, of ? `${r.what}, ${of}` : r.what);
    } catch (err) {
      if (err.status !== 401) chart.replaceChildren(alertBox(err));
    } finally {
      chart.setAttribute('aria-busy', 'false');
    }
  };
  const rangeButtons = Object.entries(RANGES).map(([name, r]) => h('button', {
    type: 'button', class: 'seg-btn', 'data-range': name, 'aria-pressed': String(name === usageRange),
    onclick: (e) => {
      usageRange = name;
      for (const b of e.currentTarget.parentElement.children) b.setAttribute('aria-pressed', String(b === e.currentTarget));
      load();
    },
  }, r.label));
  const refresh = h('button', { type: 'button', class: 'btn btn-small', id: 'usage-refresh', onclick: (e) => busy(e.currentTarget, load) }, 'Refresh');
  const card = h('section', { class: 'card', 'aria-labelledby': 'usage-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'usage-title' }, 'Usage'),
      h('div', { class: 'actions' }, h('div', { class: 'seg-group', role: 'group', 'aria-label': 'Period' }, rangeButtons), refresh)),
    chart);
  return { card, load };
}
