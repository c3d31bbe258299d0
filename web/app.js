// Flowscope dashboard: live flow table (Server-Sent Events from /api/v1/flows?follow=1),
// service map (polls /api/v1/graph with the table's filters), flow details, namespace picker,
// noise toggles and counters (stream + /api/v1/status); served by a relay (/api/v1/nodes
// answers), also the node picker, the node column and the nodes' health (nodes.js).
// All API paths are relative, so the page also works behind a path prefix.

import { MAX_ROWS, flowKey, flowRow, fillHeader, nodeOf, parseNdjson, fmtBytes, fmtCount, fmtTime } from './flows.js';
import {
  Cluster,
  NODES_EVERY_MS,
  NODES_RECHECK_MS,
  nodeOfPattern,
  nodePattern,
  renderHealth,
  renderNodeMenu,
} from './nodes.js';
import { ServiceMap, NODE_KINDS, EDGE_COLORS } from './graph.js';
import { renderFlowDetails } from './details.js';
import {
  KEYS,
  TOGGLES,
  buildQuery,
  chipParam,
  chipsFromQuery,
  chipsToQuery,
  learn,
  loadToggles,
  newCaps,
  parseTyped,
  sameChip,
  saveToggles,
  unknownOf,
} from './filters.js';

const GRAPH_WINDOW = '5m';
const GRAPH_EVERY_MS = 2000;
const STATUS_EVERY_MS = 2000;
const NAMESPACES_EVERY_MS = 15000;
const RENDER_EVERY_MS = 250; // at most this often; longer when rendering is costly
const RENDER_MAX_ROWS = 150; // rows put in per render when flows come faster than one can read
const BACKFILL = 100; // flows shown right away when the stream (re)starts
const DETAILS_LAST = 200;
const RETRY_MS = 3000;
const RATE_WINDOW_S = 3;

const $ = (id) => document.getElementById(id);

