// Flowscope dashboard: live flow table (Server-Sent Events from /api/v1/flows?follow=1),
// service map (polls /api/v1/graph) and counters (stream + /api/v1/status).
// All API paths are relative, so the page also works behind a path prefix.

import {
  MAX_ROWS,
  flowKey,
  flowRow,
  fillHeader,
  parseNdjson,
  fmtBytes,
  fmtCount,
  fmtTime,
} from './flows.js';
import { ServiceMap, NODE_KINDS, EDGE_COLORS } from './graph.js';

const GRAPH_WINDOW = '5m';
const GRAPH_EVERY_MS = 2000;
const STATUS_EVERY_MS = 2000;
const RENDER_EVERY_MS = 250; // at most this often; longer when rendering is costly
const RENDER_MAX_ROWS = 150; // rows put in per render when flows come faster than one can read
const BACKFILL = 100; // flows shown right away when the stream (re)starts
const DETAILS_LAST = 200;
const RETRY_MS = 3000;
const RATE_WINDOW_S = 3;

const $ = (id) => document.getElementById(id);

const state = {
  query: null, // the filter query string in force
  gen: 0, // bumped at every stream restart: late answers of older ones are ignored
  es: null,
  retryTimer: 0,
  paused: false,
  pending: new Map(), // flow key -> latest GetFlowsResponse not rendered yet (newest last)
  rows: new Map(), // flow key -> <tr> in the table
  renderScheduled: false,
  renderAll: false, // the next render shows every waiting flow (after a resume)
  lastRender: 0,
  renderEvery: RENDER_EVERY_MS,
  received: 0, // flow events from the stream (all, paused or not)
  rateMarks: [], // [ms, received] once a second
  drops: 0, // DROPPED flow events from the stream
  streamLost: 0, // events the stream reported as lost
  status: null, // latest /api/v1/status
  statusError: '',
  graph: { nodes: [], edges: [] },
  graphNamespace: '',
  graphInFlight: false,
  graphAgain: false,
  graphTimer: 0,
  selected: null, // { kind: 'node'|'edge', id }
  hovered: null, // the map element under the mouse
  detailsSeq: 0,
};

let map = null;

// ---- helpers --------------------------------------------------------------------------------

async function fetchWithTimeout(url, ms, init = {}) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: ctl.signal, cache: 'no-store' });
  } finally {
    clearTimeout(t);
  }
}

async function errorText(res) {
  let text = '';
  try {
    text = await res.text();
    const j = JSON.parse(text);
    if (j && j.error) return `${res.status}: ${j.error}`;
  } catch {
    // not JSON
  }
  return `${res.status} ${res.statusText}${text ? `: ${text.trim().slice(0, 200)}` : ''}`;
}

function errMessage(e) {
  if (e && e.name === 'AbortError') return 'timed out';
  return (e && e.message) || String(e);
}

// ---- filters --------------------------------------------------------------------------------

const FILTERS = [
  ['f-ip', 'ip'],
  ['f-port', 'port'],
  ['f-protocol', 'protocol'],
  ['f-verdict', 'verdict'],
  ['f-namespace', 'namespace'],
];

function readFilters() {
  const q = new URLSearchParams();
  for (const [id, param] of FILTERS) {
    const v = $(id).value.trim();
    if (v) q.set(param, v);
  }
  return q.toString();
}

function applyFilters() {
  const q = readFilters();
  const ns = $('f-namespace').value.trim();
  if (ns !== state.graphNamespace) {
    state.graphNamespace = ns;
    pollGraphNow();
  }
  if (q === state.query) return;
  state.query = q;
  history.replaceState(null, '', q ? `?${q}` : location.pathname);
  clearTable();
  restartStream();
}

function setFilterError(msg) {
  const el = $('filter-error');
  el.textContent = msg || '';
  el.hidden = !msg;
  $('filters').classList.toggle('invalid', Boolean(msg));
}

function initFilters() {
  // Filters in the page's own query string (a shared link) fill the fields.
  const given = new URLSearchParams(location.search);
  for (const [id, param] of FILTERS) {
    const v = given.get(param);
    if (v !== null) $(id).value = v;
  }
  let debounce = 0;
  const form = $('filters');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(debounce);
    applyFilters();
  });
  form.addEventListener('input', (ev) => {
    if (ev.target.tagName === 'SELECT') return;
    clearTimeout(debounce);
    debounce = setTimeout(applyFilters, 600);
  });
  form.addEventListener('change', () => {
    clearTimeout(debounce);
    applyFilters();
  });
  $('f-clear').addEventListener('click', () => {
    for (const [id] of FILTERS) $(id).value = '';
    applyFilters();
  });
}

