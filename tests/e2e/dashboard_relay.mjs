// Browser test of the dashboard a relay (flowrelay) serves: Debian's chromium driven by
// playwright-core (from web/node_modules; no browser is ever downloaded), in two parts.
//   1. Against the real relay following real agents (tests/e2e/e2e_dashboard_relay.sh): the
//      relay is detected, the node picker lists every node and filters the table and the map
//      by one or several, the node column shows every node, the header's node health reads
//      connected/total, a killed agent is unavailable (named, with why) within 5 s and comes
//      back when restarted, a node added to and removed from the relay's peers file comes and
//      goes, an edge's details say which nodes its connections were observed on; screenshot.
//   2. Against a synthetic relay served by this script (the page's own files from web_dir and
//      a made-up API): 16 nodes streaming thousands of flow events a second; measured in the
//      page (events received and rows rendered per second, long tasks by PerformanceObserver,
//      frame intervals, the time a click takes to show), with limits; nodes going unavailable,
//      gone (no longer listed, or listed GONE) and back.
// Usage: node tests/e2e/dashboard_relay.mjs URL SCREENSHOT.png EXPECTATIONS_JSON
//   EXPECTATIONS_JSON: {"nodes": ["node1", "node2", "node3"],
//     "services": {"node1": "svc:shop/frontend", ...}   (each node's own service on the map),
//     "edge": ["svc:shop/frontend", "svc:shop/api"], "edge_nodes": ["node1", "node2"],
//     "victim": "node2", "ctl": "<dir>"   (writing <dir>/kill-node2.req asks the script to
//       kill -9 that agent, restart-node2.req to start it again; each answered by a .done file),
//     "peers_file": "<the relay's --peers-file>", "extra": {"name": "node4", "address": "..."},
//     "web_dir": "<BUILD>/web", "load": {"nodes": 16, "rate": 4000, "seconds": 10},
//     "only": "<step name prefix>"   (optional: run only the steps so named; bench/
//       bench_dashboard.sh runs the synthetic load alone and reads its JSON line)}
// Prints "ok - ..." / "FAIL - ..." lines and "dashboard_relay: N passed, N failed"; exits 1 on
// failure.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const HARD_LIMIT_MS = 300000;
const NAME = 'dashboard_relay';