const state = {
  chips: [], // the user's filters: { key, value, neg }
  toggles: loadToggles(), // noise toggle id -> on
  caps: { flows: newCaps(), graph: newCaps() }, // what each endpoint takes (learnt from 400s)
  perFlow: false, // one row per connection instead of per event
  perFlowOk: true, // the server takes per_flow
  flowsQuery: null, // the filter part of the table's requests
  flowsClient: [], // toggles the page applies to the table itself
  graphQuery: '',
  graphClient: [], // toggles the map could not apply
  gen: 0, // bumped at every stream restart: late answers of older ones are ignored
  es: null,
  retryTimer: 0,
  paused: false,
  pending: new Map(), // row key -> latest GetFlowsResponse (or its text) not rendered yet
  rows: new Map(), // row key -> <tr> in the table
  msgs: new Map(), // row key -> the GetFlowsResponse of a rendered row (for its details)
  renderScheduled: false,
  renderAll: false,
  lastRender: 0,
  renderEvery: RENDER_EVERY_MS,
  received: 0,
  rateMarks: [],
  drops: 0,
  streamLost: 0,
  status: null,
  statusError: '',
  graph: { nodes: [], edges: [] },
  graphUrl: '',
  graphInFlight: false,
  graphAgain: false,
  graphTimer: 0,
  graphSeq: 0,
  namespaces: [],
  selected: null, // { kind: 'node'|'edge', id }
  flowShown: null, // { key, msg } in the details panel
  hovered: null,
  detailsSeq: 0,
  cluster: new Cluster(), // the relay's nodes (cluster.relay: served by a relay)
  nodesTimer: 0,
  perf: { renders: 0, rows: 0, lastCost: 0, maxCost: 0 }, // the table's rendering, for tests
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

function withQuery(base, ...parts) {
  const q = parts.filter(Boolean).join('&');
  if (!q) return base;
  return base.includes('?') ? `${base}&${q}` : `${base}?${q}`;
}

// Client-side toggles hide a flow the server could not exclude.
function hiddenByPage(flow, toggles) {
  return toggles.some((t) => t.match(flow));
}

// ---- filters --------------------------------------------------------------------------------

function setFilterError(msg) {
  const el = $('filter-error');
  el.textContent = msg || '';
  el.hidden = !msg;
  $('filters').classList.toggle('invalid', Boolean(msg));
}

function addChip(chip) {
  const c = { key: chip.key, value: String(chip.value), neg: Boolean(chip.neg) };
  if (state.chips.some((x) => sameChip(x, c))) return;
  // The same value the other way round is replaced, not contradicted.
  state.chips = state.chips.filter((x) => !(x.key === c.key && x.value === c.value));
  state.chips.push(c);
  applyFilters();
}

function removeChip(i) {
  state.chips.splice(i, 1);
  applyFilters();
}

// The positive chips of key replaced by value ('' : none); for the pickers.
function setSingle(key, value) {
  state.chips = state.chips.filter((c) => c.key !== key || c.neg);
  if (value) state.chips.push({ key, value, neg: false });
  applyFilters();
}

function renderChips() {
  const box = $('chips');
  box.replaceChildren();
  state.chips.forEach((c, i) => {
    const chip = document.createElement('span');
    chip.className = `chip${c.neg ? ' neg' : ''}`;
    chip.dataset.key = c.key;
    chip.dataset.value = c.value;
    chip.dataset.neg = String(c.neg);
    chip.title = `${chipParam(c)}=${c.value}`;
    const k = document.createElement('span');
    k.className = 'ck';
    k.textContent = c.key;
    const op = document.createElement('span');
    op.className = 'op';
    op.textContent = c.neg ? '≠' : '=';
    const v = document.createElement('span');
    v.className = 'cv';
    v.textContent = c.value;
    const x = document.createElement('button');
    x.type = 'button';
    x.className = 'cx';
    x.textContent = '×';
    x.title = 'Remove this filter';
    x.setAttribute('aria-label', `remove ${chipParam(c)}=${c.value}`);
    x.addEventListener('click', () => removeChip(i));
    chip.append(k, op, v, x);
    box.appendChild(chip);
  });
  renderNodePicker();
  $('chips-empty').hidden = state.chips.length > 0;
  $('f-clear').hidden = state.chips.length === 0;
  // The pickers show their key's single positive chip.
  for (const [id, key] of [['f-namespace', 'namespace'], ['f-protocol', 'protocol'], ['f-verdict', 'verdict']]) {
    const sel = $(id);
    const mine = state.chips.filter((c) => c.key === key && !c.neg);
    const v = mine.length === 1 ? mine[0].value : '';
    if (v && ![...sel.options].some((o) => o.value === v)) {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v;
      sel.appendChild(o);
    }
    sel.value = v;
  }
}

function renderToggles() {
  for (const t of TOGGLES) {
    const box = $(`t-${t.id}`);
    box.checked = Boolean(state.toggles[t.id]);
    const label = box.closest('label');
    const local = state.flowsClient.includes(t);
    const notOnMap = state.graphClient.includes(t);
    label.classList.toggle('on', box.checked);
    label.classList.toggle('degraded', box.checked && (local || notOnMap));
    let title = t.title;
    if (box.checked && local) title += '\nflowd could not exclude these: the page hides them from the table';
    if (box.checked && notOnMap) title += '\nflowd could not exclude these from the map';
    label.title = title;
  }
  const notes = [];
  const local = state.flowsClient.map((t) => t.label);
  const notOnMap = state.graphClient.map((t) => t.label);
  if (local.length) notes.push(`${local.join(', ')}: hidden by the page (this flowd cannot exclude them)`);
  if (notOnMap.length) notes.push(`${notOnMap.join(', ')}: still on the map`);
  if (!state.caps.flows.deny && state.chips.filter((c) => c.neg).length > 1) {
    notes.push('exclusions combine into one (this flowd hides flows that match all of them)');
  }
  $('filter-note').textContent = notes.join(' · ');
  $('filter-note').hidden = notes.length === 0;
}

// Recomputes both queries from the chips and toggles; restarts the table and the map when
// theirs changed.
function applyFilters(force = false) {
  const flows = buildQuery(state.chips, state.toggles, state.caps.flows);
  const graph = buildQuery(state.chips, state.toggles, state.caps.graph);
  const flowsChanged =
    force || flows.query !== state.flowsQuery || flows.clientSide.map((t) => t.id).join() !== state.flowsClient.map((t) => t.id).join();
  state.flowsClient = flows.clientSide;
  state.graphClient = graph.clientSide;
  const own = chipsToQuery(state.chips);
  history.replaceState(null, '', own ? `?${own}` : location.pathname);
  renderChips();
  renderToggles();
  if (graph.query !== state.graphQuery || force) {
    state.graphQuery = graph.query;
    pollGraphNow();
  }
  if (flowsChanged) {
    state.flowsQuery = flows.query;
    setFilterError('');
    clearTable();
    restartStream();
    if (state.selected) loadDetailsFlows();
  }
}

function initFilters() {
  state.chips = chipsFromQuery(location.search);
  const dl = $('filter-keys');
  for (const k of KEYS) {
    const o = document.createElement('option');
    o.value = `${k}=`;
    dl.appendChild(o);
  }
  $('filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('f-add');
    const r = parseTyped(input.value);
    if (r.error) {
      setFilterError(r.error);
      return;
    }
    input.value = '';
    setFilterError('');
    addChip(r.chip);
  });
  $('f-namespace').addEventListener('change', (ev) => setSingle('namespace', ev.target.value));
  $('f-protocol').addEventListener('change', (ev) => setSingle('protocol', ev.target.value));
  $('f-verdict').addEventListener('change', (ev) => setSingle('verdict', ev.target.value));
  $('f-clear').addEventListener('click', () => {
    state.chips = [];
    applyFilters();
  });
  const box = $('toggles');
  for (const t of TOGGLES) {
    const label = document.createElement('label');
    label.className = 'toggle';
    label.dataset.toggle = t.id;
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.id = `t-${t.id}`;
    input.dataset.testid = `t-${t.id}`;
    input.addEventListener('change', () => {
      state.toggles[t.id] = input.checked;
      saveToggles(state.toggles);
      applyFilters();
    });
    const text = document.createElement('span');
    text.textContent = t.label;
    label.append(input, text);
    box.appendChild(label);
  }
  for (const [id, per] of [['view-events', false], ['view-flows', true]]) {
    $(id).addEventListener('click', () => {
      if (state.perFlow === per) return;
      state.perFlow = per;
      $('view-events').classList.toggle('on', !per);
      $('view-flows').classList.toggle('on', per);
      $('view-events').setAttribute('aria-pressed', String(!per));
      $('view-flows').setAttribute('aria-pressed', String(per));
      $('table-title').textContent = per ? 'Connections' : 'Flow events';
      applyFilters(true);
    });
  }
}

