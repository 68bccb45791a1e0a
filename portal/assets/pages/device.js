// #/devices/ID: a device's risk and why, exposure level and
// vulnerabilities, compliance per policy and setting, alerts, the timeline
// of risk and compliance changes, inventory and software, and the device
// actions with their status. Live: any event about this device reloads
// what it shows.

import { get, post, enc } from '../api.js';
import { h, clear, pill, timeEl, notice, field, shortId } from '../dom.js';
import { VULN_RATINGS, live, table, deviceName, rank, cveLink, exposurePill } from '../common.js';
import { may } from '../session.js';

const ACTIONS = [
  ['isolate', 'Isolate', 'contain', 'Cut the device off the network; only Vigil stays reachable.'],
  ['release', 'Release from isolation', 'contain', 'Open the network again.'],
  ['collect_investigation_package', 'Collect investigation package', 'investigate', 'Processes, connections, files, logs.'],
  ['run_scan', 'Run scan', 'investigate', 'A fresh inventory and posture.'],
  ['offboard', 'Offboard', 'contain', 'The agent stops and the device certificate is revoked.'],
];

function section(id, title, ...content) {
  return h('section', { class: 'card', 'aria-labelledby': `h-${id}`, id: `sec-${id}` }, h('h2', { id: `h-${id}` }, title), content);
}

// the sort keys of the vulnerabilities table; ties by CVE
const VULN_SORTS = {
  cve: (v) => v.cve,
  package: (v) => v.package,
  fixed: (v) => (v.fixed_version === null ? 0 : 1),
  severity: (v) => rank(VULN_RATINGS, v.rating),
  cvss: (v) => -(v.cvss ?? -1),
  exploit: (v) => (v.exploit_known ? 0 : 1),
};

