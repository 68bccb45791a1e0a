// #/access/whatif: what the live conditional access snapshot would decide
// for a URL, a user, a device and an address, without a proxy and without
// logging.

import { post, devices as allDevices } from '../api.js';
import { h, clear, pill, select, field, showFieldError, clearFieldErrors } from '../dom.js';
import { table, pageHead, deviceName } from '../common.js';

export async function render(main) {
  const url = h('input', { type: 'url', required: true, placeholder: 'https://intranet.example.test/wiki/' });
  const user = h('input', { type: 'text', placeholder: 'alice@example.com (optional)' });
  const device = select({}, [['', 'no device']], '');
  const ip = h('input', { type: 'text', placeholder: '203.0.113.7 (optional)' });
  const method = select({}, ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'], 'GET');
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card whatif', novalidate: true },
    field('URL', url, 'url'), field('User', user, 'user'), field('Device', device, 'device'),
    field('Client address', ip, 'ip'), field('Method', method, 'method'),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Ask')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(out);
    if (!url.value.trim()) { showFieldError(form, 'url', 'A URL is required.'); return; }
    const body = { url: url.value.trim(), method: method.value };
    if (user.value.trim()) body.user = user.value.trim();
    if (device.value) body.device = device.value;
    if (ip.value.trim()) body.ip = ip.value.trim();
    let r;
    try { r = await post('/api/v1/access/whatif', body); } catch (e) {
      const named = e.field || (/^(url|user|device|ip|method)\b/.exec(e.message) || [])[1] || (e.code === 'device_not_found' ? 'device' : '');
      showFieldError(form, named, e.message);
      return;
    }
    clear(out, h('section', { class: 'card', 'aria-labelledby': 'h-decision' },
      h('h2', { id: 'h-decision' }, 'Decision: ', pill(r.status === 200 ? 'allow' : 'deny'), ` ${r.status}`),
      h('p', {}, r.reason || ''),
      h('dl', { class: 'props' },
        h('dt', {}, 'Host and path'), h('dd', { class: 'mono' }, `${r.host}${r.path}`),
        h('dt', {}, 'Device'), h('dd', {}, r.device ? [r.device.name || r.device.id, ' ', pill(r.device.compliance_state)] : '—'),
        h('dt', {}, 'User'), h('dd', {}, r.user ? `${r.user.upn} (${r.user.enabled ? 'enabled' : 'disabled'}, ${r.user.groups} groups)` : '—'),
        h('dt', {}, 'Snapshot'), h('dd', {}, String(r.snapshot))),
      table([
        { label: 'Policy', cell: (x) => x.name },
        { label: 'State', cell: (x) => pill(x.state) },
        { label: 'Result', cell: (x) => pill(x.result) },
        { label: 'Control lacking', cell: (x) => x.control || '—' },
        { label: 'Why', cell: (x) => x.why || '' },
      ], r.policies || [], { empty: 'No policy.' })));
  });
  main.append(pageHead('What-if'), h('p', { class: 'sub' }, 'What the conditional access policies in force would decide for this request. Nothing is logged.'), form, out);
  const devs = await allDevices();
  device.append(...devs.filter((d) => d.onboarding_status === 'onboarded').map((d) => h('option', { value: d.id }, deviceName(d))));
  return null;
}
