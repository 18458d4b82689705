import type { CidrSet } from '../../net/address.js';
import type { ConnectionRecord } from '../../net/connection-tracker.js';
import type { DialFailure } from '../../net/dial.js';
import type { HandshakeOutcome } from '../tls/tls-terminate.js';

/** What a layer-4 connection knows of the listener that accepted it. */
export interface ListenerContext {
  readonly name: string;
  readonly port: number;
  /** Peers that must send a PROXY protocol header; undefined: the listener accepts none. */
  readonly trusted: CidrSet | undefined;
}

/** What a layer-4 connection reports as it goes. */
export interface ConnectionHooks {
  connectFailed(route: string, target: string, failure: DialFailure): void;
  handshake(route: string, outcome: HandshakeOutcome): void;
  closed(record: ConnectionRecord): void;
}

/** TLS alert, fatal unrecognized_name (RFC 6066 §3): the answer to an SNI no route serves. */
export const UNRECOGNIZED_NAME_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);