// A 400 from an endpoint: either it does not know something the page can do without (learn
// it and ask again), or the user's filters are wrong (say so).
function onRefused(endpoint, msg) {
  if (endpoint === 'flows' && unknownOf(msg) === 'per_flow' && state.perFlowOk) {
    state.perFlowOk = false;
    state.perFlow = false;
    $('view-flows').disabled = true;
    $('view-flows').title = 'this flowd has no per-connection view (per_flow)';
    $('view-events').classList.add('on');
    $('view-flows').classList.remove('on');
    applyFilters(true);
    return true;
  }
  if (learn(state.caps[endpoint], msg, state.chips)) {
    applyFilters(true);
    return true;
  }
  return false;
}

// ---- the live stream ------------------------------------------------------------------------

function setStreamState(text, cls) {
  const el = $('stream-state');
  el.textContent = text;
  el.className = `stream-state ${cls || ''}`;
}

function scheduleRetry() {
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(restartStream, RETRY_MS);
}

function perFlowParam() {
  return state.perFlow ? 'per_flow=true' : '';
}

// (Re)starts the stream for the filters in force: first the latest BACKFILL matching flows
// (a plain NDJSON request, which also tells a bad filter by its 400 answer), then the
// NDJSON stream of what comes next.
async function restartStream() {
  const gen = ++state.gen;
  clearTimeout(state.retryTimer);
  if (state.es) {
    state.es.close();
    state.es = null;
  }
  const q = state.flowsQuery || '';
  setStreamState('connecting…', 'connecting');
  try {
    const res = await fetchWithTimeout(withQuery(`api/v1/flows?last=${BACKFILL}`, perFlowParam(), q), 8000);
    if (gen !== state.gen) return;
    if (!res.ok) {
      const msg = await errorText(res);
      if (gen !== state.gen) return;
      if (res.status === 400) {
        if (onRefused('flows', msg)) return;
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
    for (const msg of parseNdjson(text)) if (msg.flow) queueFlow(msg);
    openStream(gen, q);
  } catch (e) {
    if (gen !== state.gen) return;
    setStreamState(`error: ${errMessage(e)}`, 'error');
    scheduleRetry();
  }
}

// Stream events are handled without parsing them: at thousands per second JSON.parse and its
// garbage would take the page's main thread. The counters read the verdict and the table
// keys rows by uuid (events) or flow_id (connections) straight from the text; only the rows
// that get rendered are parsed.
const RE_DROPPED = /"verdict":\s*"DROPPED"/;
const RE_FLOW_ID = /"flow_id":\s*"?(\d+)/;
const RE_UUID = /"uuid":\s*"([0-9a-fA-F-]+)"/;

// The live stream is read as NDJSON with fetch: one task per network chunk, however many
// events it holds (an EventSource would dispatch one task per event, which at thousands a
// second costs the page more than rendering them).
function openStream(gen, q) {
  const url = withQuery('api/v1/flows?follow=1', perFlowParam(), q);
  const ctl = new AbortController();
  const es = { url, open: false, close: () => ctl.abort() };
  state.es = es;
  const mine = () => state.es === es && state.gen === gen;
  const lost = (why) => {
    if (!mine()) return;
    state.es = null;
    setStreamState(why, 'error');
    scheduleRetry();
  };
  (async () => {
    const res = await fetch(url, { signal: ctl.signal, headers: { accept: 'application/x-ndjson' } });
    if (!mine()) return;
    if (!res.ok || !res.body) {
      lost(`stream refused: HTTP ${res.status}, retrying`);
      return;
    }
    es.open = true;
    setStreamState('live', 'live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (!mine()) return;
      if (done) break;
      const lines = (rest + value).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        if (line) onFlowText(line); // a line without a key is not a flow: onOtherText
      }
    }
    lost('stream closed, retrying');
  })().catch((e) => {
    if (e && e.name === 'AbortError') return;
    lost(`stream lost: ${errMessage(e)}, retrying`);
  });
}

function textKey(data) {
  if (state.perFlow) {
    const id = RE_FLOW_ID.exec(data);
    return id ? `f${id[1]}` : null;
  }
  const u = RE_UUID.exec(data);
  if (u) return u[1];
  return null;
}

function onFlowText(data) {
  const key = textKey(data);
  if (!key) {
    onOtherText(data);
    return;
  }
  state.received += 1;
  if (RE_DROPPED.test(data)) state.drops += 1;
  queue(key, data);
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
  queue(flowKey(msg.flow, state.perFlow), msg);
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

function dropRow(key) {
  const tr = state.rows.get(key);
  if (tr) tr.remove();
  state.rows.delete(key);
  state.msgs.delete(key);
}

// Puts the waiting flows at the top of the table (a connection already there moves up), then
// trims it to MAX_ROWS. The frame's cost (script, style, layout, paint: up to the next frame)
// sets the pause before the next render, so rendering takes at most about a fifth of the time.
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
  const hide = state.flowsClient;
  for (const [key, item] of items) {
    let msg = item;
    if (typeof item === 'string') {
      try {
        msg = JSON.parse(item);
      } catch {
        continue;
      }
    }
    if (!msg.flow || (hide.length && hiddenByPage(msg.flow, hide))) continue;
    dropRow(key);
    const tr = flowRow(msg, key);
    if (state.flowShown && state.flowShown.key === key) tr.classList.add('selected');
    state.rows.set(key, tr);
    state.msgs.set(key, msg);
    frag.appendChild(tr);
  }
  const added = frag.childElementCount;
  tbody.prepend(frag);
  while (tbody.rows.length > MAX_ROWS) dropRow(tbody.lastElementChild.dataset.flowId);
  updateTableInfo();
  state.perf.renders += 1;
  state.perf.rows += added;
  requestAnimationFrame(() => {
    const cost = performance.now() - start;
    state.renderEvery = Math.min(1000, Math.max(RENDER_EVERY_MS, 5 * cost));
    state.perf.lastCost = cost;
    state.perf.maxCost = Math.max(state.perf.maxCost, cost);
  });
}

function clearTable() {
  state.pending.clear();
  state.rows.clear();
  state.msgs.clear();
  $('flows').replaceChildren();
  updateTableInfo();
}

function updateTableInfo() {
  const n = $('flows').rows.length;
  $('table-empty').hidden = n > 0;
  const what = state.perFlow ? 'connection' : 'event';
  let text = `${n} ${what}${n === 1 ? '' : 's'} shown (newest first, at most ${MAX_ROWS}) · click a row for its details`;
  if (state.paused) text += ` · paused, ${state.pending.size} waiting`;
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
  $('c-drops-sub').textContent = st && st.drop_records !== undefined && !state.cluster.relay
    ? `${fmtCount(st.drop_records)} drop records in flowd`
    : 'on the stream';
  $('c-drops').title = `${state.drops} DROPPED flow events on the stream since the page opened` +
    (st && st.drop_records !== undefined ? `; flowd has read ${st.drop_records} drop records` : '');

  const kernelLost = st ? Number(st.lost_records || 0) : 0;
  if (state.cluster.relay) {
    const nodesLost = state.cluster.summary().lost;
    $('c-lost').textContent = fmtCount(kernelLost + nodesLost + state.streamLost);
    $('c-lost-sub').textContent = `nodes → relay ${fmtCount(nodesLost)} · stream ${fmtCount(state.streamLost)}`;
    $('c-lost').title = `${nodesLost} flow events lost between the nodes and the relay, ` +
      `${kernelLost} records lost by the relay itself, ${state.streamLost} flow events the stream could not deliver`;
  } else {
    $('c-lost').textContent = fmtCount(kernelLost + state.streamLost);
    $('c-lost-sub').textContent = `kernel ${fmtCount(kernelLost)} · stream ${fmtCount(state.streamLost)}`;
    $('c-lost').title = `${kernelLost} records lost between the kernel and flowd, ` +
      `${state.streamLost} flow events the stream could not deliver`;
  }

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
  if (state.cluster.relay) renderNodes();
  else if (state.status && state.status.node_name) $('node-name').textContent = state.status.node_name;
  setTimeout(pollStatus, STATUS_EVERY_MS);
}

// ---- the cluster's nodes (a relay) ---------------------------------------------------------

// The node names the node_name chips choose (positive chips: alternatives).
function chosenNodes() {
  return new Set(state.chips.filter((c) => c.key === 'node_name' && !c.neg).map((c) => nodeOfPattern(c.value)));
}

function setNodes(names) {
  state.chips = state.chips.filter((c) => c.key !== 'node_name' || c.neg);
  for (const n of names) state.chips.push({ key: 'node_name', value: nodePattern(n), neg: false });
  applyFilters();
}

function toggleNode(name, on) {
  const cur = chosenNodes();
  if (on) cur.add(name);
  else cur.delete(name);
  setNodes([...cur]);
}

function renderNodePicker() {
  const chosen = chosenNodes();
  const b = $('f-node');
  const list = [...chosen];
  b.textContent = list.length === 0 ? 'all' : list.length === 1 ? list[0] : `${list.length} nodes`;
  b.title = list.length ? `Showing ${list.join(', ')}` : 'Showing every node of the cluster';
  b.classList.toggle('chosen', list.length > 0);
  if (!$('node-menu').hidden) drawNodeMenu();
}

function drawNodeMenu() {
  renderNodeMenu($('node-menu'), state.cluster, chosenNodes(), Date.now(), {
    onToggle: toggleNode,
    onOnly: (name) => {
      setNodes([name]);
      openNodeMenu(false);
    },
    onAll: () => {
      setNodes([]);
      openNodeMenu(false);
    },
  });
}

function openNodeMenu(open) {
  $('node-menu').hidden = !open;
  $('f-node').setAttribute('aria-expanded', String(open));
  if (open) drawNodeMenu();
}

function setClusterMode(on) {
  document.body.classList.toggle('cluster', on);
  $('node-pick').hidden = !on;
  $('nodes-health').hidden = !on;
  if (!on) $('node-alerts').hidden = true;
}

function renderNodes() {
  const c = state.cluster;
  if (!c.relay) return;
  renderHealth(c, Date.now(), { value: $('c-nodes'), sub: $('c-nodes-sub'), box: $('nodes-health'), alerts: $('node-alerts') });
  if (!$('node-menu').hidden) drawNodeMenu();
  const st = state.status;
  const s = c.summary();
  $('node-name').textContent = `relay${st && st.node_name ? ` ${st.node_name}` : ''} · ${s.total} node${s.total === 1 ? '' : 's'}`;
  $('node-name').title = 'served by a relay: the flows of every node of the cluster';
}

// GET api/v1/nodes: 200 from a relay (every 2 s), 404 from a flowd (asked again now and then).
async function pollNodes() {
  const c = state.cluster;
  let next = NODES_EVERY_MS;
  try {
    const res = await fetchWithTimeout('api/v1/nodes', 5000);
    if (res.status === 404) {
      c.relay = false;
      next = NODES_RECHECK_MS;
      setClusterMode(false);
    } else if (!res.ok) {
      throw new Error(await errorText(res));
    } else {
      const j = await res.json();
      const first = !c.relay;
      c.relay = true;
      c.apply(j && j.nodes, Date.now());
      if (first) setClusterMode(true);
    }
  } catch (e) {
    if (c.relay) c.error = errMessage(e);
    else next = c.relay === false ? NODES_RECHECK_MS : NODES_EVERY_MS;
  }
  renderNodes();
  clearTimeout(state.nodesTimer);
  state.nodesTimer = setTimeout(pollNodes, next);
}

// ---- namespaces -----------------------------------------------------------------------------

async function pollNamespaces() {
  try {
    const res = await fetchWithTimeout('api/v1/namespaces', 5000);
    if (res.ok) {
      const j = await res.json();
      const list = Array.isArray(j.namespaces) ? j.namespaces.map(String) : [];
      if (list.join('\n') !== state.namespaces.join('\n')) {
        state.namespaces = list;
        const sel = $('f-namespace');
        const keep = sel.value;
        sel.replaceChildren();
        const all = document.createElement('option');
        all.value = '';
        all.textContent = 'all';
        sel.appendChild(all);
        for (const ns of list) {
          const o = document.createElement('option');
          o.value = ns;
          o.textContent = ns;
          sel.appendChild(o);
        }
        sel.value = keep;
        renderChips(); // a chosen namespace no longer listed stays an option
      }
    }
  } catch {
    // the picker keeps what it has
  }
  setTimeout(pollNamespaces, NAMESPACES_EVERY_MS);
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
  const q = state.graphQuery;
  const url = withQuery(`api/v1/graph?window=${GRAPH_WINDOW}`, q);
  const seq = ++state.graphSeq;
  try {
    const res = await fetchWithTimeout(url, 8000);
    if (!res.ok) {
      const msg = await errorText(res);
      if (res.status === 400 && onRefused('graph', msg)) return;
      throw new Error(msg);
    }
    const g = await res.json();
    if (q === state.graphQuery && seq === state.graphSeq) {
      state.graph = g;
      state.graphUrl = url;
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
      clearTimeout(state.graphTimer);
      state.graphTimer = setTimeout(pollGraph, GRAPH_EVERY_MS);
    }
  }
}

function graphInfo(g, error) {
  const nodes = (g.nodes || []).length;
  const edges = (g.edges || []).length;
  const folded = g.folded || {};
  let text = `${nodes} nodes, ${edges} edges in the last ${GRAPH_WINDOW}`;
  if (state.graphQuery) text += ' · filtered as the table';
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
  // Built from elements, not markup: the page's Content-Security-Policy allows no inline style.
  const box = $('legend');
  const item = (cls, color, text) => {
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    span.className = 'lg';
    swatch.className = cls;
    swatch.style.background = color;
    span.append(swatch, text);
    return span;
  };
  box.replaceChildren(
    ...Object.entries(NODE_KINDS).map(([kind, s]) => item('sw', s.color, kind)),
    item('ln', EDGE_COLORS.normal, 'no drops'),
    item('ln', EDGE_COLORS.some, 'some drops'),
    item('ln', EDGE_COLORS.most, 'mostly drops'),
  );
}

// ---- details panel --------------------------------------------------------------------------

function detailsMode(mode) {
  const d = $('details');
  d.dataset.mode = mode;
  d.classList.toggle('has-selection', mode !== 'none');
  $('flow-details').hidden = mode !== 'flow';
  $('details-refresh').hidden = mode === 'flow' || mode === 'none';
}

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
  if (!sel || !map || state.flowShown) return;
  const ele = map.cy.getElementById(sel.id);
  const gone = ele.empty();
  $('details-gone').hidden = !gone;
  if (gone) return;
  const d = ele.data();
  if (sel.kind === 'node') {
    $('details-title').textContent = d.label;
    statRows([['id', d.id], ['kind', d.kind], ['namespace', d.namespace], ['flows', d.flows], ['active', d.active]]);
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
      ['counted by', Array.isArray(d.nodes) && d.nodes.length
        ? d.nodes.map((x) => `${x.node} ${x.flows || 0} flows, ${fmtBytes(x.bytes)}`).join(' · ')
        : ''],
      ['first seen', d.first_seen ? fmtTime(d.first_seen) : ''],
      ['last seen', d.last_seen ? fmtTime(d.last_seen) : ''],
    ]);
  }
}

