// The answer as it arrives: an incremental CSV parser (RFC 4180: a quoted cell may hold commas, quotes and
// line breaks, and a record may be split across network chunks anywhere) and the running aggregates the charts
// draw from, so that nothing has to walk the whole answer again at the end.

/** Splits text pushed in pieces into records (arrays of cells); calls `onRecord` for each, header first. */
export class CsvRecords {
  constructor(onRecord) {
    this.onRecord = onRecord;
    this.carry = '';
  }

  push(text) {
    const buf = this.carry + text;
    let start = 0;
    let scan = 0;
    let open = false;
    // The next quote at or after `scan`: found once and kept, so the whole push is one pass.
    let quote = buf.indexOf('"');
    for (;;) {
      const nl = buf.indexOf('\n', scan);
      if (nl < 0) break;
      while (quote >= 0 && quote < nl) {
        open = !open;
        quote = buf.indexOf('"', quote + 1);
      }
      scan = nl + 1;
      if (open) continue; // a line break inside a quoted cell
      this.record(buf.slice(start, nl));
      start = nl + 1;
    }
    this.carry = buf.slice(start);
  }

  /** The last record, if the text did not end with a line break. */
  finish() {
    if (this.carry !== '') this.record(this.carry);
    this.carry = '';
  }

  record(line) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') return;
    this.onRecord(line.includes('"') ? splitQuoted(line) : line.split(','));
  }
}

/** Cells of one record with quoted cells (`"a, b"`, `"say ""hi"""`). */
export function splitQuoted(line) {
  const cells = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cell += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else {
      cell += c;
    }
    i += 1;
  }
  cells.push(cell);
  return cells;
}

/** The rows the table keeps at most; the count, charts and download cover the whole answer. */
export const MAX_TABLE_ROWS = 200000;
/** Characters of the answer kept for a download without a second request. */
const MAX_KEPT_CHARS = 64 * 1024 * 1024;
/** Sensors the position chart keeps at most. */
const MAX_SENSORS = 20000;

/** What the page knows about an answer: rows for the table, per-minute sums per country, sensors' positions. */
export class Answer {
  constructor() {
    this.columns = null;
    this.at = {};
    this.rows = [];
    this.count = 0;
    // `${country}|${minute}` → [sum pm2.5, n pm2.5, sum pm10, n pm10]; country '' is all of them.
    this.minutes = new Map();
    this.countries = new Map();
    this.sensors = new Map();
    this.sensorsDropped = 0;
    this.parts = [];
    this.keptChars = 0;
    this.keptAll = true;
    this.lastStamp = '';
    this.lastSeconds = NaN;
  }

  /** Keeps the raw text too (up to a bound), so Download CSV can save exactly what was shown. */
  keep(text) {
    if (!this.keptAll) return;
    this.keptChars += text.length;
    if (this.keptChars > MAX_KEPT_CHARS) {
      this.keptAll = false;
      this.parts = [];
      return;
    }
    this.parts.push(text);
  }

  add(cells) {
    if (this.columns === null) {
      this.columns = cells;
      cells.forEach((name, i) => {
        this.at[name] = i;
      });
      return;
    }
    this.count += 1;
    if (this.rows.length < MAX_TABLE_ROWS) this.rows.push(cells);
    const at = this.at;
    const stamp = cells[at.timestamp];
    if (stamp !== this.lastStamp) {
      this.lastStamp = stamp;
      this.lastSeconds = Date.parse(stamp) / 1000;
    }
    const seconds = this.lastSeconds;
    if (!Number.isFinite(seconds)) return;
    const minute = Math.floor(seconds / 60) * 60;
    const pm25 = parseFloat(cells[at.pm25]);
    const pm10 = parseFloat(cells[at.pm10]);
    const country = cells[at.country] || '';
    this.sum(`|${minute}`, pm25, pm10);
    if (country !== '') {
      this.sum(`${country}|${minute}`, pm25, pm10);
      this.countries.set(country, (this.countries.get(country) || 0) + 1);
    }
    this.sensor(cells, seconds, country);
  }

