// Browser test of the dashboard flowd serves at "/": Debian's chromium driven by playwright-core
// (from web/node_modules; no browser is ever downloaded).
// Usage: node tests/e2e/dashboard.mjs URL SCREENSHOT.png EXPECTATIONS_JSON
//   EXPECTATIONS_JSON: {"nodes": ["svc:shop/web", ...], "edges": [["<src id>", "<dst id>"], ...],
//     "filter_ip": "10.200.5.2", "filter_port": "8080", "client_ip": "10.200.5.1",
//     "client_node": "svc:shop/client", "namespaces": ["billing", "shop"], "namespace": "shop",
//     "late_node": "svc:shop/late", "late_trigger": "/tmp/.../late",
//     "link_local": ["169.254.5.1", ...], "iface": "<the veth flowd watches>"}
//   late_trigger: a file whose existence starts traffic that brings late_node to the map.
// Needs live traffic for the whole run (new flows all the time, some of them dropped, some over
// link-local and multicast addresses), flowd watching the loopback the browser uses.
// Prints "ok - ..." / "FAIL - ..." lines and "dashboard: N passed, N failed"; exits 1 on failure.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const HARD_LIMIT_MS = 300000;

let passed = 0;
let failed = 0;
let finished = false;
let context = null;
let userDataDir = '';

const ok = (what) => {
  passed += 1;
  console.log(`ok - ${what}`);
};
const fail = (what) => {
  failed += 1;
  console.log(`FAIL - ${what}`);
};
const note = (what) => console.log(`# ${what}`);
const check = (cond, what) => (cond ? ok(what) : fail(what));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

async function finish() {
  if (finished) return;
  finished = true;
  if (context) {
    try {
      await withTimeout(context.close(), 10000, 'closing the browser');
    } catch (e) {
      note(String(e.message || e));
    }
  }
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  console.log(`dashboard: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

const hard = setTimeout(() => {
  fail(`the whole test took longer than ${HARD_LIMIT_MS / 1000} s`);
  finish();
}, HARD_LIMIT_MS);

const [url, shotPath, expJson] = process.argv.slice(2);
if (!url || !shotPath || !expJson) {
  console.log('usage: node tests/e2e/dashboard.mjs URL SCREENSHOT.png EXPECTATIONS_JSON');
  fail('arguments');
  await finish();
}
let exp;
try {
  exp = JSON.parse(expJson);
} catch (e) {
  fail(`expectations are not JSON: ${e.message}`);
  await finish();
}
exp.nodes = exp.nodes || [];
exp.edges = exp.edges || [];

let chromium;
try {
  const require = createRequire(path.join(here, '../../web/package.json'));
  ({ chromium } = require('playwright-core'));
} catch (e) {
  fail(`playwright-core not found in web/node_modules (npm ci --prefix web): ${e.message}`);
  await finish();
}

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-dashboard-'));
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1600, height: 1000 },
    timeout: 30000,
  });
  ok(`chromium started (${executablePath})`);
} catch (e) {
  fail(`chromium did not start (${executablePath}): ${String(e.message || e).split('\n')[0]}`);
  await finish();
}

const page = context.pages()[0] || (await context.newPage());
// Every /api/v1/graph request the page makes, to check that the map asks for what the table
// asks for.
const graphRequests = [];
page.on('request', (r) => {
  if (r.url().includes('/api/v1/graph')) graphRequests.push({ at: Date.now(), url: r.url() });
});
page.setDefaultTimeout(10000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
// What the page's Content-Security-Policy refused: the dashboard must work within it.
await page.addInitScript(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI || 'inline'}`);
  });
});
page.on('console', (m) => {
  if (m.type() === 'error') note(`console error: ${m.text()}`);
});

// Waits (polling in the page) until fn(arg) is truthy; false on timeout.
async function waitUntil(fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, arg, { polling: 200, timeout });
    return true;
  } catch {
    return false;
  }
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    fail(`${name}: ${String(e.message || e).split('\n')[0]}`);
  }
}

// Rows of the live table as plain data.
const rowsInPage = () =>
  [...document.querySelectorAll('#flows tr[data-flow-id]')].map((r) => ({
    id: r.dataset.flowId,
    verdict: r.dataset.verdict,
    srcIp: r.dataset.srcIp,
    dstIp: r.dataset.dstIp,
    srcPort: r.dataset.srcPort,
    dstPort: r.dataset.dstPort,
    srcNs: r.dataset.srcNs,
    dstNs: r.dataset.dstNs,
    srcComm: r.dataset.srcComm,
    dstComm: r.dataset.dstComm,
    srcContainer: r.dataset.srcContainer,
    dstContainer: r.dataset.dstContainer,
    text: r.textContent,
  }));

