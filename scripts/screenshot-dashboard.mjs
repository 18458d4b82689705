#!/usr/bin/env node
// Takes the README's screenshot: `holdfast servicenow --simulate` (what `npm start` runs),
// waited on until the first load and a few incremental cycles are done, then the
// dashboard in Debian's chromium through playwright-core, saved to docs/dashboard.png.
// Run after `npm run build`: node scripts/screenshot-dashboard.mjs
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const child = spawn(process.execPath, ['dist/cli/main.js', 'servicenow', '--simulate', '--port', '0', '--interval', '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
const seen = (pattern) => new Promise((resolve) => {
  const check = () => { const m = pattern.exec(out); if (m) { child.stdout.off('data', onData); resolve(m); } };
  const onData = (chunk) => { out += chunk; check(); };
  child.stdout.on('data', onData);
  check();
});
try {
  const [, url] = await seen(/dashboard listening on (\S+)/);
  await seen(/sync cycle \d+: complete/);
  const cycles = () => (out.match(/: complete/g) ?? []).length;
  while (cycles() < 5) await seen(new RegExp(`(?:[\\s\\S]*?: complete){${cycles() + 1}}`));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector('#group-table tbody tr[data-group]');
  await page.locator('#group-table tbody tr[data-group] button[data-table="incident"]').first().click();
  await page.waitForSelector('#drill-table tbody tr');
  await page.screenshot({ path: 'docs/dashboard.png', fullPage: false });
  await browser.close();
  console.log('wrote docs/dashboard.png');
} finally {
  child.kill('SIGTERM');
}
