/* global document, fetch, requestAnimationFrame, location, window */
// The dashboard: sessions on the left, the selected session's chart and latest score in the
// middle, alerts on the right, all from the score WebSocket (docs/dashboard.md).
import { connect } from './connection.js';
import { createSessionStore } from './sessions.js';
import { createScoreChart } from './chart.js';

const MAX_ALERTS = 200;
const MAX_UNSCORED = 50;
const MODALITIES = ['text', 'audio', 'video'];
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

const store = createSessionStore();
const alerts = []; // newest first
const firing = new Map(); // `${sessionId}\u0000${rule}` -> alert
const unscored = []; // summaries of ended sessions that got no score, newest first
// The session the user chose (a click, or #session=ID in the URL); null: follow the newest.
let chosen = sessionInHash();
let neutralBand = 0.5;
let reads = null; // modalities the served model reads at all (/healthz), null until known
let chart = null;
let dirty = false;

const signed = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : clock(ms);
};
const polarityClass = (p) => `polarity-${String(p).toLowerCase()}`;

// --- selection and the URL --------------------------------------------------------------

/** The session named by the URL's `#session=ID`, or null. */
function sessionInHash() {
  const m = /(?:^#|&)session=([^&]*)/.exec(location.hash);
  if (m === null || m[1] === '') return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null; // a malformed escape: as if none
  }
}

/** The session shown: the one chosen, else the newest (the one whose first score came last). */
const selectedId = () => chosen ?? store.newest()?.id ?? null;

/** The user picks a session: it stays selected, and the URL says so (a history entry, so back works). */
function select(id) {
  chosen = id;
  const hash = `#session=${encodeURIComponent(id)}`;
  if (location.hash !== hash) location.hash = hash;
  render();
}

// Back / forward, or a link typed in: the hash is the choice; none means "follow the newest".
window.addEventListener('hashchange', () => {
  chosen = sessionInHash();
  render();
});

// --- model ------------------------------------------------------------------------------

function showModel(version, provider) {
  if (version) $('model-version').textContent = version;
  if (provider) $('model-provider').textContent = `on ${provider}`;
  const warning = $('model-warning');
  // The server's version string says so when the graph is not a sentiment model (the test graph).
  if (version && /not a sentiment model/i.test(version)) {
    warning.textContent = `The served model is NOT a sentiment model, so these scores are meaningless: ${version}. Serve a trained sentiment model for real results.`;
    warning.hidden = false;
    $('model').classList.add('not-sentiment');
  } else if (version) {
    warning.hidden = true;
    $('model').classList.remove('not-sentiment');
  }
}

fetch('/healthz')
  .then((r) => r.json())
  .then((h) => {
    showModel(h.model, h.provider);
    if (typeof h.neutralBand === 'number') {
      neutralBand = h.neutralBand;
      chart?.setNeutralBand(neutralBand);
    }
    if (h.reads && typeof h.reads === 'object') {
      reads = h.reads;
      scheduleRender();
    }
  })
  .catch(() => undefined); // the WebSocket state says what is wrong

// --- rendering --------------------------------------------------------------------------

function scheduleRender() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    render();
  });
}

function renderSessions() {
  const selected = selectedId();
  const list = store.list();
  $('session-count').textContent = String(list.length);
  $('sessions-empty').hidden = list.length > 0;
  const ul = $('session-list');
  ul.replaceChildren(
    ...list.map((s) => {
      const alerting = [...firing.values()].some((a) => a.sessionId === s.id);
      return el(
        'li',
        {},
        el(
          'button',
          {
            type: 'button',
            class: `session ${polarityClass(s.latest.polarity)}${s.id === selected ? ' selected' : ''}${alerting ? ' alerting' : ''}`,
            'aria-pressed': String(s.id === selected),
            dataset: { sessionId: s.id },
            onclick: () => select(s.id),
          },
          el('span', { class: 'session-id' }, s.id),
          el('span', { class: 'session-score', title: s.latest.polarity }, signed(s.latest.score)),
          el('span', { class: 'session-meta' }, `${s.latest.polarity.toLowerCase()} · ${s.windows} windows · ${ago(s.latest.emittedAt)}`),
          alerting ? el('span', { class: 'badge', title: 'alert firing' }, 'alert') : null,
        ),
      );
    }),
  );
}