// Waits until the table has rows and all of them satisfy pred; then checks it stays so a
// little longer (late rows of the previous stream would show up).
async function checkRows(what, predSrc, arg, timeout) {
  const fn = new Function('arg', `const rows = (${rowsInPage.toString()})();
    const pred = ${predSrc};
    return rows.length > 0 && rows.every((r) => pred(r, arg));`);
  const good = await waitUntil(fn, arg, timeout);
  let stable = good;
  if (good) {
    for (let i = 0; i < 5 && stable; i += 1) {
      await sleep(200);
      stable = await page.evaluate(fn, arg);
    }
  }
  const rows = await page.evaluate(rowsInPage);
  const pred = eval(predSrc); // eslint-disable-line no-eval
  const bad = rows.filter((r) => !pred(r, arg));
  check(
    good && stable,
    `${what}: ${rows.length} rows, ${bad.length} not matching` +
      (bad.length ? ` (e.g. ${bad[0].text.slice(0, 160)})` : ''),
  );
}

// ---- filters: chips, the stream's and the map's requests --------------------------------------

// The stream's parameters, as [key, value] pairs.
const streamParams = () => {
  const fs = window.flowscope;
  if (!fs || !fs.streamOpen()) return null;
  return [...new URL(fs.streamUrl(), location.href).searchParams];
};

// Waits until the stream is open with (want = true) or without the parameter key=value.
// (The page's functions are put together here, not in the page: its Content-Security-Policy
// allows no eval, and the test checks that nothing was refused.)
async function waitStream(key, value, want = true) {
  return waitUntil(
    new Function('arg', `const p = (${streamParams.toString()})();
      if (!p) return false;
      const [k, v, w] = arg;
      return p.some(([a, b]) => a === k && b === v) === w;`),
    [key, value, want],
    10000,
  );
}

const chipSel = (key, value, neg = false) =>
  `#chips .chip[data-key="${key}"][data-value="${value}"][data-neg="${neg}"]`;

// Waits until the map has applied a graph request that satisfies pred(params, arg) (a function
// without free variables: it also runs in the page) and checks such a request went out after
// `since` (ms).
async function graphApplied(pred, arg, since, what) {
  const good = await waitUntil(
    new Function('a', `const u = window.flowscope.graphUrl();
      if (!u) return false;
      return (${pred.toString()})([...new URL(u, location.href).searchParams], a[0]);`),
    [arg],
    10000,
  );
  const sent = graphRequests.filter((r) => r.at >= since).map((r) => [...new URL(r.url).searchParams]);
  const matching = sent.filter((p) => pred(p, arg));
  check(good && matching.length > 0, `${what}: the map's request (${matching.length} of ${sent.length} graph requests since) carries it`);
  return good;
}

// [key, value]: the parameter is there.
const hasParam = (params, [k, v]) => params.some(([a, b]) => a === k && b === v);
// [key, value, neg]: a filter as the map gets it, a parameter or (exclusions) one deny= each.
const hasFilter = (params, [k, v, neg]) =>
  neg
    ? params.some(([a, b]) => (a === `not_${k}` && b === v) || (a === 'deny' && b === `${k}=${v}`))
    : params.some(([a, b]) => a === k && b === v);

async function typeFilter(text) {
  await page.fill('#f-add', text);
  await page.press('#f-add', 'Enter');
}

async function removeChip(key, value, neg = false) {
  await page.click(`${chipSel(key, value, neg)} .cx`);
  const gone = await waitUntil((sel) => !document.querySelector(sel), chipSel(key, value, neg), 5000);
  check(gone, `the chip ${neg ? 'not_' : ''}${key}=${value} is removed by its ×`);
  // As the stream has it: a positive chip as a parameter; an exclusion as not_ or deny=.
  if (!neg) await waitStream(key, value, false);
}

// A chip for key=value exists and both the table's stream and the map's request carry it.
async function checkFilterApplied(key, value, neg, since) {
  const chip = await waitUntil((sel) => Boolean(document.querySelector(sel)), chipSel(key, value, neg), 5000);
  check(chip, `a removable chip shows ${neg ? 'not_' : ''}${key}=${value}`);
  let inStream;
  if (neg) {
    inStream = await waitUntil(
      new Function('arg', `const p = (${streamParams.toString()})();
        const [k, v] = arg;
        return Boolean(p) && p.some(([a, b]) => (a === 'not_' + k && b === v) || (a === 'deny' && b === k + '=' + v));`),
      [key, value],
      10000,
    );
  } else {
    inStream = await waitStream(key, value);
  }
  check(inStream, `the table's stream restarted with ${neg ? 'not_' : ''}${key}=${value}`);
  await graphApplied(hasFilter, [key, value, neg], since, `${neg ? 'not_' : ''}${key}=${value}`);
  const err = await page.textContent('#filter-error');
  check(!err, `flowd took the filter${err ? `: ${err}` : ''}`);
}

