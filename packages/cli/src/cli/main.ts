#!/usr/bin/env node
import { createRequire } from 'node:module';
import { HoldfastError } from 'holdfast/internal/errors.js';
import { printable } from 'holdfast/internal/observe/printable.js';
import { UsageError } from './cli-error.js';
import { runProbe } from './probe-command.js';
import { runProxy } from './proxy-command.js';
import { runSimulateFlaky } from './simulate-flaky-command.js';
import { runSimulateServiceNow } from './simulate-servicenow-command.js';
import { runServiceNow } from './servicenow-command.js';

const HELP = `Usage: holdfast <command> [options]

Commands:
  probe URL              measure a server's real keep-alive idle timeout
  proxy --config FILE    run the socket-safe proxy (TCP forwarding, TLS passthrough
                         by SNI, connection tracking, limits, admin API)
  servicenow             mirror a ServiceNow instance's waiting work and serve a
                         live dashboard (--simulate: against the built-in simulator)
  simulate flaky         run a fault-injecting HTTP upstream
  simulate servicenow    run a local ServiceNow Table API with fault injection

Run holdfast <command> --help for a command's options; holdfast --version prints the version.`;

/** The package's version, from its package.json (two levels up from packages/cli/src/cli and from dist/cli alike). */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      out(HELP);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version':
      out(`holdfast ${version()}`);
      return 0;
    case 'probe':
      return runProbe(rest, out);
    case 'proxy':
      return runProxy(rest, out);
    case 'servicenow':
      return runServiceNow(rest, out);
    case 'simulate': {
      const [what, ...args] = rest;
      if (what === 'flaky') return runSimulateFlaky(args, out);
      if (what === 'servicenow') return runSimulateServiceNow(args, out);
      throw new UsageError(what === undefined ? 'simulate needs a target: flaky or servicenow' : `unknown simulator "${what}" (known: flaky, servicenow)`);
    }
    default:
      throw new UsageError(`unknown command "${command}" (run holdfast --help)`);
  }
}

run(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const message = printable(err instanceof Error ? err.message : String(err));
    const code = err instanceof HoldfastError ? ` [${err.code}]` : '';
    process.stderr.write(`holdfast: ${message}${code}\n`);
    // parseArgs reports unknown flags as TypeError with an ERR_PARSE_ARGS_* code: bad input too.
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
      || (err instanceof HoldfastError && (err.code === 'HF_ERR_INVALID_OPTION' || err.code === 'HF_ERR_PROXY_CONFIG'));
    process.exitCode = usage ? 2 : 1;
  },
);
