import type { LimitName, SharedLimit } from '../../net/connection-tracker.js';
import type { ProxyConfig } from '../config/config.js';

/** What the supervisor tells a worker over the IPC channel. */
export type ToWorker =
  /** The config to serve: the one the supervisor validated, not the file as it may be by now. */
  | { holdfast: 'config'; config: ProxyConfig }
  | { holdfast: 'drain' }
  | { holdfast: 'reopen-logs' }
  | { holdfast: 'connections'; id: number; limit: number }
  /** The answer to an `acquire`: the limit that refused, or none. */
  | { holdfast: 'granted'; id: number; refused?: LimitName };

/** What a worker tells the supervisor. */
export type FromWorker =
  /** Listening for messages: the config, please. */
  | { holdfast: 'hello' }
  /** Listening, on these ports (by listener index). */
  | { holdfast: 'ready'; listeners: number[] }
  | { holdfast: 'connections'; id: number; answer: unknown }
  /** May one more connection count against this limit (limit-counts.ts)? */
  | { holdfast: 'acquire'; id: number; kind: SharedLimit; key: string; max: number; ratePerSecond: number }
  | { holdfast: 'release'; kind: SharedLimit; key: string };

/** A holdfast message, not one of prom-client's on the same channel. */
function isHoldfast(message: unknown): boolean {
  return typeof message === 'object' && message !== null && typeof (message as { holdfast?: unknown }).holdfast === 'string';
}

export const isToWorker = isHoldfast as (message: unknown) => message is ToWorker;
export const isFromWorker = isHoldfast as (message: unknown) => message is FromWorker;

/** Sends `message` to the supervisor; false when the channel is closed (the supervisor is gone). */
export function toSupervisor(message: FromWorker): boolean {
  if (!process.connected) return false;
  try {
    process.send!(message);
    return true;
  } catch {
    return false; // the channel closed just now
  }
}