let passed = 0;
let failed = 0;
let finished = false;
let context = null;
let mock = null;
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
  if (mock) mock.close();
  if (context) {
    try {
      await withTimeout(context.close(), 10000, 'closing the browser');
    } catch (e) {
      note(String(e.message || e));
    }
  }
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  console.log(`${NAME}: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

const hard = setTimeout(() => {
  fail(`the whole test took longer than ${HARD_LIMIT_MS / 1000} s`);
  finish();
}, HARD_LIMIT_MS);

const [url, shotPath, expJson] = process.argv.slice(2);
if (!url || !shotPath || !expJson) {
  console.log('usage: node tests/e2e/dashboard_relay.mjs URL SCREENSHOT.png EXPECTATIONS_JSON');
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
exp.services = exp.services || {};
exp.load = { nodes: 16, rate: 4000, seconds: 10, ...(exp.load || {}) };

let chromium;
try {
  const require = createRequire(path.join(here, '../../web/package.json'));
  ({ chromium } = require('playwright-core'));
} catch (e) {
  fail(`playwright-core not found in web/node_modules (npm ci --prefix web): ${e.message}`);
  await finish();
}

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-dashboard-relay-'));
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

let page = context.pages()[0] || (await context.newPage());
const graphRequests = [];
const pageErrors = [];
function watch(p) {
  p.setDefaultTimeout(10000);
  p.on('request', (r) => {
    if (r.url().includes('/api/v1/graph')) graphRequests.push({ at: Date.now(), url: r.url() });
  });
  p.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
  p.on('console', (m) => {
    if (m.type() === 'error') note(`console error: ${m.text()}`);
  });
}
watch(page);

async function waitUntil(fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, arg, { polling: 200, timeout });
    return true;
  } catch {
    return false;
  }
}

async function step(name, fn) {
  if (exp.only && !name.startsWith(exp.only)) return;
  try {
    await fn();
  } catch (e) {
    fail(`${name}: ${String(e.message || e).split('\n')[0]}`);
  }
}

const rowsInPage = () =>
  [...document.querySelectorAll('#flows tr[data-flow-id]')].map((r) => ({
    id: r.dataset.flowId,
    node: r.dataset.node,
    srcNs: r.dataset.srcNs,
    dstNs: r.dataset.dstNs,
    text: r.textContent,
  }));

// Waits until the table has rows and all of them satisfy pred, and stay so for a second.
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
  check(good && stable, `${what}: ${rows.length} rows, ${bad.length} not matching` +
    (bad.length ? ` (e.g. node ${bad[0].node}: ${bad[0].text.slice(0, 120)})` : ''));
}

const streamParams = () => {
  const f = window.flowscope;
  if (!f || !f.streamOpen()) return null;
  return [...new URL(f.streamUrl(), location.href).searchParams];
};

// The node_name values of the table's stream and of the map's latest request are want.
async function waitNodeQuery(want) {
  // Put together here, not in the page: its Content-Security-Policy allows no eval.
  return waitUntil(new Function('w', `const p = (${streamParams.toString()})();
    const g = window.flowscope.graphUrl();
    if (!p || !g) return false;
    const names = (ps) => ps.filter(([k]) => k === 'node_name').map(([, v]) => v).sort().join(',');
    return names(p) === w && names([...new URL(g, location.href).searchParams]) === w;`), [...want].sort().join(','), 10000);
}

const summary = () => page.evaluate(() => window.flowscope.nodeSummary());

async function openMenu() {
  if (await page.isHidden('#node-menu')) await page.click('#f-node');
  await page.waitForSelector('#node-menu .node-opt', { timeout: 5000 });
}

async function closeMenu() {
  if (!(await page.isHidden('#node-menu'))) await page.keyboard.press('Escape');
}

async function menuNodes() {
  await openMenu();
  const r = await page.evaluate(() => [...document.querySelectorAll('#node-menu .node-opt')]
    .map((o) => ({ name: o.dataset.node, state: o.dataset.state })));
  await closeMenu();
  return r;
}

// The header's node health as the user reads it.
const headerText = () => page.evaluate(() => ({
  value: document.getElementById('c-nodes').textContent,
  sub: document.getElementById('c-nodes-sub').textContent,
  visible: !document.getElementById('nodes-health').hidden,
  alerts: [...document.querySelectorAll('#node-alerts .node-alert')].map((a) => ({
    node: a.dataset.node || '', state: a.dataset.state || '', text: a.textContent,
  })),
}));

async function waitHeader(value, timeout) {
  return waitUntil((v) => document.getElementById('c-nodes').textContent === v, value, timeout);
}

// Asks e2e_dashboard_relay.sh to do something to an agent; resolves when it is done (ms).
async function control(req, timeout = 20000) {
  const done = path.join(exp.ctl, `${req}.done`);
  fs.rmSync(done, { force: true });
  fs.writeFileSync(path.join(exp.ctl, `${req}.req`), '');
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (fs.existsSync(done)) return Date.now();
    await sleep(50);
  }
  throw new Error(`the test script did not do ${req} within ${timeout / 1000} s`);
}

// ---- part 1: the real relay ----------------------------------------------------------------------

await step('open the page', async () => {
  const res = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  check(res && res.ok(), `GET ${url} answers ${res ? res.status() : 'nothing'}`);
  const relay = await waitUntil(() => window.flowscope && window.flowscope.relay() === true, null, 10000);
  check(relay, 'the page knows a relay serves it (/api/v1/nodes answers)');
  const ui = await page.evaluate(() => ({
    picker: !document.getElementById('node-pick').hidden,
    health: !document.getElementById('nodes-health').hidden,
    col: (() => {
      const th = document.querySelector('#flows-head th.col-node');
      return th ? th.getBoundingClientRect().width : 0;
    })(),
  }));
  check(ui.picker && ui.health && ui.col > 40, `node picker, node health and the node column are shown (${JSON.stringify(ui)})`);
});

await step('node health: all connected', async () => {
  const want = `${exp.nodes.length}/${exp.nodes.length}`;
  const good = await waitHeader(want, 20000);
  const h = await headerText();
  check(good, `the header shows ${want} nodes connected ("${h.value}", "${h.sub}")`);
  check(/lag \d/.test(h.sub) && /late \d+/.test(h.sub) && /lost \d+/.test(h.sub), `the header shows lag, late and lost ("${h.sub}")`);
  check(h.alerts.length === 0, `no node is said to be unavailable (${h.alerts.map((a) => a.text).join('; ')})`);
});

await step('node picker lists the nodes', async () => {
  const good = await waitUntil((want) => {
    const names = window.flowscope.nodes().map((n) => n.name);
    return want.every((n) => names.includes(n));
  }, exp.nodes, 15000);
  const opts = await menuNodes();
  const names = opts.map((o) => o.name);
  check(good && exp.nodes.every((n) => names.includes(n)) && names.length === exp.nodes.length,
    `the node picker lists ${exp.nodes.join(', ')} (${opts.map((o) => `${o.name} ${o.state}`).join(', ')})`);
  check(opts.every((o) => o.state === 'CONNECTED'), 'every node is connected in the picker');
});

await step('node column', async () => {
  const good = await waitUntil((want) => {
    const got = new Set([...document.querySelectorAll('#flows tr[data-flow-id]')].map((r) => r.dataset.node));
    return want.every((n) => got.has(n));
  }, exp.nodes, 20000);
  const info = await page.evaluate(() => {
    const rows = [...document.querySelectorAll('#flows tr[data-flow-id]')];
    const cell = rows.length ? rows[0].querySelector('td.node') : null;
    return {
      nodes: [...new Set(rows.map((r) => r.dataset.node))].sort(),
      shown: rows.length,
      cellText: cell ? cell.textContent : '',
      cellNode: rows.length ? rows[0].dataset.node : '',
      cellWidth: cell ? cell.getBoundingClientRect().width : 0,
    };
  });
  check(good && info.nodes.length === exp.nodes.length,
    `the node column shows ${info.nodes.length} distinct nodes in ${info.shown} rows (${info.nodes.join(', ')})`);
  check(info.cellText === info.cellNode && info.cellWidth > 40, `a row's node cell reads its node ("${info.cellText}")`);
});

