// The dashboard's filters: the chips the user set (keys of flowd's filter language, shown and
// removed one by one), the noise toggles, and how both become the query of /api/v1/flows and
// /api/v1/graph, so that the table and the map always ask for the same flows.
//
// Rules of the language (as flowd's /api/v1/flows takes them): values of one key are
// alternatives, different keys must all match; a not_KEY parameter excludes, and all not_
// parameters of a request form ONE exclusion whose parts must all match (Hubble's consecutive
// --not flags). A page that hides several kinds of flows at once needs one exclusion each:
// those go as deny=KEY=V&KEY=V parameters (one exclusion per parameter). A server that does not
// take deny= (or a toggle's key) says so with a 400; the page then applies that exclusion to
// the table itself (see clientSide) and says so next to the toggles.

// Keys offered when typing a filter (flowd has more: the server checks the rest).
export const KEYS = [
  'ip', 'from_ip', 'to_ip', 'port', 'from_port', 'to_port', 'protocol', 'verdict', 'namespace',
  'from_namespace', 'to_namespace', 'pod', 'from_pod', 'to_pod', 'service', 'from_service',
  'to_service', 'label', 'from_label', 'to_label', 'fqdn', 'from_fqdn', 'to_fqdn', 'process',
  'from_process', 'to_process', 'container', 'from_container', 'to_container', 'identity',
  'from_identity', 'to_identity', 'workload', 'from_workload', 'to_workload', 'tcp_flags',
  'traffic_direction', 'ip_version', 'type', 'interface', 'drop_reason_desc', 'dns_query', 'uuid',
  'node_name', 'graph_node', 'graph_edge',
];

const LINK_LOCAL = ['169.254.0.0/16', 'fe80::/10', '224.0.0.0/4', 'ff00::/8', '255.255.255.255'];

function comm(p) {
  return (p && p.comm) || '';
}

// A known local process that is in no container (what container=host selects).
function hostProcess(p) {
  return Boolean(p && (p.comm || p.pid) && !p.container_id);
}

// The noise toggles: each hides one kind of flow, as one exclusion of its own. match() is the
// same rule for the page's own use when the server cannot apply it.
export const TOGGLES = [
  {
    id: 'flowd',
    label: "flowd's own traffic",
    title: 'Hide flows of the flowd process: the dashboard\'s and other API clients\' requests (process=flowd)',
    filters: [['process', 'flowd']],
    byDefault: true,
    match: (f) => comm(f.source_process) === 'flowd' || comm(f.destination_process) === 'flowd',
  },
  {
    id: 'host',
    label: 'host processes',
    title: 'Hide flows of local processes that run in no container (container=host)',
    filters: [['container', 'host']],
    byDefault: false,
    match: (f) => hostProcess(f.source_process) || hostProcess(f.destination_process),
  },
  {
    id: 'linklocal',
    label: 'link-local & multicast',
    title: `Hide flows to or from ${LINK_LOCAL.join(', ')} (ip=...)`,
    filters: LINK_LOCAL.map((c) => ['ip', c]),
    byDefault: false,
    match: (f) => f.IP && (inAny(f.IP.source, LINK_LOCAL) || inAny(f.IP.destination, LINK_LOCAL)),
  },
];

const STORE_KEY = 'flowscope.toggles';

export function loadToggles() {
  const on = {};
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {};
  } catch {
    saved = {};
  }
  for (const t of TOGGLES) on[t.id] = typeof saved[t.id] === 'boolean' ? saved[t.id] : t.byDefault;
  return on;
}

export function saveToggles(on) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(on));
  } catch {
    // private mode or full: the toggles just do not persist
  }
}

// ---- addresses --------------------------------------------------------------------------------

// An IPv4 or IPv6 address as a BigInt and its width in bits, or null.
function parseAddr(s) {
  if (!s) return null;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    let n = 0n;
    for (let i = 1; i <= 4; i += 1) {
      const b = Number(v4[i]);
      if (b > 255) return null;
      n = (n << 8n) | BigInt(b);
    }
    return { n, bits: 32 };
  }
  if (!s.includes(':')) return null;
  let str = s.split('%')[0];
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(str);
  if (tail) {
    const a = parseAddr(tail[1]);
    if (!a) return null;
    const h = a.n >> 16n;
    const l = a.n & 0xffffn;
    str = `${str.slice(0, -tail[1].length)}${h.toString(16)}:${l.toString(16)}`;
  }
  const halves = str.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (fill < 0 || (halves.length === 1 && head.length !== 8)) return null;
  const groups = [...head, ...Array(fill).fill('0'), ...rest];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return { n, bits: 128 };
}

