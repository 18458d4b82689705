import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { AxiosLike } from './peer-types.js';
import type { ClientRequest } from 'node:http';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { fullJitterBackoff, type Backoff } from '../policy/backoff.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import { RetryBudget } from '../policy/retry-budget.js';
import { createAgent, type AgentOptions, type HoldfastAgent } from './create-agent.js';
import { retrySchema } from './options.js';
import { parseOptions } from '../parse-options.js';
import { failureKind, NEVER_CONNECTED_CODES, type FailureKind } from '../policy/failure-kinds.js';
import { isSafeToRepeat } from '../policy/retry-safety.js';

const withAxiosSchema = z.strictObject({
  /** Options of the agents installed as `httpAgent` and `httpsAgent` (createAgent validates them). */
  agent: z.custom<AgentOptions>((v: unknown) => typeof v === 'object' && v !== null, 'expected agent options').optional(),
  /** Stale-socket replay (default on). */
  replay: z.boolean().default(true),
  /** The dispatcher's retry options, with the same defaults (options.ts). */
  retry: retrySchema.prefault({}),
});

export type WithAxiosOptions = z.input<typeof withAxiosSchema>;

/** Per-request state, carried in the config from one attempt to the next. */
interface AttemptState {
  attempts: number;
  replays: number;
}
const STATE_KEY = '__holdfast';
type Config = InternalAxiosRequestConfig & { [STATE_KEY]?: AttemptState };

function retrySafe(config: Config): boolean {
  const key = config.headers?.get?.('idempotency-key') ?? (config.headers as Record<string, unknown> | undefined)?.['idempotency-key'];
  return isSafeToRepeat(config.method ?? 'get', { idempotencyKey: key == null ? undefined : String(key) });
}

/**
 * An axios network error's kind (policy/failure-kinds.ts): a code that means no connection
 * was made was not written; an error with no response on a reused socket met a stale one.
 */
function kindOf(code: string, reused: boolean): FailureKind {
  return failureKind(code, { written: !NEVER_CONNECTED_CODES.has(code), reused, responseBytes: false });
}

function originOf(config: Config): string {
  try {
    return new URL(config.url ?? '', config.baseURL).origin;
  } catch {
    return 'unknown';
  }
}

/**
 * Gives an axios instance holdfast's guarantees in one line:
 * - agents from `createAgent` (idle sockets retired before the server closes them);
 * - stale-socket replay: a request safe to repeat that failed on a *reused* socket
 *   (`req.reusedSocket`) with no response is sent again at once; a POST without an
 *   `Idempotency-Key` never is;
 * - retries with full-jitter backoff, `Retry-After` and a retry budget per origin:
 *   connect failures for any method, unknown outcomes and statuses 429/502/503/504
 *   only for requests safe to repeat.
 *
 * @example
 * const api = withAxios(axios.create({ baseURL: 'https://api.example.test' }));
 */
