import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI_BIN, closedPort, serveCommand as serve } from '../../../test/support/helpers.js';
import { LineWatcher } from '../../../test/support/line-watcher.js';

// The CLI is tested as users run it: the built bin (npm test builds before testing).
const BIN = CLI_BIN;

interface Run { code: number | null; stdout: string; stderr: string }

async function cli(args: string[]): Promise<Run> {
  assert.ok(existsSync(BIN), 'dist/ is built (run npm run build)');
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

describe('holdfast CLI', { concurrency: true }, () => {
  test('--help lists the commands; no command is a usage error', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /probe URL/);
    assert.match(help.stdout, /simulate flaky/);
    assert.equal((await cli([])).code, 2);
  });

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync('packages/cli/package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const run = await cli([flag]);
      assert.deepEqual([run.code, run.stdout], [0, `holdfast ${version}\n`]);
    }
  });

  test('bad input exits 2 with a one-line reason', async () => {
    for (const args of [['nope'], ['probe'], ['probe', '--connections', '0', 'http://127.0.0.1:1/'], ['probe', '--bogus', 'http://x/'],
      ['simulate', 'flaky', '--status', '200'], ['simulate', 'flaky', '--refuse-for', '10'], ['simulate', 'nothing'], ['probe', 'ftp://x/'],
      ['proxy'], ['proxy', '--config', '/nonexistent/proxy.yaml'], ['proxy', '--config', 'examples/proxy.yaml', '--log-level', 'loud']]) {
      const run = await cli(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /^holdfast: .+\n$/, args.join(' '));
    }
  });

  test('proxy: a wrong config file is one line naming the field, exit 2; --check validates the example', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/holdfast-cli-');
    try {
      const file = `${dir}/bad.yaml`;
      writeFileSync(file, 'listeners: [{ port: 8443 }]\nupstreams:\n  - name: a\n    targets: ["10.0.0.1:443", "nope"]\nroutes:\n  - name: a\n    action: { type: forward, upstream: a }\n');
      const run = await cli(['proxy', '--config', file]);
      assert.equal(run.code, 2);
      assert.equal(run.stderr, `holdfast: ${file}: upstreams[0].targets[1]: expected "host:port" (or "[v6]:port") with a port 1-65535, got "nope" [HF_ERR_PROXY_CONFIG]\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('proxy --check validates the example with its certificates, and names a missing certificate file', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } = await import('node:fs');
    const { testCa } = await import('../../../test/support/tls-fixtures.js');
    const dir = mkdtempSync('/tmp/holdfast-cli-');
    try {
      copyFileSync('examples/proxy.yaml', `${dir}/proxy.yaml`);
      const missing = await cli(['proxy', '--config', `${dir}/proxy.yaml`, '--check']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /^holdfast: \S+www\.example\.test\.pem: certificates\[0\]\.certFile: no such file \[HF_ERR_PROXY_CONFIG\]\n$/);
      mkdirSync(`${dir}/certs`);
      const ca = testCa();
      const { cert, key } = ca.issue(['www.example.test', 'api.example.test']);
      writeFileSync(`${dir}/certs/www.example.test.pem`, cert);
      writeFileSync(`${dir}/certs/www.example.test.key`, key);
      const noCa = await cli(['proxy', '--config', `${dir}/proxy.yaml`, '--check']);
      assert.match(noCa.stderr, /upstreams\[2\]\.tls\.caFile: no such file/);
      writeFileSync(`${dir}/certs/internal-ca.pem`, ca.cert);
      const check = await cli(['proxy', '--config', `${dir}/proxy.yaml`, '--check']);
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /valid: 3 listener\(s\), 6 upstream\(s\), 8 route\(s\), 2 certificate\(s\)/);
      assert.match(check.stdout, /certificate acme:shop\.example\.test: http-01 from https:\/\/acme-v02\.api\.letsencrypt\.org\/directory/);
      assert.match(check.stdout, /certificate \S+www\.example\.test\.pem: www\.example\.test, api\.example\.test \(until \d{4}-.+\) default/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('each command has --help', async () => {
    for (const args of [['probe', '--help'], ['proxy', '--help'], ['simulate', 'flaky', '--help'], ['simulate', 'servicenow', '--help']]) {
      const run = await cli(args);
      assert.equal(run.code, 0);
      assert.match(run.stdout, /^Usage: holdfast /);
    }
  });

  test('simulate servicenow --help documents every flag it accepts', async () => {
    const source = readFileSync(fileURLToPath(new URL('../src/cli/simulate-servicenow-command.ts', import.meta.url)), 'utf8');
    const declared = /options: \{([\s\S]*?)\n {4}\},\n {2}\}\);/.exec(source)![1]!;
    const flags = [...declared.matchAll(/'?([a-z][a-z-]*)'?: [{sb]/g)].map((m) => m[1]!);
    assert.ok(flags.length > 25, `found ${flags.length} flags`);
    const help = (await cli(['simulate', 'servicenow', '--help'])).stdout;
    for (const flag of flags) assert.match(help, new RegExp(`--${flag}\\b`), `--${flag} is documented`);
  });

  test('simulate servicenow: bad flags exit 2 naming the flag; it serves the Table API and stops on SIGTERM', async (t) => {
    for (const [args, named] of [[['--rst-rate', '2'], /--rst-rate/], [['--on-timeout', 'never'], /--on-timeout/], [['--user', 'nopassword'], /--user/], [['--records', '-1'], /--records/]] as const) {
      const run = await cli(['simulate', 'servicenow', ...args]);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, named);
    }
    const { url, child } = await serve(t, ['simulate', 'servicenow', '--records', '40', '--user', 'svc:secret']);
    const res = await fetch(`${url}/api/now/table/incident?sysparm_limit=1`, { headers: { authorization: `Basic ${Buffer.from('svc:secret').toString('base64')}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-total-count'), '20');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0);
  });

  test('servicenow --help documents every flag it accepts', async () => {
    const source = readFileSync(fileURLToPath(new URL('../src/cli/servicenow-command.ts', import.meta.url)), 'utf8');
    const declared = /options: \{([\s\S]*?)\n {4}\},\n {2}\}\);/.exec(source)![1]!;
    const flags = [...declared.matchAll(/'?([a-z][a-z-]*)'?: [{sb]/g)].map((m) => m[1]!);
    assert.ok(flags.length > 15, `found ${flags.length} flags`);
    const help = await cli(['servicenow', '--help']);
    assert.equal(help.code, 0);
    for (const flag of flags) assert.match(help.stdout, new RegExp(`--${flag}\\b`), `--${flag} is documented`);
  });

  test('servicenow: bad input exits 2 with a one-line reason naming the problem', async () => {
    for (const [args, named] of [
      [[], /--instance URL/], [['--simulate', '--instance', 'http://127.0.0.1:1'], /exclude each other/], [['--simulate', '--rate', '0'], /--rate/],
      [['--instance', 'http://127.0.0.1:1'], /SERVICENOW_USER/], [['--simulate', '--page-size', '20000'], /--page-size/], [['--instance', 'http://127.0.0.1:1', '--records', '5'], /--records/],
      // regression (issue 17): accepted, then every cycle failed forever
      [['--simulate', '--tables', 'incident,sc_task'], /tables: .*sys_user_group/],
      // regression (issue 17): credentials in the URL were shown on the dashboard, in the API and in every link
      [['--instance', 'https://svc:s3cret@acme.service-now.com'], /--instance must not carry credentials/],
      [['--simulate', '--host', '0.0.0.0'], /beyond loopback: give --auth-tokens or --auth-users/],
    ] as const) {
      const run = await cli(['servicenow', ...args]);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /^holdfast: .+\n$/);
      assert.match(run.stderr, named, args.join(' '));
      assert.doesNotMatch(run.stderr, /s3cret/, 'the error does not repeat a secret');
    }
  });

  test('servicenow --simulate: logs the first load (no TTY), serves the dashboard, stops cleanly on SIGTERM', async (t) => {
    const child = spawn(process.execPath, [BIN, 'servicenow', '--simulate', '--records', '400', '--port', '0', '--interval', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await once(child, 'close'); } });
    const out = LineWatcher.of(child);
    const url = /dashboard listening on (\S+)/.exec(await out.waitFor(/dashboard listening on (\S+)/))![1];
    await out.waitFor(/sync cycle \d+: complete/);
    assert.match(out.text, /first load of incident: \d+ of \d+ \(100%\)/);
    assert.match(out.text, /cache warmed: \d+ critical groups/);
    const page = await fetch(url!);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Waiting work/);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0);
    assert.match(out.text, /SIGTERM: stopping/);
  });

  test('probe against simulate flaky --idle-close 3000 reports 3 s ± 10%, unadvertised and advertised', async (t) => {
    const plain = await serve(t, ['simulate', 'flaky', '--idle-close', '3000']);
    const advertised = await serve(t, ['simulate', 'flaky', '--idle-close', '3000', '--advertise']);
    const [a, b] = await Promise.all([cli(['probe', plain.url, '--json']), cli(['probe', advertised.url, '--json'])]);
    for (const [run, hint] of [[a, undefined], [b, 3000]] as const) {
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { advertisedMs?: number; observedIdleMs: number };
      assert.equal(result.advertisedMs, hint);
      assert.ok(Math.abs(result.observedIdleMs - 3000) <= 300, `observed ${result.observedIdleMs} ms`);
    }
  });

  test('probe prints a readable report', async (t) => {
    const { url } = await serve(t, ['simulate', 'flaky', '--idle-close', '1500', '--advertise']);
    const run = await cli(['probe', url, '--connections', '2', '--max-wait', '3000']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /advertised Keep-Alive timeout: 1 s/);
    assert.match(run.stdout, /observed idle close: +1\.\d\d s/);
    assert.match(run.stdout, /recommended client idle: +0\.75 s/, 'below the hint, the smaller of the two');
  });

  test('probe of a refused port exits 1 with the reason', async () => {
    const port = await closedPort();
    const run = await cli(['probe', `http://127.0.0.1:${port}/`]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `holdfast: connection refused by 127.0.0.1:${port} [HF_ERR_PROBE]\n`);
  });

  test('simulate flaky stops cleanly on SIGTERM and SIGINT', async (t) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const { child } = await serve(t, ['simulate', 'flaky']);
      child.kill(signal);
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 0);
    }
  });
});
