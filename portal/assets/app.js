// The portal's entry: finds the session, routes the hash (#/devices/ID ...)
// to a page module, keeps the navigation and the live indicator current.

import { get, del } from './api.js';
import { clear, h, notice } from './dom.js';
import { session, setSession } from './session.js';
import { startEvents, stopEvents } from './events.js';
import * as signin from './pages/signin.js';
import * as dashboard from './pages/dashboard.js';
import * as devices from './pages/devices.js';
import * as device from './pages/device.js';
import * as alerts from './pages/alerts.js';
import * as alert from './pages/alert.js';
import * as vulnerabilities from './pages/vulnerabilities.js';
import * as tasks from './pages/tasks.js';
import * as compliance from './pages/compliance.js';
import * as access from './pages/access.js';
import * as accesslog from './pages/accesslog.js';
import * as whatif from './pages/whatif.js';
import * as onboarding from './pages/onboarding.js';

// [pattern, page, nav key]; the first pattern matching the hash path wins
const ROUTES = [
  [/^signin$/, signin, ''],
  [/^dashboard$/, dashboard, 'dashboard'],
  [/^devices$/, devices, 'devices'],
  [/^devices\/([A-Za-z0-9._-]{1,64})$/, device, 'devices'],
  [/^alerts$/, alerts, 'alerts'],
  [/^alerts\/([A-Za-z0-9._-]{1,64})$/, alert, 'alerts'],
  [/^vulnerabilities$/, vulnerabilities, 'vulnerabilities'],
  [/^tasks$/, tasks, 'tasks'],
  [/^tasks\/([A-Za-z0-9._-]{1,64})$/, tasks, 'tasks'],
  [/^compliance$/, compliance, 'compliance'],
  [/^compliance\/([A-Za-z0-9._-]{1,64})$/, compliance, 'compliance'],
  [/^access$/, access, 'access'],
  [/^access\/log$/, accesslog, 'access/log'],
  [/^access\/whatif$/, whatif, 'access/whatif'],
  [/^access\/([A-Za-z0-9._-]{1,64})$/, access, 'access'],
  [/^onboarding$/, onboarding, 'onboarding'],
];

const main = document.getElementById('main');
let cleanup = null;
let known = false; // whether the session has been asked for

function setLive(on) {
  const el = document.getElementById('live');
  el.textContent = on ? 'Live' : 'Offline';
  el.title = on ? 'Receiving changes as they happen' : 'Not receiving live changes';
  el.classList.toggle('on', on);
}

// the stream was closed: a GET of the session leads to the sign-in page
// when the session has ended
function lost() {
  get('/api/v1/session').catch(() => {});
}

function showChrome() {
  const signedIn = Boolean(session.role);
  document.body.classList.toggle('signed-in', signedIn);
  const who = document.getElementById('who-name');
  who.textContent = signedIn ? `${session.name || 'token'} · ${session.role.replace('_', ' ')}` : '';
  who.title = who.textContent; // the whole name when the header cuts it
}

// Signs in with the session answer S (from the sign-in page).
export function signedIn(s) {
  setSession(s);
  known = true;
  showChrome();
  startEvents(setLive, lost);
  const after = sessionStorage.getItem('vigil.after');
  sessionStorage.removeItem('vigil.after');
  location.hash = after && after !== '#/signin' ? after : '#/dashboard';
}

async function signOut() {
  try { await del('/api/v1/session'); } catch { /* the session may be gone already */ }
  setSession(null);
  stopEvents();
  showChrome();
  location.hash = '#/signin';
}

async function route() {
  const [rawPath, rawQuery] = location.hash.replace(/^#\/?/, '').split('?', 2);
  const path = rawPath || 'dashboard';
  const query = new URLSearchParams(rawQuery || '');
  if (cleanup) { try { cleanup(); } catch { /* a page's cleanup must not stop routing */ } }
  cleanup = null;
  if (path === 'signin') stopEvents();
  if (!known && path !== 'signin') {
    try {
      setSession(await get('/api/v1/session', { quiet401: true }));
      startEvents(setLive, lost);
    } catch (e) {
      setSession(null);
      if (e.status !== 401) { clear(main, notice('error', `Cannot reach the server: ${e.message}`)); return; }
      sessionStorage.setItem('vigil.after', location.hash);
      known = true;
      showChrome();
      location.hash = '#/signin';
      return;
    }
    known = true;
    showChrome();
  }
  const hit = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll('#nav a')) {
    if (hit && hit[2] === a.dataset.route) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.getElementById('nav').classList.remove('open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
  if (hit) {
    const [re, page] = hit;
    const m = re.exec(path);
    clear(main);
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    try {
      cleanup = await page.render(main, m.slice(1), query) || null;
    } catch (e) {
      if (e.status !== 401) main.appendChild(notice('error', e.message));
    }
    return;
  }
  clear(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. '), h('a', { href: '#/dashboard' }, 'Go to the dashboard'));
}

window.addEventListener('vigil-signed-out', () => {
  setSession(null);
  stopEvents();
  showChrome();
});
document.getElementById('signout').addEventListener('click', signOut);
document.getElementById('menu-toggle').addEventListener('click', (ev) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('open');
  ev.currentTarget.setAttribute('aria-expanded', String(open));
});
window.addEventListener('hashchange', route);
setLive(false);
route();
