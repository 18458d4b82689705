import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Faults, ResolvedSimulatorOptions } from './options.js';
import { failure, type ApiAnswer } from './table-api.js';

export const TRANSACTION_CANCELLED = 'Transaction cancelled: maximum execution time exceeded';


/**
 * Writes the simulator's answers as an instance does: its headers, the simulated work
 * time and the transaction quota (KB1297438), and the truncate fault.
 */
export class AnswerWriter {
  readonly #options: ResolvedSimulatorOptions;
  readonly #faults: () => Faults;
  readonly #stats: { cancelled: number; truncated: number; byStatus: Record<string, number> };
  readonly #random: () => number;
  readonly #clock: Clock;

  constructor(options: ResolvedSimulatorOptions, faults: () => Faults, stats: { cancelled: number; truncated: number; byStatus: Record<string, number> }, random: () => number, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#options = options;
    this.#faults = faults;
    this.#stats = stats;
    this.#random = random;
  }

  /** Unref'd: a simulated slow answer must not keep a closed simulator's process alive. */
  #delay(ms: number): Promise<void> {
    return new Promise<void>((resolve) => { this.#clock.schedule(resolve, ms); });
  }

  /** Holds the answer for its simulated work time; past the transaction quota it is cancelled. */
  async work(request: FastifyRequest, reply: FastifyReply, answer: ApiAnswer, waitedMs: number): Promise<void> {
    const workMs = this.#faults().slowMs + ((answer.rows ?? 0) * this.#options.rowCostUs) / 1000;
    const budgetMs = this.#options.maxTransactionMs - waitedMs;
    if (workMs <= budgetMs) {
      if (workMs > 0) await this.#delay(workMs);
      return this.send(request, reply, answer);
    }
    await this.#delay(budgetMs);
    this.#stats.cancelled++;
    if (this.#options.onTransactionTimeout === '500' || answer.status !== 200) return this.send(request, reply, failure(500, TRANSACTION_CANCELLED, null));
    // KB1297438: the error object is appended to the body, which was cut off mid-way.
    const full = JSON.stringify(answer.body);
    const cut = full.slice(0, Math.floor(full.length * Math.max(0, budgetMs / workMs)));
    const error = JSON.stringify({ error: { message: TRANSACTION_CANCELLED, detail: `${TRANSACTION_CANCELLED} Check logs for error trace or enable glide.rest.debug property to verify REST request processing` }, status: 'failure' });
    return this.send(request, reply, { ...answer, body: undefined }, cut + error);
  }

  /** Sends an answer with an instance's headers, or cuts its body off (the truncate fault). */
  send(request: FastifyRequest, reply: FastifyReply, answer: ApiAnswer, raw?: string): void {
    this.#stats.byStatus[answer.status] = (this.#stats.byStatus[answer.status] ?? 0) + 1;
    const body = raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
    const headers: Record<string, string> = {
      'content-type': 'application/json;charset=UTF-8', server: 'ServiceNow', 'x-is-logged-in': String(answer.status !== 401),
      'x-transaction-id': randomBytes(6).toString('hex'), pragma: 'no-store,no-cache', 'cache-control': 'no-cache,no-store,must-revalidate,max-age=-1', expires: '0',
      ...answer.headers,
    };
    if (this.#options.lbIdleMs > 0 && this.#options.lbAdvertise) headers['keep-alive'] = `timeout=${Math.floor(this.#options.lbIdleMs / 1000)}`;
    if (answer.status === 204 || request.method === 'HEAD' || (body !== '' && request.headers['x-no-response-body'] === 'true' && request.method !== 'GET')) {
      void reply.code(answer.status).headers(headers).send();
      return;
    }
    if (body.length > 2 && this.#random() < this.#faults().truncateRate) {
      this.#stats.truncated++;
      reply.hijack();
      const bytes = Buffer.from(body);
      request.raw.socket.on('error', () => {});
      reply.raw.writeHead(answer.status, { ...headers, 'content-length': bytes.length });
      reply.raw.write(bytes.subarray(0, bytes.length >> 1), () => request.raw.socket.destroy());
      return;
    }
    void reply.code(answer.status).headers(headers).send(body);
  }
}
