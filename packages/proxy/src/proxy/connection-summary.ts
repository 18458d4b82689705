import type { ConnectionRecord } from '../net/connection-tracker.js';

/** One open connection as the admin API's /connections lists it. */
export interface ConnectionSummary {
  id: number;
  listener: string;
  client: string;
  route: string | undefined;
  target: string | undefined;
  state: string;
  ageMs: number;
  bytesIn: number;
  bytesOut: number;
}

export function summarize(record: ConnectionRecord, now: number): ConnectionSummary {
  return {
    id: record.id,
    listener: record.listener,
    client: record.clientIp,
    route: record.route,
    target: record.target,
    state: record.state,
    ageMs: Math.round(now - record.openedAt),
    bytesIn: record.client.bytesRead,
    bytesOut: record.client.bytesWritten,
  };
}
