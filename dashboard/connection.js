/* global WebSocket, sessionStorage, location */
// The WebSocket to the score server (docs/websocket.md): same origin, path /ws. Subscribes to
// everything; reconnects with exponential backoff; authenticates with a token the user typed
// (kept in sessionStorage, sent as the first message, never put in a URL) once the server has
// asked for one by closing with 4401.

const TOKEN_KEY = 'msa.dashboard.token';
const UNAUTHORIZED = 4401;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled
  }
}

function storeToken(token) {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage disabled: the token lives until the next page load only
  }
}

/**
 * @param {{ onMessage(m: object): void, onState(state: 'connecting'|'open'|'reconnecting'|'auth', detail: string): void }} handlers
 */
export function connect(handlers) {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  let token = storedToken();
  let attempt = 0;
  let ws = null;
  let timer;
  let waitingForToken = false;

  const open = () => {
    clearTimeout(timer);
    handlers.onState('connecting', attempt === 0 ? 'connecting…' : `connecting (attempt ${attempt + 1})…`);
    ws = new WebSocket(url);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (token) ws.send(JSON.stringify({ type: 'auth', id: 'auth', token }));
      ws.send(JSON.stringify({ type: 'subscribe', id: 'all', all: true }));
    };
    ws.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m.type === 'subscribed') {
        attempt = 0;
        handlers.onState('open', token ? 'live (authenticated)' : 'live');
      }
      handlers.onMessage(m);
    };
    ws.onclose = (e) => {
      ws = null;
      if (e.code === UNAUTHORIZED) {
        // The server wants a token, or refused ours: ask the user, do not retry on our own.
        const refused = token !== null;
        token = null;
        storeToken(null);
        waitingForToken = true;
        handlers.onState('auth', refused ? `the token was refused (${e.reason || 'invalid token'})` : 'this server needs an access token');
        return;
      }
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      attempt++;
      const why = e.reason ? `${e.reason} (${e.code})` : opened ? `connection closed (${e.code})` : 'cannot reach the server';
      handlers.onState('reconnecting', `${why}; retrying in ${Math.ceil(delay / 1000)} s`);
      timer = setTimeout(open, delay);
    };
  };

  open();
  return {
    /** Uses a token the user typed and connects again. */
    authenticate(newToken) {
      token = newToken;
      storeToken(newToken);
      attempt = 0;
      waitingForToken = false;
      if (ws) ws.close(1000, 'new token');
      else open();
    },
    get waitingForToken() {
      return waitingForToken;
    },
  };
}
