import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { probeIdleTimeout, type ProbeResult } from 'holdfast/internal/client/probe-idle-timeout.js';
import { intFlag, UsageError } from './cli-error.js';

export const PROBE_HELP = `Usage: holdfast probe URL [options]

Measures how long the server at URL really keeps an idle keep-alive connection
open, what it advertises, and the client idle timeout to use.

Options:
  --json                 print the result as JSON
  --connections N        connections probed in parallel (default 4)
  --max-wait MS          longest idle time tried, bounds the run (default 120000)
  --timeout MS           per-request timeout (default 10000)
  --ca FILE              extra CA certificate (PEM) to trust for https
  --insecure             do not verify the TLS certificate (prints a warning)
  -h, --help             show this help

Exit status: 0 measured, 1 the server could not be probed, 2 bad input.`;

function format(ms: number | undefined): string {
  return ms === undefined ? 'none' : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s`;
}

function report(result: ProbeResult): string {
  const samples = result.samples.map((s) => `${s.outcome}@${format(s.idleMs)}`).join(', ');
  return [
    `probe ${result.url} (${format(result.durationMs)})`,
    `  advertised Keep-Alive timeout: ${format(result.advertisedMs)}`,
    `  observed idle close:           ${result.observedIdleMs === undefined ? `none within the wait${result.keptAtLeastMs === undefined ? '' : `; kept at least ${format(result.keptAtLeastMs)}`}` : format(result.observedIdleMs)}`,
    `  recommended client idle:       ${format(result.recommendedIdleMs)}`,
    `  connections:                   ${samples}`,
  ].join('\n');
}

export async function runProbe(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      connections: { type: 'string' },
      'max-wait': { type: 'string' },
      timeout: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    out(PROBE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('probe expects exactly one URL (see holdfast probe --help)');
  let ca: Buffer | undefined;
  if (values.ca !== undefined) {
    try {
      ca = readFileSync(values.ca);
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${values.ca} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (values.insecure === true) process.stderr.write('holdfast probe: warning: TLS certificate verification is off (--insecure)\n');
  const result = await probeIdleTimeout(positionals[0]!, {
    connections: intFlag(values, 'connections', { min: 1, max: 32 }),
    maxWaitMs: intFlag(values, 'max-wait', { min: 1 }),
    requestTimeoutMs: intFlag(values, 'timeout', { min: 1 }),
    ca,
    insecure: values.insecure === true,
  });
  out(values.json === true ? JSON.stringify(result, null, 2) : report(result));
  return 0;
}