/**
 * What the latest window says of a modality: 'read' (the model read it: its contribution
 * means something), 'gated' (present, and the model reads this modality, but its codebook gate
 * left this window's frames out), 'unused' (present, this model does not read it; or, before
 * /healthz answered, either), 'absent'. Scores of older writers (modalitiesUsed null) count
 * what was present as read.
 */
function modalityState(score, m) {
  if (!score.modalities[m]) return 'absent';
  const used = score.modalitiesUsed ?? score.modalities;
  if (used[m]) return 'read';
  return reads?.[m] ? 'gated' : 'unused';
}

const MODALITY_WORDS = {
  read: 'present',
  gated: 'present, gated',
  unused: 'present, not used by this model',
  absent: 'absent',
};
const MODALITY_TITLES = {
  read: 'the model read it in this window',
  gated: "the model reads this modality, but its codebook gate left this window's input out (unlike what it was trained on)",
  unused: 'the served model does not read this modality (no codebook for it)',
  absent: 'no data in this window',
};

function renderDetail() {
  const selected = selectedId();
  const s = selected ? store.get(selected) : undefined;
  if (!s) {
    // A session chosen (a link) that has no scores here yet: say so, and show it once they come.
    $('detail-title').textContent = selected ?? (store.size > 0 ? 'Select a session' : 'Waiting for scores');
    $('detail-summary').replaceChildren(selected ? el('span', { class: 'muted' }, 'No scores for this session yet; they appear here as they come.') : '');
    $('contributions').replaceChildren();
    $('modalities').replaceChildren();
    chart?.show([]);
    if (chart) $('chart').dataset.points = '0';
    return;
  }
  const l = s.latest;
  $('detail-title').textContent = s.id;
  $('detail-summary').replaceChildren(
    el('span', { class: `big ${polarityClass(l.polarity)}` }, signed(l.score)),
    el('span', { class: `pill ${polarityClass(l.polarity)}` }, l.polarity),
    el(
      'span',
      { class: 'muted' },
      `window ${signed(l.windowScore)} · confidence ${(l.confidence * 100).toFixed(0)}% · window ${clock(l.windowStart)}–${clock(l.windowEnd)} · ${s.windows} windows · latency ${l.latencyMs} ms`,
    ),
  );
  if (!chart) chart = createScoreChart($('chart'), { neutralBand });
  chart.show(s.scores);
  $('chart').dataset.points = String(s.scores.length);

  // A contribution is shown only for a modality the model read: the graph's number for one it
  // did not read is an artefact (a bias on padding), not evidence.
  const c = l.contributions;
  const states = Object.fromEntries(MODALITIES.map((m) => [m, modalityState(l, m)]));
  const shown = MODALITIES.filter((m) => states[m] === 'read');
  const scale = Math.max(1, ...shown.map((m) => Math.ceil(Math.abs(c[m]))));
  $('contributions').replaceChildren(
    ...MODALITIES.map((m) => {
      const read = states[m] === 'read';
      const v = read ? c[m] : 0;
      const bar = el('span', { class: `bar ${v < 0 ? 'neg' : 'pos'}` });
      // Geometry through the CSSOM: the page's CSP allows no inline style attributes.
      const pct = (Math.abs(v) / scale) * 50;
      bar.style.width = `${pct}%`;
      bar.style.left = v < 0 ? `${50 - pct}%` : '50%';
      const text = read ? signed(v) : states[m] === 'absent' ? 'absent' : '—';
      return el(
        'div',
        { class: `bar-row${read ? '' : ' absent'}`, dataset: { modality: m, state: states[m] }, title: MODALITY_TITLES[states[m]] },
        el('span', { class: 'bar-label' }, m),
        el(
          'span',
          {
            class: 'bar-track',
            role: 'meter',
            'aria-label': `${m} contribution`,
            'aria-valuemin': String(-scale),
            'aria-valuemax': String(scale),
            'aria-valuenow': v.toFixed(2),
            'aria-valuetext': read ? signed(v) : MODALITY_WORDS[states[m]],
          },
          bar,
        ),
        el('span', { class: 'bar-value' }, text),
      );
    }),
  );
  $('modalities').replaceChildren(
    ...MODALITIES.map((m) => {
      const state = states[m];
      return el(
        'li',
        { class: `chip ${state === 'read' ? 'on' : state === 'absent' ? 'off' : 'idle'}`, dataset: { modality: m, state }, title: MODALITY_TITLES[state] },
        `${m}: ${MODALITY_WORDS[state]}`,
      );
    }),
  );
  showModel(l.modelVersion);
}

