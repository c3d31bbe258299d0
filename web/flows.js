// Flow formatting shared by the live flow table, the node/edge details and the flow details.
// A flow is Hubble's flow JSON (canonical protobuf JSON: fields with default values are left
// out, 64-bit numbers are strings), as found in a GetFlowsResponse's "flow".

export const MAX_ROWS = 500;

// The node column is only shown by a relay (body.cluster): a flowd has one node.
export const COLUMNS = [
  ['time', 'Time'],
  ['node', 'Node'],
  ['src', 'Source'],
  ['dst', 'Destination'],
  ['type', 'Type'],
  ['verdict', 'Verdict'],
  ['flags', 'Protocol · flags'],
  ['iface', 'Interface'],
  ['process', 'Process'],
  ['summary', 'Summary'],
  ['bytes', 'Bytes sent / recv'],
];

const TCP_FLAGS = ['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR', 'NS'];

// Cilium's trace observation points (the sub type of a trace event) as Hubble's TYPE prints them.
const TRACE_POINTS = {
  0: 'to-endpoint', 1: 'to-proxy', 2: 'to-host', 3: 'to-stack', 4: 'to-overlay',
  5: 'from-endpoint', 6: 'from-proxy', 7: 'from-host', 8: 'from-stack', 9: 'from-overlay',
  10: 'from-network', 11: 'to-network', 12: 'from-crypto', 13: 'to-crypto', 101: 'to-endpoint',
};

let anonymous = 0;

// The key of a row: each flow event has its own uuid; in the per-connection view every state
// of one connection carries the same flow_id.
export function flowKey(flow, perFlow) {
  if (perFlow && flow.flow_id !== undefined && flow.flow_id !== '') return `f${flow.flow_id}`;
  if (flow.uuid) return flow.uuid;
  if (flow.flow_id !== undefined && flow.flow_id !== '') return `f${flow.flow_id}@${flow.time || ''}`;
  anonymous += 1;
  return `anon-${anonymous}`;
}

// Protocol, ports and flags of a flow's layer 4.
export function l4Info(flow) {
  const l4 = flow.l4 || {};
  for (const proto of ['TCP', 'UDP', 'SCTP']) {
    const p = l4[proto];
    if (p) {
      const flags = proto === 'TCP' && p.flags ? TCP_FLAGS.filter((f) => p.flags[f]) : [];
      return { proto, sport: Number(p.source_port || 0), dport: Number(p.destination_port || 0), flags, icmp: '' };
    }
  }
  for (const proto of ['ICMPv4', 'ICMPv6']) {
    const p = l4[proto];
    if (p) return { proto, sport: null, dport: null, flags: [], icmp: `type ${p.type || 0} code ${p.code || 0}` };
  }
  return { proto: '', sport: null, dport: null, flags: [], icmp: '' };
}

function endpointName(ep) {
  if (ep && ep.pod_name) return ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name;
  return '';
}

export function sourceLabel(flow) {
  return endpointName(flow.source) || (flow.source_names && flow.source_names[0]) || (flow.IP && flow.IP.source) || '';
}

export function destinationLabel(flow) {
  return endpointName(flow.destination) || (flow.destination_names && flow.destination_names[0]) || (flow.IP && flow.IP.destination) || '';
}

// The node a flow event was observed on (every flow a relay merges carries it).
export function nodeOf(resp) {
  const flow = resp.flow || resp;
  return flow.node_name || resp.node_name || '';
}

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

