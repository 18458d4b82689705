import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import type { ProxyConfig } from '../config/config.js';
import { connectionsOf } from '../admin-server.js';
import { ProxyRuntime } from '../runtime.js';
import { isToWorker, toSupervisor } from './messages.js';
import { WorkerLimits } from './worker-limits.js';

/** Set by the supervisor in the environment of the processes it forks. */
export const WORKER_ENV = 'HOLDFAST_WORKER';

/** How many workers `config.workers` asks for. */
export function workerCount(config: Pick<ProxyConfig, 'workers'>): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/** Whether this process is a proxy worker that a supervisor forked (workers/supervisor.ts). */
export function isProxyWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] !== undefined;
}

/** What the supervisor tells a worker through its environment. */
export interface WorkerEnv {
  /** How many workers the supervisor runs. */
  workers: number;
  /** With reusePort: the port each port-0 listener got from the first worker, by listener index. */
  ports: (number | undefined)[];
}

/**
 * The config as this worker runs it: with `reusePort`, the ports that the first worker's port-0
 * listeners got, so that every worker binds the same. (The limits stay whole: the supervisor
 * counts them over every worker, limit-counts.ts.)
 */
export function workerConfig(config: ProxyConfig, { ports }: WorkerEnv): ProxyConfig {
  return { ...config, listeners: config.listeners.map((listener, i) => (listener.port === 0 && ports[i] !== undefined ? { ...listener, port: ports[i] } : listener)) };
}

/**
 * The config the supervisor sends first thing: a worker started again after a crash serves what
 * its generation validated, even if the file has been edited (or broken) since.
 */
async function configFromSupervisor(): Promise<ProxyConfig> {
  const asked = once(process, 'message'); // listening before asking: a message nobody hears is lost
  toSupervisor({ holdfast: 'hello' });
  for (let [message] = (await asked) as [unknown]; ; [message] = (await once(process, 'message')) as [unknown]) {
    if (isToWorker(message) && message.holdfast === 'config') return message.config;
  }
}

/**
 * A worker: the proxy in this process, listening beside the other workers (through the
 * supervisor's handle, or its own SO_REUSEPORT socket), its connection limits counted by the
 * supervisor over every worker (worker-limits.ts). It tells the
 * supervisor when it is ready, answers its questions (metrics through prom-client's
 * AggregatorRegistry, connections), and drains when told, on SIGTERM or SIGINT, or when the
 * supervisor is gone. Resolves with the exit code.
 */
export async function runProxyWorker(file: string, logger: Logger): Promise<number> {
  const env = JSON.parse(process.env[WORKER_ENV]!) as WorkerEnv;
  const config = workerConfig(await configFromSupervisor(), env);
  // With limits.redis every worker is an instance of its own there; otherwise the supervisor counts.
  const limitBroker = config.limits.redis === undefined ? new WorkerLimits() : undefined;
  const runtime = await ProxyRuntime.start(file, config, { logger, worker: { reusePort: config.workerBalance === 'reusePort', limitBroker } }).catch((err: unknown) => {
    if (process.connected) process.disconnect(); // the channel would keep a worker that cannot serve alive
    throw err;
  });
  new AggregatorRegistry(); // answers the supervisor's metrics requests
  AggregatorRegistry.setRegistries([runtime.proxy.metrics.registry]);
  let stopping: Promise<number> | undefined;
  const stop = (why: string): Promise<number> => {
    stopping ??= (async () => {
      logger.info({ why, active: runtime.proxy.tracker.active }, 'worker draining');
      const { drained, destroyed } = await runtime.stop();
      logger.info({ drained, destroyed }, 'worker stopped');
      // The IPC channel is the last thing that holds the process: closed, it exits.
      if (process.connected) process.disconnect();
      return 0;
    })();
    return stopping;
  };
  return new Promise<number>((resolve) => {
    const finish = (why: string) => void stop(why).then(resolve);
    process.on('message', (message: unknown) => {
      if (!isToWorker(message)) return; // prom-client's own requests, answered by its listener
      if (message.holdfast === 'config') return; // taken before it started
      if (message.holdfast === 'granted') limitBroker?.answer(message.id, message.refused);
      else if (message.holdfast === 'drain') finish('told by the supervisor');
      else if (message.holdfast === 'reopen-logs') runtime.proxy.reopenLogs();
      else toSupervisor({ holdfast: 'connections', id: message.id, answer: connectionsOf(runtime.proxy, message.limit) });
    });
    process.on('disconnect', () => {
      limitBroker?.disconnected();
      finish('the supervisor is gone');
    });
    process.once('SIGTERM', () => finish('SIGTERM'));
    process.once('SIGINT', () => finish('SIGINT'));
    toSupervisor({ holdfast: 'ready', listeners: runtime.proxy.listeners.map(({ port }) => port) });
  });
}
