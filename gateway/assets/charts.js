// Hand-written SVG charts (no library, nothing fetched): PM2.5 and PM10 over time, and the sensors' positions
// coloured (and shaped) by band. Both are drawn at the container's width, so text stays readable on a phone.

const NS = 'http://www.w3.org/2000/svg';

/** Bands in order, with the marker shape each is drawn with (shape as well as colour, for colour-blind readers). */
export const BANDS = [
  { name: 'Low', cls: 'band-low', shape: 'circle' },
  { name: 'Moderate', cls: 'band-moderate', shape: 'square' },
  { name: 'High', cls: 'band-high', shape: 'triangle' },
  { name: 'Very High', cls: 'band-very-high', shape: 'diamond' },
];

function el(tag, attrs = {}, children = []) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const child of children) node.append(child);
  return node;
}

function text(x, y, content, attrs = {}) {
  const node = el('text', { x, y, ...attrs });
  node.textContent = content;
  return node;
}

/** A marker of `shape` centred on (x, y) with radius r. */
export function marker(shape, x, y, r, attrs = {}) {
  switch (shape) {
    case 'square':
      return el('rect', { x: x - r * 0.9, y: y - r * 0.9, width: r * 1.8, height: r * 1.8, ...attrs });
    case 'triangle':
      return el('path', { d: `M${x},${y - r * 1.15}L${x + r},${y + r * 0.75}L${x - r},${y + r * 0.75}Z`, ...attrs });
    case 'diamond':
      return el('path', { d: `M${x},${y - r * 1.2}L${x + r * 1.2},${y}L${x},${y + r * 1.2}L${x - r * 1.2},${y}Z`, ...attrs });
    default:
      return el('circle', { cx: x, cy: y, r, ...attrs });
  }
}

/** A round step that cuts [lo, hi] into about `count` parts. */
function tickStep(lo, hi, count) {
  const span = hi - lo || 1;
  const mag = 10 ** Math.floor(Math.log10(span / Math.max(1, count)));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || mag * 10;
}

