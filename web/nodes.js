// The nodes of a cluster, when a relay (flowrelay) serves the page: GET api/v1/nodes every 2 s
// ({"nodes": [{"name", "address", "state", "message", "lag_ms", "late", "lost", ...}]}; a flowd
// answers 404 and the page stays a one-node page). Kept here: every node's latest state and
// since when it holds, what the header says about their health, the node picker's options and
// the node_name filter values it sets.

export const NODES_EVERY_MS = 2000;
export const NODES_RECHECK_MS = 60000; // a flowd (404) is asked again this rarely
const GONE_KEPT_MS = 5 * 60 * 1000; // a node that left is shown as gone this long
export const LAG_WARN_MS = 1000; // the relay's default lag bound
export const ALERTS_SHOWN = 3; // unavailable nodes named in the header; the rest are counted

const num = (v) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

// node_name is a pattern (fnmatch): a name with *, ? or [ in it is escaped to match itself.
export function nodePattern(name) {
  return String(name).replace(/[*?[\]\\]/g, '\\$&');
}

export function nodeOfPattern(pattern) {
  return String(pattern).replace(/\\(.)/g, '$1');
}

export function fmtAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtLag(ms) {
  const v = num(ms);
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(v < 10000 ? 1 : 0)} s`;
}

// One node's entry, keyed by its address (two entries may share a name).
function keyOf(n) {
  return String(n.address || n.name || '');
}

export class Cluster {
  constructor() {
    this.relay = null; // null: not known yet; true: a relay (200); false: a flowd (404)
    this.nodes = new Map(); // key -> node (the relay's fields + since, gone)
    this.error = ''; // the last poll's failure, while a relay
    this.polled = 0; // successful polls
    this.firstPoll = 0; // when the first answer came (a state seen then may be older)
  }

  // Applies a /api/v1/nodes answer at time now (ms). Nodes no longer listed become GONE and
  // are forgotten after GONE_KEPT_MS; a state change restarts "since".
  apply(list, now) {
    const seen = new Set();
    if (!this.firstPoll) this.firstPoll = now;
    for (const raw of Array.isArray(list) ? list : []) {
      if (!raw || (!raw.name && !raw.address)) continue;
      const key = keyOf(raw);
      seen.add(key);
      const state = String(raw.state || 'UNKNOWN').toUpperCase();
      const old = this.nodes.get(key);
      const since = old && old.state === state ? old.since : now;
      this.nodes.set(key, { ...raw, key, name: String(raw.name || raw.address), state, since, listed: true });
    }
    for (const [key, n] of this.nodes) {
      if (seen.has(key)) continue;
      if (n.listed || n.state !== 'GONE') {
        this.nodes.set(key, { ...n, state: 'GONE', message: 'no longer followed by the relay', since: now, listed: false, lag_ms: 0 });
      } else if (now - n.since > GONE_KEPT_MS) {
        this.nodes.delete(key);
      }
    }
    for (const [key, n] of this.nodes) {
      if (n.state === 'GONE' && n.listed && now - n.since > GONE_KEPT_MS) this.nodes.delete(key);
    }
    this.polled += 1;
    this.error = '';
  }

  list() {
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }) ||
      a.key.localeCompare(b.key));
  }

  // What the header says: nodes followed (not GONE), connected among them, the others with
  // why, the gone ones, the largest lag of a connected node, late and lost summed.
  summary() {
    const all = this.list();
    const current = all.filter((n) => n.state !== 'GONE');
    const connected = current.filter((n) => n.state === 'CONNECTED');
    return {
      total: current.length,
      connected: connected.length,
      unavailable: current.filter((n) => n.state !== 'CONNECTED'),
      gone: all.filter((n) => n.state === 'GONE'),
      lagMax: connected.reduce((m, n) => Math.max(m, num(n.lag_ms)), 0),
      late: current.reduce((s, n) => s + num(n.late), 0),
      lost: current.reduce((s, n) => s + num(n.lost), 0),
      rate: connected.reduce((s, n) => s + num(n.flows_rate), 0),
    };
  }

  // The picker's options: one per name, the best state of its entries (a node reached under
  // two addresses is one node to filter by).
  options() {
    const rank = { CONNECTED: 0, UNAVAILABLE: 1, UNKNOWN: 2, ERROR: 2, GONE: 3 };
    const byName = new Map();
    for (const n of this.list()) {
      const cur = byName.get(n.name);
      if (!cur || (rank[n.state] ?? 2) < (rank[cur.state] ?? 2)) byName.set(n.name, n);
    }
    return [...byName.values()];
  }
}

// Why a node is not connected, in a few words.
export function nodeWhy(n) {
  const msg = String(n.message || '').trim();
  if (n.state === 'GONE') return msg || 'gone';
  return msg || n.state.toLowerCase();
}

function el(tag, cls, text, title) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  if (title) e.title = title;
  return e;
}

export function stateClass(state) {
  if (state === 'CONNECTED') return 'st-up';
  if (state === 'GONE') return 'st-gone';
  return 'st-down';
}

// The header's node health: "connected/total", lag, late and lost, and the unavailable nodes
// by name with why (the first ALERTS_SHOWN, then "+N more"; all of them in the title).
export function renderHealth(cluster, now, { value, sub, box, alerts }) {
  const s = cluster.summary();
  value.textContent = `${s.connected}/${s.total}`;
  value.dataset.connected = String(s.connected);
  value.dataset.total = String(s.total);
  box.classList.toggle('bad', s.total > 0 && s.connected === 0);
  box.classList.toggle('warn', s.connected > 0 && s.connected < s.total);
  box.classList.toggle('ok', s.total > 0 && s.connected === s.total);
  const lag = `lag ${fmtLag(s.lagMax)}`;
  sub.replaceChildren(
    el('span', s.lagMax >= LAG_WARN_MS ? 'lag hi' : 'lag', lag),
    document.createTextNode(' · '),
    el('span', s.late ? 'late hi' : 'late', `late ${s.late}`),
    document.createTextNode(' · '),
    el('span', s.lost ? 'lost hi' : 'lost', `lost ${s.lost}`),
  );
  box.title = [
    `${s.connected} of ${s.total} nodes connected to the relay` + (cluster.error ? ` (nodes: ${cluster.error})` : ''),
    `largest lag of a connected node behind the merge: ${fmtLag(s.lagMax)}`,
    `flows released late: ${s.late}; flow events lost between the nodes and the relay: ${s.lost}`,
    ...s.unavailable.map((n) => `${n.name} (${n.address}): ${n.state.toLowerCase()}: ${nodeWhy(n)}`),
  ].join('\n');

  alerts.replaceChildren();
  const down = s.unavailable;
  if (cluster.error) {
    alerts.appendChild(el('span', 'node-alert err', `nodes: ${cluster.error}`));
  }
  for (const n of down.slice(0, ALERTS_SHOWN)) {
    const a = el('span', `node-alert ${stateClass(n.state)}`, null, `${n.address}: ${nodeWhy(n)}`);
    a.dataset.node = n.name;
    a.dataset.state = n.state;
    a.append(el('b', 'an', n.name), el('span', 'as', n.state.toLowerCase()), el('span', 'aw', nodeWhy(n)),
      el('span', 'at', `for ${n.since <= cluster.firstPoll ? '≥ ' : ''}${fmtAgo(now - n.since)}`));
    alerts.appendChild(a);
  }
  if (down.length > ALERTS_SHOWN) {
    const more = down.slice(ALERTS_SHOWN);
    alerts.appendChild(el('span', 'node-alert more', `+${more.length} more unavailable`,
      more.map((n) => `${n.name}: ${nodeWhy(n)}`).join('\n')));
  }
  const gone = s.gone.filter((n) => now - n.since < 60000);
  for (const n of gone.slice(0, ALERTS_SHOWN)) {
    const a = el('span', 'node-alert st-gone', null, `${n.address}: ${nodeWhy(n)}`);
    a.dataset.node = n.name;
    a.dataset.state = 'GONE';
    a.append(el('b', 'an', n.name), el('span', 'as', 'gone'), el('span', 'aw', nodeWhy(n)));
    alerts.appendChild(a);
  }
  alerts.hidden = alerts.childElementCount === 0;
}

// The node picker's menu: "All nodes", then one line per node (state, name, rate, lag); a
// checkbox adds or removes that node (several are alternatives), the name picks only it.
export function renderNodeMenu(menu, cluster, chosen, now, { onToggle, onOnly, onAll }) {
  const opts = cluster.options();
  const frag = document.createDocumentFragment();
  const all = el('button', `node-all${chosen.size ? '' : ' on'}`, 'All nodes', 'Show every node (no node_name filter)');
  all.type = 'button';
  all.addEventListener('click', onAll);
  frag.appendChild(all);
  const names = new Set(opts.map((n) => n.name));
  const rows = [...opts];
  // A chosen node the relay no longer lists stays choosable (to remove it).
  for (const name of chosen) {
    if (!names.has(name)) rows.push({ name, key: `?${name}`, state: 'GONE', message: 'not listed by the relay', since: now });
  }
  for (const n of rows) {
    const row = el('label', `node-opt ${stateClass(n.state)}${chosen.has(n.name) ? ' on' : ''}`);
    row.dataset.node = n.name;
    row.dataset.state = n.state;
    const box = el('input');
    box.type = 'checkbox';
    box.checked = chosen.has(n.name);
    box.title = `${box.checked ? 'Remove' : 'Add'} ${n.name} ${box.checked ? 'from' : 'to'} the nodes shown`;
    box.addEventListener('change', () => onToggle(n.name, box.checked));
    const dot = el('i', 'dot', null, n.state.toLowerCase());
    const name = el('span', 'nm', n.name, `Show only ${n.name}`);
    name.addEventListener('click', (ev) => {
      ev.preventDefault();
      onOnly(n.name);
    });
    const info = n.state === 'CONNECTED'
      ? `${num(n.flows_rate).toFixed(num(n.flows_rate) < 10 ? 1 : 0)} flows/s · lag ${fmtLag(n.lag_ms)}`
      : nodeWhy(n);
    const meta = el('span', 'meta', info, [n.address, n.version, n.state.toLowerCase(),
      `late ${num(n.late)} · lost ${num(n.lost)} · connects ${num(n.connects)}`].filter(Boolean).join(' · '));
    row.append(box, dot, name, meta);
    frag.appendChild(row);
  }
  if (!rows.length) frag.appendChild(el('div', 'muted node-none', 'The relay follows no node yet.'));
  menu.replaceChildren(frag);
}
