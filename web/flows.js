// Flow formatting shared by the live flow table and the details panel.
// A flow is Hubble's flow JSON (canonical protobuf JSON: fields with default values are left
// out, 64-bit numbers are strings), as found in a GetFlowsResponse's "flow".

export const MAX_ROWS = 500;

export const COLUMNS = [
  ['time', 'Time'],
  ['src', 'Source'],
  ['sport', 'Src port'],
  ['dst', 'Destination'],
  ['dport', 'Dst port'],
  ['proto', 'Protocol'],
  ['flags', 'Flags'],
  ['verdict', 'Verdict'],
  ['event', 'Event'],
  ['bytes', 'Bytes sent / recv'],
  ['process', 'Process'],
];

const TCP_FLAGS = ['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR', 'NS'];

let anonymous = 0;

// The key of a flow in the tables: every event of one flow carries the same flow_id.
export function flowKey(flow) {
  if (flow.flow_id !== undefined && flow.flow_id !== null && flow.flow_id !== '') {
    return String(flow.flow_id);
  }
  if (flow.uuid) return flow.uuid;
  anonymous += 1;
  return `anon-${anonymous}`;
}

// Protocol, ports and flags of a flow's layer 4.
export function l4Info(flow) {
  const l4 = flow.l4 || {};
  for (const proto of ['TCP', 'UDP', 'SCTP']) {
    const p = l4[proto];
    if (p) {
      const flags = proto === 'TCP' && p.flags ? TCP_FLAGS.filter((f) => p.flags[f]).join(' ') : '';
      return {
        proto,
        sport: Number(p.source_port || 0),
        dport: Number(p.destination_port || 0),
        flags,
      };
    }
  }
  for (const proto of ['ICMPv4', 'ICMPv6']) {
    const p = l4[proto];
    if (p) {
      return { proto, sport: null, dport: null, flags: `type ${p.type || 0} code ${p.code || 0}` };
    }
  }
  return { proto: '', sport: null, dport: null, flags: '' };
}

function endpointName(ep) {
  if (ep && ep.pod_name) return ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name;
  return '';
}

export function sourceLabel(flow) {
  return endpointName(flow.source) || (flow.IP && flow.IP.source) || '';
}

export function destinationLabel(flow) {
  return (
    endpointName(flow.destination) ||
    (flow.destination_names && flow.destination_names[0]) ||
    (flow.IP && flow.IP.destination) ||
    ''
  );
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

function processName(p) {
  if (!p || (!p.comm && !p.pid)) return '';
  return `${p.comm || '?'}[${p.pid || 0}]`;
}

function td(tr, text, cls, title) {
  const c = document.createElement('td');
  c.textContent = text;
  if (cls) c.className = cls;
  if (title) c.title = title;
  tr.appendChild(c);
  return c;
}

// One table row for a GetFlowsResponse (or a bare flow). Data attributes carry what tests and
// styles need: flow id, verdict, addresses and ports.
export function flowRow(resp, key) {
  const flow = resp.flow || resp;
  const id = key || flowKey(flow);
  const l4 = l4Info(flow);
  const verdict = flow.verdict || 'VERDICT_UNKNOWN';
  const ip = flow.IP || {};
  const tr = document.createElement('tr');
  tr.dataset.flowId = id;
  tr.dataset.verdict = verdict;
  tr.dataset.srcIp = ip.source || '';
  tr.dataset.dstIp = ip.destination || '';
  tr.dataset.srcPort = l4.sport === null ? '' : String(l4.sport);
  tr.dataset.dstPort = l4.dport === null ? '' : String(l4.dport);
  tr.dataset.protocol = l4.proto.toLowerCase();
  if (verdict === 'DROPPED' || verdict === 'ERROR') tr.className = 'dropped';

  td(tr, fmtTime(flow.time || resp.time), 'time', flow.time || resp.time || '');
  const src = sourceLabel(flow);
  const srcNames = (flow.source_names || []).join(', ');
  td(tr, src, 'ep', [ip.source, srcNames].filter(Boolean).join(' · '));
  td(tr, l4.sport === null ? '' : String(l4.sport), 'num');
  const dst = destinationLabel(flow);
  const dstNames = (flow.destination_names || []).join(', ');
  td(tr, dst, 'ep', [ip.destination, dstNames].filter(Boolean).join(' · '));
  td(tr, l4.dport === null ? '' : String(l4.dport), 'num');
  td(tr, l4.proto, 'proto');
  td(tr, l4.flags, 'flags');
  const reason = flow.drop_reason_desc || '';
  const vtext = reason && verdict !== 'FORWARDED' ? `${verdict} (${reason})` : verdict;
  td(tr, vtext, `verdict v-${verdict.toLowerCase()}`, flow.drop_reason_kernel || '');
  td(tr, eventName(flow), 'event');
  const sent = flow.bytes_sent || 0;
  const recv = flow.bytes_received || 0;
  td(
    tr,
    `${fmtBytes(sent)} / ${fmtBytes(recv)}`,
    'num bytes',
    `sent ${sent} B in ${flow.packets_sent || 0} packets, received ${recv} B in ${flow.packets_received || 0} packets`,
  );
  td(tr, processName(flow.source_process), 'process', processName(flow.destination_process) ? `destination: ${processName(flow.destination_process)}` : '');
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
