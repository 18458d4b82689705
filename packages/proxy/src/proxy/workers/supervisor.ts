import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { adminToken, adminUrlOf, listenAdmin, type AdminView } from '../admin-server.js';
import { ConfigWatcher, loadConfigFile } from '../config/config-loader.js';
import { redactConfig, type ProxyConfig } from '../config/config.js';
import { LimitCounts } from './limit-counts.js';
import { isFromWorker, type FromWorker, type ToWorker } from './messages.js';
import { WORKER_ENV, workerCount, type WorkerEnv } from './worker.js';

/** A crashed worker is started again after RESTART_BASE_MS, doubled for each crash in a row, up to RESTART_MAX_MS. */
export const RESTART_BASE_MS = 250, RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000; // a worker up this long has not crashed "in a row": the backoff starts over
const READY_TIMEOUT_MS = 30_000; // a new worker listens within this, or is stopped (and a reload refused)
/** How long the supervisor waits for a worker's answer (connections). */
const ASK_TIMEOUT_MS = 5_000;

interface Managed {
  readonly worker: Worker;
  readonly generation: number;
  /** Its place among its generation's workers: a crashed worker's replacement takes it. */
  readonly slot: number;
  state: 'starting' | 'ready' | 'draining';
  readonly startedAt: number;
  /** Started in place of one that crashed: if it fails too, it is started again, later. */
  readonly replacement: boolean;
  /** What it serves: its generation's config, as the supervisor validated it. */
  readonly config: ProxyConfig;
}

/**
 * The supervisor of `workers: N` (N > 1): the process the CLI starts, which serves no traffic
 * itself. It forks N workers (Node's cluster), each the proxy on its share of the limits
 * (worker.ts), and:
 * - restarts a worker that exits unasked, after RESTART_BASE_MS doubled for each crash in a row;
 * - reloads with zero downtime: on SIGHUP or a change of the file it validates the config, starts
 *   a new generation of workers, and once every one of them listens tells the old ones to drain
 *   (a config or a worker that fails keeps the running generation);
 * - counts the connection limits over every worker (limit-counts.ts);
 * - serves the admin API: /metrics summed over the workers (prom-client's AggregatorRegistry),
 *   /connections from each, /workers. SIGTERM: every worker drains, then it exits.
 *
 * With `workerBalance: cluster` (the default) it owns each listening socket and hands every
 * connection to a worker in turn: a worker that exits, crashed or drained, takes no new one, and
 * none waits in a socket of its own. With `reusePort` each worker binds its own socket (Linux's
 * SO_REUSEPORT) and the kernel spreads connections by their addresses: nothing passes through the
 * supervisor, but connections still queued on a worker's socket when it closes are reset.
 */
export class WorkerSupervisor {
  readonly #file: string;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #config: ProxyConfig;
  #generation = 0; // the running one: its crashed workers are restarted (a starting one's are not)
  #latest = 0; // the last one started, running or not
  readonly #workers = new Map<number, Managed>();
  /** With reusePort: the ports the first worker's port-0 listeners got, by listener index. */
  #ports: (number | undefined)[] = [];
  #crashes = 0;
  #stopping = false;
  #admin: FastifyInstance | undefined;
  #watcher: ConfigWatcher | undefined;
  readonly #aggregator = new AggregatorRegistry();
  /** The connection limits, counted over every worker. */
  readonly #limits: LimitCounts;
  #asked = 0;
  readonly #answers = new Map<number, (answer: unknown) => void>();
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;

  private constructor(file: string, config: ProxyConfig, logger: Logger, clock: Clock) {
    this.#file = file;
    this.#config = config;
    this.#logger = logger;
    this.#clock = clock;
    this.#limits = new LimitCounts(clock);
  }

