// The query form: reading it into the API's parameters, filling it from a page URL (a shared link), showing the
// API's 400 next to the field it names, and the file name a download gets.

/** The API's GET parameters, in the form's order; the page URL uses the same names. */
export const FIELDS = ['start', 'end', 'country', 'band', 'min_aqi', 'max_aqi'];

/** Every name the API may put in a 400's `field` (legacy JSON names too), to the form field it means. */
const FIELD_OF = {
  start: 'start',
  startDate: 'start',
  end: 'end',
  endDate: 'end',
  country: 'country',
  band: 'band',
  range: 'band',
  min_aqi: 'min_aqi',
  minAqi: 'min_aqi',
  max_aqi: 'max_aqi',
  maxAqi: 'max_aqi',
};

function input(name) {
  return document.getElementById(name);
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** `2019-04-16T14:15` (a datetime-local value, taken as UTC) → `2019-04-16T14:15:00Z`. */
export function toApiTime(value) {
  if (!value) return '';
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

/** Any timestamp the API accepts → a datetime-local value in UTC (seconds only when not zero); '' if unreadable. */
export function toInputTime(text) {
  if (!text) return '';
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(text) ? `${text.replace(' ', 'T')}Z` : text;
  const ms = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(iso) || iso.length <= 10 ? iso : `${iso}Z`);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const minute = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return d.getUTCSeconds() ? `${minute}:${pad(d.getUTCSeconds())}` : minute;
}

/** The form's fields as API parameters (empty ones left out). */
export function readForm() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    let value = input(name).value.trim();
    if (name === 'start' || name === 'end') value = toApiTime(value);
    if (value !== '') params.set(name, value);
  }
  return params;
}

/** Fills the form from page-URL parameters; true when they hold a query to run (a start and an end). */
export function fillForm(params) {
  for (const name of FIELDS) {
    const value = params.get(name) || '';
    const field = input(name);
    if (name === 'start' || name === 'end') field.value = toInputTime(value);
    else if (name === 'band') field.value = bandValue(value);
    else field.value = value;
  }
  return params.has('start') && params.has('end');
}

/** The drop-down's value for a band the API accepts in any spelling (`Very High`, `very_high`, `Medium`). */
function bandValue(text) {
  const norm = text.toLowerCase().replace(/[\s_-]/g, '');
  return { low: 'low', moderate: 'moderate', medium: 'moderate', high: 'high', veryhigh: 'very_high' }[norm] || '';
}

/** The form as UTC times for people: "2019-04-16 14:00 to 15:00 UTC". */
export function describe(params) {
  const start = (params.get('start') || '').replace('T', ' ').replace(/:00Z$|Z$/, '');
  const end = (params.get('end') || '').replace('T', ' ').replace(/:00Z$|Z$/, '');
  const sameDay = start.slice(0, 10) === end.slice(0, 10);
  const where = params.get('country') ? `, ${params.get('country').toUpperCase()}` : '';
  return `${start} to ${sameDay ? end.slice(11) : end} UTC${where}`;
}

export function clearErrors() {
  for (const name of FIELDS) {
    input(name).removeAttribute('aria-invalid');
    document.getElementById(`${name}-error`).textContent = '';
  }
  document.getElementById('form-error').textContent = '';
}

/** Shows the API's message next to the field it names (and moves focus there); false if it names none. */
export function showFieldError(field, message) {
  const name = FIELD_OF[field];
  if (!name) return false;
  input(name).setAttribute('aria-invalid', 'true');
  document.getElementById(`${name}-error`).textContent = message;
  input(name).focus();
  return true;
}

export function showFormError(message) {
  document.getElementById('form-error').textContent = message;
}

/** `airq-<country or all>-<start as YYYY-MM-DDTHH-MM>.csv`, the name the gateway gives the same answer. */
export function fileName(params) {
  const country = (params.get('country') || '').toUpperCase() || 'all';
  const ms = Date.parse(params.get('start') || '');
  let start = 'start';
  if (Number.isFinite(ms)) {
    const d = new Date(ms);
    start = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}-${pad(d.getUTCMinutes())}`;
  }
  return `airq-${country}-${start}.csv`.replace(/[^A-Za-z0-9._-]/g, '');
}

/** Sets the window to the last `hours` hours, to the minute. */
export function setLast(hours) {
  const end = new Date(Math.floor(Date.now() / 60000) * 60000);
  const start = new Date(end.getTime() - hours * 3600000);
  input('end').value = toInputTime(end.toISOString());
  input('start').value = toInputTime(start.toISOString());
}