const mapNow = () => {
  const cy = window.flowscope.cy;
  return {
    nodes: cy.nodes().map((n) => ({ id: n.id(), ns: n.data('namespace') || '' })),
    edges: cy.edges().map((e) => [e.data('source'), e.data('target')]),
  };
};

// ---- the page ---------------------------------------------------------------------------------

await step('open the page', async () => {
  const res = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  check(res && res.ok(), `GET ${url} answers ${res ? res.status() : 'nothing'}`);
  const csp = (res && res.headers()['content-security-policy']) || '';
  check(/frame-ancestors 'none'/.test(csp) && /script-src 'self'/.test(csp) && !/unsafe/.test(csp),
    `the page comes with a strict Content-Security-Policy (${csp.slice(0, 60)}...)`);
  check(res && res.headers()['x-content-type-options'] === 'nosniff', 'and X-Content-Type-Options: nosniff');
  const title = await page.title();
  check(/Flowscope/.test(title), `the dashboard page (title "${title}")`);
  const hasCy = await waitUntil(() => window.flowscope && window.flowscope.cy, null, 5000);
  check(hasCy, 'cytoscape loaded from vendor/cytoscape.min.js and window.flowscope.cy set');
  const t = await page.evaluate(() => window.flowscope.toggles());
  check(t.flowd === true && t.host === false && t.linklocal === false,
    `noise toggles by default: flowd's own traffic hidden, host processes and link-local shown (${JSON.stringify(t)})`);
});

await step('service map', async () => {
  const present = await waitUntil(
    ({ nodes, edges }) => {
      const cy = window.flowscope && window.flowscope.cy;
      if (!cy) return false;
      const w = cy.width();
      const h = cy.height();
      for (const id of nodes) {
        const n = cy.getElementById(id);
        if (n.empty() || !n.visible()) return false;
        const bb = n.renderedBoundingBox();
        if (bb.x2 < 0 || bb.y2 < 0 || bb.x1 > w || bb.y1 > h) return false;
      }
      for (const [s, t] of edges) {
        const e = cy.edges().filter((x) => x.data('source') === s && x.data('target') === t);
        if (e.empty() || !e.visible()) return false;
      }
      return true;
    },
    exp,
    20000,
  );
  const got = await page.evaluate(() => {
    const cy = window.flowscope && window.flowscope.cy;
    if (!cy) return { nodes: [], edges: [] };
    return {
      nodes: cy.nodes().map((n) => n.id()),
      edges: cy.edges().map((e) => [e.data('source'), e.data('target'), e.data('color'), e.data('width')]),
    };
  });
  for (const id of exp.nodes) check(got.nodes.includes(id), `the map shows node ${id}${present ? ' (visible)' : ''}`);
  for (const [s, t] of exp.edges) {
    const e = got.edges.find((x) => x[0] === s && x[1] === t);
    check(Boolean(e), `the map shows edge ${s} -> ${t}` + (e ? ` (colour ${e[2]}, width ${Number(e[3]).toFixed(1)})` : ''));
  }
  if (!present) fail(`not everything expected was visible within 20 s; the map has nodes ${JSON.stringify(got.nodes)}`);
  const graph = await page.evaluate(() => window.flowscope.graph());
  check(graph && Array.isArray(graph.nodes) && Array.isArray(graph.edges),
    `window.flowscope.graph() has the latest graph (${graph && graph.nodes ? graph.nodes.length : '?'} nodes)`);
});

