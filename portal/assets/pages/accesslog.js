// #/access/log: the conditional access decisions, newest first, with the
// API's filters (user, device, application, status, result, policy, time)
// and paging.

import { get, all, devices as allDevices, enc, q } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice } from '../dom.js';
import { table, pageHead, deviceName } from '../common.js';

const PAGE = 100;

export async function render(main) {
  const f = { user: '', device: '', app: '', status: '', result: '', policy: '', since: '', offset: 0 };
  const out = h('div');
  const user = h('input', { type: 'text', placeholder: 'UPN or id' });
  const device = select({}, [['', 'any']], '');
  const app = h('input', { type: 'text', placeholder: 'host' });
  const status = select({}, [['', 'any'], ['200', '200 allowed'], ['401', '401'], ['403', '403 denied']], '');
  const result = select({}, [['', 'any'], ['allow', 'allow'], ['deny', 'deny']], '');
  const policy = select({}, [['', 'any']], '');
  const since = select({}, [['', 'any time'], ['1', 'last hour'], ['24', 'last 24 hours'], ['168', 'last 7 days']], '');
  const form = h('form', { class: 'filters', role: 'search' },
    field('User', user), field('Device', device), field('Application', app), field('Status', status),
    field('Result', result), field('Policy', policy), field('Time', since),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    Object.assign(f, { user: user.value.trim(), device: device.value, app: app.value.trim(), status: status.value,
      result: result.value, policy: policy.value, since: since.value, offset: 0 });
    load();
  });
  for (const el of [device, status, result, policy, since]) el.addEventListener('change', () => form.requestSubmit());
  main.append(pageHead('Access log'), form, out);

  async function load() {
    const sinceT = f.since ? new Date(Date.now() - Number(f.since) * 3600000).toISOString().replace(/\.\d+Z$/, 'Z') : '';
    let page;
    try {
      page = await get(`/api/v1/access/log${q({ user: f.user, device: f.device, app: f.app, status: f.status, result: f.result,
        policy: f.policy, since: sinceT, limit: PAGE, offset: f.offset })}`);
    } catch (e) { clear(out, notice('error', e.message)); return; }
    clear(out,
      h('p', { class: 'sub', role: 'status' }, `${page.count} decision${page.count === 1 ? '' : 's'}`, page.not_logged ? ` · ${page.not_logged} not logged (the log was full)` : ''),
      table([
        { label: 'Time', cell: (r) => h('span', {}, timeEl(r.time), r.count > 1 ? ` ×${r.count}` : '') },
        { label: 'Result', cell: (r) => h('span', {}, pill(r.result), ` ${r.status}`) },
        { label: 'Request', cell: (r) => h('span', { class: 'mono' }, `${r.method} ${r.host}${r.path}`) },
        { label: 'User', cell: (r) => r.user || '—' },
        { label: 'Device', cell: (r) => (r.device_id ? h('a', { href: `#/devices/${enc(r.device_id)}` }, r.device_name || r.device_id) : '—') },
        { label: 'Client', cell: (r) => h('span', { class: 'mono' }, r.client_ip || '') },
        { label: 'Reason', cell: (r) => h('span', {}, r.reason || '', (r.policies || []).length
          ? h('ul', { class: 'mini' }, r.policies.map((x) => h('li', {}, `${x.name}: `, pill(x.result)))) : null) },
      ], page.value, { empty: 'No decision matches these filters.', class: 'grid compact' }),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: f.offset === 0, onclick: () => { f.offset = Math.max(0, f.offset - PAGE); load(); } }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: page.next_offset === null, onclick: () => { f.offset = page.next_offset; load(); } }, 'Next')));
  }

  const [devs, policies] = await Promise.all([allDevices(), all('/api/v1/access/policies', 1000, 1000).catch(() => [])]);
  device.append(...devs.map((d) => h('option', { value: d.id }, deviceName(d))));
  policy.append(...policies.map((p) => h('option', { value: p.id }, p.name)));
  await load();
  return null;
}
