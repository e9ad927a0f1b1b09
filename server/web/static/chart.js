// chart.js: stacked bar charts of verifications per bucket, drawn as SVG
// (no library). Every API string goes in through textContent or
// setAttribute, never as markup.

const NS = 'http://www.w3.org/2000/svg';

// The three groups a chart shows, bottom to top of each bar.
export const GROUPS = [
  { id: 'valid', label: 'Valid' },
  { id: 'limited', label: 'Rate limited' },
  { id: 'rejected', label: 'Rejected' },
];

// groupOf sorts an outcome code: RATE_LIMITED and USAGE_EXCEEDED (credits
// spent) are limits; any other code but VALID is a rejection (NOT_FOUND,
// REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE, ...).
export function groupOf(code) {
  if (code === 'VALID') return 'valid';
  if (code === 'RATE_LIMITED' || code === 'USAGE_EXCEEDED') return 'limited';
  return 'rejected';
}

const STEP = { minute: 60e3, hour: 3600e3, day: 864e5 };

// buckets lists every bucket of a usage report from its from to its to,
// with the counts per group: the API leaves out buckets without traffic.
export function buckets(report) {
  const step = STEP[report.bucket] || STEP.hour;
  const to = Date.parse(report.to);
  const byStart = new Map((report.series || []).map((p) => [Date.parse(p.start), p.counts || {}]));
  const out = [];
  // Buckets are aligned on multiples of their size since the Unix epoch
  // (UTC days for day buckets), like the server's.
  for (let t = Math.floor(Date.parse(report.from) / step) * step; t < to; t += step) {
    const b = { start: t, valid: 0, limited: 0, rejected: 0, total: 0, codes: byStart.get(t) || {} };
    for (const [code, n] of Object.entries(b.codes)) {
      b[groupOf(code)] += n;
      b.total += n;
    }
    out.push(b);
  }
  return out;
}

