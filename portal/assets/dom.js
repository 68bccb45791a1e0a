// Builds DOM nodes. Text from the server (command lines, host names, user
// names) only ever goes in as text nodes or attribute values, never as
// markup: nothing here parses HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Applies ATTRS to EL: "class", "text" (textContent), "on<event>" (a
// listener), "dataset" (an object), a boolean (present when true), else an
// attribute. null and undefined values are skipped.
function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected') el[k] = true;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

// Appends each child to EL: nodes as they are, strings and numbers as text
// nodes, arrays flattened; null, undefined and false are skipped.
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// h(TAG, ATTRS, CHILD...): a new HTML element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

// s(TAG, ATTRS, CHILD...): a new SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

// clear(EL, CHILD...): replaces EL's children with CHILD...; returns EL.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A time as the browser's locale writes it, or "—" for none.
export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// How long ago T was, in words ("3 min ago"), or "—".
function ago(t) {
  if (!t) return '—';
  const ms = Date.now() - new Date(t).getTime();
  if (Number.isNaN(ms)) return String(t);
  const sec = Math.round(ms / 1000);
  if (sec < 60) return sec <= 1 ? 'just now' : `${sec} s ago`;
  if (sec < 3600) return `${Math.round(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.round(sec / 3600)} h ago`;
  return `${Math.round(sec / 86400)} d ago`;
}

// A <time> element for T with the full time as its title.
export function timeEl(t, relative) {
  return h('time', { datetime: t || null, title: t ? when(t) : null }, relative ? ago(t) : when(t));
}

// A pill showing an enumerated VALUE (risk, severity, state), coloured by
// its class "pill-<value>".
export function pill(value) {
  const v = value === null || value === undefined ? 'unknown' : String(value);
  return h('span', { class: `pill pill-${v.replace(/[^a-z_]/g, '')}` }, v.replace(/_/g, ' '));
}

// A short form of an id (its first 8 characters) with the whole id as title.
export function shortId(id) {
  return h('span', { class: 'mono', title: id }, String(id || '').slice(0, 8));
}

// A labelled form control: LABEL text, the control CTRL (given an id), and
// an element for its error, found by the field PATH (data-field).
export function field(label, ctrl, path, hint) {
  const id = ctrl.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  ctrl.id = id;
  const err = h('p', { class: 'field-error', id: `${id}-err`, role: 'alert', hidden: true });
  ctrl.setAttribute('aria-describedby', `${id}-err`);
  return h('div', { class: 'field', dataset: path ? { field: path } : undefined },
    h('label', { for: id }, label), ctrl, hint ? h('p', { class: 'hint' }, hint) : null, err);
}

// Shows MESSAGE as the error of the field whose data-field is PATH inside
// FORM, or of the closest field path that is a prefix of PATH; falls back to
// the element with class "form-error". Returns the element that shows it.
export function showFieldError(form, path, message) {
  clearFieldErrors(form);
  let p = path || '';
  let f = null;
  while (p) {
    f = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
    if (f) break;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
  if (f) {
    const err = f.querySelector('.field-error');
    err.textContent = message;
    err.hidden = false;
    f.classList.add('invalid');
    const ctrl = f.querySelector('input, select, textarea');
    if (ctrl) { ctrl.setAttribute('aria-invalid', 'true'); ctrl.focus(); }
    return err;
  }
  const fe = form.querySelector('.form-error');
  if (fe) { fe.textContent = message; fe.hidden = false; }
  return fe;
}

// Removes every field and form error inside FORM.
export function clearFieldErrors(form) {
  for (const f of form.querySelectorAll('[data-field].invalid')) f.classList.remove('invalid');
  for (const e of form.querySelectorAll('.field-error')) { e.textContent = ''; e.hidden = true; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  for (const e of form.querySelectorAll('.form-error')) { e.textContent = ''; e.hidden = true; }
}

// A <select> of OPTIONS (values, or [value, label] pairs) with VALUE chosen.
export function select(attrs, options, value) {
  const el = h('select', attrs);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o === '' ? 'any' : String(o).replace(/_/g, ' ')];
    const opt = h('option', { value: v }, label);
    if (String(v) === String(value ?? '')) opt.selected = true;
    el.appendChild(opt);
  }
  return el;
}

// A message box of KIND (info, error, ok) with TEXT.
export function notice(kind, text) {
  return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}