// Does address a lie in cidr ("10.0.0.0/8", "fe80::/10", or a bare address)?
export function inCidr(a, cidr) {
  const [net, lenText] = cidr.split('/');
  const addr = parseAddr(a);
  const base = parseAddr(net);
  if (!addr || !base || addr.bits !== base.bits) return false;
  const len = lenText === undefined ? base.bits : Number(lenText);
  if (!(len >= 0 && len <= base.bits)) return false;
  const shift = BigInt(base.bits - len);
  return addr.n >> shift === base.n >> shift;
}

function inAny(a, cidrs) {
  return Boolean(a) && cidrs.some((c) => inCidr(a, c));
}

export function isAddress(s) {
  return parseAddr(s.split('/')[0]) !== null;
}

// ---- the filter set ---------------------------------------------------------------------------

// A chip: { key, value, neg } (key without "not_").
export function chipParam(c) {
  return `${c.neg ? 'not_' : ''}${c.key}`;
}

export function sameChip(a, b) {
  return a.key === b.key && a.value === b.value && Boolean(a.neg) === Boolean(b.neg);
}

// Chips from a query string (the page's own URL): KEY=V and not_KEY=V.
export function chipsFromQuery(search) {
  const out = [];
  for (const [k, v] of new URLSearchParams(search)) {
    const neg = k.startsWith('not_');
    const key = neg ? k.slice(4) : k;
    if (!/^[a-z_]+$/.test(key) || v === '') continue;
    const c = { key, value: v, neg };
    if (!out.some((x) => sameChip(x, c))) out.push(c);
  }
  return out;
}

export function chipsToQuery(chips) {
  const q = new URLSearchParams();
  for (const c of chips) q.append(chipParam(c), c.value);
  return q.toString();
}

// What the user typed into the filter box as a chip: "key=value", "!key=value" or
// "not key=value" (an exclusion), or a bare address/CIDR (ip) or port/range (port).
export function parseTyped(text) {
  let t = text.trim();
  let neg = false;
  const m = /^(!|not\s+|-)\s*/i.exec(t);
  if (m) {
    neg = true;
    t = t.slice(m[0].length);
  }
  if (!t) return { error: 'type key=value, e.g. to_port=443, or an address or a port' };
  const eq = t.indexOf('=');
  if (eq > 0) {
    let key = t.slice(0, eq).trim().toLowerCase().replace(/-/g, '_');
    if (key.startsWith('not_')) {
      neg = true;
      key = key.slice(4);
    }
    const value = t.slice(eq + 1).trim();
    if (!/^[a-z_]+$/.test(key)) return { error: `'${key}' is not a filter key` };
    if (!value) return { error: `a value for ${key} is missing` };
    return { chip: { key, value, neg } };
  }
  if (isAddress(t)) return { chip: { key: 'ip', value: t, neg } };
  if (/^\d{1,5}(-\d{1,5})?$/.test(t)) return { chip: { key: 'port', value: t, neg } };
  return { error: `'${t}': use key=value (e.g. fqdn=${t}), an address or a port` };
}

// What the server can do, learnt from its 400 answers: per endpoint, whether it takes deny=,
// and the filter keys it does not know.
export function newCaps() {
  return { deny: true, unknown: new Set() };
}

// The query of one endpoint for these chips and toggles; the toggles it cannot send are
// returned in clientSide (their match functions), those it could not apply at all in missing.
export function buildQuery(chips, toggles, caps) {
  const q = new URLSearchParams();
  const clientSide = [];
  for (const c of chips) {
    if (c.neg && caps.deny) q.append('deny', `${c.key}=${c.value}`);
    else q.append(chipParam(c), c.value);
  }
  for (const t of TOGGLES) {
    if (!toggles[t.id]) continue;
    if (caps.deny && !t.filters.some(([k]) => caps.unknown.has(k))) {
      q.append('deny', t.filters.map(([k, v]) => `${k}=${v}`).join('&'));
    } else {
      clientSide.push(t);
    }
  }
  return { query: q.toString(), clientSide };
}

// Reads a 400 answer: what it says the server does not know. Returns 'deny', a filter key, or
// '' for anything else (a bad value the user has to fix).
export function unknownOf(message) {
  const m = /unknown (?:parameter|filter) '([^']+)'/.exec(message || '');
  if (!m) return '';
  const name = m[1].replace(/^not_/, '');
  return name;
}

