/**
 * Issue 21, item 1: certificates that obtain and renew themselves (ACME, RFC 8555), against a
 * real ACME server: Debian's pebble, with pebble-challtestsrv as its DNS, on loopback. The
 * proxy answers the CA's HTTP-01 and TLS-ALPN-01 validations on its own listeners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { Agent, request } from 'undici';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { freePort, pebbleOrSkip, type Pebble } from '../../../test/support/pebble.js';
import { redisOrSkip, uniquePrefix } from '../../../test/support/redis.js';
import { Redis } from 'ioredis';
import { storeKey } from '../src/proxy/acme/acme-store.js';

const DOMAIN = 'shop.example.com';

interface Setup {
  dir: string;
  pebble: Pebble;
  httpPort: number;
  tlsPort: number;
}

async function setup(t: Parameters<typeof pebbleOrSkip>[0], ports?: { httpPort: number; tlsPort: number }): Promise<Setup | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-acme-'));
  t.after(async () => rmSync(dir, { recursive: true, force: true }));
  const { httpPort, tlsPort } = ports ?? { httpPort: await freePort(), tlsPort: await freePort() };
  const pebble = await pebbleOrSkip(t, dir, { httpPort, tlsPort });
  return pebble === undefined ? undefined : { dir, pebble, httpPort, tlsPort };
}

function proxyConfig(s: Setup, { challenge = 'http-01', store, ports = s, directory = s.pebble.directory }: { challenge?: 'http-01' | 'tls-alpn-01'; store?: { redis: { url: string; keyPrefix: string } }; ports?: { httpPort: number; tlsPort: number }; directory?: string } = {}): ProxyConfigInput {
  return {
    listeners: [{ host: '127.0.0.1', port: ports.httpPort }, { host: '127.0.0.1', port: ports.tlsPort }],
    routes: [
      { name: 'web', match: { ports: [ports.httpPort] }, action: { type: 'http', routes: [{ name: 'plain', action: { type: 'respond', status: 200, body: 'plain' } }] } },
      { name: 'tls', match: { ports: [ports.tlsPort] }, action: { type: 'terminate', routes: [{ name: 'secure', action: { type: 'respond', status: 200, body: 'secure' } }] } },
    ],
    certificates: [{ acme: { domains: [DOMAIN], contact: 'ops@example.com', directory, challenge } }],
    acme: { store: store ?? { dir: join(s.dir, 'store') }, directoryCaFile: s.pebble.caFile, requestRetries: 0 },
  };
}

async function startProxy(t: { after(fn: () => Promise<void>): void }, config: ProxyConfigInput): Promise<ProxyServer> {
  const proxy = await ProxyServer.start(parseConfig(config));
  t.after(async () => { await proxy.shutdown(0); });
  return proxy;
}

/** The certificate the proxy serves for `servername` on `port`. */
async function served(port: number, servername = DOMAIN): Promise<X509Certificate> {
  const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerX509Certificate()!;
  socket.destroy();
  return cert;
}

async function issued(proxy: ProxyServer): Promise<{ name: string; notAfter: string; renewal: boolean }> {
  const [event] = await once(proxy.acme!, 'issued') as [{ name: string; notAfter: string; renewal: boolean }];
  return event;
}

test('ACME HTTP-01: the certificate is issued by the CA, served by SNI, and stored with mode 0600', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const proxy = await startProxy(t, proxyConfig(s));
  const event = await issued(proxy);
  assert.equal(event.name, DOMAIN);
  assert.equal(event.renewal, false);
  const cert = await served(s.tlsPort);
  assert.match(cert.subjectAltName ?? '', /DNS:shop\.example\.com/);
  // Chains to the root pebble made at this start: a real issuance, not a self-signed stand-in.
  const root = new X509Certificate(await s.pebble.issuingRoot());
  const [leaf, intermediate] = (await chainOf(s.tlsPort)).map((der) => new X509Certificate(der));
  assert.ok(leaf!.checkIssued(intermediate!), 'the leaf is issued by the intermediate sent with it');
  assert.ok(intermediate!.checkIssued(root), "the intermediate is issued by pebble's root");
  assert.ok(intermediate!.verify(root.publicKey));
  const store = join(s.dir, 'store');
  assert.equal(statSync(store).mode & 0o777, 0o700);
  for (const sub of ['accounts', 'certificates']) {
    for (const file of readdirSync(join(store, sub))) assert.equal(statSync(join(store, sub, file)).mode & 0o777, 0o600, `${sub}/${file}`);
  }
});

