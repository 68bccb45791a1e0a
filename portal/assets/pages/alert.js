// #/alerts/ID: one alert: the process tree (image, command line, user, pid,
// time), the triggering event, its ATT&CK techniques with links, and its
// lifecycle (status, classification, determination, assignment, history,
// comments), which a security_admin changes here.

import { get, patch, post, enc } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice } from '../dom.js';
import { ALERT_STATUS, CLASSIFICATIONS, DETERMINATIONS, attackLink, live, table } from '../common.js';
import { may } from '../session.js';

function section(id, title, ...content) {
  return h('section', { class: 'card', 'aria-labelledby': `h-${id}`, id: `sec-${id}` }, h('h2', { id: `h-${id}` }, title), content);
}

// one process of the tree; WHEN is the event time for the subject
function proc(p, subject, when) {
  const user = p.user ? `${p.user}${p.uid !== undefined ? ` (uid ${p.uid})` : ''}` : (p.uid !== undefined ? `uid ${p.uid}` : '—');
  return h('div', { class: `proc${subject ? ' subject' : ''}` },
    h('div', { class: 'proc-head' },
      h('span', { class: 'proc-image mono' }, p.image || '(unknown image)'),
      subject ? h('span', { class: 'pill pill-subject' }, 'subject') : null),
    h('code', { class: 'proc-cmd' }, p.command_line || ''),
    h('dl', { class: 'proc-meta' },
      h('dt', {}, 'user'), h('dd', {}, user),
      h('dt', {}, 'pid'), h('dd', { class: 'mono' }, String(p.pid ?? '—')),
      h('dt', {}, subject ? 'time' : 'started'), h('dd', {}, subject && when ? timeEl(when)
        : p.start_ticks !== undefined ? `${(p.start_ticks / 100).toFixed(2)} s after boot` : '—')));
}

// the tree from the oldest ancestor down to the subject, as nested lists
function processTree(a) {
  const chain = [...(a.ancestors || [])].reverse();
  const when = a.event && a.event.Timestamp || a.first_seen;
  let node = h('li', {}, proc(a.process || {}, true, when));
  for (let i = chain.length - 1; i >= 0; i--) node = h('li', {}, proc(chain[i], false), h('ul', {}, node));
  return h('ul', { class: 'tree', 'aria-label': 'Process tree, oldest ancestor first' }, node);
}

function eventTable(ev) {
  if (!ev) return h('p', { class: 'sub' }, 'No event was sent with this alert.');
  return h('dl', { class: 'props event' }, Object.entries(ev).map(([k, v]) => [
    h('dt', { class: 'mono' }, k),
    h('dd', { class: typeof v === 'string' ? 'mono' : null }, v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v))]));
}

