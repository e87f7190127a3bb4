// The airq console: the query form, the answer (count, time, path, table, charts, download), a queued job's
// progress with Cancel, the query in the page's URL, and the service status panel.

import { ApiError, apiKey, cancel, poll, saveFrom, saveText, serviceStatus, setApiKey, submit } from './api.js';
import { Answer, CsvRecords, bucketed } from './csv.js';
import { positionChart, timeChart } from './charts.js';
import { clearErrors, describe, fileName, fillForm, readForm, setLast, showFieldError, showFormError } from './form.js';
import { VirtualTable } from './table.js';

const $ = (id) => document.getElementById(id);
const table = new VirtualTable($('table'));
/** The query in flight: its abort controller and, once queued, its job. */
let current = null;
/** The last complete answer and its query, for the charts' series chooser and the download. */
let shown = null;

function setState(state) {
  $('answer').dataset.state = state;
}

function say(message) {
  $('summary').textContent = message;
}

function number(n) {
  return n.toLocaleString('en');
}

// ---- queued jobs ----------------------------------------------------------------------------------------------

const STEPS = ['queued', 'running', 'done'];

function jobStatus(status) {
  const job = current && current.job;
  if (!job || job.status === status) return;
  job.status = status;
  $('job-state').textContent = status;
  const reached = STEPS.indexOf(status);
  for (const li of $('job-steps').children) {
    const i = STEPS.indexOf(li.dataset.step);
    li.classList.toggle('reached', reached >= 0 && i <= reached);
    if (i === reached) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  const entry = document.createElement('li');
  entry.dataset.status = status;
  entry.textContent = `${status} at ${((performance.now() - job.since) / 1000).toFixed(1)} s`;
  $('job-log').append(entry);
  $('cancel').hidden = reached === 2 || status === 'cancelled' || status === 'failed';
  if (reached === 2 || status === 'cancelled' || status === 'failed') stopClock();
}

function startClock(job) {
  stopClock();
  const tick = () => {
    $('job-elapsed').textContent = `${((performance.now() - job.since) / 1000).toFixed(1)} s`;
  };
  tick();
  job.clock = setInterval(tick, 200);
}

function stopClock() {
  const job = current && current.job;
  if (job && job.clock) {
    clearInterval(job.clock);
    job.clock = null;
  }
}

function showJob(first) {
  const job = { ...first, status: null, since: current.started };
  current.job = job;
  $('job').hidden = false;
  $('job-id').textContent = job.id;
  $('job-log').replaceChildren();
  startClock(job);
  jobStatus(first.status === 'running' ? 'running' : 'queued');
  say('Queued: a worker will answer it. The page follows the job.');
  return job;
}

async function cancelJob() {
  const run = current;
  if (!run || !run.job) return;
  run.controller.abort();
  try {
    const cancelled = await cancel(run.job);
    jobStatus('cancelled');
    setState('cancelled');
    say(cancelled ? 'Cancelled: the job was withdrawn.' : 'The job had already ended or expired.');
  } catch (e) {
    $('answer-error').textContent = `Could not cancel: ${e.message}`;
  }
  $('submit').focus();
}

// ---- the answer -----------------------------------------------------------------------------------------------

async function consume(response, run, path) {
  const answer = new Answer();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const records = new CsvRecords((cells) => answer.add(cells));
  let columnsShown = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    answer.keep(value);
    records.push(value);
    if (!columnsShown && answer.columns) {
      $('results').hidden = false;
      table.reset(answer.columns);
      columnsShown = true;
    }
    table.show(answer.rows);
    say(`Reading the answer: ${number(answer.count)} rows so far…`);
  }
  records.finish();
  $('results').hidden = false;
  if (!columnsShown) table.reset(answer.columns || []);
  table.show(answer.rows);
  const took = (performance.now() - run.started) / 1000;
  shown = { answer, params: run.params, path, job: run.job };
  const how = path === 'queued' ? 'answered by a queued job' : 'answered directly';
  $('row-count').textContent = number(answer.count);
  $('took').textContent = `${took.toFixed(2)} s`;
  $('path').textContent = how;
  $('answer').dataset.rows = String(answer.count);
  $('answer').dataset.path = path;
  $('table-note').textContent = answer.count > answer.rows.length
    ? `The table holds the first ${number(answer.rows.length)} rows; the download has all ${number(answer.count)}.`
    : '';
  say(`${number(answer.count)} rows in ${took.toFixed(2)} s, ${how}. ${describe(run.params)}.`);
  offerDownload(run);
  fillSeriesChooser(answer);
  drawCharts();
  setState('done');
}

