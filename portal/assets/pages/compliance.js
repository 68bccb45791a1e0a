// #/compliance: the compliance policies with their device counts;
// #/compliance/new and #/compliance/ID: a policy's form (settings, actions,
// assignments). A refused document shows the API's error at the field it
// names.

import { get, post, put, del, all, enc } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice, showFieldError, clearFieldErrors } from '../dom.js';
import { table, pageHead } from '../common.js';
import { may } from '../session.js';

const LEVELS = { max_device_risk: ['clear', 'low', 'medium', 'high'], max_exposure_level: ['none', 'low', 'medium', 'high'] };
const BOOLS = [['disk_encryption_required', 'Disk encryption required'], ['firewall_required', 'Firewall required'],
  ['secure_boot_required', 'Secure Boot required'], ['sensor_healthy_required', 'Healthy sensor required']];
const EMPTY = {
  name: '', description: '', platform: 'linux',
  settings: { max_device_risk: 'medium', min_os_version: null },
  actions: [{ type: 'mark_noncompliant', after_hours: 0, grace_hours: 0 }],
  assignments: { include: ['all_devices'], exclude: [] },
};

async function list(main) {
  const [policies, report] = await Promise.all([
    all('/api/v1/compliance-policies', 200, 2000),
    get('/api/v1/compliance/report?limit=1').catch(() => ({ policies: [] })),
  ]);
  const counts = new Map((report.policies || []).map((p) => [p.id, p.counts || {}]));
  main.append(pageHead('Compliance policies', may('manage') ? h('a', { class: 'button', href: '#/compliance/new' }, 'New policy') : null),
    table([
      { label: 'Name', cell: (p) => h('a', { href: `#/compliance/${enc(p.id)}` }, p.name) },
      { label: 'Version', cell: (p) => String(p.version) },
      { label: 'Settings', cell: (p) => Object.entries(p.document.settings || {}).filter(([, v]) => v !== null && v !== false)
        .map(([k, v]) => (v === true ? k : `${k} ${v}`)).join(', ') },
      { label: 'Devices', cell: (p) => h('span', {}, Object.entries(counts.get(p.id) || {}).filter(([, n]) => n)
        .map(([st, n]) => h('span', { class: 'count-pill' }, pill(st), ` ${n}`))) },
      { label: 'Updated', cell: (p) => timeEl(p.updated_at) },
    ], policies, { empty: 'No compliance policy yet.' }));
}

