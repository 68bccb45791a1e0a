// One EventSource on /api/v1/events for the whole portal; pages subscribe
// to its events while they are shown. Reconnects after an error.

const handlers = new Set();
let source = null;
let retry = null;
let stateCb = () => {};
let lostCb = () => {};

const NAMES = ['risk', 'compliance', 'alert', 'device', 'action', 'exposure'];

// Opens the stream (once); ON_STATE(connected) is told of its state, and
// ON_LOST() when the server closed it for good (a session that ended
// answers 401, which EventSource does not retry), before it is tried again
// in 5 s.
export function startEvents(onState, onLost) {
  stateCb = onState || stateCb;
  lostCb = onLost || lostCb;
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.addEventListener('open', () => stateCb(true));
  source.addEventListener('error', () => {
    stateCb(false);
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      lostCb();
      clearTimeout(retry);
      retry = setTimeout(() => startEvents(), 5000);
    }
  });
  for (const name of NAMES) {
    source.addEventListener(name, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      for (const fn of handlers) fn(name, data);
    });
  }
}

// Closes the stream (at sign-out).
export function stopEvents() {
  clearTimeout(retry);
  if (source) source.close();
  source = null;
  stateCb(false);
}

// subscribe(FN): FN(name, data) for every event until the returned function
// is called.
export function subscribe(fn) {
  handlers.add(fn);
  return () => handlers.delete(fn);
}