await step('cluster map', async () => {
  const want = Object.values(exp.services).filter((_, i) => i < exp.nodes.length);
  const good = await waitUntil((ids) => ids.every((id) => window.flowscope.cy.getElementById(id).nonempty()), want, 20000);
  const ids = await page.evaluate(() => window.flowscope.cy.nodes().map((n) => n.id()));
  check(good, `the map shows the services of every node (${want.join(', ')}; map: ${ids.join(', ')})`);
});

// Clicks the edge source -> target on the map (a cytoscape tap if the click misses).
async function selectEdge([s, t]) {
  const id = await page.evaluate(([a, b]) => {
    const e = window.flowscope.cy.edges().filter((x) => x.data('source') === a && x.data('target') === b);
    return e.nonempty() ? e[0].id() : null;
  }, [s, t]);
  if (!id) return null;
  await page.evaluate(() => window.flowscope.map.fit());
  const pos = await page.evaluate((eid) => {
    const cy = window.flowscope.cy;
    const p = cy.getElementById(eid).renderedMidpoint();
    const box = cy.container().getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }, id);
  await page.mouse.click(pos.x, pos.y);
  const selected = await waitUntil((eid) => window.flowscope.cy.getElementById(eid).selected(), id, 3000);
  if (!selected) {
    await page.evaluate((eid) => {
      const e = window.flowscope.cy.getElementById(eid);
      window.flowscope.cy.elements().unselect();
      e.select();
      e.emit('tap');
    }, id);
  }
  return id;
}

const observedOn = () => page.evaluate(() => [...document.querySelectorAll('#details-nodes .obs-node')]
  .map((b) => ({ node: b.dataset.node, count: Number(b.dataset.count) })));

if (exp.edge) {
  await step('edge details: the nodes its connections were observed on', async () => {
    const id = await selectEdge(exp.edge);
    if (!id) {
      fail(`the edge ${exp.edge.join(' -> ')} is not on the map`);
      return;
    }
    const want = exp.edge_nodes || [];
    const good = await waitUntil((w) => {
      const got = [...document.querySelectorAll('#details-nodes .obs-node')].map((b) => b.dataset.node);
      return !document.getElementById('details-nodes').hidden && w.every((n) => got.includes(n));
    }, want, 10000);
    const got = await observedOn();
    check(good && got.every((x) => x.count > 0),
      `the details of ${id} list the nodes its connections were observed on (${got.map((x) => `${x.node} ${x.count}`).join(', ')}; want ${want.join(', ')})`);
    const rows = await page.evaluate(() => [...new Set([...document.querySelectorAll('#details tr[data-flow-id]')].map((r) => r.dataset.node))]);
    check(want.every((n) => rows.includes(n)), `the edge's connections carry their node (${rows.join(', ')})`);
  });
}

// The map shows only what node saw: every edge touches its service, and its edges' own node
// counters (when the relay gives them) name no other node.
async function checkMapOf(names) {
  const svcs = names.map((n) => exp.services[n]).filter(Boolean);
  const good = await waitUntil(([ss, ns]) => {
    const cy = window.flowscope.cy;
    return cy.edges().length > 0 && cy.edges().every((e) =>
      ss.includes(e.data('source')) || ss.includes(e.data('target'))) &&
      cy.edges().every((e) => !Array.isArray(e.data('nodes')) || e.data('nodes').every((x) => ns.includes(x.node)));
  }, [svcs, names], 10000);
  const m = await page.evaluate(() => window.flowscope.cy.edges().map((e) => `${e.data('source')}>${e.data('target')}` +
    (Array.isArray(e.data('nodes')) ? `[${e.data('nodes').map((x) => x.node).join(',')}]` : '')));
  check(good, `the map shows only what ${names.join(' or ')} observed: every edge touches ${svcs.join(' or ')} (${m.join(', ')})`);
}

await step('choose one node', async () => {
  const [one] = exp.nodes;
  await openMenu();
  await page.check(`#node-menu .node-opt[data-node="${one}"] input`);
  const chip = await waitUntil((n) => Boolean(document.querySelector(`#chips .chip[data-key="node_name"][data-value="${n}"]`)), one, 5000);
  check(chip, `checking ${one} in the picker adds the chip node_name=${one}`);
  const label = await page.textContent('#f-node');
  check(label.trim() === one, `the picker reads "${label.trim()}"`);
  await closeMenu();
  check(await waitNodeQuery([one]), `the table's stream and the map's request carry node_name=${one}`);
  await checkRows(`only ${one}'s flows in the table`, '(r, n) => r.node === n', one, 15000);
  await checkMapOf([one]);
  const err = await page.textContent('#filter-error');
  check(!err, `the relay took the filter${err ? `: ${err}` : ''}`);
});