function offerDownload(run) {
  const name = fileName(run.params);
  const link = $('download');
  link.download = name;
  link.href = run.job
    ? `${run.job.location}?download=${encodeURIComponent(name)}`
    : `/api/query?${run.params}&download=1`;
  link.hidden = false;
}

function fillSeriesChooser(answer) {
  const select = $('series');
  const all = new Option('All countries (mean)', 'country:');
  const countries = document.createElement('optgroup');
  countries.label = 'Country (mean)';
  for (const [code, n] of [...answer.countries].sort((a, b) => b[1] - a[1])) {
    countries.append(new Option(`${code} (${number(n)} readings)`, `country:${code}`));
  }
  const sensors = document.createElement('optgroup');
  sensors.label = 'Sensor';
  for (const s of answer.busiestSensors(200)) {
    sensors.append(new Option(`sensor ${s.id}${s.country ? ` (${s.country})` : ''}, ${number(s.n)} readings`, `sensor:${s.id}`));
  }
  select.replaceChildren(all, countries, sensors);
}

function drawCharts() {
  if (!shown) return;
  const { answer } = shown;
  const [kind, key] = $('series').value.split(/:(.*)/s);
  const series = kind === 'sensor' ? answer.sensorSeries(key) : answer.countrySeries(key || '');
  const what = kind === 'sensor' ? `sensor ${key}` : key || 'all countries';
  const width = $('series-chart').clientWidth || 600;
  const { points, step } = bucketed(series, Math.max(20, Math.floor(width / 6)));
  timeChart($('series-chart'), { points, what, step });
  $('series-step').textContent = `mean per ${step >= 3600 ? `${step / 3600} h` : `${step / 60} min`}`;
  positionChart($('map-chart'), [...answer.sensors.values()], $('map-legend'));
}

// ---- running a query ------------------------------------------------------------------------------------------

function explain(error) {
  if (error.status === 401) {
    return 'This gateway needs an API key: enter yours under Options → API key (sent as a Bearer token), then submit again.';
  }
  if (error.status === 429 || error.status === 503) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : '';
    return `${error.message}.${wait}`;
  }
  if (error.status === 410) return `${error.message}.`;
  return `The gateway refused the query (HTTP ${error.status}): ${error.message}.`;
}

async function run(params, { push }) {
  if (current) current.controller.abort();
  stopClock();
  clearErrors();
  $('answer-error').textContent = '';
  $('job').hidden = true;
  $('download').hidden = true;
  $('results').hidden = true;
  shown = null;
  const started = performance.now();
  const controller = new AbortController();
  const runState = { controller, params, started, job: null };
  current = runState;
  const pageUrl = `${location.pathname}?${params}`;
  if (push && `${location.pathname}${location.search}` !== pageUrl) history.pushState(null, '', pageUrl);
  $('share').href = pageUrl;
  setState('running');
  $('answer').setAttribute('aria-busy', 'true');
  say('Running the query…');
  try {
    const first = await submit(params, { queue: $('queue').checked, signal: controller.signal });
    if (current !== runState) return;
    let response = first.response;
    let path = first.path;
    if (first.kind === 'job') {
      const job = showJob(first);
      response = await poll(job, { signal: controller.signal, onStatus: jobStatus });
      jobStatus('done');
      path = 'queued';
    }
    await consume(response, runState, path);
  } catch (e) {
    if (controller.signal.aborted || current !== runState) return;
    setState('error');
    if (runState.job) jobStatus('failed');
    if (e instanceof ApiError && e.status === 400) {
      if (!showFieldError(e.field, e.message)) showFormError(e.message);
      say('The query needs a correction (see the form).');
    } else if (e instanceof ApiError) {
      $('answer-error').textContent = explain(e);
      say('No answer.');
    } else {
      $('answer-error').textContent = `The gateway could not be reached or the answer broke off: ${e.message}`;
      say('No answer.');
    }
  } finally {
    if (current === runState) $('answer').setAttribute('aria-busy', 'false');
  }
}

// ---- status panel ---------------------------------------------------------------------------------------------

/** A duration in words, coarse: "42 s", "7 min", "3 h", "12 days", "7.6 years". */
function span(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Number(seconds));
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  if (s < 63072000) return `${Math.round(s / 86400)} days`;
  return `${(s / 31557600).toFixed(1)} years`;
}

