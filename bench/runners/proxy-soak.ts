/**
 * proxy-soak: `holdfast proxy` under mixed chaos and load for a while (5 minutes by
 * default), run by hand. Load: keep-alive echo round trips on 50 connections. Chaos, in a
 * loop: rapid connect/disconnect, client resets mid-stream, backends that reset, refused
 * and half-closing backends, malformed ClientHellos. The proxy's RSS is sampled every
 * few seconds; after the warm-up (the first fifth), its growth must stay under 5%, and
 * at the end no connection may be left open.
 *
 *   npm run bench:proxy-soak
 *   options: --seconds S (default 300) --json FILE
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { freePort, startBenchProxy, until } from '../fixtures/proxy-process.js';

export interface SoakResult {
  seconds: number;
  roundTrips: number;
  chaosConnections: number;
  samples: { atS: number; rssMiB: number }[];
  /** RSS at the end over RSS right after the warm-up, minus 1, in %. */
  growthAfterWarmupPercent: number;
  activeAtEnd: number;
}

function server(handler: (socket: Socket) => void): Promise<Server> {
  const s = createServer({ allowHalfOpen: false }, (socket) => { socket.on('error', () => {}); handler(socket); });
  s.listen(0, '127.0.0.1');
  return once(s, 'listening').then(() => s);
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves on close; reads (and drops) whatever arrives, or a FIN behind unread data would never be seen. */
const closed = (socket: Socket) => new Promise<void>((resolve) => socket.resume().once('close', () => resolve()));

export async function runProxySoak(seconds: number, progress: (line: string) => void = () => {}): Promise<SoakResult> {
  const echo = await server((s) => s.pipe(s));
  const resetter = await server((s) => s.once('data', () => setTimeout(() => s.resetAndDestroy(), 5)));
  const refused = await freePort();
  const ports = { load: await freePort(), chaos: await freePort(), reset: await freePort(), refused: await freePort(), tls: await freePort() };
  const at = (p: number) => `127.0.0.1:${p}`;
  const proxy = await startBenchProxy({
    upstreams: [{ name: 'load', targets: [at(refused), at(portOf(echo))] }, { name: 'reset', targets: [at(portOf(resetter))] }, { name: 'refused', targets: [at(refused)] }, { name: 'tls', targets: [at(portOf(echo))] }],
    listeners: Object.entries(ports).map(([name, port]) => ({ name, host: '127.0.0.1', port })),
    routes: [
      { name: 'load', match: { ports: [ports.load, ports.chaos] }, action: { type: 'forward', upstream: 'load' } },
      { name: 'reset', match: { ports: [ports.reset] }, action: { type: 'forward', upstream: 'reset' } },
      { name: 'refused', match: { ports: [ports.refused] }, action: { type: 'forward', upstream: 'refused' } },
      { name: 'tls', match: { ports: [ports.tls], sni: ['app.example.test'] }, action: { type: 'passthrough', upstream: 'tls' } },
    ],
    timeouts: { firstDataMs: 500, idleMs: 30_000, halfCloseMs: 2_000 },
    limits: { maxConnections: 10_000, perIp: 5_000, newPerSecondPerIp: 100_000 },
  });
  const until_ = performance.now() + seconds * 1000;
  let roundTrips = 0;
  let chaosConnections = 0;
  const samples: SoakResult['samples'] = [];
  const started = performance.now();
  const sampler = setInterval(() => {
    samples.push({ atS: Math.round((performance.now() - started) / 100) / 10, rssMiB: Math.round((proxy.rss() / 2 ** 20) * 10) / 10 });
    progress(`${samples.at(-1)!.atS} s: RSS ${samples.at(-1)!.rssMiB} MiB, ${roundTrips} round trips, ${chaosConnections} chaos connections`);
  }, Math.max(1000, Math.min(5000, (seconds * 1000) / 20)));
  const load = Array.from({ length: 50 }, async () => {
    const socket = await dial(ports.load);
    while (performance.now() < until_) {
      const reply = once(socket, 'data');
      socket.write('ping');
      await reply;
      roundTrips++;
    }
    socket.end();
    await closed(socket);
  });
  const chaos = async (): Promise<void> => {
    const kinds = [
      async () => { const s = await dial(ports.chaos); s.destroy(); }, // rapid connect/disconnect
      async () => { const s = await dial(ports.chaos); s.write('x'); await once(s, 'data'); s.resetAndDestroy(); }, // client RST mid-stream
      async () => { const s = await dial(ports.reset); s.write('x'); await closed(s); }, // backend RST
      async () => { const s = await dial(ports.refused); await closed(s); }, // backend refuses
      async () => { const s = await dial(ports.chaos); s.end('bye'); await closed(s); }, // half-close
      async () => { const s = await dial(ports.tls); s.write(Buffer.from([22, 3, 3, 0, 4, 1, 0xff, 0xff, 0xff])); await closed(s); }, // bad hello
    ];
    let i = 0;
    while (performance.now() < until_) {
      await Promise.all(Array.from({ length: 20 }, () => kinds[i++ % kinds.length]!().then(() => { chaosConnections++; })));
    }
  };
  try {
    await Promise.all([...load, chaos(), chaos()]);
    clearInterval(sampler);
    await until(async () => (await proxy.active()) === 0, 10_000, 'every connection to close');
    samples.push({ atS: Math.round((performance.now() - started) / 100) / 10, rssMiB: Math.round((proxy.rss() / 2 ** 20) * 10) / 10 });
    const afterWarmup = samples.find((s) => s.atS >= seconds / 5) ?? samples[0]!;
    const last = samples.at(-1)!;
    return {
      seconds, roundTrips, chaosConnections, samples,
      growthAfterWarmupPercent: Math.round(((last.rssMiB / afterWarmup.rssMiB) - 1) * 1000) / 10,
      activeAtEnd: await proxy.active(),
    };
  } finally {
    clearInterval(sampler);
    await proxy.stop();
    echo.close();
    resetter.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, json: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 300);
  console.log(`proxy-soak: ${seconds} s of mixed chaos and load, node ${process.version}`);
  const result = await runProxySoak(seconds, (line) => console.log(line));
  console.log(`\n${result.roundTrips} round trips, ${result.chaosConnections} chaos connections; RSS growth after warm-up ${result.growthAfterWarmupPercent}%; active at the end ${result.activeAtEnd}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