/** Round tick values inside [lo, hi]. */
function ticks(lo, hi, count) {
  const step = tickStep(lo, hi, count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

const TIME_STEPS = [60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 172800, 604800];

function pad(n) {
  return String(n).padStart(2, '0');
}

function timeLabel(seconds, withDate) {
  const d = new Date(seconds * 1000);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return withDate ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hm}` : hm;
}

function fmt(v) {
  return Number.isFinite(v) ? (Math.round(v * 10) / 10).toString() : '–';
}

function clear(container) {
  container.replaceChildren();
  return Math.max(280, Math.floor(container.clientWidth || 600));
}

function empty(container, message) {
  const p = document.createElement('p');
  p.className = 'chart-empty';
  p.textContent = message;
  container.append(p);
}

/**
 * PM2.5 (solid) and PM10 (dashed) over time. `points` are [{t (epoch s), pm25, pm10}]; `what` names the series
 * ("all countries", "DE", "sensor 123"); `step` is the bucket length in seconds.
 */
export function timeChart(container, { points, what, step }) {
  const width = clear(container);
  if (points.length === 0) {
    empty(container, 'No readings to draw.');
    return;
  }
  const height = Math.round(Math.min(320, Math.max(200, width * 0.5)));
  const m = { left: 44, right: 12, top: 22, bottom: 40 };
  let t0 = points[0].t;
  let t1 = points[points.length - 1].t;
  if (t1 === t0) {
    t0 -= step;
    t1 += step;
  }
  const values = points.flatMap((p) => [p.pm25, p.pm10]).filter(Number.isFinite);
  const yMax = Math.max(1, ...values);
  // The axis ends on the first round value at or above the highest point.
  const yStep = tickStep(0, yMax, 5);
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const yTicks = ticks(0, yTop, 5);
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * (width - m.left - m.right);
  const y = (v) => height - m.bottom - (v / yTop) * (height - m.top - m.bottom);
  const id = `${container.id}-title`;
  const mean = (k) => {
    const known = points.map((p) => p[k]).filter(Number.isFinite);
    return known.length ? known.reduce((a, v) => a + v, 0) / known.length : NaN;
  };
  const svg = el('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': id, class: 'chart',
    'data-chart': 'series',
  });
  const title = el('title', { id });
  title.textContent = `PM2.5 and PM10 over time, ${what}, UTC: mean PM2.5 ${fmt(mean('pm25'))} µg/m³, `
    + `mean PM10 ${fmt(mean('pm10'))} µg/m³, highest ${fmt(yMax)} µg/m³, ${points.length} points.`;
  svg.append(title);
  const grid = el('g', { class: 'grid' });
  for (const v of yTicks) {
    grid.append(el('line', { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
    grid.append(text(m.left - 6, y(v) + 4, fmt(v), { 'text-anchor': 'end', class: 'tick' }));
  }
  const span = t1 - t0;
  const maxTicks = Math.max(2, Math.floor((width - m.left - m.right) / 90));
  const tStep = TIME_STEPS.find((s) => span / s <= maxTicks) || 604800;
  const withDate = span > 86400 || new Date(t0 * 1000).getUTCDate() !== new Date(t1 * 1000).getUTCDate();
  for (let t = Math.ceil(t0 / tStep) * tStep; t <= t1; t += tStep) {
    grid.append(el('line', { x1: x(t), x2: x(t), y1: m.top, y2: height - m.bottom }));
    // A label near an edge is anchored inside the chart rather than cut off.
    const anchor = x(t) > width - 30 ? 'end' : x(t) < m.left + 20 ? 'start' : 'middle';
    grid.append(text(x(t), height - m.bottom + 16, timeLabel(t, withDate), { 'text-anchor': anchor, class: 'tick' }));
  }
  grid.append(text(m.left, height - 6, 'time (UTC)', { class: 'axis-label' }));
  grid.append(text(4, 12, 'µg/m³', { class: 'axis-label' }));
  svg.append(grid);
  for (const [key, cls] of [['pm10', 'line-pm10'], ['pm25', 'line-pm25']]) {
    let d = '';
    let pen = 'M';
    for (const p of points) {
      if (!Number.isFinite(p[key])) {
        pen = 'M';
        continue;
      }
      d += `${pen}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`;
      pen = 'L';
    }
    svg.append(el('path', { d, class: `line ${cls}`, 'data-series': key }));
    if (points.length <= 60) {
      const dots = el('g', { class: `dots ${cls}` });
      for (const p of points) if (Number.isFinite(p[key])) dots.append(el('circle', { cx: x(p.t), cy: y(p[key]), r: 2.5 }));
      svg.append(dots);
    }
  }
  container.append(svg);
}

/** Equirectangular scatter of `sensors` ([{id, lat, lon, band, country}]) with a band legend. */
export function positionChart(container, sensors, legend) {
  const width = clear(container);
  legend.replaceChildren();
  const placed = sensors.filter((s) => Number.isFinite(s.lat) && Number.isFinite(s.lon)
    && Math.abs(s.lat) <= 90 && Math.abs(s.lon) <= 180);
  if (placed.length === 0) {
    empty(container, 'No sensor positions to draw.');
    return;
  }
  let [lat0, lat1, lon0, lon1] = [90, -90, 180, -180];
  for (const s of placed) {
    lat0 = Math.min(lat0, s.lat);
    lat1 = Math.max(lat1, s.lat);
    lon0 = Math.min(lon0, s.lon);
    lon1 = Math.max(lon1, s.lon);
  }
  const margin = Math.max(0.5, (lat1 - lat0) * 0.05, (lon1 - lon0) * 0.05);
  [lat0, lat1, lon0, lon1] = [lat0 - margin, lat1 + margin, lon0 - margin, lon1 + margin];
  // Equirectangular with its standard parallel at the middle latitude: shapes keep their proportions there.
  const k = Math.cos((((lat0 + lat1) / 2) * Math.PI) / 180);
  const m = 28;
  const spanX = (lon1 - lon0) * k;
  const spanY = lat1 - lat0;
  const height = Math.round(Math.min(480, Math.max(220, ((width - 2 * m) * spanY) / spanX + 2 * m)));
  const scale = Math.min((width - 2 * m) / spanX, (height - 2 * m) / spanY);
  const ox = (width - spanX * scale) / 2;
  const oy = (height - spanY * scale) / 2;
  const x = (lon) => ox + (lon - lon0) * k * scale;
  const y = (lat) => oy + (lat1 - lat) * scale;
  const counts = new Map(BANDS.map((b) => [b.name, 0]));
  const id = `${container.id}-title`;
  const svg = el('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': id, class: 'chart',
    'data-chart': 'positions',
  });
  const title = el('title', { id });
  svg.append(title);
  const grid = el('g', { class: 'grid' });
  for (const lon of ticks(lon0, lon1, Math.max(2, Math.floor(width / 110)))) {
    grid.append(el('line', { x1: x(lon), x2: x(lon), y1: oy, y2: height - oy }));
    grid.append(text(x(lon), height - oy + 14, `${fmt(lon)}°`, { 'text-anchor': 'middle', class: 'tick' }));
  }
  for (const lat of ticks(lat0, lat1, 5)) {
    grid.append(el('line', { x1: ox, x2: width - ox, y1: y(lat), y2: y(lat) }));
    grid.append(text(ox - 4, y(lat) + 4, `${fmt(lat)}°`, { 'text-anchor': 'end', class: 'tick' }));
  }
  svg.append(grid);
  const points = el('g', { class: 'points' });
  for (const s of placed) {
    const band = BANDS.find((b) => b.name === s.band) || BANDS[0];
    counts.set(band.name, counts.get(band.name) + 1);
    const mark = marker(band.shape, Math.round(x(s.lon) * 10) / 10, Math.round(y(s.lat) * 10) / 10, 4.5, { class: `point ${band.cls}`, 'data-band': band.name });
    const tip = el('title');
    tip.textContent = `sensor ${s.id}${s.country ? ` (${s.country})` : ''}: ${s.band || 'no band'}, `
      + `${fmt(s.lat)}° N ${fmt(s.lon)}° E`;
    mark.append(tip);
    points.append(mark);
  }
  svg.append(points);
  title.textContent = `Sensor positions by band (longitude across, latitude up): ${BANDS.map(
    (b) => `${counts.get(b.name)} ${b.name}`,
  ).join(', ')}.`;
  container.append(svg);
  for (const band of BANDS) {
    const li = document.createElement('li');
    const swatch = el('svg', { width: 14, height: 14, viewBox: '0 0 14 14', 'aria-hidden': 'true' }, [
      marker(band.shape, 7, 7, 5, { class: `point ${band.cls}` }),
    ]);
    li.append(swatch, ` ${band.name}: ${counts.get(band.name)}`);
    legend.append(li);
  }
}