// ---- the live stream ------------------------------------------------------------------------

function setStreamState(text, cls) {
  const el = $('stream-state');
  el.textContent = text;
  el.className = `stream-state ${cls || ''}`;
}

function withQuery(base, q) {
  return q ? `${base}&${q}` : base;
}

function scheduleRetry() {
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(restartStream, RETRY_MS);
}

// (Re)starts the stream for the filters in force: first the latest BACKFILL matching flows
// (a plain NDJSON request, which also tells a bad filter by its 400 answer), then the
// EventSource for what comes next.
async function restartStream() {
  const gen = ++state.gen;
  clearTimeout(state.retryTimer);
  if (state.es) {
    state.es.close();
    state.es = null;
  }
  const q = state.query || '';
  setStreamState('connecting…', 'connecting');
  try {
    const res = await fetchWithTimeout(withQuery(`api/v1/flows?last=${BACKFILL}`, q), 8000);
    if (gen !== state.gen) return;
    if (!res.ok) {
      const msg = await errorText(res);
      if (gen !== state.gen) return;
      if (res.status === 400) {
        setFilterError(msg);
        $('table-empty').textContent = 'The filters were refused: fix them to see flows.';
        setStreamState('stopped: bad filter', 'error');
        return; // nothing to retry until the filters change
      }
      throw new Error(msg);
    }
    const text = await res.text();
    if (gen !== state.gen) return;
    setFilterError('');
    $('table-empty').textContent = 'Waiting for flows…';
    for (const msg of parseNdjson(text)) {
      if (msg.flow) queueFlow(msg);
    }
  } catch (e) {
    if (gen !== state.gen) return;
    setStreamState(`flowd unreachable (${errMessage(e)}), retrying`, 'error');
    scheduleRetry();
    return;
  }
  openStream(gen, q);
}

// Flow events are handled without parsing them: at thousands per second JSON.parse and its
// garbage would take the page's main thread. The counters read the verdict and the table
// keys flows by flow_id straight from the text; only the flows that get rendered are parsed.
const RE_DROPPED = /"verdict":\s*"DROPPED"/;
const RE_FLOW_ID = /"flow_id":\s*"?(\d+)/;

function openStream(gen, q) {
  const es = new EventSource(withQuery('api/v1/flows?follow=1', q));
  state.es = es;
  const mine = () => state.es === es && state.gen === gen;
  es.onopen = () => mine() && setStreamState('live', 'live');
  es.addEventListener('flow', (ev) => mine() && onFlowText(ev.data));
  es.addEventListener('lost', (ev) => mine() && onOtherText(ev.data));
  es.onmessage = (ev) => mine() && onOtherText(ev.data); // events without a name, just in case
  es.onerror = () => {
    if (!mine()) return;
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      state.es = null;
      setStreamState('stream closed, retrying', 'error');
      scheduleRetry();
    } else {
      setStreamState('reconnecting…', 'connecting');
    }
  };
}

function onFlowText(data) {
  const id = RE_FLOW_ID.exec(data);
  if (!id) {
    onOtherText(data);
    return;
  }
  state.received += 1;
  if (RE_DROPPED.test(data)) state.drops += 1;
  queue(id[1], data);
}

function onOtherText(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (msg.flow) {
    state.received += 1;
    if (msg.flow.verdict === 'DROPPED') state.drops += 1;
    queueFlow(msg);
  } else if (msg.lost_events) {
    const n = Number(msg.lost_events.num_events_lost || 0);
    state.streamLost += n > 0 ? n : 1;
  }
}

// ---- the flow table -------------------------------------------------------------------------

function queueFlow(msg) {
  queue(flowKey(msg.flow), msg);
}

// msg: a GetFlowsResponse, or its JSON text (parsed when rendered).
function queue(key, msg) {
  state.pending.delete(key);
  state.pending.set(key, msg);
  if (state.pending.size > MAX_ROWS) state.pending.delete(state.pending.keys().next().value);
  scheduleRender();
}

function scheduleRender() {
  if (state.renderScheduled || state.paused) return;
  state.renderScheduled = true;
  const wait = Math.max(0, state.lastRender + state.renderEvery - performance.now());
  setTimeout(() => requestAnimationFrame(render), wait);
}

