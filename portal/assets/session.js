// The signed-in session (role, name, CSRF token) and what its role may do.

import { setCsrf } from './api.js';

export const session = { role: '', name: '', expires: '' };

// Keeps the session answer of POST or GET /api/v1/session (or null).
export function setSession(s) {
  session.role = s ? s.role : '';
  session.name = s ? s.name : '';
  session.expires = s ? s.expires : '';
  setCsrf(s ? s.csrf : '');
}

// may(WHAT): whether the session's role may do WHAT, as the API's role table
// says: "triage" (change alerts), "contain" (isolate, release, offboard),
// "investigate" (collect, scan, download packages), "manage" (policies,
// onboarding), "task" (create security tasks), "remediate" (accept, reject
// and complete security tasks: an it_admin's only).
export function may(what) {
  const r = session.role;
  if (what === 'remediate') return r === 'it_admin';
  if (r === 'security_admin') return true;
  if (r === 'it_admin') return what === 'investigate' || what === 'manage';
  return false;
}
