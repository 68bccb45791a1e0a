// #/vulnerabilities: the security recommendations in their order of
// impact, each with "Create task" for a security_admin (target group,
// priority, due date, notes; a refused task shows the API's error at its
// field); the fleet's vulnerabilities filtered by device, CVE and severity,
// paged; the advisory feed imports with their status and error.
// ?device=&cve=&severity= preset the filters. Live: an exposure change
// reloads the recommendations and the vulnerabilities.

import { get, post, all, devices as allDevices, enc, q } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice, showFieldError, clearFieldErrors } from '../dom.js';
import { VULN_RATINGS, PRIORITIES, live, table, pageHead, deviceName, cveLink, today } from '../common.js';
import { may } from '../session.js';

const PAGE = 100;

function section(id, title, ...content) {
  return h('section', { class: 'card', 'aria-labelledby': `h-${id}`, id: `sec-${id}` }, h('h2', { id: `h-${id}` }, title), content);
}

// the task form for recommendation REC; ONDONE(task) after it is created,
// ONCANCEL() when given up
function taskForm(rec, groups, onDone, onCancel) {
  const group = select({ name: 'group_id' }, [['', 'All devices'], ...groups.map((g) => [g.id, g.name])], '');
  const priority = select({ name: 'priority' }, PRIORITIES, rec.fixes_high || rec.exploited_cves ? 'high' : 'medium');
  const due = h('input', { type: 'date', name: 'due_date', min: today() });
  const notes = h('input', { type: 'text', name: 'notes', maxlength: 2000, placeholder: 'for IT: maintenance window, contacts' });
  const create = h('button', { type: 'submit' }, 'Create task');
  const form = h('form', { class: 'task-form', novalidate: true, 'aria-labelledby': 'h-new-task' },
    h('h3', { id: 'h-new-task' }, `New security task: ${rec.text.split(' — ')[0]}`),
    h('div', { class: 'task-fields' },
      field('Target device group', group, 'group_id'),
      field('Priority', priority, 'priority'),
      field('Due date', due, 'due_date', 'today or later; may stay empty'),
      field('Notes', notes, 'notes', 'one line, at most 2000 bytes')),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'buttons' }, create, h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    // a date input holding an impossible date reads as empty
    if (due.validity.badInput) { showFieldError(form, 'due_date', 'due_date: not a whole date; pick one or clear the field'); return; }
    if (due.value && due.value < today()) {
      showFieldError(form, 'due_date', `due_date: ${due.value} is in the past; choose today or later`);
      return;
    }
    const body = { package: rec.package, distro: rec.distro, release: rec.release, priority: priority.value };
    if (group.value) body.group_id = group.value;
    if (due.value) body.due_date = due.value;
    if (notes.value.trim()) body.notes = notes.value.trim();
    create.disabled = true;
    try {
      onDone(await post('/api/v1/tvm/tasks', body));
    } catch (e) {
      showFieldError(form, e.field || (e.code === 'group_not_found' ? 'group_id' : ''), e.message);
    } finally {
      create.disabled = false;
    }
  });
  return form;
}