// Puts the waiting flows at the top of the table (a flow already there moves up), then trims
// it to MAX_ROWS. The frame's cost (script, style, layout, paint: up to the next frame) sets
// the pause before the next render, so rendering takes at most about a fifth of the time.
function render() {
  state.renderScheduled = false;
  if (state.paused) return;
  const start = performance.now();
  state.lastRender = start;
  if (state.pending.size === 0) return;
  const tbody = $('flows');
  let items = [...state.pending.entries()].reverse(); // newest first
  if (!state.renderAll && items.length > RENDER_MAX_ROWS) items = items.slice(0, RENDER_MAX_ROWS);
  state.renderAll = false;
  state.pending.clear();
  const frag = document.createDocumentFragment();
  for (const [key, item] of items) {
    let msg = item;
    if (typeof item === 'string') {
      try {
        msg = JSON.parse(item);
      } catch {
        continue;
      }
    }
    if (!msg.flow) continue;
    const old = state.rows.get(key);
    if (old) old.remove();
    const tr = flowRow(msg, key);
    state.rows.set(key, tr);
    frag.appendChild(tr);
  }
  tbody.prepend(frag);
  while (tbody.rows.length > MAX_ROWS) {
    const last = tbody.lastElementChild;
    state.rows.delete(last.dataset.flowId);
    last.remove();
  }
  updateTableInfo();
  requestAnimationFrame(() => {
    const cost = performance.now() - start;
    state.renderEvery = Math.min(1000, Math.max(RENDER_EVERY_MS, 5 * cost));
  });
}

function clearTable() {
  state.pending.clear();
  state.rows.clear();
  $('flows').replaceChildren();
  updateTableInfo();
}

function updateTableInfo() {
  const n = $('flows').rows.length;
  $('table-empty').hidden = n > 0;
  let text = `${n} flow${n === 1 ? '' : 's'} shown (newest first, at most ${MAX_ROWS})`;
  if (state.paused) text += ` · paused, ${state.pending.size} updated flow(s) waiting`;
  $('table-info').textContent = text;
}

function togglePause() {
  state.paused = !state.paused;
  const b = $('pause');
  b.textContent = state.paused ? 'Resume' : 'Pause';
  b.setAttribute('aria-pressed', String(state.paused));
  b.classList.toggle('paused', state.paused);
  document.body.classList.toggle('is-paused', state.paused);
  if (!state.paused) {
    state.renderScheduled = false;
    state.renderAll = true;
    scheduleRender();
  }
  updateTableInfo();
}

// ---- counters -------------------------------------------------------------------------------

function tickCounters() {
  const now = performance.now();
  state.rateMarks.push([now, state.received]);
  while (state.rateMarks.length > RATE_WINDOW_S + 1) state.rateMarks.shift();
  const [t0, n0] = state.rateMarks[0];
  const dt = (now - t0) / 1000;
  const rate = dt > 0 ? (state.received - n0) / dt : 0;
  $('c-rate').textContent = rate < 10 ? rate.toFixed(1) : fmtCount(Math.round(rate));

  const st = state.status;
  $('c-drops').textContent = fmtCount(state.drops);
  $('c-drops-sub').textContent =
    st && st.drop_records !== undefined ? `${fmtCount(st.drop_records)} drop records in flowd` : 'in the stream';
  $('c-drops').title = `${state.drops} DROPPED flow events on the stream since the page opened` +
    (st && st.drop_records !== undefined ? `; flowd has read ${st.drop_records} drop records` : '');

  const kernelLost = st ? Number(st.lost_records || 0) : 0;
  $('c-lost').textContent = fmtCount(kernelLost + state.streamLost);
  $('c-lost-sub').textContent = `kernel ${fmtCount(kernelLost)} · stream ${fmtCount(state.streamLost)}`;
  $('c-lost').title = `${kernelLost} records lost between the kernel and flowd, ` +
    `${state.streamLost} flow events the stream could not deliver`;

  if (st) {
    $('c-flows').textContent = fmtCount(st.num_flows || 0);
    $('c-flows-sub').textContent = `${fmtCount(st.active_flows || 0)} active · ${fmtCount(st.seen_flows || 0)} seen`;
  }
  $('c-received').textContent = fmtCount(state.received);
  if (state.paused) updateTableInfo();
}

async function pollStatus() {
  try {
    const res = await fetchWithTimeout('api/v1/status', 5000);
    if (!res.ok) throw new Error(await errorText(res));
    state.status = await res.json();
    state.statusError = '';
  } catch (e) {
    state.statusError = errMessage(e);
  }
  $('health').textContent = state.statusError ? `status: ${state.statusError}` : '';
  $('health').hidden = !state.statusError;
  if (state.status && state.status.node_name) $('node-name').textContent = state.status.node_name;
  setTimeout(pollStatus, STATUS_EVERY_MS);
}

