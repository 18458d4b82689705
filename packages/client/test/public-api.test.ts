import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dispatcher } from 'undici';
import * as holdfast from '../src/index.js';
import type { AxiosLike, DispatcherOptions, HoldfastError, LoggerLike, MetricsRegistry, ProbeResult, RedisClient, RequestPolicy } from '../src/index.js';
import type { AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

// The runtime surface: adding or removing an export is a deliberate change to this list.
const EXPECTED = [
  'Bulkhead', 'CircuitBreaker', 'CircuitOpenError', 'QueueFullError', 'QueueTimeoutError', 'RateLimitedError', 'TokenBucket',
  'CHANNELS', 'createAgent', 'withAxios', 'ConnectError', 'DEFAULT_IDLE_TIMEOUT_MS', 'DeadlineExceededError', 'DispatcherClosedError', 'ERROR_CLASSES',
  'FlakyServer', 'HoldfastDispatcher', 'HoldfastError', 'InvalidOptionError', 'InvalidRequestError', 'KeepAliveAlignment',
  'ProbeError', 'RequestAbortedError', 'ResponseTimeoutError', 'RetryBudget', 'RetryBudgetExhaustedError', 'SocketError',
  'StaleSocketError', 'TlsError', 'createDispatcher', 'fullJitterBackoff', 'isHoldfastError', 'parseKeepAliveHint',
  'parseRetryAfter', 'probeIdleTimeout', 'safelyBelow', 'systemClock',
  'MissingPackageError',
];

test('the public runtime exports are exactly the documented ones', () => {
  assert.deepEqual(Object.keys(holdfast).sort(), [...EXPECTED].sort());
});

// Type-level checks: these lines fail `npm run typecheck` if the surface changes shape.
const dispatcher: Dispatcher = holdfast.createDispatcher({ retry: { maxAttempts: 2 } } satisfies DispatcherOptions);
const perRequest: Dispatcher.RequestOptions = { method: 'GET', path: '/', holdfast: { deadlineMs: 1, retry: false, idempotent: true } satisfies RequestPolicy };
const code: string = ({} as HoldfastError).code;
const recommended: number = ({} as ProbeResult).recommendedIdleMs;
// The optional peers' own types fit the structural ones the declarations name (peer-types.ts), so
// the shipped types import none of them and an app without them still type-checks.
type Fits<A, B> = A extends B ? true : never;
const peersFit: [Fits<Logger, LoggerLike>, Fits<Registry, MetricsRegistry>, Fits<Redis, RedisClient>, Fits<AxiosInstance, AxiosLike>] = [true, true, true, true];
void [perRequest, code, recommended, peersFit];

test('createDispatcher returns an undici Dispatcher that closes', async () => {
  assert.equal(typeof dispatcher.dispatch, 'function');
  await dispatcher.close();
});