function renderAlerts() {
  $('alerts-firing').textContent = `${firing.size} firing`;
  $('alerts-firing').classList.toggle('hot', firing.size > 0);
  $('alerts-empty').hidden = alerts.length > 0;
  $('alert-list').replaceChildren(
    ...alerts.map((a) =>
      el(
        'li',
        { class: `alert ${a.state}`, dataset: { sessionId: a.sessionId, state: a.state } },
        el('span', { class: 'alert-state' }, a.state === 'firing' ? 'FIRING' : 'resolved'),
        el('button', { type: 'button', class: 'link', onclick: () => select(a.sessionId) }, a.sessionId),
        el('span', { class: 'alert-rule' }, a.rule),
        el('span', { class: 'alert-message' }, a.message),
        el('span', { class: 'muted small' }, `at ${clock(a.at)} (event time), since ${clock(a.since)}`),
      ),
    ),
  );
}

/** Ended sessions that got no score, with the service's reason (a `{type:'ended'}` message). */
function renderUnscored() {
  $('unscored').hidden = unscored.length === 0;
  $('unscored-list').replaceChildren(
    ...unscored.map((s) =>
      el(
        'li',
        { class: 'alert unscored', dataset: { sessionId: s.sessionId } },
        el('span', { class: 'alert-state' }, 'NO SCORE'),
        el('span', { class: 'alert-rule' }, s.sessionId),
        el('span', { class: 'alert-message' }, s.why),
      ),
    ),
  );
}

function render() {
  renderSessions();
  renderDetail();
  renderAlerts();
  renderUnscored();
}

// --- messages ---------------------------------------------------------------------------

function onMessage(m) {
  switch (m.type) {
    case 'history':
      if (m.scores.length > 0) store.add(m.sessionId, m.scores);
      break;
    case 'score':
      store.add(m.score.sessionId, [m.score]);
      break;
    case 'alert': {
      const a = m.alert;
      const key = `${a.sessionId}\u0000${a.rule}`;
      if (a.state === 'firing') firing.set(key, a);
      else firing.delete(key);
      alerts.unshift(a);
      alerts.length = Math.min(alerts.length, MAX_ALERTS);
      break;
    }
    case 'ended':
      if (m.summary?.why) {
        unscored.unshift(m.summary);
        unscored.length = Math.min(unscored.length, MAX_UNSCORED);
      }
      break;
    case 'error':
      console.warn('server error', m.code, m.error);
      return;
    default:
      return;
  }
  scheduleRender();
}

const connection = connect({
  onMessage,
  onState(state, detail) {
    const box = $('connection');
    box.dataset.state = state;
    $('connection-text').textContent = detail;
    const auth = $('auth');
    auth.hidden = state !== 'auth';
    if (state === 'auth') {
      $('auth-message').textContent = `${detail[0].toUpperCase()}${detail.slice(1)}. Enter an access token (one of the server's ws.authTokens).`;
      $('auth-token').focus();
    }
  },
});

$('auth-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('auth-token');
  const token = input.value.trim();
  if (!token) return;
  input.value = '';
  $('auth').hidden = true;
  connection.authenticate(token);
});

setInterval(() => renderSessions(), 1000); // "n s ago"
render();