/** The DER certificates the server sent, leaf first. */
async function chainOf(port: number): Promise<Buffer[]> {
  const socket = connect({ host: '127.0.0.1', port, servername: DOMAIN, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const chain: Buffer[] = [];
  let cert = socket.getPeerCertificate(true);
  while (cert !== undefined && cert.raw !== undefined && !chain.some((c) => c.equals(cert.raw))) {
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  socket.destroy();
  return chain;
}

test('ACME renews at two thirds of the lifetime; a CA outage keeps the held certificate serving and backs off', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const proxy = await startProxy(t, proxyConfig(s));
  await issued(proxy);
  const first = await served(s.tlsPort);
  const notBefore = Date.parse(first.validFrom);
  const notAfter = Date.parse(first.validTo);
  const twoThirds = notBefore + ((notAfter - notBefore) * 2) / 3;

  // Not due yet: nothing is ordered.
  await proxy.acme!.check(twoThirds - 60_000);
  assert.equal((await served(s.tlsPort)).serialNumber, first.serialNumber);

  const renewed = issued(proxy);
  await proxy.acme!.check(twoThirds + 1);
  assert.equal((await renewed).renewal, true);
  const second = await served(s.tlsPort);
  assert.notEqual(second.serialNumber, first.serialNumber);

  // The CA goes away: the order fails, the renewed certificate goes on serving, a retry is set.
  await s.pebble.stop();
  const secondAfter = Date.parse(second.validTo);
  const failed = once(proxy.acme!, 'failed') as Promise<[{ retryInMs: number; error: Error }]>;
  const due = Date.parse(second.validFrom) + ((secondAfter - Date.parse(second.validFrom)) * 2) / 3 + 1;
  await proxy.acme!.check(due);
  const [failure] = await failed;
  assert.ok(failure.retryInMs >= 30_000 && failure.retryInMs <= 60_000, `first retry in ${failure.retryInMs} ms`);
  assert.equal((await served(s.tlsPort)).serialNumber, second.serialNumber);
  // Within the backoff, no new order is tried.
  let retried = false;
  proxy.acme!.once('failed', () => { retried = true; });
  await proxy.acme!.check(due + 1_000);
  assert.equal(retried, false);
});

test('ACME renews when the CA\'s renewal window says so (ARI, RFC 9773), before two thirds of the lifetime', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  // pebble 2.4 (Debian 12) has no renewalInfo resource: a directory of the test's own, beside
  // it, lists pebble's resources and a renewalInfo resource that answers the window set here.
  const trust = new Agent({ connect: { ca: readFileSync(s.pebble.caFile) } });
  t.after(() => trust.close());
  let window = { start: '', end: '' };
  const asked: string[] = [];
  const { cert, key } = s.pebble.listenerCa.issue(['127.0.0.1']);
  const beside = createHttpsServer({ cert, key }, (req, res) => {
    if (req.url === '/dir') {
      void request(s.pebble.directory, { dispatcher: trust }).then((r) => r.body.json()).then((dir) => {
        res.end(JSON.stringify({ ...(dir as object), renewalInfo: `https://127.0.0.1:${(beside.address() as { port: number }).port}/ari` }));
      });
      return;
    }
    asked.push(req.url!.slice('/ari/'.length));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ suggestedWindow: window }));
  });
  beside.listen(0, '127.0.0.1');
  await once(beside, 'listening');
  t.after(() => { beside.closeAllConnections(); beside.close(); });
  const proxy = await startProxy(t, proxyConfig(s, { directory: `https://127.0.0.1:${(beside.address() as { port: number }).port}/dir` }));
  await issued(proxy);
  const first = await served(s.tlsPort);

  const day = 86_400_000;
  window = { start: new Date(Date.now() + day).toISOString(), end: new Date(Date.now() + 2 * day).toISOString() };
  await proxy.acme!.check(Date.now());
  assert.equal((await served(s.tlsPort)).serialNumber, first.serialNumber, 'a window to come: nothing is ordered');
  assert.equal(asked.at(-1), await ariIdByOpenssl(first), 'the certificate named as RFC 9773 §4.1 says (openssl reads the same)');

  // The CA moves the window into the past (an incident, a revocation to come): renewed now.
  window = { start: new Date(Date.now() - 2 * day).toISOString(), end: new Date(Date.now() - day).toISOString() };
  const renewed = issued(proxy);
  await proxy.acme!.check(Date.now());
  assert.notEqual((await served(s.tlsPort)).serialNumber, first.serialNumber, 'renewed in this check');
  assert.equal((await renewed).renewal, true);
});