await step('choose another, then several', async () => {
  const [a, b] = [exp.nodes[exp.nodes.length - 1], exp.nodes[0]];
  await openMenu();
  await page.click(`#node-menu .node-opt[data-node="${a}"] .nm`); // the name: only this one
  check(await waitNodeQuery([a]), `clicking ${a}'s name shows only ${a} (node_name=${a} replaces the other)`);
  await checkRows(`only ${a}'s flows in the table`, '(r, n) => r.node === n', a, 15000);
  await checkMapOf([a]);
  await openMenu();
  await page.check(`#node-menu .node-opt[data-node="${b}"] input`);
  check(await waitNodeQuery([a, b]), `checking ${b} too: node_name=${a} and node_name=${b} (alternatives)`);
  await closeMenu();
  await checkRows(`${a}'s and ${b}'s flows in the table`, '(r, ns) => ns.includes(r.node)', [a, b], 15000);
  const both = await waitUntil((ns) => {
    const got = new Set([...document.querySelectorAll('#flows tr[data-flow-id]')].map((r) => r.dataset.node));
    return ns.every((n) => got.has(n));
  }, [a, b], 15000);
  check(both, `rows of both ${a} and ${b}`);
  const label = await page.textContent('#f-node');
  check(/2 nodes/.test(label), `the picker reads "${label.trim()}"`);
  await openMenu();
  await page.click('#node-menu .node-all');
  check(await waitNodeQuery([]), '"All nodes" removes the node filters');
  const chips = await page.evaluate(() => window.flowscope.chips().filter((c) => c.key === 'node_name').length);
  check(chips === 0, 'no node_name chip is left');
});

await step('an agent killed: unavailable within 5 s, the others keep flowing', async () => {
  const victim = exp.victim || exp.nodes[1];
  const total = exp.nodes.length;
  const killedAt = await control(`kill-${victim}`);
  const down = await waitUntil(([v, t]) => {
    const s = window.flowscope.nodeSummary();
    const el = document.querySelector(`#node-alerts .node-alert[data-node="${v}"]`);
    return document.getElementById('c-nodes').textContent === `${t - 1}/${t}` && Boolean(el) && !el.closest('[hidden]') &&
      s.unavailable.includes(v);
  }, [victim, total], 5000);
  const after = Date.now() - killedAt;
  const h = await headerText();
  const alert = h.alerts.find((a) => a.node === victim);
  check(down, `after kill -9 of ${victim}'s agent the header shows ${total - 1}/${total} and ${victim} unavailable ` +
    `within 5 s (${down ? `${(after / 1000).toFixed(1)} s` : 'not within 5 s'}: "${h.value}"; ${alert ? alert.text : 'no alert'})`);
  check(Boolean(alert) && alert.text.includes(victim) && /unavailable/i.test(alert.text) &&
    alert.text.replace(victim, '').replace(/unavailable/i, '').replace(/for\s*≥?\s*\d+\s*s/, '').trim().length > 3,
  `the header names ${victim} and why ("${alert ? alert.text : ''}")`);
  const opts = await menuNodes();
  const o = opts.find((x) => x.name === victim);
  check(o && o.state !== 'CONNECTED', `the picker shows ${victim} ${o ? o.state : 'missing'}`);
  const r0 = await page.evaluate(() => window.flowscope.received());
  await sleep(2000);
  const r1 = await page.evaluate(() => window.flowscope.received());
  check(r1 > r0, `the other nodes keep flowing (${r1 - r0} events in 2 s)`);

  // The screenshot: a node down, the cluster's map with an edge's nodes, the node column.
  await step('screenshot', async () => {
    if (exp.edge) await selectEdge(exp.edge);
    await waitUntil(() => !document.getElementById('details-nodes').hidden, null, 5000);
    await page.evaluate(() => document.getElementById('table-scroll').scrollTo(0, 0));
    await page.mouse.move(5, 5);
    await sleep(600);
    fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
    await page.screenshot({ path: shotPath, fullPage: true, timeout: 15000 });
    const size = fs.existsSync(shotPath) ? fs.statSync(shotPath).size : 0;
    check(size > 10000, `full-page screenshot ${shotPath} (${size} bytes)`);
  });

  const restartedAt = await control(`restart-${victim}`);
  const up = await waitUntil(([v, t]) => document.getElementById('c-nodes').textContent === `${t}/${t}` &&
    !document.querySelector(`#node-alerts .node-alert[data-node="${v}"]`), [victim, total], 20000);
  const h2 = await headerText();
  check(up, `${victim} restarted: the header shows ${total}/${total} again within ${((Date.now() - restartedAt) / 1000).toFixed(1)} s ("${h2.value}")`);
  const rows = await waitUntil((v) => {
    const r = [...document.querySelectorAll('#flows tr[data-flow-id]')];
    return r.slice(0, 200).some((x) => x.dataset.node === v);
  }, victim, 20000);
  check(rows, `${victim}'s flows come to the table again`);
});

