import type { Redis, RedisOptions } from 'ioredis';
import { optionalPackage } from './optional-package.js';

/**
 * ioredis, loaded the first time holdfast makes or checks a Redis client, not when holdfast is
 * imported: a process that never talks to Redis (the proxy, a client without a shared rate
 * limit, the mirror on its memory store) never loads it.
 *
 * Why it matters: ioredis 6 declares `class VerbatimString extends String`
 * (built/resp/verbatim-string.js), and evaluating it turns `String.prototype` into a
 * dictionary-mode object in V8 (Node 20). From then on, no optimized code in the process can
 * treat a string method as a constant: every `s.charCodeAt(i)`, `s.toLowerCase()`, `s.slice()`
 * in Node's HTTP code, undici and holdfast looks the method up through a generic inline-cache
 * call. In the HTTP proxy that was about a tenth of the instructions of a proxied request
 * (callgrind, docs/guides/proxy.md#cpu-per-request); packages/client/test/redis-lazy.test.ts pins that loading holdfast
 * leaves `String.prototype` fast.
 */
function ioredis(): typeof import('ioredis') {
  // An optional peer of the client package.
  return optionalPackage<typeof import('ioredis')>('ioredis', 'Redis');
}

/**
 * A new ioredis client, whose commands in flight when its connection drops fail.
 *
 * ioredis keeps the commands it sent and had no answer to when the connection closed, and
 * sends them again once it reconnects (`autoResendUnfulfilledCommands`). Against a Redis that
 * came back empty, that applied a page of a sync pass that had failed meanwhile, table state
 * and cursor included: the next pass went on from there, and the records before it were never
 * fetched again (packages/servicenow/test/redis-store-resend.test.ts). The outcome of such a command is
 * unknown, so it fails, and its caller decides: the mirror's cycle fails and starts again from
 * what the store holds. (ioredis's flushQueue is not in its types; the test pins its use.)
 */
export function newRedis(url: string, options: RedisOptions): Redis {
  const { Redis: RedisClient } = ioredis();
  const client = new RedisClient(url, { autoResendUnfulfilledCommands: false, ...options });
  const queues = client as unknown as { flushQueue(error: Error, options: { offlineQueue: boolean; commandQueue: boolean }): void };
  client.on('close', () => queues.flushQueue(new Error('Redis connection lost with the command in flight: its outcome is unknown'), { offlineQueue: false, commandQueue: true }));
  return client;
}

/** Whether `value` is an ioredis client (one the caller made, so ioredis is loaded already). */
export function isRedisClient(value: unknown): value is Redis {
  return typeof value === 'object' && value !== null && value instanceof ioredis().Redis;
}