  sum(key, pm25, pm10) {
    let s = this.minutes.get(key);
    if (s === undefined) {
      s = [0, 0, 0, 0];
      this.minutes.set(key, s);
    }
    if (Number.isFinite(pm25)) {
      s[0] += pm25;
      s[1] += 1;
    }
    if (Number.isFinite(pm10)) {
      s[2] += pm10;
      s[3] += 1;
    }
  }

  sensor(cells, seconds, country) {
    const at = this.at;
    const id = cells[at.sensor_id];
    let s = this.sensors.get(id);
    if (s === undefined) {
      if (this.sensors.size >= MAX_SENSORS) {
        this.sensorsDropped += 1;
        return;
      }
      s = { id, country, lat: NaN, lon: NaN, band: '', seconds: -Infinity, n: 0 };
      this.sensors.set(id, s);
    }
    s.n += 1;
    if (seconds >= s.seconds) {
      // Its latest reading in the answer decides its colour.
      s.seconds = seconds;
      s.band = cells[at.band];
      s.lat = parseFloat(cells[at.latitude]);
      s.lon = parseFloat(cells[at.longitude]);
    }
  }

  /** Per-minute means of one country ('' for all), as [{t, pm25, pm10, n}] sorted by time. */
  countrySeries(country) {
    const prefix = `${country}|`;
    const out = [];
    for (const [key, s] of this.minutes) {
      if (!key.startsWith(prefix)) continue;
      out.push({ t: Number(key.slice(prefix.length)), s: s.slice() });
    }
    return out.sort((a, b) => a.t - b.t);
  }

  /** One sensor's readings among the rows kept, as per-minute sums like `countrySeries`. */
  sensorSeries(id) {
    const at = this.at;
    const byMinute = new Map();
    for (const cells of this.rows) {
      if (cells[at.sensor_id] !== id) continue;
      const minute = Math.floor(Date.parse(cells[at.timestamp]) / 60000) * 60;
      if (!Number.isFinite(minute)) continue;
      let s = byMinute.get(minute);
      if (s === undefined) {
        s = [0, 0, 0, 0];
        byMinute.set(minute, s);
      }
      const pm25 = parseFloat(cells[at.pm25]);
      const pm10 = parseFloat(cells[at.pm10]);
      if (Number.isFinite(pm25)) {
        s[0] += pm25;
        s[1] += 1;
      }
      if (Number.isFinite(pm10)) {
        s[2] += pm10;
        s[3] += 1;
      }
    }
    return [...byMinute].map(([t, s]) => ({ t, s })).sort((a, b) => a.t - b.t);
  }

  /** The sensors with the most readings first (for the series chooser). */
  busiestSensors(limit) {
    return [...this.sensors.values()].sort((a, b) => b.n - a.n).slice(0, limit);
  }
}

/** Sums per minute, re-bucketed so that a chart has at most about `target` points: [{t, pm25, pm10}]. */
export function bucketed(series, target) {
  if (series.length === 0) return { points: [], step: 60 };
  const span = series[series.length - 1].t - series[0].t;
  const steps = [60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800];
  const step = steps.find((s) => span / s <= target) || 604800;
  const buckets = new Map();
  for (const { t, s } of series) {
    const b = Math.floor(t / step) * step;
    let acc = buckets.get(b);
    if (acc === undefined) {
      acc = [0, 0, 0, 0];
      buckets.set(b, acc);
    }
    for (let i = 0; i < 4; i += 1) acc[i] += s[i];
  }
  const points = [...buckets]
    .sort((a, b) => a[0] - b[0])
    .map(([t, s]) => ({
      t,
      pm25: s[1] > 0 ? s[0] / s[1] : NaN,
      pm10: s[3] > 0 ? s[2] / s[3] : NaN,
    }));
  return { points, step };
}