if (exp.peers_file && exp.extra) {
  await step('a node comes (peers file) and goes', async () => {
    const { name, address } = exp.extra;
    const total = exp.nodes.length;
    fs.writeFileSync(exp.peers_file, `${address}\n`);
    const came = await waitUntil(([n, t]) => document.getElementById('c-nodes').textContent === `${t + 1}/${t + 1}` &&
      window.flowscope.nodes().some((x) => x.name === n && x.state === 'CONNECTED'), [name, total], 20000);
    const h = await headerText();
    check(came, `${address} added to the relay's peers file: ${name} is connected, the header shows ${total + 1}/${total + 1} ("${h.value}")`);
    const opts = await menuNodes();
    check(opts.some((o) => o.name === name), `the picker lists ${name} (${opts.map((o) => o.name).join(', ')})`);
    fs.writeFileSync(exp.peers_file, '');
    const went = await waitUntil(([n, t]) => document.getElementById('c-nodes').textContent === `${t}/${t}` &&
      !window.flowscope.nodes().some((x) => x.name === n && x.state !== 'GONE'), [name, total], 20000);
    const h2 = await headerText();
    const opts2 = await menuNodes();
    const o = opts2.find((x) => x.name === name);
    check(went, `removed from the peers file: ${name} is gone and the header shows ${total}/${total} ("${h2.value}"; ` +
      `${h2.alerts.map((a) => a.text).join('; ') || 'no alert'})`);
    check(!o || o.state === 'GONE', `the picker shows ${name} ${o ? o.state : 'no more'}`);
  });
}

await step('the relay restarted: the page follows the new one', async () => {
  const total = exp.nodes.length;
  const before = await page.evaluate(() => window.flowscope.received());
  await control('restart-relay');
  const back = await waitUntil(([t, n]) => window.flowscope.streamOpen() && window.flowscope.received() > n + 20 &&
    document.getElementById('c-nodes').textContent === `${t}/${t}`, [total, before], 30000);
  const h = await headerText();
  check(back, `after a restart of the relay the page streams again and shows ${total}/${total} ("${h.value}")`);
});

check(pageErrors.length === 0, `no uncaught errors in the page (relay)${pageErrors.length ? `: ${pageErrors.slice(0, 3).join('; ')}` : ''}`);

// ---- part 2: a synthetic relay, 16 nodes streaming -------------------------------------------------

const TYPES = { 'text/html': /\.html$/, 'text/javascript': /\.js$/, 'text/css': /\.css$/ };

