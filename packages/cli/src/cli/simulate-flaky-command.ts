import { parseArgs } from 'node:util';
import { FlakyServer, type FlakyOptions } from 'holdfast/internal/simulate/flaky-server.js';
import { intFlag, UsageError, untilSignal } from './cli-error.js';

export const FLAKY_HELP = `Usage: holdfast simulate flaky [options]

A fault-injecting HTTP/1.1 upstream. Every request is answered with JSON;
GET /__flaky/stats returns what it received, by method and by id header.

Options:
  --host HOST            bind address (default 127.0.0.1)
  --port PORT            port (default 0: any free port; the URL is printed)
  --idle-close MS        close keep-alive connections idle this long (default 0: never)
  --advertise            announce it with Keep-Alive: timeout=⌊MS/1000⌋
  --rst                  close idle connections with a TCP reset instead of FIN
  --race-window MS       drop requests arriving within MS of the idle close
  --slow MS              delay every response by MS
  --status CODE          answer with CODE: the first --status-count of every
  --status-count N       --status-period requests (default 1 of all)
  --status-period N
  --retry-after VALUE    Retry-After sent with --status (seconds or HTTP-date)
  --refuse-every MS      refuse connections for --refuse-for MS out of every MS
  --refuse-for MS
  --id-header NAME       header that identifies a request (default x-request-id)
  -h, --help             show this help

Stops on SIGINT or SIGTERM.`;

export function parseFlakyArgs(args: string[]): FlakyOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, 'idle-close': { type: 'string' },
      advertise: { type: 'boolean' }, rst: { type: 'boolean' }, 'race-window': { type: 'string' },
      slow: { type: 'string' }, status: { type: 'string' }, 'status-count': { type: 'string' },
      'status-period': { type: 'string' }, 'retry-after': { type: 'string' },
      'refuse-every': { type: 'string' }, 'refuse-for': { type: 'string' }, 'id-header': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see holdfast simulate flaky --help)`);
  const code = intFlag(values, 'status', { min: 400, max: 599 });
  const refuseEvery = intFlag(values, 'refuse-every', { min: 1 });
  const refuseFor = intFlag(values, 'refuse-for', { min: 1 });
  if ((refuseEvery === undefined) !== (refuseFor === undefined)) throw new UsageError('--refuse-every and --refuse-for go together');
  if (code === undefined && (values['status-count'] ?? values['status-period'] ?? values['retry-after']) !== undefined) {
    throw new UsageError('--status-count, --status-period and --retry-after need --status');
  }
  return {
    host: values.host,
    port: intFlag(values, 'port', { max: 65_535 }),
    idleCloseMs: intFlag(values, 'idle-close'),
    advertise: values.advertise,
    closeWith: values.rst === true ? 'rst' : 'fin',
    raceWindowMs: intFlag(values, 'race-window'),
    slowMs: intFlag(values, 'slow'),
    status: code === undefined ? undefined : {
      code,
      count: intFlag(values, 'status-count', { min: 1 }) ?? 1,
      period: intFlag(values, 'status-period', { min: 1 }),
      retryAfter: values['retry-after'],
    },
    refuse: refuseEvery === undefined || refuseFor === undefined ? undefined : { everyMs: refuseEvery, forMs: refuseFor },
    idHeader: values['id-header'],
  };
}

export async function runSimulateFlaky(args: string[], out: (line: string) => void): Promise<number> {
  const options = parseFlakyArgs(args);
  if (options === 'help') {
    out(FLAKY_HELP);
    return 0;
  }
  // Signal handlers go in before readiness is announced: a supervisor may send SIGTERM
  // the moment it reads the "listening" line.
  const stopped = untilSignal();
  const server = await FlakyServer.start(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as FlakyOptions);
  out(`holdfast flaky upstream listening on ${server.url}`);
  const signal = await stopped;
  await server.close();
  out(`stopped (${signal}); ${server.stats().received} requests received`);
  return 0;
}