  /** Starts the workers (all listening before it resolves), the admin API and the file watcher. */
  static async start(file: string, config: ProxyConfig, { logger, clock = systemClock, args }: { logger: Logger; clock?: Clock; args: string[] }): Promise<WorkerSupervisor> {
    const supervisor = new WorkerSupervisor(file, config, logger, clock);
    cluster.setupPrimary({ args, serialization: 'advanced' }); // the config goes over IPC as it is
    const token = adminToken(config); // a bad admin setting is refused before any worker starts
    await supervisor.#startGeneration(config);
    if (config.admin !== undefined) {
      supervisor.#admin = await listenAdmin(supervisor.#view(), config.admin, token, () => supervisor.#stopping).catch(async (err: unknown) => {
        await supervisor.stop(); // the admin port is taken: no worker stays behind
        throw err;
      });
    }
    supervisor.#watcher = new ConfigWatcher(file, () => void supervisor.reload('file change'), undefined, clock);
    logger.info({ workers: workerCount(config), balance: config.workerBalance, admin: supervisor.adminUrl }, 'supervisor ready');
    return supervisor;
  }

  get adminUrl(): string | undefined {
    return adminUrlOf(this.#admin);
  }

  workers(): { id: number; pid: number | undefined; generation: number; state: Managed['state'] }[] {
    return [...this.#workers.values()].map(({ worker, generation, state }) => ({ id: worker.id, pid: worker.process.pid, generation, state }));
  }

  #fork(generation: number, slot: number, config: ProxyConfig, replacement = false): Managed {
    const env: WorkerEnv = { workers: workerCount(config), ports: config.workerBalance === 'reusePort' ? this.#ports : [] };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(env) });
    const managed: Managed = { worker, generation, slot, state: 'starting', startedAt: this.#clock.now(), replacement, config };
    this.#workers.set(worker.id, managed);
    worker.on('message', (message: unknown) => {
      if (isFromWorker(message)) this.#onMessage(managed, message);
    });
    worker.on('error', () => {}); // a send to a worker that is going away: its exit says the rest
    worker.once('exit', (code: number | null, signal: string | null) => this.#onExit(managed, code, signal));
    return managed;
  }

  #onMessage(managed: Managed, message: FromWorker): void {
    const id = managed.worker.id;
    if (message.holdfast === 'hello') {
      this.#tell(managed, { holdfast: 'config', config: managed.config });
    } else if (message.holdfast === 'acquire') {
      const refused = this.#limits.acquire(id, message.kind, message.key, message.max, message.ratePerSecond);
      this.#tell(managed, refused === undefined ? { holdfast: 'granted', id: message.id } : { holdfast: 'granted', id: message.id, refused });
    } else if (message.holdfast === 'release') {
      this.#limits.release(id, message.kind, message.key);
    } else if (message.holdfast === 'ready') {
      if (managed.state === 'starting') managed.state = 'ready';
      managed.worker.emit('holdfast:ready', message.listeners);
    } else {
      this.#answers.get(message.id)?.({ id: managed.worker.id, pid: managed.worker.process.pid, generation: managed.generation, ...(message.answer as object) });
    }
  }

  /** Resolves with the worker's listening ports once it is ready; rejects if it exits first or takes too long. */
  #ready(managed: Managed): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const cancel = this.#clock.schedule(() => {
        managed.worker.process.kill('SIGKILL');
        reject(new Error(`worker ${managed.worker.process.pid} was not listening after ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS, { ref: true });
      const onExit = (code: number | null, signal: string | null) => {
        cancel();
        reject(new Error(`worker ${managed.worker.process.pid} exited before it listened (${signal ?? `code ${code}`}): its log says why`));
      };
      managed.worker.once('exit', onExit);
      managed.worker.once('holdfast:ready', (listeners: number[]) => {
        cancel();
        managed.worker.off('exit', onExit);
        resolve(listeners);
      });
    });
  }

  /** Forks a generation and waits until every worker listens; on a failure, stops them all and throws. */
  async #startGeneration(config: ProxyConfig): Promise<number> {
    const generation = ++this.#latest;
    const count = workerCount(config);
    this.#logger.debug({ generation, workers: count }, 'starting workers');
    const started: Managed[] = [];
    try {
      // The first alone: with reusePort its port-0 listeners decide the ports of the rest.
      const first = this.#fork(generation, 0, config);
      started.push(first);
      const ports = await this.#ready(first);
      this.#ports = config.listeners.map((listener, i) => (listener.port === 0 ? ports[i] : undefined));
      for (let slot = 1; slot < count; slot++) started.push(this.#fork(generation, slot, config));
      await Promise.all(started.slice(1).map((managed) => this.#ready(managed)));
      this.#generation = generation; // from now on, the one whose crashed workers are restarted
      return generation;
    } catch (err) {
      for (const managed of started) {
        managed.state = 'draining';
        managed.worker.process.kill('SIGKILL');
      }
      throw err;
    }
  }

  #onExit(managed: Managed, code: number | null, signal: string | null): void {
    this.#workers.delete(managed.worker.id);
    this.#limits.releaseWorker(managed.worker.id); // its connections are gone with it
    const pid = managed.worker.process.pid;
    if (this.#stopping || managed.state === 'draining' || managed.generation !== this.#generation) {
      this.#logger.info({ pid, generation: managed.generation, code, signal }, 'worker exited');
      return;
    }
    if (managed.state === 'starting' && !managed.replacement) return; // a new generation's: #ready reports it
    const now = this.#clock.now();
    this.#crashes = now - managed.startedAt >= STABLE_MS ? 1 : this.#crashes + 1;
    const delayMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (this.#crashes - 1));
    this.#logger.error({ pid, code, signal, restartInMs: delayMs, crashesInARow: this.#crashes }, 'worker exited unasked: restarting it');
    this.#clock.schedule(() => {
      if (this.#stopping || managed.generation !== this.#generation) return;
      const replacement = this.#fork(managed.generation, managed.slot, this.#config, true);
      // If it fails too, its exit schedules the next try (the backoff doubles).
      this.#ready(replacement).then(
        () => this.#logger.info({ pid: replacement.worker.process.pid, slot: managed.slot }, 'worker restarted'),
        (err: unknown) => this.#logger.error({ err: (err as Error).message }, 'restarted worker failed'),
      );
    }, delayMs, { ref: true });
  }

  /** Validates the file again and replaces the workers with a new generation; one reload at a time. */
  reload(why: string): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        await this.#reloadOnce(why);
      } while (this.#reloadAgain && !this.#stopping);
    })().finally(() => { this.#reloading = undefined; });
    return this.#reloading;
  }

  async #reloadOnce(why: string): Promise<void> {
    if (this.#stopping) return;
    let next: ProxyConfig;
    try {
      next = await loadConfigFile(this.#file);
    } catch (err) {
      this.#logger.error({ why, err: (err as Error).message }, 'reload refused: the config is not valid; the running workers go on');
      return;
    }
    const old = [...this.#workers.values()];
    try {
      await this.#startGeneration(next);
    } catch (err) {
      this.#logger.error({ why, err: (err as Error).message }, 'reload refused: a new worker did not start; the running workers go on');
      return;
    }
    this.#config = next;
    for (const managed of old) this.#tell(managed, { holdfast: 'drain' });
    this.#logger.info({ why, generation: this.#generation, workers: workerCount(next), draining: old.length }, 'reloaded: new workers listening, the old ones draining');
  }

  #tell(managed: Managed, message: ToWorker): void {
    if (message.holdfast === 'drain') managed.state = 'draining';
    if (managed.worker.isConnected()) managed.worker.send(message);
  }

  /** Every worker opens its access log file again (SIGUSR1). */
  reopenLogs(): void {
    for (const managed of this.#workers.values()) this.#tell(managed, { holdfast: 'reopen-logs' });
  }

  /** Every worker drains (shutdown.drainMs), then the admin API closes. Resolves once all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#watcher?.close();
    const exits = [...this.#workers.values()].map(async (managed) => {
      if (managed.worker.isDead()) return;
      const exited = once(managed.worker, 'exit');
      this.#tell(managed, { holdfast: 'drain' });
      // A worker stuck past its drain deadline is ended.
      const cancel = this.#clock.schedule(() => managed.worker.process.kill('SIGKILL'), this.#config.shutdown.drainMs + 5_000, { ref: true });
      await exited;
      cancel();
    });
    await Promise.all(exits);
    this.#limits.stop();
    await this.#admin?.close();
  }

  /** Asks every listening worker; each answer carries its id, pid and generation. */
  async #askAll(limit: number): Promise<unknown[]> {
    const asked = [...this.#workers.values()].filter((managed) => managed.state !== 'starting' && managed.worker.isConnected());
    return Promise.all(asked.map((managed) => new Promise<unknown>((resolve) => {
      const id = ++this.#asked;
      const cancel = this.#clock.schedule(() => { this.#answers.delete(id); resolve({ id: managed.worker.id, error: 'no answer' }); }, ASK_TIMEOUT_MS);
      this.#answers.set(id, (answer) => { cancel(); this.#answers.delete(id); resolve(answer); });
      this.#tell(managed, { holdfast: 'connections', id, limit });
    })));
  }

  #view(): AdminView {
    const activeOf = (answers: unknown[]) => answers.reduce<number>((sum, a) => sum + ((a as { active?: number }).active ?? 0), 0);
    return {
      active: async () => activeOf(await this.#askAll(0)),
      metrics: async () => ({ contentType: this.#aggregator.contentType, text: await this.#aggregator.clusterMetrics() }),
      connections: async (limit) => {
        const answers = await this.#askAll(limit);
        return { active: activeOf(answers), workers: answers };
      },
      config: () => redactConfig(this.#config),
      workers: () => this.workers(),
    };
  }
}