// A made-up relay: the page's files, /api/v1/nodes (states set by the test), and flow events of
// every node at `rate` a second on /api/v1/flows?follow=1.
function startMock(webDir, { nodes: n, rate }) {
  const names = Array.from({ length: n }, (_, i) => `node${String(i + 1).padStart(2, '0')}`);
  const states = new Map(names.map((x) => [x, { state: 'CONNECTED', message: '', listed: true }]));
  const svc = (i) => ({ ns: i % 3 ? 'shop' : 'data', name: `svc${String(i).padStart(2, '0')}` });
  const ip = (i) => `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  // Flow templates: each node's pod talks to the next two nodes' services.
  const templates = [];
  for (let i = 0; i < n; i += 1) {
    for (let k = 1; k <= 2; k += 1) {
      const j = (i + k) % n;
      const a = svc(i);
      const b = svc(j);
      for (const [point, dir] of [['TO_ENDPOINT', 'INGRESS'], ['FROM_ENDPOINT', 'EGRESS']]) {
        const flow = {
          time: '@T@', verdict: (i + k) % 11 === 0 && point === 'TO_ENDPOINT' ? 'DROPPED' : 'FORWARDED',
          IP: { source: ip(i), destination: ip(j), ipVersion: 'IPv4' },
          l4: { TCP: { source_port: 40000 + i * 10 + k, destination_port: 8080, flags: { SYN: true, ACK: true } } },
          source: { identity: 1000 + i, namespace: a.ns, pod_name: `${a.name}-1` },
          destination: { identity: 1000 + j, namespace: b.ns, pod_name: `${b.name}-1` },
          Type: 'L3_L4', node_name: names[point === 'FROM_ENDPOINT' ? i : j], event_type: { type: 4 },
          source_service: { name: a.name, namespace: a.ns }, destination_service: { name: b.name, namespace: b.ns },
          traffic_direction: dir, trace_observation_point: point, interface: { index: 2, name: 'eth0' },
          uuid: '@U@', flow_start: '@T@', packets_sent: '3', bytes_sent: '900', packets_received: '2', bytes_received: '600',
          flow_event: 'FLOW_EVENT_TCP_FLAGS', flow_id: '@F@',
          source_process: { pid: 100 + i, comm: 'client' }, destination_process: { pid: 200 + j, comm: 'server' },
          Summary: 'TCP Flags: SYN, ACK',
        };
        const text = JSON.stringify({ flow, node_name: flow.node_name, time: '@T@' });
        const t = text.split(/@[TUF]@/);
        t.marks = [...text.matchAll(/@([TUF])@/g)].map((m) => m[1]);
        t.node = flow.node_name;
        templates.push(t);
      }
    }
  }
  let seq = 0;
  const fill = (t) => {
    seq += 1;
    const now = new Date().toISOString().replace('Z', '000000Z');
    const uuid = `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`;
    let out = t[0];
    for (let i = 0; i < t.marks.length; i += 1) {
      const m = t.marks[i];
      out += (m === 'T' ? now : m === 'U' ? uuid : String(seq)) + t[i + 1];
    }
    return out;
  };
  const live = () => templates.filter((t) => states.get(t.node).state === 'CONNECTED' && states.get(t.node).listed);
  let sent = 0;
  const clients = new Set();
  const perTick = Math.max(1, Math.round(rate / 100));
  let liveNow = live();
  const timer = setInterval(() => {
    if (!clients.size || !liveNow.length) return;
    let chunk = '';
    const lines = [];
    for (let i = 0; i < perTick; i += 1) lines.push(fill(liveNow[(seq + i * 7) % liveNow.length]));
    for (const res of clients) {
      res.write(res.sse ? lines.map((l) => `event: flow\ndata: ${l}\n\n`).join('') : `${lines.join('\n')}\n`);
    }
    sent += perTick;
  }, 10);
  const graph = () => {
    const gn = names.map((_, i) => ({ id: `svc:${svc(i).ns}/${svc(i).name}`, label: `${svc(i).ns}/${svc(i).name}`, kind: 'service',
      namespace: svc(i).ns, flows: 100, active: 3 }));
    const ge = [];
    for (let i = 0; i < n; i += 1) {
      for (let k = 1; k <= 2; k += 1) {
        const j = (i + k) % n;
        ge.push({ id: `e:${gn[i].id}>${gn[j].id}`, source: gn[i].id, target: gn[j].id, flows: 50, active: 1, bytes_sent: 45000,
          bytes_received: 30000, packets_sent: 150, packets_received: 100, drops_total: 0,
          nodes: [{ node: names[i], flows: 50, bytes: 75000 }] });
      }
    }
    return { window_ns: 300000000000, time: new Date().toISOString(), nodes: gn, edges: ge };
  };
  const nodesJson = () => ({
    nodes: names.filter((x) => states.get(x).listed).map((x) => ({
      name: x, address: `10.77.0.${names.indexOf(x) + 1}:4244`, state: states.get(x).state, message: states.get(x).message,
      version: 'flowscope 0.1.0', tls: false, uptime_ns: 1e12, num_flows: 5000, max_flows: 65536, seen_flows: 9000,
      flows_rate: states.get(x).state === 'CONNECTED' ? rate / n : 0, events: 1e5, late: 0, lost: 0, connects: 1,
      lag_ms: states.get(x).state === 'CONNECTED' ? 40 + names.indexOf(x) : 0,
    })),
  });
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const json = (o, code = 200) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(o));
    };
    if (u.pathname === '/api/v1/nodes') return json(nodesJson());
    if (u.pathname === '/api/v1/status') {
      return json({ num_flows: 80000, max_flows: 262144, seen_flows: 150000, active_flows: 900, lost_records: 0, node_name: 'mock-relay' });
    }
    if (u.pathname === '/api/v1/namespaces') return json({ namespaces: ['data', 'shop'] });
    if (u.pathname === '/api/v1/graph') return json(graph());
    if (u.pathname === '/api/v1/flows') {
      if (u.searchParams.get('follow')) {
        // As flowd: SSE when asked for it, else NDJSON.
        res.sse = /text\/event-stream/.test(req.headers.accept || '');
        res.writeHead(200, { 'content-type': res.sse ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-store' });
        if (res.sse) res.write(': mock\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return undefined;
      }
      const last = Math.min(Number(u.searchParams.get('last') || 100), 500);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let body = '';
      for (let i = 0; i < last; i += 1) body += `${fill(templates[i % templates.length])}\n`;
      return res.end(body);
    }
    const file = path.join(webDir, path.normalize(u.pathname === '/' ? '/index.html' : u.pathname));
    if (!file.startsWith(webDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404);
      return res.end('not found');
    }
    const type = Object.entries(TYPES).find(([, re]) => re.test(file));
    res.writeHead(200, { 'content-type': type ? type[0] : 'application/octet-stream' });
    return res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        names,
        sent: () => sent,
        set(name, state, message = '', listed = true) {
          states.set(name, { state, message, listed });
          liveNow = live();
        },
        close() {
          clearInterval(timer);
          for (const r of clients) r.destroy();
          server.close();
        },
      });
    });
  });
}

// Long tasks and frame intervals, recorded from the start of the page.
const PERF_PROBE = () => {
  const p = { longTasks: [], frames: [], on: false };
  window.__perf = p;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (p.on) p.longTasks.push(e.duration);
    }).observe({ type: 'longtask', buffered: false });
  } catch {
    p.noLongTasks = true;
  }
  let last = 0;
  const tick = (t) => {
    if (p.on && last) p.frames.push(t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
};

const pct = (xs, q) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

await step('synthetic relay: 16 nodes streaming', async () => {
  if (!exp.web_dir) {
    fail('no web_dir: the synthetic relay needs the page files');
    return;
  }
  const L = exp.load;
  mock = await startMock(path.resolve(exp.web_dir), L);
  ok(`synthetic relay at ${mock.url} (${L.nodes} nodes, ${L.rate} flow events/s)`);
  page = await context.newPage();
  watch(page);
  await page.addInitScript(PERF_PROBE);
  await page.goto(mock.url, { waitUntil: 'load', timeout: 15000 });
  const all = `${L.nodes}/${L.nodes}`;
  check(await waitHeader(all, 10000), `the header shows ${all}`);
  const opts = await menuNodes();
  check(opts.length === L.nodes, `the picker lists ${opts.length} nodes`);
  const rows = await waitUntil(() => window.flowscope.flowsShown() >= 400, null, 15000);
  check(rows, 'the table fills');
  await sleep(1500); // the first renders and the map's first layout

  const before = await page.evaluate(() => {
    window.__perf.on = true;
    return { t: performance.now(), received: window.flowscope.received(), perf: window.flowscope.perf() };
  });
  const sent0 = mock.sent();
  // Interactions while it streams: how long until the next frame after a click.
  const clicks = [];
  const end = Date.now() + L.seconds * 1000;
  await sleep(1000);
  while (Date.now() < end - 500) {
    const ms = await page.evaluate(() => new Promise((resolve) => {
      const rowsNow = document.querySelectorAll('#flows tr[data-flow-id]');
      const row = rowsNow[Math.floor(rowsNow.length / 3)];
      const t0 = performance.now();
      if (row) row.click();
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    }));
    clicks.push(ms);
    await sleep(700);
  }
  const after = await page.evaluate(() => {
    window.__perf.on = false;
    return {
      t: performance.now(), received: window.flowscope.received(), perf: window.flowscope.perf(),
      longTasks: window.__perf.longTasks, frames: window.__perf.frames, noLongTasks: Boolean(window.__perf.noLongTasks),
      details: !document.getElementById('flow-details').hidden,
      shown: window.flowscope.flowsShown(),
    };
  });
  const secs = (after.t - before.t) / 1000;
  const sentRate = (mock.sent() - sent0) / secs;
  const recvRate = (after.received - before.received) / secs;
  const rowRate = (after.perf.rows - before.perf.rows) / secs;
  const renders = (after.perf.renders - before.perf.renders) / secs;
  const ltTotal = after.longTasks.reduce((a, b) => a + b, 0);
  const ltMax = after.longTasks.length ? Math.max(...after.longTasks) : 0;
  const f50 = pct(after.frames, 0.5);
  const f95 = pct(after.frames, 0.95);
  const fMax = after.frames.length ? Math.max(...after.frames) : 0;
  const c95 = pct(clicks, 0.95);
  note(`load: sent ${sentRate.toFixed(0)}/s, received ${recvRate.toFixed(0)}/s, rows rendered ${rowRate.toFixed(0)}/s in ` +
    `${renders.toFixed(1)} renders/s (last cost ${after.perf.lastCost.toFixed(0)} ms, max ${after.perf.maxCost.toFixed(0)} ms); ` +
    `long tasks ${after.longTasks.length} (${ltTotal.toFixed(0)} ms in ${secs.toFixed(1)} s, ${(100 * ltTotal / (secs * 1000)).toFixed(0)}%, ` +
    `longest ${ltMax.toFixed(0)} ms); frames ${after.frames.length} (p50 ${f50.toFixed(0)} ms, p95 ${f95.toFixed(0)} ms, max ${fMax.toFixed(0)} ms); ` +
    `click to next frame p95 ${c95.toFixed(0)} ms over ${clicks.length} clicks`);
  console.log(JSON.stringify({
    bench: 'dashboard', rate: L.rate, nodes: L.nodes, seconds: Number(secs.toFixed(2)),
    sent_per_s: Math.round(sentRate), received_per_s: Math.round(recvRate),
    fps: Number((after.frames.length / secs).toFixed(1)), frame_p50_ms: Math.round(f50),
    frame_p95_ms: Math.round(f95), frame_max_ms: Math.round(fMax),
    long_task_pct: Number((100 * ltTotal / (secs * 1000)).toFixed(1)), click_p95_ms: Math.round(c95),
  }));
  check(recvRate >= 0.85 * sentRate && sentRate >= 0.5 * L.rate,
    `the page takes in what 16 nodes send (${recvRate.toFixed(0)} of ${sentRate.toFixed(0)} events/s)`);
  check(after.shown <= 500 && rowRate > 100, `the table stays capped at 500 rows (${after.shown}) and keeps rendering (${rowRate.toFixed(0)} rows/s)`);
  check(!after.noLongTasks, 'long tasks are observable (PerformanceObserver "longtask")');
  // The long tasks are the table's renders: layout and paint of its 500 rows (about 0.5 ms a
  // row on this VM's software rendering). What this test guards is that renders are spaced, not
  // back to back: a page that rendered on every batch is busy nearly all the time. How small the
  // share is, is bench_dashboard.sh's to measure (it was 17-37% here, by the load on the VM).
  const lt95 = pct(after.longTasks, 0.95);
  check(ltTotal <= 0.6 * secs * 1000,
    `renders are spaced: long tasks take ${(100 * ltTotal / (secs * 1000)).toFixed(0)}% of the time (at most 60%; ` +
    `p95 ${lt95.toFixed(0)} ms, longest ${ltMax.toFixed(0)} ms)`);
  check(after.frames.length >= 5 * secs && f95 <= 150,
    `frames keep coming (${(after.frames.length / secs).toFixed(0)}/s, p95 interval ${f95.toFixed(0)} ms <= 150 ms)`);
  // A click that lands during a render waits for it: the bound is the longest render seen plus
  // a frame's worth of slack, not a fixed time (how fast is bench_dashboard.sh's to measure).
  check(clicks.length >= 3 && c95 <= ltMax + 150 && after.details,
    `a click shows the flow's details by the next frame, waiting at most for the render in progress ` +
    `(p95 ${c95.toFixed(0)} ms <= longest long task ${ltMax.toFixed(0)} + 150 ms)`);
  const rate = await page.textContent('#c-rate');
  check(Number.parseFloat(rate) > 0, `the events/s counter reads "${rate}"`);
});