export async function render(main, [id]) {
  if (!id) return list(main);
  const creating = id === 'new';
  if (creating && !may('manage')) { main.append(notice('error', 'Your role may not create policies.')); return null; }
  const [p, groups] = await Promise.all([
    creating ? null : get(`/api/v1/compliance-policies/${enc(id)}`),
    all('/api/v1/groups', 1000, 1000).catch(() => []),
  ]);
  const doc = p ? p.document : structuredClone(EMPTY);
  const ro = !may('manage');
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const inp = (attrs) => h('input', { ...attrs, disabled: ro });

  const name = inp({ type: 'text', value: doc.name, maxlength: 128, required: true });
  const description = h('textarea', { rows: 2, maxlength: 1024, disabled: ro });
  description.value = doc.description || '';
  const st = doc.settings || {};
  const levels = Object.fromEntries(Object.entries(LEVELS).map(([k, vals]) =>
    [k, select({ disabled: ro }, [['', 'not checked'], ...vals.map((v) => [v, v])], st[k] || '')]));
  const minOs = inp({ type: 'text', value: st.min_os_version || '', placeholder: 'e.g. 12 or 22.04', maxlength: 64 });
  const bools = Object.fromEntries(BOOLS.map(([k]) => [k, inp({ type: 'checkbox', checked: Boolean(st[k]) })]));

  const actionRows = h('div', { class: 'action-rows' });
  function actionRow(a, i) {
    const type = select({ disabled: ro || i === 0 }, ['mark_noncompliant', 'notify', 'isolate'], a.type);
    const after = inp({ type: 'text', inputmode: 'numeric', value: String(a.after_hours ?? 0), size: 6 });
    const grace = inp({ type: 'text', inputmode: 'numeric', value: String(a.grace_hours ?? 0), size: 6 });
    const row = h('fieldset', { class: 'action-row', dataset: { field: `actions[${i}]` } },
      h('legend', {}, i === 0 ? 'Mark noncompliant (first action)' : `Action ${i + 1}`),
      field('Type', type, `actions[${i}].type`),
      field('After hours', after, `actions[${i}].after_hours`),
      a.type === 'mark_noncompliant' ? field('Grace hours', grace, `actions[${i}].grace_hours`) : null,
      i > 0 && !ro ? h('button', { type: 'button', class: 'secondary small', onclick: () => { row.remove(); } }, 'Remove') : null,
      h('p', { class: 'field-error', role: 'alert', hidden: true }));
    row.read = () => {
      const o = { type: type.value, after_hours: num(after.value) };
      if (type.value === 'mark_noncompliant') o.grace_hours = num(grace.value);
      return o;
    };
    return row;
  }
  (doc.actions || []).forEach((a, i) => actionRows.appendChild(actionRow(a, i)));
  const addAction = ro ? null : h('button', { type: 'button', class: 'secondary small', onclick: () =>
    actionRows.appendChild(actionRow({ type: 'notify', after_hours: 1 }, actionRows.children.length)) }, 'Add an action');

  const targets = [['all_devices', 'All devices'], ...groups.map((g) => [g.id, g.name])];
  const as = doc.assignments || { include: [], exclude: [] };
  const checks = (mode) => h('div', { class: 'checks', dataset: { field: `assignments.${mode}` } },
    targets.filter(([t]) => mode === 'include' || t !== 'all_devices').map(([t, label]) =>
      h('label', {}, inp({ type: 'checkbox', value: t, name: mode, checked: (as[mode] || []).includes(t) }), ` ${label}`)),
    mode === 'exclude' && !groups.length ? h('p', { class: 'sub' }, 'No device group to exclude yet.') : null,
    h('p', { class: 'field-error', role: 'alert', hidden: true }));
  const include = checks('include');
  const exclude = checks('exclude');

  const save = h('button', { type: 'submit' }, creating ? 'Create policy' : 'Save');
  const form = h('form', { class: 'policy-form card', novalidate: true },
    field('Name', name, 'name'), field('Description', description, 'description'),
    h('fieldset', { dataset: { field: 'settings' } }, h('legend', {}, 'Settings'),
      h('p', { class: 'field-error', role: 'alert', hidden: true }),
      field('Maximum device risk', levels.max_device_risk, 'settings.max_device_risk'),
      field('Minimum OS version', minOs, 'settings.min_os_version', '1 to 4 numbers separated by dots'),
      field('Maximum exposure level', levels.max_exposure_level, 'settings.max_exposure_level'),
      BOOLS.map(([k, label]) => h('div', { class: 'field check', dataset: { field: `settings.${k}` } },
        h('label', {}, bools[k], ` ${label}`), h('p', { class: 'field-error', role: 'alert', hidden: true })))),
    h('fieldset', { dataset: { field: 'actions' } }, h('legend', {}, 'Actions'), h('p', { class: 'field-error', role: 'alert', hidden: true }), actionRows, addAction),
    h('fieldset', { dataset: { field: 'assignments' } }, h('legend', {}, 'Assignments'), h('p', { class: 'field-error', role: 'alert', hidden: true }),
      h('h3', {}, 'Include'), include, h('h3', {}, 'Exclude'), exclude),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    ro ? null : h('div', { class: 'buttons' }, save,
      creating ? null : h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete')));

  function num(v) {
    const t = String(v).trim();
    return /^-?\d+$/.test(t) ? Number(t) : t;
  }

  function read() {
    const settings = {};
    for (const k of Object.keys(LEVELS)) settings[k] = levels[k].value || null;
    settings.min_os_version = minOs.value.trim() || null;
    for (const [k] of BOOLS) settings[k] = bools[k].checked;
    return {
      name: name.value.trim(), description: description.value, platform: 'linux', settings,
      actions: [...actionRows.children].map((r) => r.read()),
      assignments: {
        include: [...include.querySelectorAll('input:checked')].map((c) => c.value),
        exclude: [...exclude.querySelectorAll('input:checked')].map((c) => c.value),
      },
    };
  }

  async function remove() {
    if (!window.confirm(`Delete the policy "${doc.name}"? Its devices are evaluated without it.`)) return;
    try {
      await del(`/api/v1/compliance-policies/${enc(id)}`);
      location.hash = '#/compliance';
    } catch (e) { clear(msg, notice('error', e.message)); }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    clearFieldErrors(form);
    save.disabled = true;
    try {
      const r = creating ? await post('/api/v1/compliance-policies', read())
        : await put(`/api/v1/compliance-policies/${enc(id)}`, read());
      if (creating) { location.hash = `#/compliance/${enc(r.id)}`; return; }
      msg.appendChild(notice('ok', r.result === 'unchanged' ? 'Nothing changed.' : `Saved: version ${r.version}.`));
    } catch (e) {
      const path = e.field || (e.code === 'policy_exists' ? 'name' : '');
      showFieldError(form, path, e.message);
      msg.appendChild(notice('error', `Not saved: ${e.message}`));
    } finally {
      save.disabled = false;
    }
  });

  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/compliance' }, 'Compliance policies'), ' / '),
    pageHead(creating ? 'New compliance policy' : doc.name,
      p ? h('span', { class: 'sub' }, `version ${p.version} · updated `, timeEl(p.updated_at)) : null),
    msg, form);
  if (!ro) name.focus();
  return null;
}