await step('flow table', async () => {
  const rows = await waitUntil(() => window.flowscope && window.flowscope.flowsShown() > 0, null, 15000);
  const n = await page.evaluate(() => (window.flowscope ? window.flowscope.flowsShown() : 0));
  check(rows, `the flow table fills from the stream (${n} rows)`);
  const rate = await waitUntil(() => parseFloat(document.getElementById('c-rate').textContent) > 0, null, 5000);
  const counters = await page.evaluate(() =>
    ['c-rate', 'c-drops', 'c-lost'].map((id) => `${id}=${document.getElementById(id).textContent}`).join(' '));
  check(rate, `counters (${counters})`);
  // Readable cells: a verdict badge (drops with their reason), TCP flags as chips, TYPE and
  // interface columns, the process as comm[pid].
  const cells = await waitUntil(
    () => Boolean(document.querySelector('#flows tr[data-verdict="DROPPED"] .badge.v-dropped')) &&
      Boolean(document.querySelector('#flows tr[data-verdict="FORWARDED"] .badge.v-forwarded')) &&
      Boolean(document.querySelector('#flows td.flags .flag.f-syn')) &&
      Boolean(document.querySelector('#flows td.process .proc .pid')),
    null,
    15000,
  );
  const look = await page.evaluate(() => {
    const drop = document.querySelector('#flows tr[data-verdict="DROPPED"]');
    const proc = document.querySelector('#flows td.process .proc');
    const typed = [...document.querySelectorAll('#flows tr[data-type]')].map((r) => r.dataset.type);
    const rows = [...document.querySelectorAll('#flows tr[data-flow-id]')];
    const ifaces = [...new Set(rows.map((r) => r.dataset.iface))];
    return {
      reason: drop ? drop.querySelector('.verdict-cell').textContent : '',
      dropType: drop ? drop.dataset.type : '',
      proc: proc ? proc.textContent : '',
      types: [...new Set(typed)],
      ifaces,
    };
  });
  check(cells, `verdict badges, TCP flag chips and comm[pid] process cells (drop: "${look.reason}", process: "${look.proc}")`);
  check(/DROPPED\s*\S/.test(look.reason), `a drop's verdict cell names the reason ("${look.reason}")`);
  check(look.dropType && !/^(to|from)-/.test(look.dropType), `a drop's TYPE is its reason ("${look.dropType}")`);
  check(/^\S+\[\d+\]/.test(look.proc), `a process reads comm[pid] ("${look.proc}")`);
  check(look.types.some((t) => /^(to|from)-[a-z]+$/.test(t)), `TYPE shows observation points (${look.types.join(', ')})`);
  check(look.ifaces.length > 0 && look.ifaces.every(Boolean) && look.ifaces.includes(exp.iface),
    `every row names its interface (${look.ifaces.join(', ')})`);
});

if (exp.filter_ip) {
  await step('typed IP filter', async () => {
    const since = Date.now();
    await typeFilter(exp.filter_ip);
    await checkFilterApplied('ip', exp.filter_ip, false, since);
    await checkRows(`IP filter ${exp.filter_ip}`, '(r, ip) => r.srcIp === ip || r.dstIp === ip', exp.filter_ip, 10000);
    await removeChip('ip', exp.filter_ip);
  });
}

if (exp.filter_port) {
  await step('typed port filter', async () => {
    const since = Date.now();
    await typeFilter(`port=${exp.filter_port}`);
    await checkFilterApplied('port', String(exp.filter_port), false, since);
    await checkRows(`port filter ${exp.filter_port}`, '(r, p) => r.srcPort === p || r.dstPort === p', String(exp.filter_port), 10000);
    await removeChip('port', String(exp.filter_port));
  });
}

await step('verdict filter', async () => {
  const since = Date.now();
  await page.selectOption('#f-verdict', 'DROPPED');
  await checkFilterApplied('verdict', 'DROPPED', false, since);
  await checkRows('verdict filter DROPPED', '(r) => r.verdict === "DROPPED"', null, 15000);
  await page.selectOption('#f-verdict', '');
  check(await waitStream('verdict', 'DROPPED', false), 'verdict "any" removes the filter');
});

// ---- flow details -----------------------------------------------------------------------------

// Opens the details of a row matching sel (a CSS selector of the table); returns whether they
// show every field of its flow JSON.
async function openDetails(sel) {
  const found = await waitUntil((s) => Boolean(document.querySelector(s)), sel, 15000);
  if (!found) {
    fail(`no row ${sel} to click`);
    return false;
  }
  await page.click(sel, { timeout: 5000 });
  const open = await waitUntil(() => !document.getElementById('flow-details').hidden &&
    document.querySelectorAll('#flow-details .kv[data-path]').length > 5, null, 5000);
  check(open, `clicking a flow row (${sel}) opens its details`);
  const cmp = await page.evaluate(() => {
    const msg = window.flowscope.flowShown();
    const leaves = [];
    const walk = (o, p) => {
      for (const [k, v] of Object.entries(o)) {
        const q = p ? `${p}.${k}` : k;
        if (v !== null && typeof v === 'object') walk(v, q);
        else leaves.push(q);
      }
    };
    if (msg && msg.flow) walk(msg.flow, '');
    const shown = new Set([...document.querySelectorAll('#flow-details .kv[data-path]')].map((e) => e.dataset.path));
    const missing = leaves.filter((l) => !shown.has(l));
    return { leaves: leaves.length, missing };
  });
  check(cmp.leaves > 20 && cmp.missing.length === 0,
    `the details show every field of the flow JSON, nested (${cmp.leaves} values${cmp.missing.length ? `; missing ${cmp.missing.join(', ')}` : ''})`);
  return open;
}