function props(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export async function render(main, [id]) {
  const head = h('div');
  const body = h('div', { class: 'device-page' });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/devices' }, 'Devices'), ' / '), head, msg, body);
  let softFilter = '';
  let softOpen = false;
  let commentText = '';
  let vulnSort = { key: 'severity', dir: 1 };

  async function load() {
    // the actions first: a device read after them shows the isolation of
    // any action they show succeeded
    const acts = await get(`/api/v1/devices/${enc(id)}/actions?limit=20`).catch(() => ({ value: [] }));
    const [d, comp, alerts, tl, ch, soft, vulns] = await Promise.all([
      get(`/api/v1/devices/${enc(id)}`),
      get(`/api/v1/devices/${enc(id)}/compliance`).catch((e) => ({ error: e.message })),
      get(`/api/v1/alerts?device=${enc(id)}&limit=50`),
      get(`/api/v1/devices/${enc(id)}/timeline?limit=50`),
      get(`/api/v1/devices/${enc(id)}/compliance/history?limit=50`).catch(() => ({ value: [] })),
      get(`/api/v1/devices/${enc(id)}/software`).catch(() => ({ value: [] })),
      get(`/api/v1/devices/${enc(id)}/vulnerabilities`).catch((e) => ({ error: e.message, value: [] })),
    ]);
    const iso = d.isolation || { state: 'not_isolated' };
    clear(head, h('div', { class: 'page-head' },
      h('h1', {}, deviceName(d)),
      h('div', { class: 'badges' },
        h('span', { class: 'badge' }, 'risk ', pill(d.risk_level)),
        h('span', { class: 'badge', id: 'exposure-state' }, 'exposure ', exposurePill(d.exposure_level)),
        h('span', { class: 'badge' }, 'compliance ', pill(d.compliance_state)),
        h('span', { class: 'badge' }, 'health ', pill(d.onboarding_status === 'offboarded' ? 'offboarded' : d.health_status)),
        h('span', { class: 'badge', id: 'isolation-state' }, pill(iso.state)))));
    const events = [
      ...tl.value.map((t) => ({ at: t.at, what: 'risk', from: t.from, to: t.to, by: t.by, why: (t.alert_ids || []).map((a) => h('a', { href: `#/alerts/${enc(a)}` }, shortId(a))) })),
      ...ch.value.map((t) => ({ at: t.at, what: 'compliance', from: t.from, to: t.to, by: t.policy_id ? `policy ${t.policy_id.slice(0, 8)}` : 'tenant', why: [t.setting ? `${t.setting}: ` : '', t.reason || ''] })),
    ].sort((a, b) => new Date(b.at) - new Date(a.at));
    clear(body,
      actionsCard(d, acts.value),
      section('risk', 'Risk and why',
        h('p', {}, 'Risk level ', pill(d.risk_level), d.risk_level === 'none' ? ': no unresolved alert.' : ': the highest severity among the unresolved alerts below.'),
        d.risk_reasons && d.risk_reasons.length ? h('ul', { class: 'reasons' }, d.risk_reasons.map((r) => h('li', {},
          pill(r.severity), ' ', h('a', { href: `#/alerts/${enc(r.alert_id)}` }, r.title), ' · ', pill(r.status), ' · last seen ', timeEl(r.last_seen, true)))) : null),
      complianceCard(comp),
      vulnerabilities(d, vulns),
      section('alerts', `Alerts (${alerts.count})`, table([
        { label: 'Severity', cell: (a) => pill(a.severity) },
        { label: 'Title', cell: (a) => h('a', { href: `#/alerts/${enc(a.id)}` }, a.title) },
        { label: 'Status', cell: (a) => pill(a.status) },
        { label: 'First seen', cell: (a) => timeEl(a.first_seen) },
        { label: 'Count', cell: (a) => String(a.count) },
      ], alerts.value, { empty: 'No alert on this device.' })),
      section('timeline', 'Timeline', table([
        { label: 'When', cell: (e) => timeEl(e.at) },
        { label: 'What', cell: (e) => e.what },
        { label: 'Change', cell: (e) => h('span', {}, pill(e.from), ' → ', pill(e.to)) },
        { label: 'By', cell: (e) => h('span', { class: 'mono' }, e.by || '') },
        { label: 'Why', cell: (e) => h('span', {}, e.why) },
      ], events, { empty: 'No risk or compliance change yet.' })),
      section('inventory', 'Inventory', props([
        ['Id', h('span', { class: 'mono' }, d.id)],
        ['OS', `${d.os_name} ${d.os_version}`], ['Kernel', d.kernel], ['Architecture', d.architecture],
        ['Agent', d.agent_version], ['Sensor', d.sensor], ['Disk encryption', pill(d.disk_encryption)],
        ['Firewall', pill(d.firewall)], ['Secure Boot', pill(d.secure_boot)],
        ['Primary user', d.primary_user ? d.primary_user.user_principal_name : '—'],
        ['Tags', (d.tags || []).join(', ') || '—'],
        ['Enrolled', timeEl(d.enrolled_at)], ['Last seen', timeEl(d.last_seen)], ['Inventory', timeEl(d.inventory_at)],
        ['Certificate expires', timeEl(d.certificate_expires_at)],
        d.offboarded_at ? ['Offboarded', timeEl(d.offboarded_at)] : null,
      ]), software(soft.value)));
    return acts.value.some((a) => a.status === 'pending' || a.status === 'in_progress');
  }

  function vulnerabilities(d, v) {
    const out = h('div');
    const level = d.exposure_level;
    const say = level === null || level === undefined
      ? ': not assessed (no inventory yet, or neither Debian nor Ubuntu).'
      : level === 'none' ? ': no installed package has a known vulnerability.'
        : ': from the vulnerabilities below (high: a critical CVE, a known exploit or 10 high CVEs; medium: a high CVE or 10 medium ones; low: any other).';
    const draw = () => {
      const key = VULN_SORTS[vulnSort.key];
      const rows = [...v.value].sort((a, b) => {
        const x = key(a), y = key(b);
        return x < y ? -vulnSort.dir : x > y ? vulnSort.dir : a.cve.localeCompare(b.cve) || a.package.localeCompare(b.package);
      });
      clear(out, table([
        { label: 'CVE', key: 'cve', sort: true, cell: (x) => cveLink(x.cve, x.distro) },
        { label: 'Package', key: 'package', sort: true, cell: (x) => h('span', {}, x.package,
          x.source && x.source !== x.package ? h('span', { class: 'sub-inline' }, ` (source ${x.source})`) : null) },
        { label: 'Installed', cell: (x) => h('span', { class: 'mono' }, x.installed_version) },
        { label: 'Fixed in', key: 'fixed', sort: true, cell: (x) => (x.fixed_version === null
          ? h('span', { class: 'nofix' }, 'no fix yet') : h('span', { class: 'mono' }, x.fixed_version)) },
        { label: 'Severity', key: 'severity', sort: true, cell: (x) => h('span', {}, pill(x.rating),
          x.urgency ? h('span', { class: 'sub-inline' }, ` urgency ${x.urgency}`) : null) },
        { label: 'CVSS', key: 'cvss', sort: true, cell: (x) => (x.cvss === null ? '—' : x.cvss.toFixed(1)) },
        { label: 'Exploit', key: 'exploit', sort: true, cell: (x) => (x.exploit_known ? pill('exploit_known') : 'none known') },
      ], rows, {
        class: 'grid compact', sort: vulnSort, empty: 'No known vulnerability.',
        onSort: (k) => {
          vulnSort = { key: k, dir: vulnSort.key === k ? -vulnSort.dir : 1 };
          draw();
          const b = out.querySelector('th[aria-sort]:not([aria-sort="none"]) button');
          if (b) b.focus();
        },
      }));
    };
    draw();
    const n = (key) => new Set(v.value.map((x) => x[key])).size;
    const plural = (k, word) => `${k} ${word}${k === 1 ? '' : 's'}`;
    return section('vulns', `Vulnerabilities (${v.value.length})`,
      v.error ? notice('error', v.error) : h('p', {}, 'Exposure level ', exposurePill(level), say),
      v.value.length ? h('p', { class: 'sub', id: 'vulns-count' },
        `${plural(n('cve'), 'CVE')} in ${plural(n('package'), 'package')} of ${plural(n('source'), 'source package')}`) : null,
      out);
  }

  function software(list) {
    const out = h('div');
    const input = h('input', { type: 'search', value: softFilter, placeholder: 'package name' });
    const draw = () => {
      const n = softFilter.toLowerCase();
      const rows = list.filter((p) => !n || p.name.toLowerCase().includes(n));
      clear(out, h('p', { class: 'sub' }, `${rows.length} of ${list.length} packages${rows.length > 200 ? ', the first 200 shown' : ''}`),
        table([
          { label: 'Package', cell: (p) => p.name }, { label: 'Version', cell: (p) => p.version },
          { label: 'Architecture', cell: (p) => p.architecture }, { label: 'Source', cell: (p) => p.source },
        ], rows.slice(0, 200), { empty: 'No package reported.', class: 'grid compact' }));
    };
    input.addEventListener('input', () => { softFilter = input.value; draw(); });
    draw();
    const box = h('details', { class: 'software', open: softOpen },
      h('summary', {}, `Software: ${list.length} packages`), field('Filter packages', input), out);
    box.addEventListener('toggle', () => { softOpen = box.open; });
    return box;
  }

  function complianceCard(c) {
    if (c.error) return section('compliance', 'Compliance', notice('error', c.error));
    return section('compliance', 'Compliance',
      h('p', {}, pill(c.state), c.reason ? ` ${c.reason}` : '', c.since ? [' · since ', timeEl(c.since)] : null),
      (c.policies || []).length ? (c.policies || []).map((p) => h('div', { class: 'policy-result' },
        h('h3', {}, h('a', { href: `#/compliance/${enc(p.policy_id)}` }, p.policy), ' ', pill(p.state)),
        p.reason ? h('p', { class: 'sub' }, p.reason) : null,
        p.grace_ends_at ? h('p', { class: 'sub' }, 'grace period ends ', timeEl(p.grace_ends_at)) : null,
        table([
          { label: 'Setting', cell: (x) => h('span', { class: 'mono' }, x.setting) },
          { label: 'State', cell: (x) => pill(x.state) },
          { label: 'Observed', cell: (x) => x.observed === null || x.observed === undefined ? '—' : String(x.observed) },
          { label: 'Reason', cell: (x) => x.reason || '' },
        ], p.settings || [], { class: 'grid compact' }))) : h('p', { class: 'sub' }, 'No compliance policy applies to this device.'));
  }

  function actionsCard(d, acts) {
    // release is offered to an isolated device only
    const isolated = d.isolation && d.isolation.state === 'isolated';
    const allowed = ACTIONS.filter(([type, , role]) => may(role) && (type !== 'release' || isolated));
    const parts = [];
    if (allowed.length && d.onboarding_status === 'onboarded') {
      const comment = h('input', { type: 'text', maxlength: 4096, placeholder: 'why (kept with the action)', value: commentText,
        oninput: (e) => { commentText = e.target.value; } });
      const form = h('form', { class: 'action-form', novalidate: true, onsubmit: (e) => e.preventDefault() },
        field('Comment', comment, 'comment'),
        h('div', { class: 'buttons' }, allowed.map(([type, label, , hint]) => h('button', {
          type: 'button', class: type === 'isolate' || type === 'offboard' ? 'danger' : '', title: hint, dataset: { action: type },
          onclick: async () => {
            clear(msg);
            if (!comment.value.trim()) {
              msg.appendChild(notice('error', 'A comment is required: say why.'));
              comment.focus();
              return;
            }
            if (type === 'offboard' && !window.confirm(`Offboard ${deviceName(d)}? Its agent stops and its certificate is revoked.`)) return;
            try {
              await post(`/api/v1/devices/${enc(id)}/actions`, { type, comment: comment.value.trim() });
              commentText = '';
              msg.appendChild(notice('ok', `${label}: requested.`));
              await refresh();
            } catch (e) {
              msg.appendChild(notice('error', `${label}: ${e.message}`));
            }
          },
        }, label))));
      parts.push(form);
    }
    parts.push(table([
      { label: 'Action', cell: (a) => a.type.replace(/_/g, ' ') },
      { label: 'Status', cell: (a) => h('span', { dataset: { status: a.status } }, pill(a.status)) },
      { label: 'Requested', cell: (a) => h('span', {}, timeEl(a.created_at), ` by ${a.requested_by_name || a.requested_by || ''}`) },
      { label: 'Comment', cell: (a) => a.comment || '' },
      { label: 'Result', cell: (a) => h('span', {}, a.message || '',
        a.package && may('investigate') ? [' ', h('a', { href: `/api/v1/actions/${enc(a.id)}/package`, download: `vigil-package-${a.id}.tar.gz` }, 'Download package')] : null) },
      { label: '', cell: (a) => (a.status === 'pending' || a.status === 'in_progress') &&
        may(['isolate', 'release', 'offboard'].includes(a.type) ? 'contain' : 'investigate')
        ? h('button', { type: 'button', class: 'secondary small', onclick: async () => {
          try { await post(`/api/v1/actions/${enc(a.id)}/cancel`, {}); await refresh(); } catch (e) { msg.appendChild(notice('error', e.message)); }
        } }, 'Cancel') : '' },
    ], acts, { empty: 'No action yet.', class: 'grid compact', rowClass: (a) => `action-${a.type}` }));
    return section('actions', 'Actions', parts);
  }

  // while an action is open its status is asked for every 2 s as well, in
  // case its event is missed (the stream reconnecting)
  let poll = null;
  async function refresh() {
    clearTimeout(poll);
    const open = await load().catch(() => false);
    if (open) poll = setTimeout(refresh, 2000);
  }
  await refresh();
  const off = live(refresh, (_n, data) => data.device_id === id);
  return () => { clearTimeout(poll); off(); };
}