export async function render(main, [id]) {
  const head = h('div');
  const body = h('div');
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/alerts' }, 'Alerts'), ' / '), head, msg, body);

  async function load() {
    const a = await get(`/api/v1/alerts/${enc(id)}`);
    const dev = await get(`/api/v1/devices/${enc(a.device_id)}`).catch(() => null);
    const raw = a.alert || {};
    clear(head, h('div', { class: 'page-head' }, h('h1', {}, a.title),
      h('div', { class: 'badges' }, pill(a.severity), h('span', { id: 'alert-status' }, pill(a.status)))));
    clear(body,
      h('div', { class: 'cols' },
        section('summary', 'Summary', h('dl', { class: 'props' },
          h('dt', {}, 'Device'), h('dd', {}, h('a', { href: `#/devices/${enc(a.device_id)}` }, dev ? (dev.name || dev.id) : a.device_id)),
          h('dt', {}, 'Rule'), h('dd', {}, `${a.source} · `, h('span', { class: 'mono' }, a.rule_id)),
          h('dt', {}, 'First seen'), h('dd', {}, timeEl(a.first_seen)),
          h('dt', {}, 'Last seen'), h('dd', {}, timeEl(a.last_seen)),
          h('dt', {}, 'Occurrences'), h('dd', {}, String(a.count)),
          h('dt', {}, 'Techniques'), h('dd', { class: 'techs' }, (a.techniques || []).length ? a.techniques.map(attackLink) : '—'),
          h('dt', {}, 'Tactics'), h('dd', {}, (raw.tactics || []).join(', ') || '—'),
          raw.network ? [h('dt', {}, 'Network'), h('dd', { class: 'mono' },
            `${raw.network.protocol || ''} ${raw.network.source_ip || ''}:${raw.network.source_port ?? ''} → ${raw.network.destination_ip || ''}:${raw.network.destination_port ?? ''}`)] : null)),
        lifecycle(a)),
      section('tree', 'Process tree', processTree(raw)),
      raw.evidence ? section('evidence', 'Evidence', eventTable(raw.evidence)) : null,
      section('event', 'Triggering event', eventTable(raw.event)),
      section('history', 'History', table([
        { label: 'When', cell: (x) => timeEl(x.at) },
        { label: 'By', cell: (x) => x.by_name || x.by },
        { label: 'Field', cell: (x) => x.field },
        { label: 'Change', cell: (x) => h('span', {}, x.from || '""', ' → ', x.to || '""') },
      ], a.history || [], { empty: 'No change yet.', class: 'grid compact' })),
      comments(a));
  }

  function lifecycle(a) {
    if (!may('triage')) {
      return section('lifecycle', 'Lifecycle', h('dl', { class: 'props' },
        h('dt', {}, 'Status'), h('dd', {}, pill(a.status)),
        h('dt', {}, 'Classification'), h('dd', {}, pill(a.classification)),
        h('dt', {}, 'Determination'), h('dd', {}, pill(a.determination)),
        h('dt', {}, 'Assigned to'), h('dd', {}, a.assigned_to || '—'),
        h('dt', {}, 'Resolved'), h('dd', {}, timeEl(a.resolved_at))));
    }
    const statuses = a.status === 'new' ? ALERT_STATUS : ALERT_STATUS.filter((x) => x !== 'new');
    const st = select({ name: 'status' }, statuses, a.status);
    const cl = select({ name: 'classification' }, CLASSIFICATIONS, a.classification);
    const de = select({ name: 'determination' }, DETERMINATIONS, a.determination);
    const as = h('input', { type: 'text', name: 'assigned_to', maxlength: 255, value: a.assigned_to || '' });
    const form = h('form', { class: 'lifecycle', novalidate: true },
      field('Status', st, 'status'), field('Classification', cl, 'classification'),
      field('Determination', de, 'determination'), field('Assigned to', as, 'assigned_to'),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit' }, 'Save'),
        a.status !== 'resolved' ? h('button', { type: 'button', class: 'secondary', id: 'resolve', onclick: () => save({ status: 'resolved' }) }, 'Resolve') : null));
    async function save(body) {
      clear(msg);
      if (!Object.keys(body).length) { msg.appendChild(notice('info', 'Nothing changed.')); return; }
      try {
        await patch(`/api/v1/alerts/${enc(a.id)}`, body);
        msg.appendChild(notice('ok', 'Saved.'));
        await load();
      } catch (e) {
        msg.appendChild(notice('error', e.message));
      }
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = {};
      if (st.value !== a.status) body.status = st.value;
      if (cl.value !== a.classification) body.classification = cl.value;
      if (de.value !== a.determination) body.determination = de.value;
      if (as.value.trim() !== (a.assigned_to || '')) body.assigned_to = as.value.trim();
      save(body);
    });
    return section('lifecycle', 'Lifecycle', form, a.resolved_at ? h('p', { class: 'sub' }, 'Resolved ', timeEl(a.resolved_at)) : null);
  }

  function comments(a) {
    const list = h('ol', { class: 'comments' }, (a.comments || []).map((c) => h('li', {},
      h('p', { class: 'comment-meta' }, c.by_name || c.by, ' · ', timeEl(c.at)), h('p', { class: 'comment-text' }, c.text))));
    if (!(a.comments || []).length) list.appendChild(h('li', { class: 'sub' }, 'No comment yet.'));
    if (!may('triage')) return section('comments', 'Comments', list);
    const text = h('textarea', { rows: 3, maxlength: 4096 });
    const form = h('form', { class: 'comment-form', novalidate: true }, field('Add a comment', text, 'comment'), h('button', { type: 'submit' }, 'Comment'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(msg);
      if (!text.value.trim()) { msg.appendChild(notice('error', 'Write the comment first.')); text.focus(); return; }
      try {
        await post(`/api/v1/alerts/${enc(a.id)}/comments`, { comment: text.value.trim() });
        await load();
      } catch (e) { msg.appendChild(notice('error', e.message)); }
    });
    return section('comments', 'Comments', list, form);
  }

  await load();
  return live(() => load().catch(() => {}), (name, d) => d.alert_id === id);
}