// Learns from a 400 message; true when caps changed (the request is worth sending again).
export function learn(caps, message, chips) {
  const name = unknownOf(message);
  if (!name) return false;
  if (name === 'deny') {
    if (!caps.deny) return false;
    caps.deny = false;
    return true;
  }
  // A key only the toggles use: the page applies that toggle itself. A key of the user's own
  // chips is the user's to fix.
  const ofToggle = TOGGLES.some((t) => t.filters.some(([k]) => k === name));
  const ofChip = chips.some((c) => c.key === name);
  if (!ofToggle || ofChip || caps.unknown.has(name)) return false;
  caps.unknown.add(name);
  return true;
}

// ---- values of a flow as filters --------------------------------------------------------------

const OBS = (p) => String(p).toLowerCase().replace(/_/g, '-');

function sideOf(path) {
  if (/^(source|source_process|source_service|source_names|source_workloads?)\b/.test(path)) return 'from_';
  if (/^(destination|destination_process|destination_service|destination_names|destination_workloads?)\b/.test(path)) return 'to_';
  return '';
}

// The chip that selects flows with this value (path: dotted JSON path inside "flow", e.g.
// "IP.source", "source.labels.0"), or null when no filter key covers it. flow: the whole flow,
// for values that need a neighbour (a pod's namespace).
export function filterFor(path, value, flow) {
  const v = String(value);
  const side = sideOf(path);
  const parts = path.split('.');
  const last = parts[parts.length - 1];
  if (path === 'IP.source') return { key: 'from_ip', value: v };
  if (path === 'IP.destination') return { key: 'to_ip', value: v };
  if (path === 'IP.ipVersion') return { key: 'ip_version', value: v.replace(/^IPv/, '') };
  if (/^l4\.(TCP|UDP|SCTP)\.source_port$/.test(path)) return { key: 'from_port', value: v };
  if (/^l4\.(TCP|UDP|SCTP)\.destination_port$/.test(path)) return { key: 'to_port', value: v };
  if (/^l4\.(TCP|UDP|SCTP|ICMPv4|ICMPv6)$/.test(path)) return { key: 'protocol', value: last.toLowerCase() };
  if (/^l4\.TCP\.flags\.[A-Z]+$/.test(path) && value === true) return { key: 'tcp_flags', value: last };
  if (path === 'verdict') return { key: 'verdict', value: v };
  if (path === 'drop_reason_desc') return { key: 'drop_reason_desc', value: v };
  if (path === 'traffic_direction') return { key: 'traffic_direction', value: v.toLowerCase() };
  if (path === 'trace_observation_point') return { key: 'type', value: `trace:${OBS(v)}` };
  if (path === 'event_type.type') return { key: 'type', value: v };
  if (path === 'event_type.sub_type') {
    const t = flow.event_type && flow.event_type.type;
    return t !== undefined ? { key: 'type', value: `${t}:${v}` } : null;
  }
  if (path === 'interface.name' || path === 'interface.index') return { key: 'interface', value: v };
  if (path === 'node_name') return { key: 'node_name', value: v };
  if (path === 'uuid') return { key: 'uuid', value: v };
  if (path === 'l7.dns.query') {
    return { key: 'dns_query', value: `^${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` };
  }
  if (!side) return null;
  const ep = side === 'from_' ? flow.source || {} : flow.destination || {};
  if (/^(source|destination)\.namespace$/.test(path)) return { key: `${side}namespace`, value: v };
  if (/^(source|destination)\.pod_name$/.test(path)) {
    return { key: `${side}pod`, value: ep.namespace ? `${ep.namespace}/${v}` : v };
  }
  if (/^(source|destination)\.labels\.\d+$/.test(path)) return { key: `${side}label`, value: v };
  if (/^(source|destination)\.identity$/.test(path)) return { key: `${side}identity`, value: v };
  if (/^(source|destination)\.workloads\.\d+\.name$/.test(path)) {
    const w = ep.workloads && ep.workloads[Number(parts[2])];
    return { key: `${side}workload`, value: w && w.kind ? `${w.kind}/${v}` : v };
  }
  if (/^(source|destination)_service\.name$/.test(path)) {
    const svc = (side === 'from_' ? flow.source_service : flow.destination_service) || {};
    return { key: `${side}service`, value: svc.namespace ? `${svc.namespace}/${v}` : v };
  }
  if (/^(source|destination)_names\.\d+$/.test(path)) return { key: `${side}fqdn`, value: v };
  if (/^(source|destination)_process\.comm$/.test(path)) return { key: `${side}process`, value: v };
  if (/^(source|destination)_process\.container_id$/.test(path)) return { key: `${side}container`, value: v };
  return null;
}
