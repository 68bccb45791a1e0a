// #/tasks: the security tasks, newest first, filtered by status (?status=
// presets it); #/tasks/ID: a task with its recommendation, target,
// priority, due date, notes and status, the devices still vulnerable and
// its history, and the changes its role may make: an it_admin accepts,
// rejects (with a reason) and completes.

import { get, post, all, devices as allDevices, enc, q } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice, showFieldError, clearFieldErrors } from '../dom.js';
import { TASK_STATUS, live, table, pageHead, deviceName, taskText, releaseName, cveLink, today } from '../common.js';
import { may } from '../session.js';

const PAGE = 50;

function section(id, title, ...content) {
  return h('section', { class: 'card', 'aria-labelledby': `h-${id}`, id: `sec-${id}` }, h('h2', { id: `h-${id}` }, title), content);
}

const open = (t) => t.status === 'pending' || t.status === 'accepted';

// the due date, marked when an open task is past it
function dueEl(t) {
  if (!t.due_date) return '—';
  const late = open(t) && t.due_date < today();
  return h('span', { class: late ? 'overdue' : null }, t.due_date, late ? ' (past due)' : '');
}

async function list(main, query) {
  const f = { status: query.get('status') || '', offset: 0 };
  const out = h('div');
  const st = select({}, ['', ...TASK_STATUS], f.status);
  st.addEventListener('change', () => { f.status = st.value; f.offset = 0; load(); });
  main.append(pageHead('Security tasks', may('task') ? h('a', { class: 'button', href: '#/vulnerabilities' }, 'New task from a recommendation') : null),
    h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() }, field('Status', st)), out);
  const groups = new Map((await all('/api/v1/groups', 1000, 1000).catch(() => [])).map((g) => [g.id, g.name]));

  async function load() {
    let page;
    try { page = await get(`/api/v1/tvm/tasks${q({ status: f.status, limit: PAGE, offset: f.offset })}`); } catch (e) { clear(out, notice('error', e.message)); return; }
    const from = page.value.length ? f.offset + 1 : 0;
    clear(out, h('p', { class: 'sub', role: 'status' }, `${from}–${f.offset + page.value.length} of ${page.count} task${page.count === 1 ? '' : 's'}`),
      table([
        { label: 'Task', cell: (t) => h('a', { href: `#/tasks/${enc(t.id)}` }, taskText(t)) },
        { label: 'Target', cell: (t) => (t.group_id ? groups.get(t.group_id) || t.group_id : 'All devices') },
        { label: 'Priority', cell: (t) => pill(t.priority) },
        { label: 'Due', cell: dueEl },
        { label: 'Status', cell: (t) => pill(t.status) },
        { label: 'Still vulnerable', class: 'num', cell: (t) => String(t.still_vulnerable ?? '—') },
        { label: 'Created', cell: (t) => timeEl(t.created_at) },
      ], page.value, { empty: f.status ? 'No task with this status.' : 'No security task yet: create one from a recommendation.' }),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: f.offset === 0,
          onclick: () => { f.offset = Math.max(0, f.offset - PAGE); load(); } }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: page.next_offset === null,
          onclick: () => { f.offset = page.next_offset; load(); } }, 'Next')));
  }
  await load();
  // the devices' upgrades move "still vulnerable"
  return live(load, (name) => name === 'exposure');
}

