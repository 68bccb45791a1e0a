// #/dashboard: devices by risk, by compliance and by exposure level, the
// security tasks by status, alerts by severity over time, recent state
// changes, the connector; kept current by the event stream without reload.

import { get, all, devices as allDevices, enc } from '../api.js';
import { h, clear, pill, timeEl, notice } from '../dom.js';
import { RISKS, COMPLIANCE, SEVERITIES, EXPOSURES, TASK_STATUS, today, live, bar, pageHead, deviceName, table } from '../common.js';
import { alertChart } from '../chart.js';
import { subscribe } from '../events.js';

const DAYS = 14;

function counts(list, key, order) {
  const c = Object.fromEntries(order.map((v) => [v, 0]));
  for (const d of list) c[d[key]] = (c[d[key]] || 0) + 1;
  return c;
}

function breakdown(title, list, key, order, param) {
  const c = counts(list, key, order);
  return h('section', { class: 'card', 'aria-labelledby': `h-${key}` },
    h('h2', { id: `h-${key}` }, title),
    h('ul', { class: 'breakdown', dataset: { kind: key } }, order.map((v) => h('li', { dataset: { value: v } },
      h('a', { href: `#/devices?${param}=${v}` }, pill(v)),
      bar(v, c[v], list.length),
      h('span', { class: 'count' }, String(c[v]))))));
}

// the newest changes of the most recently seen devices: risk and compliance
async function recentChanges(devs) {
  const recent = [...devs].filter((d) => d.onboarding_status === 'onboarded')
    .sort((a, b) => String(b.last_seen).localeCompare(String(a.last_seen))).slice(0, 20);
  const out = [];
  await Promise.all(recent.map(async (d) => {
    const [tl, ch] = await Promise.all([
      get(`/api/v1/devices/${enc(d.id)}/timeline?limit=5`).catch(() => ({ value: [] })),
      get(`/api/v1/devices/${enc(d.id)}/compliance/history?limit=5`).catch(() => ({ value: [] })),
    ]);
    for (const t of tl.value) out.push({ at: t.at, device: d, what: 'risk', from: t.from, to: t.to });
    for (const t of ch.value) out.push({ at: t.at, device: d, what: 'compliance', from: t.from, to: t.to });
  }));
  out.sort((a, b) => new Date(b.at) - new Date(a.at));
  return out.slice(0, 12);
}