await step('flow details: click a value to filter', async () => {
  const row = `#flows tr[data-src-ip="${exp.client_ip}"][data-dst-port="${exp.filter_port}"]`;
  if (!(await openDetails(row))) return;
  // The source address: from_ip.
  let since = Date.now();
  await page.click('#flow-details button.filterable[data-path="IP.source"]');
  await checkFilterApplied('from_ip', exp.client_ip, false, since);
  await checkRows(`from_ip=${exp.client_ip} from a click`, '(r, ip) => r.srcIp === ip', exp.client_ip, 10000);
  const m = await page.evaluate(mapNow);
  check(m.edges.length > 0 && m.edges.every(([s]) => s === exp.client_node),
    `the map shows only what ${exp.client_ip} started (${m.edges.map((e) => e.join('>')).join(', ')})`);
  // The destination port: to_port, on top.
  since = Date.now();
  await page.click('#flow-details button.filterable[data-path$="destination_port"]');
  await checkFilterApplied('to_port', String(exp.filter_port), false, since);
  await checkRows(`from_ip and to_port=${exp.filter_port}`, '(r, a) => r.srcIp === a[0] && r.dstPort === a[1]',
    [exp.client_ip, String(exp.filter_port)], 10000);
  await removeChip('to_port', String(exp.filter_port));
  await removeChip('from_ip', exp.client_ip);
});

await step('flow details: every kind of value is a filter flowd takes', async () => {
  const row = `#flows tr[data-src-ip="${exp.client_ip}"][data-dst-port="${exp.filter_port}"]`;
  if (!(await openDetails(row))) return;
  const paths = await page.evaluate(() =>
    ['verdict', 'interface.name', 'trace_observation_point', 'source.namespace', 'source.pod_name', 'source.identity',
      'source_process.comm', 'traffic_direction', 'IP.ipVersion', 'l4.TCP', 'event_type.type', 'destination_service.name']
      .filter((p) => document.querySelector(`#flow-details button.filterable[data-path="${p}"]`)));
  check(paths.length >= 9, `values of ${paths.length} kinds are filter buttons (${paths.join(', ')})`);
  for (const p of paths) {
    const f = await page.getAttribute(`#flow-details button.filterable[data-path="${p}"]`, 'data-filter');
    const [key, ...rest] = f.split('=');
    const value = rest.join('=');
    const since = Date.now();
    await page.click(`#flow-details button.filterable[data-path="${p}"]`);
    await checkFilterApplied(key, value, false, since);
    const rowsCome = await waitUntil(() => window.flowscope.flowsShown() > 0, null, 10000);
    check(rowsCome, `${key}=${value} (from ${p}) still shows flows`);
    await removeChip(key, value);
  }
});

await step('flow details: exclude a value', async () => {
  const row = '#flows tr[data-dst-port="5353"]';
  if (!(await openDetails(row))) return;
  const since = Date.now();
  await page.hover('#flow-details .kv[data-path$="destination_port"]');
  await page.click('#flow-details .kv[data-path$="destination_port"] button.exclude');
  await checkFilterApplied('to_port', '5353', true, since);
  await checkRows('not to_port=5353', '(r) => r.dstPort !== "5353"', null, 10000);
  await removeChip('to_port', '5353', true);
});

// ---- namespace picker -------------------------------------------------------------------------

await step('namespace picker', async () => {
  const listed = await waitUntil(
    (want) => {
      const opts = [...document.querySelectorAll('#f-namespace option')].map((o) => o.value);
      return want.every((n) => opts.includes(n));
    },
    exp.namespaces,
    20000,
  );
  const opts = await page.evaluate(() => [...document.querySelectorAll('#f-namespace option')].map((o) => o.value));
  check(listed, `the namespace picker lists the identity file's namespaces (${opts.filter(Boolean).join(', ')})`);
  const since = Date.now();
  await page.selectOption('#f-namespace', exp.namespace);
  await checkFilterApplied('namespace', exp.namespace, false, since);
  await checkRows(`namespace ${exp.namespace}`, '(r, ns) => r.srcNs === ns || r.dstNs === ns', exp.namespace, 10000);
  const good = await waitUntil((ns) => {
    const cy = window.flowscope.cy;
    return cy.edges().length > 0 &&
      cy.edges().every((e) => e.source().data('namespace') === ns || e.target().data('namespace') === ns);
  }, exp.namespace, 10000);
  const m = await page.evaluate(mapNow);
  check(good, `the map shows only edges touching ${exp.namespace} (${m.nodes.map((n) => n.id).join(', ')})`);
  await page.selectOption('#f-namespace', '');
  check(await waitStream('namespace', exp.namespace, false), 'namespace "all" removes the filter');
});

// ---- noise toggles ----------------------------------------------------------------------------

const LINK_LOCAL_NODE = /^ip:(169\.254\.|22[4-9]\.|23\d\.|255\.255\.255\.255|fe80:|ff[0-9a-f]{2}:)/;

async function setToggle(id, on) {
  const box = `#t-${id}`;
  if ((await page.isChecked(box)) !== on) await page.click(box);
  await waitUntil(([i, o]) => window.flowscope.toggles()[i] === o, [id, on], 3000);
}

