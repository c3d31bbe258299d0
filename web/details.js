// The details of one flow event: a header (who talked to whom, verdict, type, when) and every
// field of its JSON, nested as the JSON nests them. A value a filter key covers is a button:
// clicking it filters by it, the ⊘ next to it excludes it (see filters.js filterFor).

import { filterFor } from './filters.js';
import { destinationLabel, fmtTime, l4Info, sourceLabel, typeText, verdictBadge } from './flows.js';

function el(tag, cls, text, title) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  if (title) e.title = title;
  return e;
}

function leafText(v) {
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

// One "key: value" line; path is inside "flow" (null outside it).
function leaf(key, value, path, flow, onFilter) {
  const row = el('div', 'kv');
  if (path !== null) row.dataset.path = path;
  row.appendChild(el('span', 'k', key));
  const chip = path !== null ? filterFor(path, value, flow) : null;
  const text = leafText(value);
  if (!chip) {
    row.appendChild(el('span', `v t-${typeof value}`, text));
    return row;
  }
  const b = el('button', `v t-${typeof value} filterable`, text, `filter: ${chip.key}=${chip.value}`);
  b.type = 'button';
  b.dataset.filter = `${chip.key}=${chip.value}`;
  b.dataset.path = path;
  b.addEventListener('click', () => onFilter({ ...chip, neg: false }));
  const x = el('button', 'exclude', '⊘', `exclude: not_${chip.key}=${chip.value}`);
  x.type = 'button';
  x.dataset.filter = `not_${chip.key}=${chip.value}`;
  x.dataset.path = path;
  x.addEventListener('click', () => onFilter({ ...chip, neg: true }));
  row.append(b, x);
  return row;
}

// An object or array: its key (a filter button too when the key itself is a value, such as
// the protocol in "l4": {"TCP": ...}), then its members indented.
function branch(key, obj, path, flow, onFilter) {
  const box = el('div', 'branch');
  const head = el('div', 'bk');
  head.appendChild(el('span', 'k', key));
  const chip = path !== null ? filterFor(path, obj, flow) : null;
  if (chip) {
    const b = el('button', 'v filterable key-filter', `${chip.key}=${chip.value}`, `filter: ${chip.key}=${chip.value}`);
    b.type = 'button';
    b.dataset.filter = `${chip.key}=${chip.value}`;
    b.dataset.path = path;
    b.addEventListener('click', () => onFilter({ ...chip, neg: false }));
    head.appendChild(b);
  }
  box.appendChild(head);
  const kids = el('div', 'kids');
  fill(kids, obj, path, flow, onFilter);
  box.appendChild(kids);
  return box;
}

function fill(into, obj, path, flow, onFilter) {
  const entries = Array.isArray(obj) ? obj.map((v, i) => [String(i), v]) : Object.entries(obj);
  for (const [k, v] of entries) {
    const p = path === null ? null : path ? `${path}.${k}` : k;
    if (v !== null && typeof v === 'object') into.appendChild(branch(k, v, p, flow, onFilter));
    else into.appendChild(leaf(k, v, p, flow, onFilter));
  }
}

// Fills box with the details of resp (a GetFlowsResponse); onFilter(chip) adds a filter.
export function renderFlowDetails(box, resp, onFilter) {
  const flow = resp.flow || {};
  const l4 = l4Info(flow);
  const type = typeText(flow);
  box.replaceChildren();

  const head = el('div', 'fd-head');
  const path = el('div', 'fd-path');
  path.appendChild(el('span', 'ep-name', sourceLabel(flow)));
  if (l4.sport !== null) path.appendChild(el('span', 'port', `:${l4.sport}`));
  path.appendChild(el('span', 'arrow', '→'));
  path.appendChild(el('span', 'ep-name', destinationLabel(flow)));
  if (l4.dport !== null) path.appendChild(el('span', 'port', `:${l4.dport}`));
  head.appendChild(path);
  const meta = el('div', 'fd-meta');
  meta.appendChild(verdictBadge(flow));
  if (type.kind !== 'drop') meta.appendChild(el('span', `type-tag t-${type.kind || 'none'}`, type.text));
  if (flow.interface && flow.interface.name) meta.appendChild(el('span', 'iface-tag', flow.interface.name));
  meta.appendChild(el('span', 'muted', fmtTime(flow.time)));
  head.appendChild(meta);
  if (flow.Summary) head.appendChild(el('div', 'fd-summary', flow.Summary));
  head.appendChild(el('div', 'fd-hint muted', 'Click a value to filter by it, ⊘ to exclude it.'));
  box.appendChild(head);

  const tree = el('div', 'fd-tree');
  tree.dataset.testid = 'flow-tree';
  tree.appendChild(branch('flow', flow, '', flow, onFilter));
  for (const [k, v] of Object.entries(resp)) {
    if (k === 'flow') continue;
    if (v !== null && typeof v === 'object') tree.appendChild(branch(k, v, null, flow, onFilter));
    else tree.appendChild(leaf(k, v, null, flow, onFilter));
  }
  box.appendChild(tree);
}