// RFC 3339 with up to nanoseconds -> local HH:MM:SS.mmm.
export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(String(ts).replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(d.getTime())) return String(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtBytes(v) {
  const n = Number(v || 0);
  if (!Number.isFinite(n)) return String(v);
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let x = n;
  let i = -1;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i += 1;
  }
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ${units[i]}`;
}

export function fmtCount(v) {
  const n = Number(v || 0);
  if (n < 10000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

export function eventName(flow) {
  return (flow.flow_event || '').replace(/^FLOW_EVENT_/, '');
}

// POLICY_DENIED -> "Policy denied", as Hubble's printer words drop reasons.
export function reasonText(r) {
  if (!r) return '';
  const s = String(r).toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// Hubble's TYPE column: the observation point of a trace event, the reason of a drop, the kind
// of an L7 record.
export function typeText(flow) {
  const et = flow.event_type || {};
  const type = Number(et.type || 0);
  if (type === 1 || (flow.verdict === 'DROPPED' && !flow.trace_observation_point)) {
    return { text: reasonText(flow.drop_reason_desc) || 'drop', kind: 'drop' };
  }
  if (type === 129 || flow.l7) {
    const l7 = flow.l7 || {};
    const what = l7.dns ? 'dns' : 'l7';
    const dir = l7.type ? `-${String(l7.type).toLowerCase()}` : '';
    return { text: `${what}${dir}`, kind: 'l7' };
  }
  if (flow.trace_observation_point) {
    return { text: String(flow.trace_observation_point).toLowerCase().replace(/_/g, '-'), kind: 'trace' };
  }
  if (type === 4) return { text: TRACE_POINTS[Number(et.sub_type || 0)] || `trace:${et.sub_type}`, kind: 'trace' };
  return { text: type ? String(type) : '', kind: '' };
}

function shortId(id) {
  return id ? String(id).slice(0, 12) : '';
}

export function processText(p) {
  if (!p || (!p.comm && !p.pid)) return '';
  return `${p.comm || '?'}[${p.pid || 0}]`;
}

function el(tag, cls, text, title) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  if (title) e.title = title;
  return e;
}

function td(tr, cls, title) {
  const c = el('td', cls, null, title);
  tr.appendChild(c);
  return c;
}

// A verdict badge; drops carry their reason.
export function verdictBadge(flow) {
  const verdict = flow.verdict || 'VERDICT_UNKNOWN';
  const box = el('span', 'verdict-cell');
  box.appendChild(el('span', `badge v-${verdict.toLowerCase()}`, verdict.replace(/^VERDICT_/, '')));
  if (verdict !== 'FORWARDED' && flow.drop_reason_desc) {
    box.appendChild(el('span', 'reason', reasonText(flow.drop_reason_desc)));
  }
  return box;
}

function processCell(c, p, arrow) {
  if (!p || (!p.comm && !p.pid)) return;
  if (arrow) c.appendChild(el('span', 'arrow', '→'));
  const span = el('span', 'proc');
  span.appendChild(el('span', 'comm', p.comm || '?'));
  span.appendChild(el('span', 'pid', `[${p.pid || 0}]`));
  if (p.container_id) span.appendChild(el('span', 'ctr', shortId(p.container_id), `container ${p.container_id}`));
  c.appendChild(span);
}

function endpointCell(tr, label, ip, port, names, ep) {
  const title = [ip && (port !== null ? `${ip}:${port}` : ip), names, ep && ep.identity ? `identity ${ep.identity}` : '']
    .filter(Boolean)
    .join(' · ');
  const c = td(tr, 'ep', title);
  c.appendChild(el('span', 'ep-name', label));
  if (port !== null && port !== undefined) c.appendChild(el('span', 'port', `:${port}`));
  return c;
}

// One table row for a GetFlowsResponse. Data attributes carry what tests and styles need.
export function flowRow(resp, key) {
  const flow = resp.flow || resp;
  const l4 = l4Info(flow);
  const verdict = flow.verdict || 'VERDICT_UNKNOWN';
  const ip = flow.IP || {};
  const sp = flow.source_process || {};
  const dp = flow.destination_process || {};
  const type = typeText(flow);
  const iface = flow.interface || {};
  const tr = document.createElement('tr');
  const ds = tr.dataset;
  ds.flowId = key;
  ds.uuid = flow.uuid || '';
  ds.connection = flow.flow_id || '';
  ds.verdict = verdict;
  ds.srcIp = ip.source || '';
  ds.dstIp = ip.destination || '';
  ds.srcPort = l4.sport === null ? '' : String(l4.sport);
  ds.dstPort = l4.dport === null ? '' : String(l4.dport);
  ds.protocol = l4.proto.toLowerCase();
  ds.srcNs = (flow.source && flow.source.namespace) || '';
  ds.dstNs = (flow.destination && flow.destination.namespace) || '';
  ds.srcComm = sp.comm || '';
  ds.dstComm = dp.comm || '';
  ds.srcContainer = sp.container_id || '';
  ds.dstContainer = dp.container_id || '';
  ds.iface = iface.name || (iface.index ? String(iface.index) : '');
  ds.type = type.text;
  ds.node = nodeOf(resp);
  if (verdict === 'DROPPED' || verdict === 'ERROR') tr.className = 'dropped';

  const t = flow.time || resp.time || '';
  td(tr, 'time', t).textContent = fmtTime(t);
  td(tr, 'node', ds.node).textContent = ds.node;
  endpointCell(tr, sourceLabel(flow), ip.source, l4.sport, (flow.source_names || []).join(', '), flow.source);
  endpointCell(tr, destinationLabel(flow), ip.destination, l4.dport, (flow.destination_names || []).join(', '), flow.destination);
  td(tr, `type t-${type.kind || 'none'}`, `${type.text}${flow.flow_event ? ` · ${eventName(flow)}` : ''}`).textContent = type.text;
  td(tr, 'verdict', flow.drop_reason_kernel ? `kernel: ${flow.drop_reason_kernel}` : '').appendChild(verdictBadge(flow));
  const fc = td(tr, 'flags', l4.flags.join(' '));
  fc.appendChild(el('span', 'proto', l4.proto || '–'));
  for (const f of l4.flags) fc.appendChild(el('span', `flag f-${f.toLowerCase()}`, f));
  if (l4.icmp) fc.appendChild(el('span', 'icmp', l4.icmp));
  const ifTitle = [iface.index ? `index ${iface.index}` : '', flow.traffic_direction ? flow.traffic_direction.toLowerCase() : '']
    .filter(Boolean)
    .join(' · ');
  td(tr, 'iface', ifTitle).textContent = iface.name || (iface.index ? `#${iface.index}` : '');
  const pc = td(tr, 'process', [processText(sp), processText(dp)].filter(Boolean).join(' → '));
  processCell(pc, sp, false);
  processCell(pc, dp, Boolean(processText(sp)));
  td(tr, 'summary', flow.Summary || '').textContent = flow.Summary || '';
  const sent = flow.bytes_sent || 0;
  const recv = flow.bytes_received || 0;
  td(tr, 'num bytes', `sent ${sent} B in ${flow.packets_sent || 0} packets, received ${recv} B in ${flow.packets_received || 0} packets`)
    .textContent = `${fmtBytes(sent)} / ${fmtBytes(recv)}`;
  return tr;
}

// Fills a <thead> with the columns.
export function fillHeader(thead) {
  const tr = document.createElement('tr');
  for (const [key, title] of COLUMNS) {
    const th = document.createElement('th');
    th.textContent = title;
    th.className = `col-${key}`;
    tr.appendChild(th);
  }
  thead.replaceChildren(tr);
}

// NDJSON text -> parsed lines (bad lines are skipped).
export function parseNdjson(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn or malformed line: skip it
    }
  }
  return out;
}