// How the page applies a toggle: "flowd" (the server excludes), "page" (the table only).
async function toggleMode(id) {
  return page.evaluate((i) => (window.flowscope.pageHidden().includes(i) ? 'page' : 'flowd'), id);
}

await step("toggle: flowd's own traffic", async () => {
  await setToggle('flowd', false);
  const isFlowd = '(r) => r.srcComm === "flowd" || r.dstComm === "flowd"';
  const seen = await waitUntil(new Function(`return (${rowsInPage.toString()})().some(${isFlowd});`), null, 20000);
  check(seen, "with the toggle off, flowd's own traffic (the page's requests on loopback) is in the table");
  const since = Date.now();
  await setToggle('flowd', true);
  await checkRows("flowd's own traffic hidden", `(r) => !(${isFlowd})(r)`, null, 10000);
  const mode = await toggleMode('flowd');
  note(`flowd's own traffic: excluded by ${mode === 'page' ? 'the page (this flowd has no deny= on /api/v1/flows)' : 'flowd'}`);
  await graphApplied(hasParam, ['deny', 'process=flowd'], since, "flowd's own traffic hidden on the map");
  const gone = await waitUntil(() => window.flowscope.cy.nodes().every((n) => n.id() !== 'proc:flowd'), null, 10000);
  check(gone, 'the map has no proc:flowd node');
});

await step('toggle: link-local and multicast', async () => {
  const isLL = `(r, ll) => ll.includes(r.srcIp) || ll.includes(r.dstIp) || /^(fe80:|ff[0-9a-f]{2}:)/.test(r.srcIp + ' ' + r.dstIp)`;
  const seen = await waitUntil(new Function('ll', `return (${rowsInPage.toString()})().some((r) => (${isLL})(r, ll));`), exp.link_local, 20000);
  check(seen, `with the toggle off, link-local and multicast flows (${exp.link_local.join(', ')}) are in the table`);
  const onMap = await waitUntil((re) => window.flowscope.cy.nodes().some((n) => new RegExp(re).test(n.id())), LINK_LOCAL_NODE.source, 10000);
  check(onMap, 'with the toggle off, the map has link-local or multicast nodes');
  const since = Date.now();
  await setToggle('linklocal', true);
  await checkRows('link-local and multicast hidden', `(r, ll) => !(${isLL})(r, ll)`, exp.link_local, 10000);
  await graphApplied((p) => p.some(([k, v]) => k === 'deny' && v.includes('ip=169.254.0.0/16') && v.includes('ip=ff00::/8')), null, since,
    'link-local hidden on the map');
  const gone = await waitUntil((re) => window.flowscope.cy.nodes().length > 0 &&
    window.flowscope.cy.nodes().every((n) => !new RegExp(re).test(n.id())), LINK_LOCAL_NODE.source, 10000);
  const ids = await page.evaluate(() => window.flowscope.cy.nodes().map((n) => n.id()));
  check(gone, `the map has no link-local or multicast node (${ids.join(', ')})`);
});

await step('toggle: host processes', async () => {
  const hostProc = '(r) => (r.srcComm && !r.srcContainer) || (r.dstComm && !r.dstContainer)';
  const seen = await waitUntil(new Function(`return (${rowsInPage.toString()})().some(${hostProc});`), null, 10000);
  check(seen, 'with the toggle off, flows of host processes (no container) are in the table');
  const since = Date.now();
  await setToggle('host', true);
  await checkRows('host processes hidden', `(r) => !(${hostProc})(r)`, null, 10000);
  await graphApplied(hasParam, ['deny', 'container=host'], since, 'host processes hidden on the map');
  // Persisted: a reload keeps the toggles as they were set.
  await page.reload({ waitUntil: 'load' });
  await waitUntil(() => window.flowscope && window.flowscope.streamOpen(), null, 10000);
  const t = await page.evaluate(() => window.flowscope.toggles());
  const boxes = await page.evaluate(() => ['flowd', 'host', 'linklocal'].map((i) => document.getElementById(`t-${i}`).checked));
  check(t.flowd && t.host && t.linklocal && boxes.every(Boolean), `the toggles survive a reload (localStorage: ${JSON.stringify(t)})`);
  await setToggle('host', false);
});

// ---- the map's layout ---------------------------------------------------------------------------

function moved(before, after) {
  const out = [];
  for (const [id, [x, y]] of Object.entries(before)) {
    const p = after[id];
    if (p && Math.hypot(p[0] - x, p[1] - y) > 0.5) out.push(`${id} (${x.toFixed(0)},${y.toFixed(0)} -> ${p[0].toFixed(0)},${p[1].toFixed(0)})`);
  }
  return out;
}

