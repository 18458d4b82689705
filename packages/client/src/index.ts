// holdfast, the client: its public API. Named exports only; type-level tests in packages/client/test/public-api.test.ts pin the surface.
// The proxy is @holdfast/proxy, the mirror @holdfast/servicenow; `internal/*` exports are theirs, not a public API.

// client
export { createDispatcher, HoldfastDispatcher, type CircuitEvent, type KeepAliveSnapshot } from './client/create-dispatcher.js';
export type { DispatcherOptions, ResolvedDispatcherOptions } from './client/options.js';
export type { RequestPolicy } from './client/request-policy.js';
export type { AxiosLike, LoggerLike, MetricsRegistry, RedisClient } from './client/peer-types.js';
export { probeIdleTimeout, type ProbeOptions, type ProbeResult, type ProbeSample } from './client/probe-idle-timeout.js';
export { CHANNELS, type ChannelName } from './client/channels.js';
export { createAgent, type AgentOptions, type HoldfastAgent } from './client/create-agent.js';
export { withAxios, type WithAxiosOptions } from './client/with-axios.js';

// policies (pure, usable on their own)
export { fullJitterBackoff, type Backoff } from './policy/backoff.js';
export { parseRetryAfter } from './policy/retry-after.js';
export { RetryBudget } from './policy/retry-budget.js';
export { CircuitBreaker, type BreakerState, type BreakerStateName, type CircuitBreakerOptions, type Admission } from './policy/circuit-breaker.js';
export { Bulkhead, type BulkheadRejection } from './policy/bulkhead.js';
export { TokenBucket } from './policy/token-bucket.js';
export { KeepAliveAlignment, parseKeepAliveHint, safelyBelow, DEFAULT_IDLE_TIMEOUT_MS, type KeepAliveOptions } from './policy/keep-alive.js';
export { systemClock, type Clock } from './clock.js';

// simulators
export { FlakyServer, type FlakyFaults, type FlakyOptions, type FlakyStats } from './simulate/flaky-server.js';

// errors
export {
  HoldfastError, InvalidOptionError, ConnectError, StaleSocketError, SocketError, ResponseTimeoutError,
  DeadlineExceededError, RequestAbortedError, RetryBudgetExhaustedError, TlsError, InvalidRequestError,
  DispatcherClosedError, ProbeError, CircuitOpenError, QueueFullError, QueueTimeoutError, RateLimitedError, MissingPackageError,
  ERROR_CLASSES, isHoldfastError, type ErrorCode, type ErrorContext,
} from './errors.js';
