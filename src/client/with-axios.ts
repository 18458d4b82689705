import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { ClientRequest } from 'node:http';
import { systemClock, type Clock } from '../clock.js';
import { fullJitterBackoff, type Backoff } from '../policy/backoff.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import { RetryBudget } from '../policy/retry-budget.js';
import { createAgent, type AgentOptions, type HoldfastAgent } from './create-agent.js';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER_MS, DEFAULT_RETRY_STATUSES } from './options.js';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS } from '../policy/backoff.js';
import { DEFAULT_RETRY_BUDGET_MIN_CONCURRENT, DEFAULT_RETRY_BUDGET_RATIO } from '../policy/retry-budget.js';

export interface WithAxiosOptions {
  /** Options of the agents installed as `httpAgent` and `httpsAgent`. */
  agent?: AgentOptions;
  /** Stale-socket replay (default on). */
  replay?: boolean;
  retry?: {
    maxAttempts?: number;
    baseDelayMs?: number;
    maxDelayMs?: number;
    statuses?: number[];
    maxRetryAfterMs?: number;
    budget?: { ratio?: number; minConcurrent?: number };
  };
}

/** Per-request state, carried in the config from one attempt to the next. */
interface AttemptState {
  attempts: number;
  replays: number;
}
const STATE_KEY = '__holdfast';
type Config = InternalAxiosRequestConfig & { [STATE_KEY]?: AttemptState };

const IDEMPOTENT = new Set(['get', 'head', 'options', 'trace', 'put', 'delete', 'query']);
/** Failures with no connection made: nothing was sent, safe to retry for any method. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Failures of an established connection: the outcome is unknown unless the socket was reused and nothing came back. */
const SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

function retrySafe(config: Config): boolean {
  const key = config.headers?.get?.('idempotency-key') ?? (config.headers as Record<string, unknown> | undefined)?.['idempotency-key'];
  return IDEMPOTENT.has((config.method ?? 'get').toLowerCase()) || key != null;
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
export function withAxios<T extends AxiosInstance>(instance: T, options: WithAxiosOptions = {}, clock: Clock = systemClock): T & { agents: { http: HoldfastAgent; https: HoldfastAgent } } {
  const agents = { http: createAgent(options.agent, clock), https: createAgent({ ...options.agent, https: true }, clock) };
  instance.defaults.httpAgent = agents.http;
  instance.defaults.httpsAgent = agents.https;
  const retry = options.retry ?? {};
  const maxAttempts = retry.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const backoff: Backoff = fullJitterBackoff({ baseMs: retry.baseDelayMs ?? DEFAULT_BACKOFF_BASE_MS, maxMs: retry.maxDelayMs ?? DEFAULT_BACKOFF_MAX_MS });
  const statuses = new Set(retry.statuses ?? DEFAULT_RETRY_STATUSES);
  const maxRetryAfterMs = retry.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const budgets = new Map<string, RetryBudget>();
  const budgetOf = (origin: string) => {
    let budget = budgets.get(origin);
    if (budget === undefined) {
      budget = new RetryBudget({ ratio: retry.budget?.ratio ?? DEFAULT_RETRY_BUDGET_RATIO, minConcurrent: retry.budget?.minConcurrent ?? DEFAULT_RETRY_BUDGET_MIN_CONCURRENT });
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
      const stale = req?.reusedSocket === true && SOCKET_CODES.has(code);
      if (stale && safe && options.replay !== false && state.replays === 0) return again(config, state, 0, true);
      const retryable = CONNECT_CODES.has(code) || (safe && SOCKET_CODES.has(code));
      if (!retryable || !mayRetry(config, state)) throw error;
      return again(config, state, backoff(state.attempts - state.replays), false);
    },
  );
  return Object.assign(instance, { agents });
}
