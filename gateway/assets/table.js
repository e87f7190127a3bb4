// A virtualised table: the whole answer scrolls, but only the rows in view (and a few either side) are in the
// DOM, so 100,000 rows cost no more to show than 30. Spacer rows above and below stand for the rest; the table
// stays a real <table> (header cells, aria-rowcount, aria-rowindex) for screen readers and keyboard scrolling.

/** Rows rendered beyond the visible ones, on each side. */
const OVERSCAN = 12;

export class VirtualTable {
  constructor(container) {
    this.el = container;
    this.table = container.querySelector('table');
    this.head = this.table.tHead || this.table.createTHead();
    this.body = this.table.tBodies[0] || this.table.createTBody();
    this.columns = [];
    this.rows = [];
    this.rowHeight = 0;
    this.range = null;
    this.pending = false;
    this.lastRenderMs = 0;
    container.addEventListener('scroll', () => this.schedule(), { passive: true });
    window.addEventListener('resize', () => this.schedule());
  }

  /** New answer: its header cells, no rows yet. */
  reset(columns) {
    this.columns = columns || [];
    const tr = document.createElement('tr');
    tr.setAttribute('aria-rowindex', '1');
    for (const name of this.columns) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = name;
      tr.append(th);
    }
    this.head.replaceChildren(tr);
    this.rows = [];
    this.range = null;
    this.el.scrollTop = 0;
    this.body.replaceChildren();
    this.table.setAttribute('aria-rowcount', '1');
  }

  /** The rows (an array the caller may keep appending to); renders on the next frame. */
  show(rows) {
    this.rows = rows;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  row(i) {
    const tr = document.createElement('tr');
    tr.setAttribute('aria-rowindex', String(i + 2));
    const cells = this.rows[i];
    for (let c = 0; c < this.columns.length; c += 1) {
      const td = document.createElement('td');
      td.textContent = cells[c] ?? '';
      tr.append(td);
    }
    return tr;
  }

  spacer(height) {
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.setAttribute('aria-hidden', 'true');
    const td = document.createElement('td');
    td.colSpan = Math.max(1, this.columns.length);
    td.style.height = `${height}px`;
    tr.append(td);
    return tr;
  }

  render() {
    const started = performance.now();
    const n = this.rows.length;
    this.table.setAttribute('aria-rowcount', String(n + 1));
    if (n === 0) {
      this.body.replaceChildren();
      this.range = null;
      return;
    }
    if (this.rowHeight === 0) {
      // Measured once from a real row, so the spacers match whatever the font size is.
      const probe = this.row(0);
      this.body.replaceChildren(probe);
      this.rowHeight = probe.getBoundingClientRect().height;
      // Not laid out (hidden): measured on a later frame.
      if (this.rowHeight === 0) return;
    }
    const h = this.rowHeight;
    const top = Math.max(0, this.el.scrollTop - this.head.getBoundingClientRect().height);
    const view = this.el.clientHeight || h * 20;
    const first = Math.min(n, Math.max(0, Math.floor(top / h) - OVERSCAN));
    const last = Math.min(n, Math.ceil((top + view) / h) + OVERSCAN);
    const same = this.range && this.range.first === first && this.range.last === last && this.range.n === n;
    if (same) return;
    const fragment = document.createDocumentFragment();
    if (first > 0) fragment.append(this.spacer(first * h));
    for (let i = first; i < last; i += 1) fragment.append(this.row(i));
    if (last < n) fragment.append(this.spacer((n - last) * h));
    this.body.replaceChildren(fragment);
    this.range = { first, last, n };
    this.lastRenderMs = performance.now() - started;
    this.el.dataset.renderMs = this.lastRenderMs.toFixed(2);
    this.el.dataset.first = String(first);
    this.el.dataset.last = String(last);
  }
}
