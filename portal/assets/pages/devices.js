// #/devices: every device in a table sortable by each column and filtered
// by text, risk, exposure, compliance, health, group; kept current by the
// event stream. ?risk=&exposure=&compliance=&health=&group=&q= preset the
// filters.

import { all, devices as allDevices, enc } from '../api.js';
import { h, clear, pill, timeEl, select, field } from '../dom.js';
import { RISKS, EXPOSURES, COMPLIANCE, rank, live, table, pageHead, deviceName, exposurePill } from '../common.js';

const SORTS = {
  name: (d) => deviceName(d).toLowerCase(),
  risk: (d) => rank(RISKS, d.risk_level),
  exposure: (d) => rank(EXPOSURES, d.exposure_level),
  compliance: (d) => rank(COMPLIANCE, d.compliance_state),
  health: (d) => d.health_status,
  os: (d) => `${d.os_name} ${d.os_version}`.toLowerCase(),
  last_seen: (d) => -new Date(d.last_seen || 0).getTime(),
  group: (d) => (d.groups || []).length,
};

export async function render(main, _m, query) {
  const state = {
    q: query.get('q') || '', risk: query.get('risk') || '', exposure: query.get('exposure') || '', compliance: query.get('compliance') || '',
    health: query.get('health') || '', group: query.get('group') || '', offboarded: query.get('offboarded') === '1',
    sort: { key: 'risk', dir: 1 },
  };
  let devs = [];
  let groups = new Map();
  const out = h('div');
  const count = h('p', { class: 'sub', role: 'status' });

  const text = h('input', { type: 'search', value: state.q, placeholder: 'name, id, OS, user' });
  const risk = select({}, ['', ...RISKS], state.risk);
  const exposure = select({}, ['', ...EXPOSURES, 'not_assessed'], state.exposure);
  const comp = select({}, ['', ...COMPLIANCE], state.compliance);
  const health = select({}, ['', 'active', 'inactive'], state.health);
  const group = select({}, [['', 'any']], state.group);
  const off = h('input', { type: 'checkbox', checked: state.offboarded });
  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
    field('Search', text), field('Risk', risk), field('Exposure', exposure), field('Compliance', comp), field('Health', health),
    field('Group', group),
    h('div', { class: 'field check' }, h('label', {}, off, ' Show offboarded')));
  for (const [el, key] of [[text, 'q'], [risk, 'risk'], [exposure, 'exposure'], [comp, 'compliance'], [health, 'health'], [group, 'group']]) {
    el.addEventListener('input', () => { state[key] = el.value; draw(); });
  }
  off.addEventListener('change', () => { state.offboarded = off.checked; draw(); });
  main.append(pageHead('Devices'), filters, count, out);

  function draw() {
    const needle = state.q.trim().toLowerCase();
    const rows = devs.filter((d) => (state.offboarded || d.onboarding_status === 'onboarded') &&
      (!state.risk || d.risk_level === state.risk) &&
      (!state.exposure || (d.exposure_level || 'not_assessed') === state.exposure) &&
      (!state.compliance || d.compliance_state === state.compliance) &&
      (!state.health || d.health_status === state.health) &&
      (!state.group || (d.groups || []).includes(state.group)) &&
      (!needle || [d.name, d.id, d.os_name, d.os_version, d.primary_user && d.primary_user.user_principal_name]
        .some((v) => v && String(v).toLowerCase().includes(needle))));
    const key = SORTS[state.sort.key];
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : deviceName(a).localeCompare(deviceName(b))) * (x === y ? 1 : state.sort.dir);
    });
    count.textContent = `${rows.length} of ${devs.length} device${devs.length === 1 ? '' : 's'}`;
    clear(out, table([
      { label: 'Name', key: 'name', sort: true, cell: (d) => h('a', { href: `#/devices/${enc(d.id)}` }, deviceName(d)) },
      { label: 'Risk', key: 'risk', sort: true, cell: (d) => pill(d.risk_level) },
      { label: 'Exposure', key: 'exposure', sort: true, cell: (d) => exposurePill(d.exposure_level) },
      { label: 'Compliance', key: 'compliance', sort: true, cell: (d) => pill(d.compliance_state) },
      { label: 'Health', key: 'health', sort: true, cell: (d) => pill(d.onboarding_status === 'offboarded' ? 'offboarded' : d.health_status) },
      { label: 'OS', key: 'os', sort: true, cell: (d) => `${d.os_name || '—'} ${d.os_version || ''}` },
      { label: 'Last seen', key: 'last_seen', sort: true, cell: (d) => timeEl(d.last_seen, true) },
      { label: 'Groups', key: 'group', sort: true, cell: (d) => (d.groups || []).map((g) => groups.get(g) || g).join(', ') || '—' },
    ], rows, {
      sort: state.sort, empty: devs.length ? 'No device matches these filters.' : 'No device has enrolled yet: see Onboarding.',
      onSort: (k) => {
        state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
        draw();
        const b = out.querySelector('th[aria-sort]:not([aria-sort="none"]) button');
        if (b) b.focus();
      },
    }));
  }

  async function load() {
    const [d, g] = await Promise.all([allDevices(), all('/api/v1/groups', 1000, 1000).catch(() => [])]);
    devs = d;
    groups = new Map(g.map((x) => [x.id, x.name]));
    clear(group, h('option', { value: '' }, 'any'), g.map((x) => h('option', { value: x.id }, x.name)));
    group.value = state.group;
    draw();
  }
  await load();
  return live(() => load().catch(() => {}), (name) => name !== 'action');
}
