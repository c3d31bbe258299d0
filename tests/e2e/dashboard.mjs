// Browser test of the dashboard flowd serves at "/": Debian's chromium driven by playwright-core
// (from web/node_modules; no browser is ever downloaded).
// Usage: node tests/e2e/dashboard.mjs URL SCREENSHOT.png EXPECTATIONS_JSON
//   EXPECTATIONS_JSON: {"nodes": ["svc:shop/web", ...], "edges": [["<src id>", "<dst id>"], ...],
//                       "filter_ip": "10.200.5.2", "filter_port": "8080"}
// Needs live traffic for the whole run (new flows all the time, some of them dropped).
// Prints "ok - ..." / "FAIL - ..." lines and "dashboard: N passed, N failed"; exits 1 on failure.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const HARD_LIMIT_MS = 170000;

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
page.setDefaultTimeout(10000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
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
    text: r.textContent,
  }));

async function setFilter(selector, param, value) {
  if (selector.startsWith('#f-verdict') || selector.startsWith('#f-protocol')) {
    await page.selectOption(selector, value);
  } else {
    await page.fill(selector, value);
    await page.press(selector, 'Enter');
  }
  // The stream restarted with (or without) the parameter.
  const restarted = await waitUntil(
    ([p, v]) => {
      const fs = window.flowscope;
      if (!fs || !fs.streamOpen()) return false;
      const got = new URL(fs.streamUrl(), location.href).searchParams.get(p);
      return v === '' ? got === null : got === v;
    },
    [param, value],
    10000,
  );
  check(restarted, `the stream restarted with ${param}=${value === '' ? '(none)' : value}`);
  return restarted;
}

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

await step('open the page', async () => {
  const res = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  check(res && res.ok(), `GET ${url} answers ${res ? res.status() : 'nothing'}`);
  const title = await page.title();
  check(/Flowscope/.test(title), `the dashboard page (title "${title}")`);
  const hasCy = await waitUntil(() => window.flowscope && window.flowscope.cy, null, 5000);
  check(hasCy, 'cytoscape loaded from vendor/cytoscape.min.js and window.flowscope.cy set');
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
  for (const id of exp.nodes) {
    check(got.nodes.includes(id), `the map shows node ${id}${present ? ' (visible)' : ''}`);
  }
  for (const [s, t] of exp.edges) {
    const e = got.edges.find((x) => x[0] === s && x[1] === t);
    check(Boolean(e), `the map shows edge ${s} -> ${t}` + (e ? ` (colour ${e[2]}, width ${Number(e[3]).toFixed(1)})` : ''));
  }
  if (!present) {
    fail(`not everything expected was visible within 20 s; the map has nodes ${JSON.stringify(got.nodes)}`);
  }
  const graph = await page.evaluate(() => window.flowscope.graph());
  check(
    graph && Array.isArray(graph.nodes) && Array.isArray(graph.edges),
    `window.flowscope.graph() has the latest graph (${graph && graph.nodes ? graph.nodes.length : '?'} nodes)`,
  );
});

await step('flow table', async () => {
  const rows = await waitUntil(() => window.flowscope && window.flowscope.flowsShown() > 0, null, 15000);
  const n = await page.evaluate(() => (window.flowscope ? window.flowscope.flowsShown() : 0));
  check(rows, `the flow table fills from the stream (${n} rows)`);
  const rate = await waitUntil(() => parseFloat(document.getElementById('c-rate').textContent) > 0, null, 5000);
  const counters = await page.evaluate(() =>
    ['c-rate', 'c-drops', 'c-lost'].map((id) => `${id}=${document.getElementById(id).textContent}`).join(' '));
  check(rate, `counters (${counters})`);
});

if (exp.filter_ip) {
  await step('IP filter', async () => {
    if (await setFilter('#f-ip', 'ip', exp.filter_ip)) {
      await checkRows(
        `IP filter ${exp.filter_ip}`,
        '(r, ip) => r.srcIp === ip || r.dstIp === ip',
        exp.filter_ip,
        10000,
      );
    }
    await setFilter('#f-ip', 'ip', '');
  });
}

if (exp.filter_port) {
  await step('port filter', async () => {
    if (await setFilter('#f-port', 'port', String(exp.filter_port))) {
      await checkRows(
        `port filter ${exp.filter_port}`,
        '(r, p) => r.srcPort === p || r.dstPort === p',
        String(exp.filter_port),
        10000,
      );
    }
    await setFilter('#f-port', 'port', '');
  });
}

await step('verdict filter', async () => {
  if (await setFilter('#f-verdict', 'verdict', 'DROPPED')) {
    await checkRows('verdict filter DROPPED', '(r) => r.verdict === "DROPPED"', null, 15000);
  }
  await setFilter('#f-verdict', 'verdict', '');
});

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
  const selected = await waitUntil(
    (eid) => window.flowscope.cy.getElementById(eid).selected(),
    id,
    3000,
  );
  if (selected) return { how: 'mouse click', label: pos.label };
  await page.evaluate((eid) => {
    const ele = window.flowscope.cy.getElementById(eid);
    ele.select();
    ele.emit('tap');
  }, id);
  return { how: 'cytoscape tap', label: pos.label };
}

async function checkDetails(what) {
  const okRows = await waitUntil(
    () => document.querySelectorAll('#details tr[data-flow-id]').length > 0,
    null,
    10000,
  );
  const info = await page.evaluate(() => ({
    n: document.querySelectorAll('#details tr[data-flow-id]').length,
    title: document.getElementById('details-title').textContent,
    status: document.getElementById('details-status').textContent,
  }));
  check(okRows, `${what}: #details lists ${info.n} flows ("${info.title}"; ${info.status})`);
  return info;
}

await step('node details', async () => {
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

await step('pause and resume', async () => {
  await waitUntil(() => window.flowscope.flowsShown() > 0, null, 10000);
  const signature = () => ({
    rows: window.flowscope.flowsShown(),
    top: [...document.querySelectorAll('#flows tr[data-flow-id]')]
      .slice(0, 50)
      .map((r) => r.dataset.flowId + r.textContent)
      .join('|'),
    received: window.flowscope.received(),
  });
  await page.click('#pause');
  const label = await page.textContent('#pause');
  const s0 = await page.evaluate(signature);
  await sleep(1200);
  const s1 = await page.evaluate(signature);
  check(/resume/i.test(label), `#pause turns into a resume button ("${label.trim()}")`);
  check(
    s1.rows === s0.rows && s1.top === s0.top,
    `paused: the table stays as it was for 1.2 s (${s0.rows} -> ${s1.rows} rows, ` +
      `${s1.top === s0.top ? 'same' : 'changed'} content)`,
  );
  check(s1.received > s0.received, `paused: flows kept coming (${s1.received - s0.received} events counted)`);
  await page.click('#pause');
  const resumed = await waitUntil((top) => {
    const now = [...document.querySelectorAll('#flows tr[data-flow-id]')]
      .slice(0, 50)
      .map((r) => r.dataset.flowId + r.textContent)
      .join('|');
    return now !== top;
  }, s1.top, 5000);
  check(resumed, 'resumed: the table updates again');
});

await step('screenshot', async () => {
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
  await page.screenshot({ path: shotPath, fullPage: true, timeout: 15000 });
  const size = fs.existsSync(shotPath) ? fs.statSync(shotPath).size : 0;
  check(size > 10000, `full-page screenshot ${shotPath} (${size} bytes)`);
});

check(pageErrors.length === 0, `no uncaught errors in the page${pageErrors.length ? `: ${pageErrors.slice(0, 3).join('; ')}` : ''}`);

clearTimeout(hard);
await finish();
