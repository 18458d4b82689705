/**
 * proxy-memory: the proxy's resident memory per idle proxied connection. N clients connect
 * through `holdfast proxy` (every timeout and limit on) to a backend process that holds
 * them; the proxy's RSS growth from before to after, divided by N, is the cost of one
 * idle connection (both of its sockets, its record and its timers).
 *
 *   npm run bench:proxy-memory
 *   options: --connections N (default 9900) --json FILE
 *
 * Why 9,900 and not 10,000: each proxied connection holds two descriptors in the proxy,
 * and this machine caps a process at 20,000 (ulimit -Hn); 9,900 pairs plus the proxy's own
 * fit. Raise the limit and pass --connections 10000 elsewhere.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { freePort, startBenchProxy, until } from '../fixtures/proxy-process.js';

export interface MemoryResult {
  connections: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
}

const HOLDER = `
  const server = require('node:net').createServer((s) => s.on('error', () => {})); // ends when the client does
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));`;

export async function runProxyMemory(connections: number, progress: (line: string) => void = () => {}): Promise<MemoryResult> {
  const holder = spawn(process.execPath, ['-e', HOLDER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const [backendPort] = (await once(holder, 'message')) as [number];
  const port = await freePort();
  const proxy = await startBenchProxy({
    upstreams: [{ name: 'held', targets: [`127.0.0.1:${backendPort}`] }],
    listeners: [{ host: '127.0.0.1', port, backlog: 2048 }],
    routes: [{ name: 'held', action: { type: 'forward', upstream: 'held' } }],
    timeouts: { connectMs: 5000, firstDataMs: 10_000, idleMs: 3_600_000, lifetimeMs: 86_400_000, halfCloseMs: 30_000 },
    limits: { maxConnections: 20_000, perIp: 20_000, perRoute: 20_000, newPerSecondPerIp: 1_000_000 },
  });
  const sockets: Socket[] = [];
  try {
    // Warm up: the code paths compiled and the heap grown once, then released.
    await openMany(port, 500, sockets);
    await until(async () => (await proxy.active()) === 500, 30_000, 'the warm-up connections');
    for (const socket of sockets.splice(0)) socket.destroy();
    await until(async () => (await proxy.active()) === 0, 30_000, 'the warm-up to close');
    const rssBeforeBytes = proxy.rss();
    for (let done = 0; done < connections; done += 500) {
      await openMany(port, Math.min(500, connections - done), sockets);
      progress(`${sockets.length} connections open`);
    }
    await until(async () => (await proxy.active()) === connections, 60_000, `${connections} connections in the proxy`);
    const rssAfterBytes = proxy.rss();
    return { connections, rssBeforeBytes, rssAfterBytes, bytesPerConnection: Math.round((rssAfterBytes - rssBeforeBytes) / connections) };
  } finally {
    for (const socket of sockets) socket.destroy();
    await proxy.stop();
    holder.disconnect();
  }
}

async function openMany(port: number, n: number, into: Socket[]): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    into.push(socket);
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connections: { type: 'string' }, json: { type: 'string' } } });
  const connections = Number(values.connections ?? 9900);
  console.log(`proxy-memory: ${connections} idle proxied connections, node ${process.version}`);
  const result = await runProxyMemory(connections, (line) => console.log(line));
  console.log(`\nRSS ${(result.rssBeforeBytes / 2 ** 20).toFixed(1)} MiB → ${(result.rssAfterBytes / 2 ** 20).toFixed(1)} MiB: ${(result.bytesPerConnection / 1024).toFixed(2)} KiB per idle proxied connection`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
