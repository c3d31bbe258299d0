// Browser check of the dashboard a relay serves (tests/e2e/e2e_relay.sh): Debian's chromium
// driven by playwright-core from web/node_modules (no browser is ever downloaded), as in
// tests/e2e/dashboard.mjs. The page loads from the relay and its flow table shows events of at
// least 3 different nodes (each row's node: data-node, else its node cell).
// Usage: node tests/e2e/relay_dashboard.mjs URL [SCREENSHOT.png]; needs live traffic on the nodes.
// Prints "ok - ..." / "FAIL - ..." lines and "relay_dashboard: N passed, N failed".
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const MIN_NODES = 3;

let passed = 0;
let failed = 0;
let context = null;
let userDataDir = '';

const check = (cond, what) => {
  if (cond) passed += 1;
  else failed += 1;
  console.log(`${cond ? 'ok' : 'FAIL'} - ${what}`);
};

async function finish() {
  if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]);
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  console.log(`relay_dashboard: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

setTimeout(() => {
  check(false, 'the dashboard check finished within 90 s');
  finish();
}, 90000);

const [url, shotPath] = process.argv.slice(2);
if (!url) {
  check(false, 'usage: node tests/e2e/relay_dashboard.mjs URL [SCREENSHOT.png]');
  await finish();
}

let chromium;
try {
  const require = createRequire(path.join(here, '../../web/package.json'));
  ({ chromium } = require('playwright-core'));
} catch (e) {
  check(false, `playwright-core found in web/node_modules (npm ci --prefix web): ${e.message}`);
  await finish();
}

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-relay-dashboard-'));
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1600, height: 1000 },
    timeout: 30000,
  });
} catch (e) {
  check(false, `chromium started (${executablePath}): ${String(e.message || e).split('\n')[0]}`);
  await finish();
}

const page = context.pages()[0] || (await context.newPage());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));

try {
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  check(resp && resp.ok(), `the dashboard loads from the relay (${url}: HTTP ${resp ? resp.status() : '-'})`);
} catch (e) {
  check(false, `the dashboard loads from the relay (${url}): ${String(e.message || e).split('\n')[0]}`);
  await finish();
}

// The nodes of the table's rows.
const nodesInTable = () => {
  const nodes = new Set();
  for (const r of document.querySelectorAll('#flows tr[data-flow-id]')) {
    const cell = r.querySelector('td.node');
    const n = r.dataset.node || (cell && cell.textContent.trim()) || '';
    if (n) nodes.add(n);
  }
  return { rows: document.querySelectorAll('#flows tr[data-flow-id]').length, nodes: [...nodes].sort() };
};

let seen = { rows: 0, nodes: [] };
try {
  await page.waitForFunction(
    (min) => {
      const rows = [...document.querySelectorAll('#flows tr[data-flow-id]')];
      const nodes = new Set(rows.map((r) => r.dataset.node || (r.querySelector('td.node') || {}).textContent || '').filter(Boolean));
      return nodes.size >= min;
    },
    MIN_NODES,
    { polling: 250, timeout: 30000 },
  );
} catch {
  // reported below with what the table had
}
seen = await page.evaluate(nodesInTable);
check(seen.nodes.length >= MIN_NODES,
  `the flow table shows events of at least ${MIN_NODES} nodes (${seen.rows} rows, nodes: ${seen.nodes.join(', ') || 'none'})`);
check(pageErrors.length === 0, `no errors in the page (${pageErrors.slice(0, 3).join('; ') || 'none'})`);
if (shotPath) await page.screenshot({ path: shotPath }).catch(() => {});
await finish();