export function withAxios<T extends AxiosLike>(axiosInstance: T, input: WithAxiosOptions = {}, clock: Clock = systemClock): T & { agents: { http: HoldfastAgent; https: HoldfastAgent } } {
  const instance = axiosInstance as unknown as AxiosInstance;
  const options = parseOptions(withAxiosSchema, input);
  const agents = { http: createAgent(options.agent, clock), https: createAgent({ ...options.agent, https: true }, clock) };
  instance.defaults.httpAgent = agents.http;
  instance.defaults.httpsAgent = agents.https;
  const { retry } = options;
  const { maxAttempts, maxRetryAfterMs } = retry;
  const backoff: Backoff = fullJitterBackoff({ baseMs: retry.baseDelayMs, maxMs: retry.maxDelayMs });
  const statuses = new Set(retry.statuses);
  const budgets = new Map<string, RetryBudget>();
  const budgetOf = (origin: string) => {
    let budget = budgets.get(origin);
    if (budget === undefined) {
      budget = new RetryBudget(retry.budget);
      budgets.set(origin, budget);
    }
    return budget;
  };

  /**
   * Sends `config` again: a replay at once, a retry after `delayMs` unless its signal
   * aborts the wait. A retry holds its budget slot until its attempt settles.
   */
  const again = (config: Config, state: AttemptState, delayMs: number, replay: boolean): Promise<AxiosResponse> => {
    const next: Config = { ...config, [STATE_KEY]: { attempts: state.attempts + 1, replays: state.replays + (replay ? 1 : 0) } };
    if (replay) return instance.request(next);
    const budget = budgetOf(originOf(config));
    return new Promise<void>((resolve, reject) => {
      const signal = config.signal as AbortSignal | undefined;
      const cancel = clock.schedule(() => { signal?.removeEventListener?.('abort', onAbort); resolve(); }, delayMs, { ref: true });
      // Sent once more with its aborted signal, axios itself rejects with its CanceledError, sending nothing.
      function onAbort(): void { cancel(); instance.request(next).then(() => reject(new Error('aborted')), reject); }
      if (signal?.aborted === true) onAbort();
      else signal?.addEventListener?.('abort', onAbort, { once: true });
    }).then(() => instance.request(next)).finally(() => budget.releaseRetry());
  };

  /** Whether a retry may start now: attempts left and the origin's budget. Takes a budget slot. */
  const mayRetry = (config: Config, state: AttemptState): boolean => {
    if (state.attempts - state.replays >= maxAttempts) return false;
    return budgetOf(originOf(config)).tryAcquireRetry();
  };

  // Attempts in flight per origin: what the budget's ratio is a share of.
  instance.interceptors.request.use((config) => {
    budgetOf(originOf(config as Config)).requestStarted();
    return config;
  });
  const finished = (config: Config | undefined) => { if (config !== undefined) budgetOf(originOf(config)).requestFinished(); };

  instance.interceptors.response.use(
    (response) => {
      const config = response.config as Config;
      finished(config);
      const state = config[STATE_KEY] ?? { attempts: 1, replays: 0 };
      if (!statuses.has(response.status) || !retrySafe(config)) return response;
      const header = response.headers['retry-after'] as string | undefined;
      const retryAfterMs = parseRetryAfter(header, Date.now());
      if ((retryAfterMs ?? 0) > maxRetryAfterMs || !mayRetry(config, state)) return response;
      return again(config, state, retryAfterMs ?? backoff(state.attempts - state.replays), false);
    },
    (error: AxiosError) => {
      const config = error.config as Config | undefined;
      finished(config);
      if (config === undefined) throw error;
      const state = config[STATE_KEY] ?? { attempts: 1, replays: 0 };
      const code = error.code ?? '';
      // axios follows redirects through follow-redirects, whose request wraps Node's as `_currentRequest`.
      const wrapper = error.request as (ClientRequest & { _currentRequest?: ClientRequest }) | undefined;
      const req = wrapper?._currentRequest ?? wrapper;
      const safe = retrySafe(config);
      if (error.response !== undefined) {
        // A status that validateStatus rejected: same rule as a delivered one.
        if (!statuses.has(error.response.status) || !safe) throw error;
        const retryAfterMs = parseRetryAfter(error.response.headers['retry-after'] as string | undefined, Date.now());
        if ((retryAfterMs ?? 0) > maxRetryAfterMs || !mayRetry(config, state)) throw error;
        return again(config, state, retryAfterMs ?? backoff(state.attempts - state.replays), false);
      }
      const kind = kindOf(code, req?.reusedSocket === true);
      if (kind === 'stale' && safe && options.replay !== false && state.replays === 0) return again(config, state, 0, true);
      const retryable = kind === 'connect' || (safe && (kind === 'socket' || kind === 'stale'));
      if (!retryable || !mayRetry(config, state)) throw error;
      return again(config, state, backoff(state.attempts - state.replays), false);
    },
  );
  return Object.assign(axiosInstance, { agents });
}
