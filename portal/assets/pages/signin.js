// #/signin: an admin token exchanged for a session cookie.

import { api } from '../api.js';
import { h, field, notice, clear } from '../dom.js';
import { session } from '../session.js';
import { signedIn } from '../app.js';

export function render(main) {
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true,
    spellcheck: 'false', placeholder: 'vgt_…' });
  const msg = h('div', { class: 'form-msg' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', novalidate: true },
    h('h1', {}, 'Sign in to Vigil'),
    h('p', {}, 'Paste an admin token (vigild init printed the first one; vigil tokens create makes more). ' +
      'The token is exchanged for a session; it is not kept by the browser.'),
    field('Admin token', token),
    msg, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    if (!token.value.trim()) { msg.appendChild(notice('error', 'Enter a token.')); token.focus(); return; }
    button.disabled = true;
    try {
      const s = await api('POST', '/api/v1/session', { token: token.value.trim() }, { quiet401: true });
      token.value = '';
      signedIn(s);
    } catch (e) {
      const text = e.status === 401 ? 'This token is not valid: check that it was copied whole and not revoked.'
        : e.status === 403 ? `This token may not sign in to the portal: ${e.message}` : e.message;
      msg.appendChild(notice('error', text));
      token.focus();
    } finally {
      button.disabled = false;
    }
  });
  if (session.role) msg.appendChild(notice('info', `Signed in as ${session.name || 'token'} (${session.role}).`));
  main.appendChild(h('div', { class: 'signin-wrap' }, form));
  token.focus();
}