export async function render(main, [id], query) {
  if (!id) return list(main, query);
  const head = h('div');
  const body = h('div');
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/tasks' }, 'Security tasks'), ' / '), head, msg, body);
  let names = new Map();
  let reasonText = '';

  async function load() {
    const t = await get(`/api/v1/tvm/tasks/${enc(id)}`);
    const [group, recs] = await Promise.all([
      t.group_id ? get(`/api/v1/groups/${enc(t.group_id)}`).catch(() => null) : null,
      get(`/api/v1/tvm/recommendations${q({ package: t.package })}`).catch(() => ({ value: [] })),
    ]);
    const rec = recs.value.find((r) => r.distro === t.distro && r.release === t.release);
    const created = (t.history || [])[0];
    clear(head, h('div', { class: 'page-head' }, h('h1', {}, taskText(t)),
      h('div', { class: 'badges' }, h('span', { class: 'badge' }, 'priority ', pill(t.priority)),
        h('span', { class: 'badge', id: 'task-status' }, 'status ', pill(t.status)))));
    const devices = t.devices_still_vulnerable || [];
    clear(body,
      h('div', { class: 'cols' },
        section('summary', 'Task', h('dl', { class: 'props' },
          h('dt', {}, 'Recommendation'), h('dd', {}, rec ? rec.text : `${taskText(t)} — no device of that release is vulnerable through ${t.package} any more`),
          h('dt', {}, 'Package'), h('dd', {}, h('span', { class: 'mono' }, t.package), ` to ${t.fixed_version} or later`),
          h('dt', {}, 'Target'), h('dd', {}, t.group_id ? (group ? group.name : t.group_id) : 'All devices', ` (${releaseName(t.distro, t.release)})`),
          h('dt', {}, 'Priority'), h('dd', {}, pill(t.priority)),
          h('dt', {}, 'Due date'), h('dd', {}, dueEl(t)),
          h('dt', {}, 'Notes'), h('dd', { class: 'notes' }, t.notes || '—'),
          h('dt', {}, 'Status'), h('dd', {}, pill(t.status)),
          t.status === 'rejected' ? [h('dt', {}, 'Reason'), h('dd', {}, t.reason)] : null,
          h('dt', {}, 'Created'), h('dd', {}, timeEl(t.created_at), created ? ` by ${created.by_name || created.by}` : ''),
          h('dt', {}, 'Updated'), h('dd', {}, timeEl(t.updated_at)))),
        actions(t)),
      section('devices', `Devices still vulnerable (${t.still_vulnerable})`,
        h('p', { class: 'sub' }, 'Devices of the target with a CVE of the package that this upgrade fixes, from their last inventory.'),
        table([
          { label: 'Device', cell: (x) => h('a', { href: `#/devices/${enc(x.device_id)}` }, names.get(x.device_id) || x.device_id) },
          { label: 'CVEs', cell: (x) => h('span', { class: 'techs' }, x.cves.map((c) => cveLink(c, t.distro))) },
        ], devices, { class: 'grid compact', empty: 'None: every device of the target has the upgrade.' }),
        t.still_vulnerable > devices.length ? h('p', { class: 'sub' }, `The first ${devices.length} shown.`) : null),
      section('history', 'History', table([
        { label: 'When', cell: (x) => timeEl(x.at) },
        { label: 'Who', cell: (x) => x.by_name || x.by },
        { label: 'What', cell: (x) => x.action },
        { label: 'Status', cell: (x) => pill(x.status) },
        { label: 'Reason', cell: (x) => x.reason || '' },
      ], t.history || [], { class: 'grid compact', empty: 'No change yet.' })));
  }

  // accept, reject with a reason, complete: an it_admin's, while open
  function actions(t) {
    if (!may('remediate')) {
      return section('actions', 'Remediation', h('p', { class: 'sub' }, open(t)
        ? 'An it_admin accepts or rejects this task and marks it completed.' : `This task is ${t.status}: nothing more to do.`));
    }
    if (!open(t)) return section('actions', 'Remediation', h('p', { class: 'sub' }, `This task is ${t.status}: nothing more to do.`));
    const reason = h('input', { type: 'text', name: 'reason', maxlength: 1000, value: reasonText,
      placeholder: 'why it will not be done', oninput: (e) => { reasonText = e.target.value; } });
    const form = h('form', { class: 'remediate', novalidate: true, onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'buttons' },
        t.status === 'pending' ? h('button', { type: 'button', id: 'task-accept', onclick: () => move('accept') }, 'Accept') : null,
        h('button', { type: 'button', id: 'task-complete', class: 'secondary', onclick: () => move('complete') }, 'Mark completed')),
      field('Reason for a rejection', reason, 'reason', 'required to reject'),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'buttons' }, h('button', { type: 'button', id: 'task-reject', class: 'danger', onclick: () => move('reject') }, 'Reject')));
    async function move(what) {
      clear(msg);
      clearFieldErrors(form);
      if (what === 'reject' && !reason.value.trim()) {
        showFieldError(form, 'reason', 'reason: a rejection needs a reason');
        return;
      }
      if (what === 'complete' && t.still_vulnerable &&
        !window.confirm(`${t.still_vulnerable} device${t.still_vulnerable === 1 ? ' is' : 's are'} still vulnerable. Mark the task completed anyway?`)) return;
      try {
        await post(`/api/v1/tvm/tasks/${enc(id)}/${what}`, what === 'reject' ? { reason: reason.value.trim() } : undefined);
        reasonText = '';
        msg.appendChild(notice('ok', { accept: 'Accepted.', reject: 'Rejected.', complete: 'Marked completed.' }[what]));
        await load();
      } catch (e) {
        if (e.field) showFieldError(form, e.field, e.message);
        else msg.appendChild(notice('error', e.message));
      }
    }
    return section('actions', 'Remediation', form);
  }

  names = new Map((await allDevices()).map((d) => [d.id, deviceName(d)]));
  await load();
  return live(() => load().catch(() => {}), (name) => name === 'exposure');
}
