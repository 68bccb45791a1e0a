// #/onboarding: creates an onboarding package (expiry, uses, primary user)
// and offers it as a file to download; the package holds a live
// enrollment token, so it is shown only once.

import { post } from '../api.js';
import { h, clear, field, notice, showFieldError, clearFieldErrors, timeEl } from '../dom.js';
import { pageHead } from '../common.js';
import { may } from '../session.js';

export async function render(main) {
  main.append(pageHead('Onboarding'));
  main.append(h('p', {}, 'An onboarding package lets a device enroll: copy it to the device and run ',
    h('code', {}, 'vigil-agent onboard FILE'), '. It holds a live enrollment token: keep it secret until it expires or is used up.'));
  if (!may('manage')) { main.append(notice('info', 'Your role may not create onboarding packages.')); return null; }
  const expires = h('input', { type: 'text', value: '24h', placeholder: '24h' });
  const uses = h('input', { type: 'text', inputmode: 'numeric', value: '1' });
  const user = h('input', { type: 'text', placeholder: 'alice@example.com (optional)' });
  const out = h('div', { 'aria-live': 'polite' });
  let url = null;
  const form = h('form', { class: 'card onboarding', novalidate: true },
    field('Expires after', expires, 'expires', 'a duration: 60s to 90d, e.g. 30m, 24h, 7d'),
    field('Uses', uses, 'uses', 'how many devices may enroll with it: 1 to 1000000'),
    field('Primary user', user, 'primary_user', 'every device enrolled with it gets this user'),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Create package')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(out);
    const body = { expires: expires.value.trim() };
    const n = uses.value.trim();
    if (!/^\d{1,7}$/.test(n)) { showFieldError(form, 'uses', 'Uses is a whole number from 1 to 1000000.'); return; }
    body.uses = Number(n);
    if (user.value.trim()) body.primary_user = user.value.trim();
    let r;
    try { r = await post('/api/v1/onboarding-packages', body); } catch (e) {
      const byCode = { invalid_expires: 'expires', invalid_uses: 'uses', invalid_primary_user: 'primary_user' };
      showFieldError(form, e.field || byCode[e.code] || '', e.message);
      return;
    }
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(new Blob([`${JSON.stringify(r.package, null, 2)}\n`], { type: 'application/json' }));
    const name = `vigil-onboarding-${r.id.slice(0, 8)}.json`;
    clear(out, h('section', { class: 'card', 'aria-labelledby': 'h-pkg' },
      h('h2', { id: 'h-pkg' }, 'Package created'),
      h('dl', { class: 'props' },
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, r.id),
        h('dt', {}, 'Server'), h('dd', { class: 'mono' }, r.package.server_url),
        h('dt', {}, 'Expires'), h('dd', {}, timeEl(r.expires_at)),
        h('dt', {}, 'Uses'), h('dd', {}, String(r.max_uses))),
      h('a', { class: 'button', href: url, download: name, id: 'download-package' }, `Download ${name}`),
      h('p', { class: 'sub' }, 'This is the only time the package is shown.')));
  });
  main.append(form, out);
  return () => { if (url) URL.revokeObjectURL(url); };
}
