// #/alerts: the alert queue with filters (severity, status, device,
// technique, time) and bulk changes of the chosen alerts (status,
// classification, assignment), paged by offset. ?status=&severity=&device=
// preset the filters.

import { get, patch, devices as allDevices, enc, q } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice } from '../dom.js';
import { SEVERITIES, ALERT_STATUS, CLASSIFICATIONS, live, table, pageHead, deviceName, attackLink } from '../common.js';
import { may } from '../session.js';

const PAGE = 50;

export async function render(main, _m, query) {
  const f = {
    severity: query.get('severity') || '', status: query.get('status') || '', device: query.get('device') || '',
    technique: query.get('technique') || '', since: '', offset: 0,
  };
  const chosen = new Set();
  let names = new Map();
  let page = { value: [], count: 0, next_offset: null };
  const out = h('div');
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });

  const sev = select({}, ['', ...SEVERITIES], f.severity);
  const st = select({}, ['', ...ALERT_STATUS], f.status);
  const dev = select({}, [['', 'any']], f.device);
  const tech = h('input', { type: 'text', value: f.technique, placeholder: 'T1059.004', pattern: 'T[0-9]{4}(\\.[0-9]{3})?' });
  const since = select({}, [['', 'any time'], ['1', 'last 24 hours'], ['7', 'last 7 days'], ['30', 'last 30 days']], '');
  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); } },
    field('Severity', sev), field('Status', st), field('Device', dev), field('Technique', tech), field('First seen', since));
  for (const [el, key] of [[sev, 'severity'], [st, 'status'], [dev, 'device'], [since, 'since']]) {
    el.addEventListener('change', () => { f[key] = el.value; f.offset = 0; load(); });
  }
  tech.addEventListener('change', () => { f.technique = tech.value.trim(); f.offset = 0; load(); });

  const bulk = h('form', { class: 'bulk', onsubmit: (e) => e.preventDefault() });
  if (may('triage')) {
    const bStatus = select({}, [['', 'keep'], ['in_progress', 'in progress'], ['resolved', 'resolved']], '');
    const bClass = select({}, [['', 'keep'], ...CLASSIFICATIONS.map((c) => [c, c.replace(/_/g, ' ')])], '');
    const bAssign = h('input', { type: 'text', maxlength: 255, placeholder: 'keep' });
    const apply = h('button', { type: 'submit' }, 'Apply to chosen');
    bulk.append(h('h2', { class: 'inline' }, 'Change the chosen alerts'), field('Status', bStatus), field('Classification', bClass),
      field('Assign to', bAssign), apply);
    bulk.addEventListener('submit', async () => {
      clear(msg);
      const body = {};
      if (bStatus.value) body.status = bStatus.value;
      if (bClass.value) body.classification = bClass.value;
      if (bAssign.value.trim()) body.assigned_to = bAssign.value.trim();
      if (!chosen.size) { msg.appendChild(notice('error', 'Choose alerts first (the boxes in the first column).')); return; }
      if (!Object.keys(body).length) { msg.appendChild(notice('error', 'Choose a status, a classification or an assignee.')); return; }
      apply.disabled = true;
      let ok = 0;
      const failed = [];
      for (const id of chosen) {
        try { await patch(`/api/v1/alerts/${enc(id)}`, body); ok++; } catch (e) { failed.push(`${id.slice(0, 8)}: ${e.message}`); }
      }
      apply.disabled = false;
      chosen.clear();
      msg.appendChild(notice(failed.length ? 'error' : 'ok', `${ok} alert${ok === 1 ? '' : 's'} changed.${failed.length ? ` Not changed: ${failed.join('; ')}` : ''}`));
      await load();
    });
  }
  main.append(pageHead('Alerts'), filters, bulk, msg, out);

  function draw() {
    const cols = [];
    if (may('triage')) {
      const allBox = h('input', { type: 'checkbox', 'aria-label': 'Choose every alert of this page',
        onchange: (e) => { for (const a of page.value) { if (e.target.checked) chosen.add(a.id); else chosen.delete(a.id); } draw(); } });
      allBox.checked = page.value.length > 0 && page.value.every((a) => chosen.has(a.id));
      cols.push({ label: allBox, class: 'pick', cell: (a) => {
        const box = h('input', { type: 'checkbox', 'aria-label': `Choose ${a.title}`,
          onchange: (e) => { if (e.target.checked) chosen.add(a.id); else chosen.delete(a.id); } });
        box.checked = chosen.has(a.id);
        return box;
      } });
    }
    cols.push(
      { label: 'Severity', cell: (a) => pill(a.severity) },
      { label: 'Title', cell: (a) => h('a', { href: `#/alerts/${enc(a.id)}` }, a.title) },
      { label: 'Device', cell: (a) => h('a', { href: `#/devices/${enc(a.device_id)}` }, names.get(a.device_id) || a.device_id) },
      { label: 'Status', cell: (a) => pill(a.status) },
      { label: 'Techniques', cell: (a) => h('span', { class: 'techs' }, (a.techniques || []).map(attackLink)) },
      { label: 'Assigned', cell: (a) => a.assigned_to || '—' },
      { label: 'First seen', cell: (a) => timeEl(a.first_seen) },
      { label: 'Count', cell: (a) => String(a.count) });
    const from = page.value.length ? f.offset + 1 : 0;
    clear(out, h('p', { class: 'sub', role: 'status' }, `${from}–${f.offset + page.value.length} of ${page.count} alert${page.count === 1 ? '' : 's'}`),
      table(cols, page.value, { empty: 'No alert matches these filters.' }),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: f.offset === 0,
          onclick: () => { f.offset = Math.max(0, f.offset - PAGE); load(); } }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: page.next_offset === null,
          onclick: () => { f.offset = page.next_offset; load(); } }, 'Next')));
  }

  async function load() {
    const sinceT = f.since ? new Date(Date.now() - Number(f.since) * 86400000).toISOString().replace(/\.\d+Z$/, 'Z') : '';
    try {
      page = await get(`/api/v1/alerts${q({ severity: f.severity, status: f.status, device: f.device, technique: f.technique, since: sinceT, limit: PAGE, offset: f.offset })}`);
    } catch (e) {
      clear(out, notice('error', e.message));
      return;
    }
    draw();
  }

  const devs = await allDevices();
  names = new Map(devs.map((d) => [d.id, deviceName(d)]));
  clear(dev, h('option', { value: '' }, 'any'), devs.map((d) => h('option', { value: d.id }, deviceName(d))));
  dev.value = f.device;
  await load();
  // a new alert, or a risk change (alerts resolved elsewhere)
  return live(load, (name) => name === 'alert' || name === 'risk');
}