await step('synthetic relay: nodes come and go', async () => {
  if (!mock) return;
  const [a, b, c] = [mock.names[6], mock.names[11], mock.names[2]];
  const n = mock.names.length;
  mock.set(a, 'UNAVAILABLE', 'cannot connect: Connection refused');
  let good = await waitHeader(`${n - 1}/${n}`, 5000);
  let h = await headerText();
  check(good && h.alerts.some((x) => x.node === a && x.text.includes('Connection refused')),
    `${a} unavailable: ${n - 1}/${n} and "${(h.alerts.find((x) => x.node === a) || {}).text || 'no alert'}"`);
  mock.set(b, 'CONNECTED', '', false); // no longer listed
  good = await waitHeader(`${n - 2}/${n - 1}`, 5000);
  h = await headerText();
  const gone = h.alerts.find((x) => x.node === b);
  check(good && gone && gone.state === 'GONE', `${b} no longer listed: ${n - 2}/${n - 1}, said to be gone ("${gone ? gone.text : ''}")`);
  mock.set(c, 'GONE', 'removed from the peers');
  good = await waitHeader(`${n - 3}/${n - 2}`, 5000);
  h = await headerText();
  check(good, `${c} listed GONE: not counted (${h.value})`);
  let opts = await menuNodes();
  const st = Object.fromEntries(opts.map((o) => [o.name, o.state]));
  check(st[a] === 'UNAVAILABLE' && st[b] === 'GONE' && st[c] === 'GONE' && st[mock.names[0]] === 'CONNECTED',
    `the picker shows ${a} ${st[a]}, ${b} ${st[b]}, ${c} ${st[c]}`);
  for (const x of [a, b, c]) mock.set(x, 'CONNECTED', '', true);
  good = await waitHeader(`${n}/${n}`, 5000);
  h = await headerText();
  check(good && !h.alerts.some((x) => x.state !== 'GONE'), `all back: ${h.value}, no node unavailable`);
  opts = await menuNodes();
  check(opts.length === n && opts.every((o) => o.state === 'CONNECTED'), `the picker lists ${n} connected nodes again`);
  // Many down at once: three named, the rest counted.
  for (const x of mock.names.slice(0, 6)) mock.set(x, 'UNAVAILABLE', 'no heartbeat for 2.0 s: reconnecting');
  good = await waitHeader(`${n - 6}/${n}`, 5000);
  h = await headerText();
  const more = h.alerts.find((x) => /\+3 more/.test(x.text));
  check(good && h.alerts.filter((x) => x.state === 'UNAVAILABLE').length === 3 && more,
    `six down: three named and "${more ? more.text : '?'}"`);
  for (const x of mock.names.slice(0, 6)) mock.set(x, 'CONNECTED');
  check(await waitHeader(`${n}/${n}`, 5000), 'and back');
});

check(pageErrors.length === 0, `no uncaught errors in the page${pageErrors.length ? `: ${pageErrors.slice(0, 3).join('; ')}` : ''}`);

clearTimeout(hard);
await finish();