/** A certificate's ARI identifier from openssl's reading of its Authority Key Identifier and serial. */
async function ariIdByOpenssl(cert: X509Certificate): Promise<string> {
  const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'authorityKeyIdentifier', '-serial'], { input: cert.toString() }).toString();
  const keyId = /keyid:([0-9A-F:]+)|\n\s+([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)!;
  const hex = (keyId[1] ?? keyId[2]!).replaceAll(':', '');
  let serial = /serial=([0-9A-F]+)/.exec(text)![1]!;
  if (serial.length % 2 === 1) serial = `0${serial}`;
  if (Number.parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`;
  return `${Buffer.from(hex, 'hex').toString('base64url')}.${Buffer.from(serial, 'hex').toString('base64url')}`;
}

test('ACME TLS-ALPN-01: the challenge is answered inside the TLS listener, and the certificate served after', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const proxy = await startProxy(t, proxyConfig(s, { challenge: 'tls-alpn-01' }));
  await issued(proxy);
  const cert = await served(s.tlsPort);
  assert.match(cert.subjectAltName ?? '', /DNS:shop\.example\.com/);
  assert.equal(cert.checkHost(DOMAIN), DOMAIN);
  // An acme-tls/1 hello for a name with no challenge pending is refused, not served a certificate.
  const probe = connect({ host: '127.0.0.1', port: s.tlsPort, servername: DOMAIN, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
  const [err] = await once(probe, 'error') as [Error];
  assert.ok(err instanceof Error);
});

test('two proxies sharing a Redis ACME store place exactly one order, and both serve the certificate', async (t) => {
  const redisUrl = await redisOrSkip(t);
  if (redisUrl === undefined) return;
  const s = await setup(t);
  if (s === undefined) return;
  const store = { redis: { url: redisUrl, keyPrefix: `${uniquePrefix('acme')}:` } };
  // The second instance listens on its own ports; the CA validates on the first's, and the
  // answer it finds there may have been placed by either.
  const other = { httpPort: await freePort(), tlsPort: await freePort() };
  const a = await startProxy(t, proxyConfig(s, { store }));
  const b = await startProxy(t, proxyConfig(s, { store, ports: other }));
  const events: string[] = [];
  for (const [label, proxy] of [['a', a], ['b', b]] as const) {
    proxy.acme!.on('issued', () => events.push(`${label} issued`));
    proxy.acme!.on('loaded', () => events.push(`${label} loaded`));
  }
  const bothHold = Promise.all([a, b].map((proxy) => new Promise<void>((resolve) => {
    if (proxy.acme!.held().length > 0) return resolve();
    const done = () => resolve();
    proxy.acme!.once('issued', done).once('loaded', done);
  })));
  await bothHold;
  // check() joins a pass in flight: after these, neither instance has an order still going.
  await Promise.all([a.acme!.check(), b.acme!.check()]);
  // Counted by each proxy's own metric, which no timing of the listeners above can miss.
  const orders = async (proxy: ProxyServer, result: string) => (await proxy.metrics.registry.getSingleMetric('holdfast_proxy_acme_orders_total')!.get()).values
    .filter((v) => v.labels.result === result).reduce((sum, v) => sum + v.value, 0);
  assert.equal(await orders(a, 'issued') + await orders(b, 'issued'), 1, events.join(', '));
  assert.equal(await orders(a, 'failed') + await orders(b, 'failed'), 0, 'no second order was tried');
  const [fromA, fromB] = [await served(s.tlsPort), await served(other.tlsPort)];
  assert.equal(fromA.serialNumber, fromB.serialNumber);

  // Whichever instance placed an order, either answers its HTTP-01 challenge from the store.
  const redis = new Redis(redisUrl);
  t.after(() => redis.disconnect());
  await redis.set(`${store.redis.keyPrefix}challenge:http-01:${storeKey('tok-en_1')}`, 'tok-en_1.thumbprint', 'PX', 60_000);
  for (const port of [s.httpPort, other.httpPort]) {
    const answer = await request(`http://127.0.0.1:${port}/.well-known/acme-challenge/tok-en_1`, { headers: { host: DOMAIN } });
    assert.equal(answer.statusCode, 200);
    assert.equal(await answer.body.text(), 'tok-en_1.thumbprint');
  }
  const unknown = await request(`http://127.0.0.1:${s.httpPort}/.well-known/acme-challenge/other`, { headers: { host: DOMAIN } });
  assert.equal(await unknown.body.text(), 'plain', 'a token no instance placed goes to the routes');
});

test('ACME config errors name the field: a contact that is not an email, a domain no route serves, a directory that cannot be reached', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-acme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = (acme: object, sni?: string[]): ProxyConfigInput => ({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [
      { name: 'web', action: { type: 'http', routes: [{ name: 'plain', action: { type: 'respond', status: 200 } }] } },
      { name: 'tls', match: sni === undefined ? {} : { sni }, action: { type: 'terminate', routes: [{ name: 'secure', action: { type: 'respond', status: 200 } }] } },
    ],
    certificates: [{ acme: { domains: [DOMAIN], contact: 'ops@example.com', ...acme } }],
    acme: { store: { dir } },
  });
  assert.throws(() => parseConfig(base({ contact: 'not an email' })), /certificates\[0\]\.acme\.contact.*email/s);
  assert.throws(() => parseConfig(base({}, ['other.example.com'])), /certificates\[0\]\.acme\.domains\[0\].*no terminate route serves shop\.example\.com/s);
  assert.throws(() => parseConfig(base({ domains: ['*.example.com'] })), /certificates\[0\]\.acme\.domains\[0\].*DNS-01/s);
  const closedPort = await freePort();
  await assert.rejects(ProxyServer.start(parseConfig(base({ directory: `https://127.0.0.1:${closedPort}/dir` }))), /certificates\[0\]\.acme\.directory.*cannot be reached/s);
  const noRedis = { ...base({}), acme: { store: { redis: { url: `redis://127.0.0.1:${closedPort}` } } } };
  await assert.rejects(ProxyServer.start(parseConfig(noRedis)), /acme\.store\.redis\.url.*cannot be reached/s);
});