// ---- the service map ------------------------------------------------------------------------

function pollGraphNow() {
  if (state.graphInFlight) {
    state.graphAgain = true;
    return;
  }
  clearTimeout(state.graphTimer);
  pollGraph();
}

async function pollGraph() {
  state.graphInFlight = true;
  const ns = state.graphNamespace;
  let url = `api/v1/graph?window=${GRAPH_WINDOW}`;
  if (ns) url += `&namespace=${encodeURIComponent(ns)}`;
  try {
    const res = await fetchWithTimeout(url, 8000);
    if (!res.ok) throw new Error(await errorText(res));
    const g = await res.json();
    if (ns === state.graphNamespace) {
      state.graph = g;
      if (map) map.update(g);
      graphInfo(g, '');
      refreshDetailsStats();
      if (state.hovered) hoverInfo(state.hovered);
    }
  } catch (e) {
    graphInfo(state.graph, `graph: ${errMessage(e)}`);
  } finally {
    state.graphInFlight = false;
    if (state.graphAgain) {
      state.graphAgain = false;
      pollGraph();
    } else {
      state.graphTimer = setTimeout(pollGraph, GRAPH_EVERY_MS);
    }
  }
}

function graphInfo(g, error) {
  const nodes = (g.nodes || []).length;
  const edges = (g.edges || []).length;
  const folded = g.folded || {};
  let text = `${nodes} nodes, ${edges} edges in the last ${GRAPH_WINDOW}`;
  if (state.graphNamespace) text += ` · namespace ${state.graphNamespace}`;
  if (folded.nodes || folded.edges) text += ` · ${folded.nodes || 0} nodes, ${folded.edges || 0} edges folded into "other"`;
  $('graph-info').textContent = text;
  $('graph-error').textContent = error;
  $('graph-error').hidden = !error;
  $('graph-empty').hidden = nodes > 0 || Boolean(error);
}

function hoverInfo(ele) {
  const el = $('graph-hover');
  state.hovered = ele;
  if (!ele || ele.removed()) {
    el.hidden = true;
    return;
  }
  const d = ele.data();
  if (ele.isNode()) {
    el.textContent = `${d.label} · ${d.kind} · ${d.flows || 0} flows, ${d.active || 0} active`;
  } else {
    const s = ele.source().data('label');
    const t = ele.target().data('label');
    el.textContent = `${s} → ${t} · ${d.flows || 0} flows · ${fmtBytes(Number(d.bytes_sent || 0) + Number(d.bytes_received || 0))}` +
      (d.drops_total ? ` · ${d.drops_total} drops` : '');
  }
  el.hidden = false;
}

function buildLegend() {
  const box = $('legend');
  const parts = [];
  for (const [kind, s] of Object.entries(NODE_KINDS)) {
    parts.push(`<span class="lg"><i class="sw" style="background:${s.color}"></i>${kind}</span>`);
  }
  parts.push(`<span class="lg"><i class="ln" style="background:${EDGE_COLORS.normal}"></i>no drops</span>`);
  parts.push(`<span class="lg"><i class="ln" style="background:${EDGE_COLORS.some}"></i>some drops</span>`);
  parts.push(`<span class="lg"><i class="ln" style="background:${EDGE_COLORS.most}"></i>mostly drops</span>`);
  box.innerHTML = parts.join('');
}

// ---- details panel --------------------------------------------------------------------------