export async function render(main, _m, query) {
  const f = { device: query.get('device') || '', cve: query.get('cve') || '', severity: query.get('severity') || '', offset: 0 };
  let names = new Map();
  let groups = [];
  let openFor = null; // the recommendation whose task form is open: "package distro release"
  const recsOut = h('div');
  const vulnsOut = h('div');
  const feedsOut = h('div');
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });

  const dev = select({}, [['', 'any']], f.device);
  const cve = h('input', { type: 'search', value: f.cve, placeholder: 'CVE-2024-5535', title: 'the whole id, then Enter', maxlength: 128 });
  const sev = select({}, ['', ...VULN_RATINGS], f.severity);
  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); } },
    field('Device', dev), field('CVE', cve), field('Severity', sev));
  dev.addEventListener('change', () => { f.device = dev.value; f.offset = 0; loadVulns(); });
  sev.addEventListener('change', () => { f.severity = sev.value; f.offset = 0; loadVulns(); });
  cve.addEventListener('change', () => { f.cve = cve.value.trim().toUpperCase(); f.offset = 0; loadVulns(); });

  main.append(pageHead('Vulnerabilities'), msg,
    section('recs', 'Security recommendations', h('p', { class: 'sub' },
      'One per source package and release, by impact: the CVEs an upgrade fixes, weighted by rating and known exploits, times the devices they affect.'), recsOut),
    section('fleet', 'Vulnerabilities of the fleet', filters, vulnsOut),
    section('feeds', 'Advisory feed imports', feedsOut));

  const key = (r) => `${r.package} ${r.distro} ${r.release}`;

  function drawRecs(recs) {
    const cols = [
      { label: '#', class: 'num', cell: (r) => String(recs.indexOf(r) + 1) },
      { label: 'Recommendation', cell: (r) => h('span', { class: 'rec-text' }, r.text) },
      { label: 'Devices', class: 'num', cell: (r) => String(r.devices) },
      { label: 'CVEs fixed', class: 'num', cell: (r) => String(r.fixes_cves) },
      { label: 'High', class: 'num', cell: (r) => (r.fixes_high ? h('span', { class: 'pill pill-high' }, String(r.fixes_high)) : '0') },
      { label: 'No fix yet', class: 'num', cell: (r) => String(r.open_cves) },
      { label: 'Exploited', class: 'num', cell: (r) => (r.exploited_cves ? h('span', { class: 'pill pill-exploit_known', title: 'CVEs with a known exploit' }, String(r.exploited_cves)) : '0') },
    ];
    if (may('task')) {
      cols.push({ label: '', cell: (r) => (r.fixed_version === null ? h('span', { class: 'sub-inline' }, 'no fix to deploy')
        : h('button', { type: 'button', class: 'secondary small', dataset: { rec: key(r) }, 'aria-expanded': String(openFor === key(r)),
          onclick: () => { openFor = openFor === key(r) ? null : key(r); drawRecs(recs); } }, 'Create task')) });
    }
    const parts = [table(cols, recs, { empty: 'No recommendation: no device has a known vulnerability.' })];
    const rec = recs.find((r) => key(r) === openFor);
    if (rec) {
      const form = taskForm(rec, groups, (t) => { location.hash = `#/tasks/${enc(t.id)}`; }, () => {
        openFor = null;
        drawRecs(recs);
        // back to the button that opened the form
        const b = [...recsOut.querySelectorAll('button[data-rec]')].find((x) => x.dataset.rec === key(rec));
        if (b) b.focus();
      });
      parts.push(form);
      setTimeout(() => form.querySelector('select').focus(), 0);
    }
    clear(recsOut, parts);
  }

  async function loadRecs() {
    try {
      const recs = await get('/api/v1/tvm/recommendations');
      // an open form keeps its input: redraw only when it is closed
      if (!openFor || !recsOut.querySelector('form')) drawRecs(recs.value);
    } catch (e) { clear(recsOut, notice('error', e.message)); }
  }

  async function loadVulns() {
    let page;
    try {
      page = await get(`/api/v1/tvm/vulnerabilities${q({ device: f.device, cve: f.cve, severity: f.severity, limit: PAGE, offset: f.offset })}`);
    } catch (e) {
      clear(vulnsOut, notice('error', e.message));
      return;
    }
    const from = page.value.length ? f.offset + 1 : 0;
    clear(vulnsOut, h('p', { class: 'sub', role: 'status' }, `${from}–${f.offset + page.value.length} of ${page.count} vulnerabilit${page.count === 1 ? 'y' : 'ies'}`),
      table([
        { label: 'Device', cell: (v) => h('a', { href: `#/devices/${enc(v.device_id)}` }, names.get(v.device_id) || v.device_id) },
        { label: 'CVE', cell: (v) => cveLink(v.cve, v.distro) },
        { label: 'Package', cell: (v) => v.package },
        { label: 'Installed', cell: (v) => h('span', { class: 'mono' }, v.installed_version) },
        { label: 'Fixed in', cell: (v) => (v.fixed_version === null ? h('span', { class: 'nofix' }, 'no fix yet') : h('span', { class: 'mono' }, v.fixed_version)) },
        { label: 'Severity', cell: (v) => pill(v.rating) },
        { label: 'CVSS', cell: (v) => (v.cvss === null ? '—' : v.cvss.toFixed(1)) },
        { label: 'Exploit', cell: (v) => (v.exploit_known ? pill('exploit_known') : 'none known') },
      ], page.value, { class: 'grid compact', empty: 'No vulnerability matches these filters.' }),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: f.offset === 0,
          onclick: () => { f.offset = Math.max(0, f.offset - PAGE); loadVulns(); } }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: page.next_offset === null,
          onclick: () => { f.offset = page.next_offset; loadVulns(); } }, 'Next')));
  }

  async function loadFeeds() {
    let feeds;
    try { feeds = await get('/api/v1/tvm/feeds?limit=20'); } catch (e) { clear(feedsOut, notice('error', e.message)); return; }
    clear(feedsOut,
      h('p', { class: 'sub' }, (feeds.stored || []).length
        ? ['Stored now: ', (feeds.stored || []).map((s, i) => [i ? ' · ' : '', `${s.rows} rows of ${s.feed} from `, h('span', { class: 'mono' }, s.origin)])]
        : 'No advisory stored yet: import a feed with "vigil tvm import FILE" or set tvm_feed_paths.'),
      table([
        { label: 'Started', cell: (x) => timeEl(x.started) },
        { label: 'Feed', cell: (x) => x.feed },
        { label: 'Origin', cell: (x) => h('span', { class: 'mono' }, x.origin) },
        { label: 'Status', cell: (x) => pill(x.status) },
        { label: 'Records', class: 'num', cell: (x) => String(x.records) },
        { label: 'Rows', class: 'num', cell: (x) => String(x.rows) },
        { label: 'Skipped', class: 'num', cell: (x) => String(x.skipped) },
        { label: 'Error', cell: (x) => (x.error ? h('span', { class: 'feed-error' }, x.error) : '') },
      ], feeds.value, { class: 'grid compact', empty: 'No feed imported yet.' }),
      feeds.count > feeds.value.length ? h('p', { class: 'sub' }, `The last ${feeds.value.length} of ${feeds.count} imports.`) : null);
  }

  const [devs, g] = await Promise.all([allDevices(), all('/api/v1/groups', 1000, 1000).catch(() => [])]);
  names = new Map(devs.map((d) => [d.id, deviceName(d)]));
  groups = g;
  clear(dev, h('option', { value: '' }, 'any'), devs.map((d) => h('option', { value: d.id }, deviceName(d))));
  dev.value = f.device;
  await Promise.all([loadRecs(), loadVulns(), loadFeeds()]);
  return live(() => Promise.all([loadRecs(), loadVulns(), loadFeeds()]),
    (name, d) => name === 'exposure' || (name === 'device' && d.change !== 'inventory'));
}