function when(rfc3339) {
  return rfc3339 ? rfc3339.replace('T', ' ').replace('Z', ' UTC') : '–';
}

function ingestText(note) {
  if (!note) return 'none yet';
  const sum = note.summary || {};
  const damage = Array.isArray(sum.damage) && sum.damage.length ? `, ${sum.damage.length} damaged` : '';
  return `${note.complete ? 'complete' : 'incomplete'} at ${when(note.finished)}: ` +
    `${number(sum.readings_written ?? 0)} readings written, ${number(sum.skipped_total ?? 0)} records skipped${damage}`;
}

/** The status as a few lines a person reads at a glance; a part the gateway could not read says so. */
function statusRows(st) {
  const part = (value, text) => (value && value.error ? `unavailable (${value.error})` : text(value || {}));
  const rows = [
    ['Data', part(st.data, (d) => `${d.readings_approximate ? 'about ' : ''}${number(d.readings ?? 0)} readings` +
      (d.newest ? `, ${when(d.oldest)} to ${when(d.newest)}; the newest is ${span(d.newest_age_seconds)} old` : ', none yet'))],
    ['Last ingest', part(st.ingest, (i) => ingestText(i.last))],
  ];
  if (st.ingest && !st.ingest.error && st.ingest.last && !st.ingest.last.complete) {
    rows.push(['Last complete ingest', ingestText(st.ingest.last_complete)]);
  }
  rows.push(
    ['Queue', part(st.queue, (q) => `${number(q.waiting ?? 0)} waiting, ${number(q.in_flight ?? 0)} being answered` +
      (q.dead_lettered ? `, ${number(q.dead_lettered)} dead-lettered` : '') +
      (q.oldest_age_seconds !== null && q.oldest_age_seconds !== undefined ? `; oldest ${span(q.oldest_age_seconds)}` : ''))],
    ['Workers', part(st.workers, (w) => `${number(w.seen_recently ?? 0)} seen in the last ${span(w.window_seconds)}`)],
    ['Gateway', part(st.gateway, (g) => `airq ${st.version ?? ''}, up ${span(g.uptime_seconds)}, ` +
      `${number(g.direct_in_flight ?? 0)} of ${number(g.direct_limit ?? 0)} direct answers in flight` +
      (g.api_keys ? '; API keys required' : ''))],
  );
  return rows;
}

async function refreshStatus() {
  const status = await serviceStatus();
  const panel = $('status');
  if (!status || typeof status !== 'object') {
    panel.hidden = true;
    return false;
  }
  const list = $('status-list');
  list.replaceChildren();
  for (const [term, text] of statusRows(status)) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = text;
    list.append(dt, dd);
  }
  panel.hidden = false;
  return true;
}

// ---- wiring ---------------------------------------------------------------------------------------------------

function runFromUrl() {
  const params = new URLSearchParams(location.search);
  if (fillForm(params)) run(readForm(), { push: false });
}

$('query').addEventListener('submit', (event) => {
  event.preventDefault();
  run(readForm(), { push: true });
});
$('cancel').addEventListener('click', cancelJob);
$('series').addEventListener('change', drawCharts);
$('quick-range').addEventListener('change', (event) => {
  const hours = Number(event.target.value);
  if (hours > 0) setLast(hours);
});
for (const id of ['start', 'end']) $(id).addEventListener('input', () => { $('quick-range').value = ''; });
$('api-key').value = apiKey();
$('api-key').addEventListener('input', (event) => setApiKey(event.target.value.trim()));
$('download').addEventListener('click', (event) => {
  if (!shown) return;
  const name = $('download').download;
  // What was shown, saved as it is (no second query); with an API key a plain link could not send it.
  if (shown.answer.keptAll) {
    event.preventDefault();
    saveText(shown.answer.parts, name);
  } else if (apiKey()) {
    event.preventDefault();
    saveFrom($('download').href, name).catch((e) => { $('answer-error').textContent = `Download failed: ${e.message}`; });
  }
});
window.addEventListener('popstate', runFromUrl);
let resizeTimer = null;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(drawCharts, 150);
}).observe($('charts'));

const offset = -new Date().getTimezoneOffset();
const sign = offset >= 0 ? '+' : '-';
$('tz-note').textContent = `Times are UTC (your clock is UTC${sign}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}).`;
if (location.search) runFromUrl();
else setLast(24);
// Kept fresh only where the gateway has a status endpoint (a 404 hides the panel for good).
refreshStatus().then((available) => {
  if (available) setInterval(refreshStatus, 30000);
});