function statRows(pairs) {
  const dl = $('details-stats');
  dl.replaceChildren();
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

function refreshDetailsStats() {
  const sel = state.selected;
  if (!sel || !map) return;
  const ele = map.cy.getElementById(sel.id);
  const gone = ele.empty();
  $('details-gone').hidden = !gone;
  if (gone) return;
  const d = ele.data();
  if (sel.kind === 'node') {
    $('details-title').textContent = d.label;
    statRows([
      ['id', d.id],
      ['kind', d.kind],
      ['namespace', d.namespace],
      ['flows', d.flows],
      ['active', d.active],
    ]);
  } else {
    $('details-title').textContent = `${ele.source().data('label')} → ${ele.target().data('label')}`;
    const drops = d.drops && Object.keys(d.drops).length
      ? Object.entries(d.drops).map(([r, n]) => `${r} ${n}`).join(', ')
      : '';
    const rtt = d.rtt_us && (d.rtt_us.p50 || d.rtt_us.p95 || d.rtt_us.p99)
      ? `p50 ${d.rtt_us.p50 || 0} µs · p95 ${d.rtt_us.p95 || 0} µs · p99 ${d.rtt_us.p99 || 0} µs`
      : '';
    statRows([
      ['id', d.id],
      ['flows', `${d.flows || 0} (${d.active || 0} active)`],
      ['sent', `${fmtBytes(d.bytes_sent)} in ${d.packets_sent || 0} packets`],
      ['received', `${fmtBytes(d.bytes_received)} in ${d.packets_received || 0} packets`],
      ['drops', d.drops_total ? `${d.drops_total}${drops ? ` (${drops})` : ''}` : '0'],
      ['resets', d.resets],
      ['RTT', rtt],
      ['first seen', d.first_seen ? fmtTime(d.first_seen) : ''],
      ['last seen', d.last_seen ? fmtTime(d.last_seen) : ''],
    ]);
  }
}

async function loadDetailsFlows() {
  const sel = state.selected;
  if (!sel) return;
  const seq = ++state.detailsSeq;
  const tbody = $('details-flows');
  $('details-status').textContent = 'loading flows…';
  const url = `api/v1/flows?last=${DETAILS_LAST}&${sel.kind}=${encodeURIComponent(sel.id)}`;
  try {
    const res = await fetchWithTimeout(url, 8000);
    if (!res.ok) throw new Error(await errorText(res));
    const text = await res.text();
    if (seq !== state.detailsSeq) return;
    const latest = new Map();
    for (const msg of parseNdjson(text)) {
      if (!msg.flow) continue;
      const key = flowKey(msg.flow);
      latest.delete(key);
      latest.set(key, msg);
    }
    const frag = document.createDocumentFragment();
    for (const [key, msg] of [...latest.entries()].reverse()) frag.appendChild(flowRow(msg, key));
    tbody.replaceChildren(frag);
    const n = latest.size;
    $('details-status').textContent = n
      ? `${n} flow${n === 1 ? '' : 's'} (the latest ${DETAILS_LAST} at most), newest first`
      : 'no flows stored for it';
  } catch (e) {
    if (seq !== state.detailsSeq) return;
    $('details-status').textContent = `could not load flows: ${errMessage(e)}`;
  }
}

function select(ele) {
  state.selected = { kind: ele.isNode() ? 'node' : 'edge', id: ele.id() };
  $('details').classList.add('has-selection');
  $('details-kind').textContent = state.selected.kind === 'node' ? `${ele.data('kind')} node` : 'edge';
  $('details-flows').replaceChildren();
  refreshDetailsStats();
  loadDetailsFlows();
}

function closeDetails() {
  state.selected = null;
  state.detailsSeq += 1;
  $('details').classList.remove('has-selection');
  $('details-title').textContent = 'Details';
  $('details-kind').textContent = '';
  $('details-stats').replaceChildren();
  $('details-flows').replaceChildren();
  $('details-status').textContent = 'Click a node or an edge of the map to see its flows.';
  $('details-gone').hidden = true;
  if (map) map.cy.elements().unselect();
}

// ---- start ----------------------------------------------------------------------------------

function init() {
  fillHeader($('flows-head'));
  fillHeader($('details-head'));
  buildLegend();
  if (window.cytoscape) {
    map = new ServiceMap($('graph'), { onSelect: select, onHover: hoverInfo });
  } else {
    $('graph-error').textContent = 'the graph library (vendor/cytoscape.min.js) did not load';
    $('graph-error').hidden = false;
  }
  window.flowscope = {
    cy: map ? map.cy : null,
    flowsShown: () => $('flows').rows.length,
    graph: () => state.graph,
    // for tests and debugging
    streamUrl: () => (state.es ? state.es.url : ''),
    streamOpen: () => Boolean(state.es && state.es.readyState === EventSource.OPEN),
    received: () => state.received,
    paused: () => state.paused,
  };
  $('pause').addEventListener('click', togglePause);
  $('details-refresh').addEventListener('click', loadDetailsFlows);
  $('details-close').addEventListener('click', closeDetails);
  initFilters();
  closeDetails();
  state.graphNamespace = $('f-namespace').value.trim();
  state.query = readFilters();
  updateTableInfo();
  restartStream();
  pollGraph();
  pollStatus();
  setInterval(tickCounters, 1000);
  tickCounters();
}

init();
