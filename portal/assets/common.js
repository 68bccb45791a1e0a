// Pieces several pages share: enumerations in their order of gravity,
// tables, ATT&CK links, the live refresh of a page.

import { h, pill } from './dom.js';
import { subscribe } from './events.js';

export const RISKS = ['high', 'medium', 'low', 'informational', 'none'];
export const SEVERITIES = ['high', 'medium', 'low', 'informational'];
export const COMPLIANCE = ['noncompliant', 'in_grace_period', 'error', 'unknown', 'not_evaluated', 'compliant'];
export const ALERT_STATUS = ['new', 'in_progress', 'resolved'];
export const CLASSIFICATIONS = ['unknown', 'true_positive', 'informational_expected_activity', 'false_positive'];
export const EXPOSURES = ['high', 'medium', 'low', 'none'];
export const VULN_RATINGS = ['critical', 'high', 'medium', 'low', 'unknown'];
export const TASK_STATUS = ['pending', 'accepted', 'rejected', 'completed'];
export const PRIORITIES = ['critical', 'high', 'medium', 'low'];
export const DETERMINATIONS = ['not_available', 'malware', 'security_testing', 'unwanted_software',
  'multi_staged_attack', 'compromised_account', 'phishing', 'malicious_user_activity',
  'line_of_business_application', 'confirmed_activity', 'clean', 'not_malicious', 'insufficient_data', 'other'];

// The rank of VALUE in LIST (for sorting by gravity); unknown values last.
export function rank(list, value) {
  const i = list.indexOf(value);
  return i < 0 ? list.length : i;
}

// The ATT&CK page of TECHNIQUE ("T1055.008" -> .../techniques/T1055/008/),
// or null for a string that is no technique id.
function attackUrl(technique) {
  const m = /^T(\d{4})(?:\.(\d{3}))?$/.exec(String(technique));
  if (!m) return null;
  return `https://attack.mitre.org/techniques/T${m[1]}/${m[2] ? `${m[2]}/` : ''}`;
}

// A link to TECHNIQUE's ATT&CK page, opened apart and without referrer.
export function attackLink(technique) {
  const url = attackUrl(technique);
  if (!url) return h('span', { class: 'mono' }, technique);
  return h('a', { href: url, class: 'mono', target: '_blank', rel: 'noopener noreferrer' }, technique);
}

// A link to CVE's page on the security tracker of DISTRO (Debian's, or
// Ubuntu's CVE pages), opened apart and without referrer; the id as text
// when it is no CVE id. Only a link: nothing is fetched from there.
export function cveLink(cve, distro) {
  if (!/^CVE-\d{4}-\d{4,}$/.test(String(cve))) return h('span', { class: 'mono' }, cve);
  const url = distro === 'ubuntu' ? `https://ubuntu.com/security/${cve}`
    : `https://security-tracker.debian.org/tracker/${cve}`;
  return h('a', { href: url, class: 'mono', target: '_blank', rel: 'noopener noreferrer' }, cve);
}

// A device's exposure level as a pill; "not assessed" for null (no
// inventory yet, or not Debian or Ubuntu).
export function exposurePill(level) {
  return pill(level || 'not_assessed');
}

// Today's date in the browser's time zone, as YYYY-MM-DD.
export function today() {
  const t = new Date();
  return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`;
}

// A distribution and release as people write them: "Debian 12".
export function releaseName(distro, release) {
  const os = distro === 'ubuntu' ? 'Ubuntu' : distro === 'debian' ? 'Debian' : distro;
  return `${os} ${release}`;
}

// A task's recommendation in words: "upgrade openssl to 3.0.15-1~deb12u1
// or later (Debian 12)".
export function taskText(t) {
  return `upgrade ${t.package} to ${t.fixed_version} or later (${releaseName(t.distro, t.release)})`;
}

// table(COLUMNS, ROWS, OPTS): a table. COLUMNS are {label, key?, cell(row),
// sort?(row) -> comparable, class?}; with OPTS.sort {key, dir} and
// OPTS.onSort(key) the headers of sortable columns are buttons.
export function table(columns, rows, opts = {}) {
  const head = h('tr', {}, columns.map((c) => {
    const attrs = { scope: 'col', class: c.class || null };
    if (!c.sort || !opts.onSort) return h('th', attrs, c.label);
    const active = opts.sort && opts.sort.key === c.key;
    attrs['aria-sort'] = active ? (opts.sort.dir > 0 ? 'ascending' : 'descending') : 'none';
    return h('th', attrs, h('button', { type: 'button', class: 'sort', onclick: () => opts.onSort(c.key) },
      c.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (opts.sort.dir > 0 ? ' ▲' : ' ▼') : '')));
  }));
  const body = h('tbody', {}, rows.map((r) => h('tr', { class: opts.rowClass ? opts.rowClass(r) : null },
    columns.map((c) => h('td', { class: c.class || null, dataset: typeof c.label === 'string' && c.label ? { label: c.label } : undefined }, c.cell(r))))));
  if (!rows.length) body.appendChild(h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, opts.empty || 'Nothing to show.')));
  return h('div', { class: 'table-wrap' }, h('table', { class: opts.class || 'grid' },
    opts.caption ? h('caption', {}, opts.caption) : null, h('thead', {}, head), body));
}

// live(FN, FILTER): FN() within 300 ms of an event passing FILTER(name,
// data), never twice at once: events arriving while FN runs make one more
// run after it. Returns the unsubscribe function (a page's cleanup).
export function live(fn, filter) {
  let timer = null;
  let running = false;
  let again = false;
  async function run() {
    timer = null;
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } catch { /* the page shows its own errors */ }
    running = false;
    if (again) { again = false; timer = setTimeout(run, 300); }
  }
  const off = subscribe((name, data) => {
    if (filter && !filter(name, data)) return;
    if (!timer) timer = setTimeout(run, 300);
  });
  return () => { clearTimeout(timer); off(); };
}

// A bar of COUNT out of TOTAL, its colour by the class "bar-<value>".
export function bar(value, count, total) {
  const meter = h('span', { class: `bar bar-${value}` });
  meter.style.width = `${total && count ? Math.max(2, Math.round((count / total) * 100)) : 0}%`;
  return h('span', { class: 'bar-track', 'aria-hidden': 'true' }, meter);
}

// A heading with an optional row of ACTIONS (buttons, links) beside it.
export function pageHead(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'page-actions' }, actions));
}

// A device's display name: its name or its id.
export function deviceName(d) {
  return d ? (d.name || d.id) : '';
}