function node(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function html(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat('en');

// label formats a bucket's start: day buckets are UTC days.
export function label(t, bucket, long) {
  const d = new Date(t);
  if (bucket === 'day') return d.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC', year: long ? 'numeric' : undefined });
  const hm = d.toLocaleTimeString('en', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return long ? `${d.toLocaleDateString('en', { month: 'short', day: 'numeric' })}, ${hm}` : hm;
}

// niceStep is the smallest 1, 2 or 5 × 10^k of at least x (and at least 1).
function niceStep(x) {
  if (x <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= x);
}

// Label spacing: every m buckets, m from these, so labels fall on round times.
const EVERY = { minute: [1, 2, 5, 10, 15, 30, 60], hour: [1, 2, 3, 6, 12, 24], day: [1, 2, 5, 7, 10, 15, 30] };

function labelled(t, bucket, m) {
  const d = new Date(t);
  if (bucket === 'minute') return (d.getHours() * 60 + d.getMinutes()) % m === 0;
  if (bucket === 'hour') return d.getHours() % m === 0;
  return Math.floor(t / STEP.day) % m === 0;
}

function breakdown(b) {
  const parts = GROUPS.map((g) => `${whole.format(b[g.id])} ${g.label.toLowerCase()}`);
  const other = Object.entries(b.codes).filter(([c]) => groupOf(c) !== 'valid').map(([c, n]) => `${c} ${n}`);
  return parts.join(', ') + (other.length ? ` (${other.join(', ')})` : '');
}

function plot(data, bucket, width, summary) {
  const W = Math.max(320, Math.round(width));
  const H = 220;
  const M = { top: 10, right: 8, bottom: 24, left: 44 };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const max = Math.max(0, ...data.map((b) => b.total));
  const step = niceStep(max / 4);
  const top = max ? Math.ceil(max / step) * step : 4;
  const y = (v) => M.top + ph - (v / top) * ph;

  const svg = node('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg', role: 'img', 'aria-label': summary });
  const grid = node('g', { class: 'grid' });
  for (let v = 0; v <= top; v += step) {
    grid.append(node('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }));
    grid.append(node('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, compact.format(v)));
  }
  svg.append(grid);

  const slot = pw / Math.max(1, data.length);
  const bw = Math.max(1, Math.min(28, slot * 0.72));
  const m = EVERY[bucket].find((n) => n * slot >= 64) || EVERY[bucket].at(-1);
  const axis = node('g', { class: 'axis' });
  axis.append(node('line', { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0) }));
  const bars = node('g', { class: 'bars' });
  data.forEach((b, i) => {
    const cx = M.left + i * slot + slot / 2;
    if (labelled(b.start, bucket, m)) {
      axis.append(node('line', { x1: cx, x2: cx, y1: y(0), y2: y(0) + 4 }));
      axis.append(node('text', { x: cx, y: H - 6, 'text-anchor': 'middle' }, label(b.start, bucket)));
    }
    if (!b.total) return;
    const g = node('g', { class: 'bar' });
    g.append(node('title', {}, `${label(b.start, bucket, true)}: ${breakdown(b)}`));
    // A full-height transparent target, so that thin bars show their title.
    g.append(node('rect', { class: 'hit', x: cx - slot / 2, y: M.top, width: slot, height: ph }));
    let base = 0;
    for (const grp of GROUPS) {
      const n = b[grp.id];
      if (!n) continue;
      g.append(node('rect', { class: `seg seg-${grp.id}`, x: cx - bw / 2, y: y(base + n), width: bw, height: Math.max(1, y(base) - y(base + n)) }));
      base += n;
    }
    bars.append(g);
  });
  svg.append(axis, bars);
  if (!max) svg.append(node('text', { class: 'empty', x: M.left + pw / 2, y: M.top + ph / 2, 'text-anchor': 'middle' }, 'No verifications in this period'));
  return svg;
}

function table(data, bucket) {
  const details = html('details', 'chart-table');
  details.append(html('summary', '', 'Show the numbers'));
  const rows = data.filter((b) => b.total);
  if (!rows.length) {
    details.append(html('p', 'muted', 'No verifications in this period.'));
    return details;
  }
  const t = html('table', 'table table-compact');
  const head = html('tr');
  for (const h of ['Time', ...GROUPS.map((g) => g.label), 'Outcomes']) {
    const th = html('th', GROUPS.some((g) => g.label === h) ? 'num' : '', h);
    th.scope = 'col';
    head.append(th);
  }
  t.append(html('thead'));
  t.tHead.append(head);
  const body = html('tbody');
  for (const b of rows) {
    const tr = html('tr');
    tr.append(html('td', '', label(b.start, bucket, true)));
    for (const g of GROUPS) tr.append(html('td', 'num', whole.format(b[g.id])));
    tr.append(html('td', 'mono small', Object.entries(b.codes).map(([c, n]) => `${c} ${n}`).join(', ')));
    body.append(tr);
  }
  t.append(body);
  details.append(t);
  return details;
}

const drawn = new WeakMap(); // host element → what was drawn in it
const resized = new ResizeObserver((entries) => {
  for (const e of entries) {
    const d = drawn.get(e.target);
    if (d && Math.abs(e.target.clientWidth - d.width) > 2) drawChart(e.target, d.report, d.description);
  }
});

// drawChart replaces host's content with a chart of a usage report: a legend
// with totals, the stacked bars, and the numbers as a table. The figure
// carries the totals as data-valid, data-limited, data-rejected, data-total.
// description names what is counted, e.g. "Verifications per minute, last hour".
export function drawChart(host, report, description) {
  const data = buckets(report);
  const totals = { valid: 0, limited: 0, rejected: 0 };
  for (const b of data) for (const g of GROUPS) totals[g.id] += b[g.id];
  const total = totals.valid + totals.limited + totals.rejected;

  const fig = html('figure', 'chart');
  for (const [k, v] of Object.entries(totals)) fig.dataset[k] = v;
  fig.dataset.total = total;
  fig.dataset.buckets = data.length;

  const legend = html('ul', 'chart-legend');
  for (const g of GROUPS) {
    const li = html('li');
    li.append(html('span', `swatch seg-${g.id}`), `${g.label} `, html('strong', '', whole.format(totals[g.id])));
    legend.append(li);
  }
  const summary = `${description}: ${whole.format(total)} verifications, ${totals.valid} valid, ${totals.limited} rate limited, ${totals.rejected} rejected`;
  const width = host.clientWidth || 640;
  fig.append(legend, plot(data, report.bucket, width, summary), table(data, report.bucket));
  host.replaceChildren(fig);
  drawn.set(host, { report, description, width });
  resized.observe(host);
  return totals;
}