await step('map layout stays when nodes come and go', async () => {
  await waitUntil(() => window.flowscope.cy.nodes().length >= 2, null, 10000);
  await sleep(2500); // a graph poll or two with nothing new
  const p0 = await page.evaluate(() => window.flowscope.positions());
  const runs0 = await page.evaluate(() => window.flowscope.layoutRuns());
  check(!p0[exp.late_node], `${exp.late_node} is not on the map yet`);
  fs.writeFileSync(exp.late_trigger, 'go\n');
  const came = await waitUntil((id) => window.flowscope.cy.getElementById(id).nonempty(), exp.late_node, 25000);
  check(came, `a new node comes to the map (${exp.late_node}, new traffic)`);
  const p1 = await page.evaluate(() => window.flowscope.positions());
  const runs1 = await page.evaluate(() => window.flowscope.layoutRuns());
  const kept = Object.keys(p0).filter((id) => p1[id]);
  const m1 = moved(p0, p1);
  check(kept.length >= 2 && m1.length === 0, `the ${kept.length} nodes already there kept their positions${m1.length ? `; moved: ${m1.join(', ')}` : ''}`);
  check(runs1 === runs0, `only the new node was placed: no layout of the whole map (${runs0} -> ${runs1} full layouts)`);
  const nearby = await page.evaluate((id) => {
    const cy = window.flowscope.cy;
    const n = cy.getElementById(id);
    const others = cy.nodes().filter((m) => m.id() !== id);
    const d = Math.min(...others.map((m) => Math.hypot(m.position('x') - n.position('x'), m.position('y') - n.position('y'))));
    return d;
  }, exp.late_node);
  check(nearby >= 40, `the new node does not sit on another one (nearest ${nearby.toFixed(0)} away)`);
  const inView = await waitUntil((id) => {
    const m = window.flowscope.map;
    const bb = m.cy.getElementById(id).renderedBoundingBox();
    return !m.userView && bb.x1 >= 0 && bb.y1 >= 0 && bb.x2 <= m.cy.width() && bb.y2 <= m.cy.height();
  }, exp.late_node, 5000);
  check(inView, 'the view follows by itself (nobody panned or zoomed): the new node is in sight');

  // Nodes that leave (a filter) and come back (filter removed) return to where they were.
  const since = Date.now();
  await typeFilter('to_port=5353');
  await checkFilterApplied('to_port', '5353', false, since);
  const left = await waitUntil((id) => window.flowscope.cy.getElementById(id).empty(), exp.late_node, 10000);
  check(left, `with to_port=5353 ${exp.late_node} leaves the map`);
  const pMid = await page.evaluate(() => window.flowscope.positions());
  const mMid = moved(p1, pMid);
  check(mMid.length === 0, `the nodes that stayed did not move${mMid.length ? `: ${mMid.join(', ')}` : ''}`);
  await removeChip('to_port', '5353');
  const core = [...exp.nodes, exp.late_node];
  const back = await waitUntil((ids) => ids.every((id) => window.flowscope.cy.getElementById(id).nonempty()), core, 15000);
  await sleep(2500); // the rest of them too
  const p2 = await page.evaluate(() => window.flowscope.positions());
  const m2 = moved(p1, p2);
  const again = Object.keys(p1).filter((id) => p2[id]);
  check(back && m2.length === 0,
    `the ${again.length} nodes back on the map (${core.join(', ')} among them) are where they were${back ? '' : ' (not all came back)'}${m2.length ? `; moved: ${m2.join(', ')}` : ''}`);
});

// ---- node and edge details ----------------------------------------------------------------------

// Clicks an element of the map where it is drawn; falls back to a cytoscape tap.
async function clickElement(id, kind) {
  const pos = await page.evaluate(
    ([eid, k]) => {
      const cy = window.flowscope.cy;
      const ele = cy.getElementById(eid);
      if (ele.empty()) return null;
      const p = k === 'node' ? ele.renderedPosition() : ele.renderedMidpoint();
      const box = cy.container().getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y, label: k === 'node' ? ele.data('label') : '' };
    },
    [id, kind],
  );
  if (!pos) return { how: 'missing' };
  await page.mouse.click(pos.x, pos.y);
  const selected = await waitUntil((eid) => window.flowscope.cy.getElementById(eid).selected(), id, 3000);
  if (selected) return { how: 'mouse click', label: pos.label };
  await page.evaluate((eid) => {
    const ele = window.flowscope.cy.getElementById(eid);
    ele.select();
    ele.emit('tap');
  }, id);
  return { how: 'cytoscape tap', label: pos.label };
}

async function checkDetails(what) {
  const okRows = await waitUntil(() => document.querySelectorAll('#details tr[data-flow-id]').length > 0, null, 10000);
  const info = await page.evaluate(() => ({
    n: document.querySelectorAll('#details tr[data-flow-id]').length,
    title: document.getElementById('details-title').textContent,
    status: document.getElementById('details-status').textContent,
  }));
  check(okRows, `${what}: #details lists ${info.n} flows ("${info.title}"; ${info.status})`);
  return info;
}

