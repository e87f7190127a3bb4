// The API as the console uses it: a query answered directly or queued, polling a queued job (with `?wait=`,
// honouring `Retry-After`), cancelling it, the optional status endpoint, and the optional API key (kept in this
// tab's sessionStorage, sent as a Bearer token, never put in the page's URL).

const KEY_STORE = 'airq-api-key';
/** Seconds each poll asks the gateway to wait for the job to end: long enough to save requests, short enough
 * that queued → running shows promptly. */
const WAIT_SECONDS = 2;

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORE) || '';
  } catch {
    return '';
  }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  } catch {
    // Storage refused (a private window's quota): the key lasts as long as the field then.
  }
}

function headers(extra = {}) {
  const h = new Headers(extra);
  const key = apiKey();
  if (key) h.set('Authorization', `Bearer ${key}`);
  return h;
}

/** An API refusal: the status, the API's message, the field it names (if any) and `Retry-After`. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body && typeof body.error === 'string' ? body.error : `the gateway answered HTTP ${status}`);
    this.status = status;
    this.field = body && typeof body.field === 'string' ? body.field : null;
    this.retryAfter = retryAfter;
  }
}

function seconds(header) {
  const n = Number(header);
  return header !== null && Number.isFinite(n) && n >= 0 ? n : null;
}

async function refusal(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, seconds(response.headers.get('Retry-After')));
}

/**
 * Submits the query (URLSearchParams). Resolves to `{kind: 'answer', response, path}` for a direct answer or
 * `{kind: 'job', id, status, location, retryAfter}` for a queued one; rejects with ApiError.
 */
export async function submit(params, { queue, signal }) {
  const extra = queue ? { Prefer: 'respond-async' } : {};
  const response = await fetch(`/api/query?${params}`, { headers: headers(extra), signal });
  if (response.status === 200) {
    return { kind: 'answer', response, path: response.headers.get('X-Airq-Answered') || 'direct' };
  }
  if (response.status === 202) {
    const body = await response.json();
    return {
      kind: 'job',
      id: body.id,
      status: body.status || 'queued',
      location: response.headers.get('Location') || `/results/${body.id}`,
      retryAfter: seconds(response.headers.get('Retry-After')) ?? 1,
    };
  }
  throw await refusal(response);
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/**
 * Polls a queued job until it is done; calls `onStatus('queued' | 'running')` after each pending answer and
 * resolves to the 200 response (the CSV). Each poll waits up to WAIT_SECONDS at the gateway; a gateway that
 * answers sooner is not asked again before its `Retry-After`.
 */
export async function poll(job, { signal, onStatus }) {
  const url = `${job.location}${job.location.includes('?') ? '&' : '?'}wait=${WAIT_SECONDS}s`;
  for (;;) {
    const asked = performance.now();
    const response = await fetch(url, { headers: headers(), signal });
    if (response.status === 200) return response;
    if (response.status !== 202) throw await refusal(response);
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    onStatus(body.status === 'running' ? 'running' : 'queued');
    const retry = seconds(response.headers.get('Retry-After')) ?? job.retryAfter;
    const spent = (performance.now() - asked) / 1000;
    if (spent < retry) await pause((retry - spent) * 1000, signal);
  }
}

/** `DELETE`s the job: resolves to true once cancelled, false if it was already gone. */
export async function cancel(job) {
  const response = await fetch(job.location, { method: 'DELETE', headers: headers() });
  if (response.status === 204) return true;
  if (response.status === 404 || response.status === 410) return false;
  throw await refusal(response);
}

/** `GET /api/status` as JSON, or null when the gateway has none (404) or will not say. */
export async function serviceStatus() {
  try {
    const response = await fetch('/api/status', { headers: headers(), cache: 'no-store' });
    if (response.status !== 200) return null;
    return await response.json();
  } catch {
    return null;
  }
}

/** A saved file of `parts` (strings) named `name`, without a second request. */
export function saveText(parts, name) {
  const url = URL.createObjectURL(new Blob(parts, { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** Fetches `url` with the API key and saves the answer as `name` (used when the answer was not kept whole). */
export async function saveFrom(url, name) {
  const response = await fetch(url, { headers: headers() });
  if (response.status !== 200) throw await refusal(response);
  saveText([await response.blob()], name);
}