// The connections of the selected node or edge that pass the table's filters, newest first.
async function loadDetailsFlows() {
  const sel = state.selected;
  if (!sel || state.flowShown) return;
  const seq = ++state.detailsSeq;
  const tbody = $('details-flows');
  $('details-status').textContent = 'loading flows…';
  const base = `api/v1/flows?last=${DETAILS_LAST}&${sel.kind}=${encodeURIComponent(sel.id)}`;
  const url = withQuery(base, state.perFlowOk ? 'per_flow=true' : '', state.flowsQuery || '');
  const hide = state.flowsClient;
  try {
    const res = await fetchWithTimeout(url, 8000);
    if (!res.ok) throw new Error(await errorText(res));
    const text = await res.text();
    if (seq !== state.detailsSeq) return;
    const latest = new Map();
    for (const msg of parseNdjson(text)) {
      if (!msg.flow || (hide.length && hiddenByPage(msg.flow, hide))) continue;
      const key = flowKey(msg.flow, true);
      latest.delete(key);
      latest.set(key, msg);
    }
    const frag = document.createDocumentFragment();
    for (const [key, msg] of [...latest.entries()].reverse()) {
      const tr = flowRow(msg, key);
      tr.addEventListener('click', () => showFlow(key, msg));
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    renderObservedOn([...latest.values()]);
    const n = latest.size;
    $('details-status').textContent = n
      ? `${n} connection${n === 1 ? '' : 's'} (the latest ${DETAILS_LAST} at most) matching the filters, newest first`
      : 'no stored flows match';
  } catch (e) {
    if (seq !== state.detailsSeq) return;
    $('details-status').textContent = `could not load flows: ${errMessage(e)}`;
  }
}

// Which nodes the selected element's connections were observed on (a connection seen by the
// client's and the server's node is one row on each), from the connections just loaded; each
// node a button that filters by it. Only when a relay serves the page.
function renderObservedOn(msgs) {
  const box = $('details-nodes');
  box.replaceChildren();
  if (!state.cluster.relay || !state.selected) {
    box.hidden = true;
    return;
  }
  const counts = new Map();
  for (const m of msgs) {
    const n = nodeOf(m) || '?';
    counts.set(n, (counts.get(n) || 0) + 1);
  }
  const head = document.createElement('span');
  head.className = 'obs-head';
  head.textContent = counts.size ? 'Observed on' : 'Observed on no node (no stored connections)';
  box.appendChild(head);
  const total = msgs.length || 1;
  const chosen = chosenNodes();
  for (const [name, k] of [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `obs-node${chosen.has(name) ? ' on' : ''}`;
    b.dataset.node = name;
    b.dataset.count = String(k);
    b.title = `${k} of the ${msgs.length} connections listed below were observed on ${name}; click to show only ${name}`;
    const nm = document.createElement('span');
    nm.className = 'nm';
    nm.textContent = name;
    const bar = document.createElement('i');
    bar.className = 'bar';
    bar.style.width = `${Math.max(4, Math.round((48 * k) / total))}px`;
    const c = document.createElement('span');
    c.className = 'ct';
    c.textContent = String(k);
    b.append(nm, bar, c);
    b.addEventListener('click', () => setNodes([name]));
    box.appendChild(b);
  }
  box.hidden = false;
}

function select(ele) {
  state.flowShown = null;
  markSelectedRow(null);
  state.selected = { kind: ele.isNode() ? 'node' : 'edge', id: ele.id() };
  detailsMode(state.selected.kind);
  $('details-kind').textContent = state.selected.kind === 'node' ? `${ele.data('kind')} node` : 'edge';
  $('details-flows').replaceChildren();
  $('details-nodes').hidden = true;
  refreshDetailsStats();
  loadDetailsFlows();
}

function markSelectedRow(key) {
  for (const tr of $('flows').querySelectorAll('tr.selected')) tr.classList.remove('selected');
  if (key && state.rows.get(key)) state.rows.get(key).classList.add('selected');
}

// The details of one flow event (or connection state): every field, values as filters.
function showFlow(key, msg) {
  state.flowShown = { key, msg };
  state.detailsSeq += 1;
  detailsMode('flow');
  $('details-gone').hidden = true;
  $('details-stats').replaceChildren();
  $('details-status').textContent = '';
  $('details-title').textContent = state.perFlow ? 'Connection' : 'Flow event';
  const f = msg.flow || {};
  $('details-kind').textContent = [f.flow_event ? f.flow_event.replace(/^FLOW_EVENT_/, '') : '', f.uuid || ''].filter(Boolean).join(' · ');
  renderFlowDetails($('flow-details'), msg, addChip);
  markSelectedRow(key);
  if (map) map.cy.elements().unselect();
}

function closeDetails() {
  state.selected = null;
  state.flowShown = null;
  state.detailsSeq += 1;
  detailsMode('none');
  $('details-title').textContent = 'Details';
  $('details-kind').textContent = '';
  $('details-stats').replaceChildren();
  $('details-flows').replaceChildren();
  $('details-nodes').hidden = true;
  $('flow-details').replaceChildren();
  $('details-status').textContent = 'Click a flow in the table for all its fields, or a node or an edge of the map for its flows.';
  $('details-gone').hidden = true;
  markSelectedRow(null);
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
    map,
    cy: map ? map.cy : null,
    flowsShown: () => $('flows').rows.length,
    graph: () => state.graph,
    // for tests and debugging
    graphUrl: () => state.graphUrl,
    streamUrl: () => (state.es ? state.es.url : ''),
    streamOpen: () => Boolean(state.es && state.es.open),
    received: () => state.received,
    paused: () => state.paused,
    chips: () => state.chips.map((c) => ({ ...c })),
    toggles: () => ({ ...state.toggles }),
    pageHidden: () => state.flowsClient.map((t) => t.id),
    notOnMap: () => state.graphClient.map((t) => t.id),
    namespaces: () => [...state.namespaces],
    flowShown: () => (state.flowShown ? state.flowShown.msg : null),
    positions: () => (map ? map.snapshot() : {}),
    layoutRuns: () => (map ? map.layoutRuns : 0),
    relay: () => state.cluster.relay,
    nodes: () => state.cluster.list().map((n) => ({ ...n })),
    nodeSummary: () => {
      const s = state.cluster.summary();
      return { ...s, unavailable: s.unavailable.map((n) => n.name), gone: s.gone.map((n) => n.name) };
    },
    chosenNodes: () => [...chosenNodes()],
    perf: () => ({ ...state.perf }),
  };
  $('pause').addEventListener('click', togglePause);
  $('details-refresh').addEventListener('click', loadDetailsFlows);
  $('details-close').addEventListener('click', closeDetails);
  $('map-fit').addEventListener('click', () => map && map.fit());
  // The pointer can leave the map without leaving the element under it (cytoscape then sends no
  // mouseout): the hover line goes with the pointer.
  $('graph').addEventListener('mouseleave', () => {
    if (map) map.cy.edges('.hover').removeClass('hover');
    hoverInfo(null);
  });
  $('map-relayout').addEventListener('click', () => map && map.relayout());
  $('flows').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-flow-id]');
    if (!tr) return;
    const msg = state.msgs.get(tr.dataset.flowId);
    if (msg) showFlow(tr.dataset.flowId, msg);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('node-menu').hidden) openNodeMenu(false);
    else if (ev.key === 'Escape' && !ev.target.closest('input, select')) closeDetails();
  });
  $('f-node').addEventListener('click', (ev) => {
    ev.stopPropagation();
    openNodeMenu($('node-menu').hidden);
  });
  document.addEventListener('click', (ev) => {
    if (!$('node-menu').hidden && !ev.target.closest('#node-pick')) openNodeMenu(false);
  });
  initFilters();
  closeDetails();
  updateTableInfo();
  applyFilters(true);
  pollStatus();
  pollNodes();
  pollNamespaces();
  setInterval(tickCounters, 1000);
  tickCounters();
}

init();
