// #/access: the conditional access policies in evaluation order;
// #/access/new and #/access/ID: a policy's document (state, position and
// the JSON document), with the API's refusal shown at the field it names.

import { get, post, put, del, all, enc, q } from '../api.js';
import { h, clear, pill, timeEl, select, field, notice, showFieldError, clearFieldErrors } from '../dom.js';
import { table, pageHead } from '../common.js';
import { may } from '../session.js';

const SAMPLE = {
  name: '',
  state: 'report_only',
  users: { include: ['all'] },
  applications: { include: [{ name: 'intranet', host: 'intranet.example.test', path_prefix: '/' }] },
  conditions: { platforms: ['linux'] },
  grant: { controls: ['compliant_device'], operator: 'and' },
};

async function list(main) {
  const [policies, locations] = await Promise.all([
    all('/api/v1/access/policies', 1000, 1000),
    all('/api/v1/access/locations', 200, 200).catch(() => []),
  ]);
  const grant = (g) => (g ? (g.block ? 'block' : (g.controls || []).join(` ${g.operator || 'and'} `)) : '');
  main.append(pageHead('Access policies', may('manage') ? h('a', { class: 'button', href: '#/access/new' }, 'New policy') : null),
    table([
      { label: '#', cell: (p) => String(p.position) },
      { label: 'Name', cell: (p) => h('a', { href: `#/access/${enc(p.id)}` }, p.name) },
      { label: 'State', cell: (p) => pill(p.state) },
      { label: 'Applications', cell: (p) => {
        const inc = p.policy.applications && p.policy.applications.include;
        return inc === 'all' ? 'all' : (inc || []).map((a) => `${a.host}${a.path_prefix && a.path_prefix !== '/' ? a.path_prefix : ''}`).join(', ');
      } },
      { label: 'Grant', cell: (p) => grant(p.policy.grant) },
      { label: 'Updated', cell: (p) => h('span', {}, timeEl(p.updated_at), p.updated_by_name ? ` by ${p.updated_by_name}` : '') },
    ], policies, { empty: 'No access policy yet.' }),
    h('h2', {}, 'Named locations'),
    table([
      { label: 'Id', cell: (l) => h('span', { class: 'mono' }, l.id) },
      { label: 'Trusted', cell: (l) => (l.location.trusted ? 'yes' : 'no') },
      { label: 'Ranges', cell: (l) => h('span', { class: 'mono' }, (l.location.ranges || []).join(', ')) },
      { label: 'Updated', cell: (l) => timeEl(l.updated_at) },
    ], locations, { empty: 'No named location.', class: 'grid compact' }));
  return null;
}

export async function render(main, [id]) {
  if (!id) return list(main);
  const creating = id === 'new';
  const ro = !may('manage');
  if (creating && ro) { main.append(notice('error', 'Your role may not create policies.')); return null; }
  const p = creating ? null : await get(`/api/v1/access/policies/${enc(id)}`);
  const doc = p ? p.policy : SAMPLE;
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });

  const state = select({ disabled: ro }, ['enabled', 'report_only', 'disabled'], doc.state);
  const position = h('input', { type: 'text', inputmode: 'numeric', value: p ? String(p.position) : '', placeholder: 'last', size: 6, disabled: ro });
  const text = h('textarea', { rows: 18, class: 'mono code', spellcheck: 'false', disabled: ro });
  const shown = { ...doc };
  delete shown.state; // the State field above is the document's state
  text.value = JSON.stringify(shown, null, 2);
  const save = h('button', { type: 'submit' }, creating ? 'Create policy' : 'Save');
  const form = h('form', { class: 'card policy-form', novalidate: true },
    h('div', { class: 'row' }, field('State', state, 'state'), field('Position', position, 'position', 'evaluation order, 1 first')),
    field('Policy document (JSON)', text, 'document', 'name, users, applications, conditions, grant (the state is set above)'),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    ro ? null : h('div', { class: 'buttons' }, save, creating ? null : h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete')));

  async function remove() {
    if (!window.confirm(`Delete the access policy "${p.name}"?`)) return;
    try { await del(`/api/v1/access/policies/${enc(id)}`); location.hash = '#/access'; } catch (e) { clear(msg, notice('error', e.message)); }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    clearFieldErrors(form);
    let body;
    try { body = JSON.parse(text.value); } catch (e) { showFieldError(form, 'document', `Not valid JSON: ${e.message}`); return; }
    if (!body || typeof body !== 'object' || Array.isArray(body)) { showFieldError(form, 'document', 'The document must be a JSON object.'); return; }
    body.state = state.value;
    const pos = position.value.trim();
    if (pos && !/^[1-9]\d{0,5}$/.test(pos)) { showFieldError(form, 'position', 'A position is a whole number from 1.'); return; }
    save.disabled = true;
    try {
      const r = creating ? await post(`/api/v1/access/policies${q({ position: pos })}`, body)
        : await put(`/api/v1/access/policies/${enc(id)}${q({ position: pos })}`, body);
      if (creating) { location.hash = `#/access/${enc(r.id)}`; return; }
      msg.appendChild(notice('ok', r.result === 'unchanged' ? 'Nothing changed.' : 'Saved.'));
      const back = { ...r.policy };
      delete back.state;
      text.value = JSON.stringify(back, null, 2);
    } catch (e) {
      const path = e.field === 'state' ? 'state' : (e.field || e.code === 'policy_exists') ? 'document' : '';
      showFieldError(form, path, e.message);
      msg.appendChild(notice('error', `Not saved: ${e.message}`));
    } finally {
      save.disabled = false;
    }
  });

  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/access' }, 'Access policies'), ' / '),
    pageHead(creating ? 'New access policy' : p.name, p ? h('span', { class: 'sub' }, `position ${p.position} · updated `, timeEl(p.updated_at)) : null),
    msg, form);
  return null;
}