await step('node details', async () => {
  await page.evaluate(() => window.flowscope.map.fit());
  const target = (exp.edges[0] && exp.edges[0][1]) || exp.nodes[0];
  if (!target) return;
  const r = await clickElement(target, 'node');
  if (r.how === 'missing') {
    fail(`node ${target} is not in the map: nothing to click`);
    return;
  }
  const info = await checkDetails(`clicking node ${target} (${r.how})`);
  check(info.title.includes(r.label), `the details panel is about ${r.label}`);
});

if (exp.edges[0]) {
  await step('edge details', async () => {
    const id = await page.evaluate(([s, t]) => {
      const e = window.flowscope.cy.edges().filter((x) => x.data('source') === s && x.data('target') === t);
      return e.nonempty() ? e[0].id() : null;
    }, exp.edges[0]);
    if (!id) {
      fail('the expected edge is not in the map: nothing to click');
      return;
    }
    const r = await clickElement(id, 'edge');
    await checkDetails(`clicking edge ${id} (${r.how})`);
  });
}

await step('connections view', async () => {
  await page.click('#view-flows');
  const on = await waitStream('per_flow', 'true');
  check(on, 'the Connections view streams per_flow=true');
  const filled = await waitUntil(() => window.flowscope.flowsShown() > 5, null, 15000);
  await sleep(1500); // some connections updated in place
  const r = await page.evaluate(() => {
    const ids = [...document.querySelectorAll('#flows tr[data-flow-id]')].map((tr) => tr.dataset.connection);
    return { n: ids.length, unique: new Set(ids).size, title: document.getElementById('table-title').textContent };
  });
  check(filled && r.n > 0 && r.unique === r.n, `one row per connection (${r.n} rows, ${r.unique} connections; "${r.title}")`);
  await page.click('#view-events');
  check(await waitStream('per_flow', 'true', false), 'the Events view streams flow events again');
});

await step('pause and resume', async () => {
  await waitUntil(() => window.flowscope.flowsShown() > 0, null, 10000);
  const signature = () => ({
    rows: window.flowscope.flowsShown(),
    top: [...document.querySelectorAll('#flows tr[data-flow-id]')].slice(0, 50).map((r) => r.dataset.flowId + r.textContent).join('|'),
    received: window.flowscope.received(),
  });
  await page.click('#pause');
  const label = await page.textContent('#pause');
  const s0 = await page.evaluate(signature);
  await sleep(1200);
  const s1 = await page.evaluate(signature);
  check(/resume/i.test(label), `#pause turns into a resume button ("${label.trim()}")`);
  check(s1.rows === s0.rows && s1.top === s0.top,
    `paused: the table stays as it was for 1.2 s (${s0.rows} -> ${s1.rows} rows, ${s1.top === s0.top ? 'same' : 'changed'} content)`);
  check(s1.received > s0.received, `paused: flows kept coming (${s1.received - s0.received} events counted)`);
  await page.click('#pause');
  const resumed = await waitUntil((top) => {
    const now = [...document.querySelectorAll('#flows tr[data-flow-id]')].slice(0, 50).map((r) => r.dataset.flowId + r.textContent).join('|');
    return now !== top;
  }, s1.top, 5000);
  check(resumed, 'resumed: the table updates again');
});

await step('screenshot', async () => {
  // The dashboard as a user would leave it: a namespace picked, the noise hidden, a drop's
  // details open.
  await page.selectOption('#f-namespace', exp.namespace);
  await waitStream('namespace', exp.namespace);
  await page.evaluate(() => {
    window.flowscope.cy.elements().unselect().removeClass('hover');
    window.flowscope.map.fit();
  });
  await page.mouse.move(5, 5);
  await openDetails('#flows tr[data-verdict="DROPPED"]');
  await page.evaluate(() => document.getElementById('table-scroll').scrollTo(0, 0));
  await sleep(800);
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
  await page.screenshot({ path: shotPath, fullPage: true, timeout: 15000 });
  const size = fs.existsSync(shotPath) ? fs.statSync(shotPath).size : 0;
  check(size > 10000, `full-page screenshot ${shotPath} (${size} bytes)`);
});

const violations = await page.evaluate(() => window.__cspViolations || []).catch(() => ['(page gone)']);
check(violations.length === 0, `nothing the Content-Security-Policy refused${violations.length ? `: ${violations.slice(0, 3).join('; ')}` : ''}`);
check(pageErrors.length === 0, `no uncaught errors in the page${pageErrors.length ? `: ${pageErrors.slice(0, 3).join('; ')}` : ''}`);

clearTimeout(hard);
await finish();
