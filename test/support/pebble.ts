import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { LineWatcher } from './line-watcher.js';
import { testCa, type TestCa } from './tls-fixtures.js';

/** A running pebble (Let's Encrypt's ACME test server) and its pebble-challtestsrv, on loopback. */
export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** The CA file pebble's own HTTPS chains to (for `acme.directoryCaFile`). */
  caFile: string;
  /** That CA, to issue a certificate for a server the test puts beside pebble. */
  listenerCa: TestCa;
  /** The root that pebble's issued certificates chain to (it is made anew at each start). */
  issuingRoot(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Resolves once `port` takes connections. pebble says "ACME directory available" just before
 * it calls ListenAndServeTLS, and has nothing to say after: a test that read the directory at
 * once was refused, now and then (a CI run). The one wait on a process with no event to
 * await: a connect every 10 ms, for 10 s at most, or until the process exits.
 */
async function accepting(port: number, child: ChildProcess): Promise<void> {
  for (let tries = 0; tries < 1000 && child.exitCode === null; tries++) {
    const socket = connect({ host: '127.0.0.1', port });
    const refused = await once(socket, 'connect').then(() => false, () => true); // an 'error' rejects it
    socket.destroy();
    if (!refused) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`nothing took connections on port ${port}`);
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * Starts pebble-challtestsrv (its DNS only: every name is 127.0.0.1) and pebble, which
 * validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of 127.0.0.1: the proxy's
 * listeners. Skips the test with a one-line notice naming what to install when pebble is
 * missing (a failure under HOLDFAST_REQUIRE_ALL=1, as .ci/run sets).
 */
export async function pebbleOrSkip(t: { skip(message: string): void; after(fn: () => Promise<void>): void }, dir: string, { httpPort, tlsPort }: { httpPort: number; tlsPort: number }): Promise<Pebble | undefined> {
  if (spawnSync('pebble', ['-h']).error !== undefined || spawnSync('pebble-challtestsrv', ['-h']).error !== undefined) {
    const message = 'needs pebble and pebble-challtestsrv (install them: apt-get install pebble)';
    if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
    t.skip(message);
    return undefined;
  }
  const [acmePort, managementPort, dnsPort, challManagementPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const ca = testCa('pebble listener CA');
  const leaf = ca.issue(['localhost', '127.0.0.1']);
  writeFileSync(join(dir, 'pebble-ca.pem'), ca.cert);
  writeFileSync(join(dir, 'pebble.pem'), leaf.cert);
  writeFileSync(join(dir, 'pebble.key'), leaf.key);
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: join(dir, 'pebble.pem'),
      privateKey: join(dir, 'pebble.key'),
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'close');
    }));
  };
  t.after(stop);
  const challtestsrv = spawn('pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${challManagementPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(challtestsrv);
  await LineWatcher.of(challtestsrv).waitFor(/Starting challenge servers/);
  // No nonce rejections and no validation sleeps: the tests are about holdfast, not pebble's chaos.
  const env = { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
  const pebble = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(pebble);
  await LineWatcher.of(pebble).waitFor(/ACME directory available/);
  await accepting(acmePort, pebble);
  const management = new Agent({ connect: { ca: ca.cert } });
  t.after(() => management.close());
  return {
    directory: `https://127.0.0.1:${acmePort}/dir`,
    caFile: join(dir, 'pebble-ca.pem'),
    listenerCa: ca,
    async issuingRoot() {
      const res = await request(`https://127.0.0.1:${managementPort}/roots/0`, { dispatcher: management });
      return res.body.text();
    },
    stop,
  };
}