export async function render(main) {
  const body = h('div', { class: 'dash' });
  const liveList = h('ol', { class: 'feed', 'aria-live': 'polite' });
  main.append(pageHead('Dashboard'), body);
  let names = new Map();

  async function load() {
    const since = new Date(Date.now() - DAYS * 86400000);
    since.setHours(0, 0, 0, 0);
    const [devs, alerts, conn, tasks] = await Promise.all([
      allDevices(),
      all(`/api/v1/alerts?since=${enc(since.toISOString().replace(/\.\d+Z$/, 'Z'))}`, 500, 5000),
      get('/api/v1/connector/status').catch((e) => ({ error: e.message })),
      all('/api/v1/tvm/tasks', 1000, 5000).catch((e) => ({ error: e.message })),
    ]);
    const onboarded = devs.filter((d) => d.onboarding_status === 'onboarded');
    names = new Map(devs.map((d) => [d.id, deviceName(d)]));
    const open = alerts.filter((a) => a.status !== 'resolved');
    const changes = await recentChanges(devs);
    const highRisk = onboarded.filter((d) => d.risk_level === 'high').length;
    const noncompliant = onboarded.filter((d) => d.compliance_state === 'noncompliant').length;
    clear(body,
      h('div', { class: 'tiles' },
        tile('Devices', onboarded.length, '#/devices'),
        tile('High risk', highRisk, '#/devices?risk=high', highRisk ? 'high' : ''),
        tile('Noncompliant', noncompliant, '#/devices?compliance=noncompliant', noncompliant ? 'high' : ''),
        tile('Open alerts', open.length, '#/alerts?status=new', open.some((a) => a.severity === 'high') ? 'high' : '')),
      h('div', { class: 'cols' },
        breakdown('Devices by risk', onboarded, 'risk_level', RISKS, 'risk'),
        breakdown('Devices by compliance', onboarded, 'compliance_state', COMPLIANCE, 'compliance')),
      h('div', { class: 'cols' },
        breakdown('Devices by exposure level', onboarded.map((d) => ({ exposure_level: d.exposure_level || 'not_assessed' })),
          'exposure_level', [...EXPOSURES, 'not_assessed'], 'exposure'),
        taskCard(tasks)),
      h('section', { class: 'card', 'aria-labelledby': 'h-chart' },
        h('h2', { id: 'h-chart' }, `Alerts by severity, last ${DAYS} days`),
        alertChart(alerts, DAYS),
        h('p', { class: 'sub' }, SEVERITIES.map((v) => `${open.filter((a) => a.severity === v).length} ${v}`).join(' · '), ' open')),
      h('div', { class: 'cols' },
        h('section', { class: 'card', 'aria-labelledby': 'h-changes' },
          h('h2', { id: 'h-changes' }, 'Recent state changes'),
          liveList,
          table([
            { label: 'When', cell: (c) => timeEl(c.at, true) },
            { label: 'Device', cell: (c) => h('a', { href: `#/devices/${enc(c.device.id)}` }, deviceName(c.device)) },
            { label: 'Change', cell: (c) => h('span', {}, `${c.what} `, pill(c.from), ' → ', pill(c.to)) },
          ], changes, { empty: 'No risk or compliance change yet.', class: 'grid compact' })),
        connector(conn)));
  }

  function tile(label, n, href, tone) {
    return h('a', { class: `tile ${tone ? `tone-${tone}` : ''}`, href, dataset: { tile: label } },
      h('span', { class: 'tile-n' }, String(n)), h('span', { class: 'tile-label' }, label));
  }

  // the security tasks by status, each a link to the list so filtered
  function taskCard(tasks) {
    const sec = h('section', { class: 'card', 'aria-labelledby': 'h-tasks' }, h('h2', { id: 'h-tasks' }, 'Security tasks'));
    if (tasks.error) { sec.appendChild(notice('error', tasks.error)); return sec; }
    const c = counts(tasks, 'status', TASK_STATUS);
    sec.appendChild(h('ul', { class: 'breakdown', dataset: { kind: 'task_status' } }, TASK_STATUS.map((v) => h('li', { dataset: { value: v } },
      h('a', { href: `#/tasks?status=${v}` }, pill(v)), bar(v, c[v], tasks.length), h('span', { class: 'count' }, String(c[v]))))));
    const overdue = tasks.filter((t) => (t.status === 'pending' || t.status === 'accepted') && t.due_date && t.due_date < today()).length;
    sec.appendChild(h('p', { class: 'sub' }, `${overdue} open task${overdue === 1 ? '' : 's'} past due · `,
      h('a', { href: '#/vulnerabilities' }, 'security recommendations')));
    return sec;
  }

  function connector(c) {
    const sec = h('section', { class: 'card', 'aria-labelledby': 'h-conn' }, h('h2', { id: 'h-conn' }, 'Connector'));
    if (c.error) { sec.appendChild(notice('error', c.error)); return sec; }
    sec.appendChild(h('dl', { class: 'props' },
      h('dt', {}, 'Partner'), h('dd', {}, c.partner || '—'),
      h('dt', {}, 'State'), h('dd', {}, pill(c.state)),
      h('dt', {}, 'Since'), h('dd', {}, timeEl(c.since)),
      h('dt', {}, 'Last heartbeat'), h('dd', {}, timeEl(c.last_heartbeat, true)),
      h('dt', {}, 'Devices reported'), h('dd', {}, String(c.devices_reported ?? '—')),
      h('dt', {}, 'Devices with risk'), h('dd', {}, String(c.devices_with_risk ?? '—')),
      c.reason ? [h('dt', {}, 'Reason'), h('dd', {}, c.reason)] : null));
    return sec;
  }

  function describe(name, d) {
    const dev = names.get(d.device_id) || d.device_id;
    if (name === 'risk') return [`risk of ${dev} `, pill(d.previous), ' → ', pill(d.risk_level)];
    if (name === 'compliance') return [`compliance of ${dev} `, pill(d.previous), ' → ', pill(d.state)];
    if (name === 'exposure') return [`exposure of ${dev} `, pill(d.previous || 'not_assessed'), ' → ', pill(d.exposure_level || 'not_assessed')];
    if (name === 'alert') return ['alert ', pill(d.severity), ` ${d.title} on ${dev}`];
    if (name === 'device') return [`device ${dev} ${d.change}`];
    if (name === 'action') return [`${String(d.type).replace(/_/g, ' ')} on ${dev}: `, pill(d.status)];
    return [name];
  }

  const seen = [];
  // what changes the dashboard's figures: not inventories nor actions
  const figures = (name, d) => name !== 'action' && !(name === 'device' && d.change === 'inventory');
  const unsubscribe = live(load, figures);
  const feed = subscribe((name, d) => {
    if (!figures(name, d)) return;
    seen.unshift(h('li', { class: 'live-item' }, h('span', { class: 'feed-time' }, new Date().toLocaleTimeString()), ' ', describe(name, d)));
    seen.length = Math.min(seen.length, 8);
    liveList.replaceChildren(...seen);
  });
  await load();
  return () => { unsubscribe(); feed(); };
}
