import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * `diagnostics_channel` names published by the client. Subscribers get plain
 * objects; publishing costs nothing when nobody subscribes.
 * Documented in docs/reference/client.md#diagnostics-channels.
 */
export const CHANNELS = {
  /** `{ origin, method, path, kind }`: a request is replayed at once on a fresh connection. */
  replay: diagnosticsChannel.channel('holdfast:client:replay'),
  /** `{ origin, method, path, attempt, delayMs, reason }`: a retry is scheduled. */
  retry: diagnosticsChannel.channel('holdfast:client:retry'),
  /** `{ origin, method, path, reason }`: a retry was refused (budget, deadline, attempts). */
  retryDenied: diagnosticsChannel.channel('holdfast:client:retry-denied'),
  /** `{ origin, reason, idleMs }`: holdfast closed a pooled socket before the server could. */
  socketRetired: diagnosticsChannel.channel('holdfast:client:socket-retired'),
  /** `{ origin, from, to }`: an origin's circuit breaker changed state. */
  breaker: diagnosticsChannel.channel('holdfast:client:breaker'),
  /**
   * `{ origin, idleMs, verdict, learnedMs }`: the server closed a socket that sat idle for
   * `idleMs`; `verdict` says whether it counts toward learning its idle timeout
   * (`counted`, `too-soon`, `outlived`).
   */
  idleClose: diagnosticsChannel.channel('holdfast:client:idle-close'),
  /** `{ origin, idleMs, limitMs }`: the learned idle timeout is now `idleMs`, and the limit `limitMs`. */
  idleCloseLearned: diagnosticsChannel.channel('holdfast:client:idle-close-learned'),
  /** `{ origin, method, path }`: a request starts. This object is the request's identity in the next two. */
  requestStart: diagnosticsChannel.channel('holdfast:client:request-start'),
  /** `{ request, attempt, reason }`: an attempt of it goes out (`first`, `replay`, or the retry's reason). */
  requestAttempt: diagnosticsChannel.channel('holdfast:client:request-attempt'),
  /** `{ request, attempts, statusCode, error }`: it is over, delivered or failed. */
  requestEnd: diagnosticsChannel.channel('holdfast:client:request-end'),
} as const;

export type ChannelName = keyof typeof CHANNELS;

export function publish(name: ChannelName, message: object): void {
  const channel = CHANNELS[name];
  if (channel.hasSubscribers) channel.publish(message);
}
