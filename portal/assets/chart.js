// The dashboard's chart: alerts by severity per day, as stacked bars drawn
// in SVG.

import { h, s } from './dom.js';
import { SEVERITIES } from './common.js';

const W = 960, H = 220, L = 40, R = 30, T = 12, B = 30;

function dayKey(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// alertChart(ALERTS, DAYS): a figure with the stacked bars of ALERTS (by
// first_seen, local days) over the last DAYS days, with a legend.
export function alertChart(alerts, days) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const keys = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(today);
    d.setDate(d.getDate() - i);
    keys.push([dayKey(d), d]);
  }
  const counts = new Map(keys.map(([k]) => [k, Object.fromEntries(SEVERITIES.map((v) => [v, 0]))]));
  for (const a of alerts) {
    const c = counts.get(dayKey(new Date(a.first_seen)));
    if (c && a.severity in c) c[a.severity]++;
  }
  const max = Math.max(1, ...[...counts.values()].map((c) => SEVERITIES.reduce((n, v) => n + c[v], 0)));
  const step = Math.max(1, Math.ceil(max / 4));
  const top = step * Math.ceil(max / step);
  const pw = W - L - R, ph = H - T - B;
  const slot = pw / days;
  const bw = Math.max(4, slot * 0.62);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `Alerts by severity per day over the last ${days} days, ${alerts.length} in all` });
  for (let v = 0; v <= top; v += step) {
    const y = T + ph - (v / top) * ph;
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid-line' }));
    svg.appendChild(s('text', { x: L - 6, y: y + 4, class: 'axis', 'text-anchor': 'end', text: v }));
  }
  keys.forEach(([k, d], i) => {
    const x = L + i * slot + (slot - bw) / 2;
    let y = T + ph;
    const c = counts.get(k);
    const g = s('g', { class: 'day' });
    const parts = [];
    for (const v of [...SEVERITIES].reverse()) {
      if (!c[v]) continue;
      const hgt = (c[v] / top) * ph;
      y -= hgt;
      g.appendChild(s('rect', { x, y, width: bw, height: hgt, class: `sev-${v}` }));
      parts.push(`${c[v]} ${v}`);
    }
    g.appendChild(s('title', { text: `${d.toLocaleDateString()}: ${parts.length ? parts.join(', ') : 'no alerts'}` }));
    svg.appendChild(g);
    if ((days - 1 - i) % Math.ceil(days / 7) === 0) {
      svg.appendChild(s('text', { x: x + bw / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle',
        text: d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) }));
    }
  });
  svg.appendChild(s('line', { x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: 'base-line' }));
  const legend = h('ul', { class: 'legend' }, SEVERITIES.map((v) => h('li', {},
    s('svg', { width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true' }, s('rect', { width: 12, height: 12, class: `sev-${v}` })),
    ` ${v}`)));
  return h('figure', { class: 'chart-fig' }, svg, legend);
}
