import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ServiceNowSimulator } from '@holdfast/servicenow/internal/simulate/servicenow/servicenow-simulator.js';
import { resolveSimulatorOptions, type SimulatorOptions } from '@holdfast/servicenow/internal/simulate/servicenow/options.js';
import { intFlag, UsageError, untilSignal } from './cli-error.js';

export const SERVICENOW_HELP = `Usage: holdfast simulate servicenow [options]

A local ServiceNow instance: the REST Table API (/api/now[/v1|/v2]/table/...),
OAuth (/oauth_token.do), throttling as instances do it, and faults on demand.
See docs/guides/simulator.md for what is faithful and what is not.

Server:
  --host HOST              bind address (default 127.0.0.1)
  --port PORT              port (default 0: any free port; the URL is printed)
  --admin-host HOST        admin endpoint bind address (default 127.0.0.1)
  --admin-port PORT        admin endpoint port (default 0: any free port, printed)
  --config FILE            options as JSON or YAML (users, OAuth clients, rate-limit
                           rules, extra tables and u_* fields under schema...); flags
                           given as well override the file
  --tls                    serve HTTPS with a self-signed certificate made at start
  --tls-key FILE           serve HTTPS with this key (PEM) and --tls-cert FILE
  --tls-cert FILE
  --tls-cert-out FILE      with --tls: write the generated certificate there, for
                           clients to trust (NODE_EXTRA_CA_CERTS=FILE)
Data:
  --seed N                 seed for generated data (default 1)
  --records N              task records to generate: half incidents, a quarter
                           change tasks, a quarter catalog tasks (default 2000)
  --load FILE              load data from a state file instead of generating it
  --save FILE              write the data to FILE on exit (SIGINT/SIGTERM)
  --churn N                updates, creates and deletes per second (default 0)
  --strict                 reject unknown fields in queries and sysparm_fields
                           (an instance ignores them)
  --case-sensitive         compare text case-sensitively
Auth (default user admin/admin; OAuth client holdfast/holdfast):
  --user NAME:PASSWORD     replace the users with this one (repeatable)
  --access-token-ttl S     access token lifetime (default 1800)
  --refresh-token-ttl S    refresh token lifetime (default 8640000)
Throttling:
  --rate-limit N           a rate-limit rule for every user: N requests per hour
  --workers N              requests served at once (default 4)
  --queue-depth N          requests that may wait for a worker; beyond: 429 (default 50)
  --max-transaction MS     transaction quota (default 60000)
  --on-timeout MODE        truncate (200, cut-off body + error) or 500 (default truncate)
  --row-cost-us N          simulated query cost per returned row (default 0)
  --keep-alive S           Keep-Alive timeout advertised and enforced (default 20)
  --lb-idle MS             a load balancer drops connections idle this long (default 0: none)
  --lb-advertise           announce the load balancer's idle limit in Keep-Alive
Faults (also at runtime: PUT /faults on the admin endpoint):
  --rst-rate F             fraction of requests answered with a TCP reset (0..1)
  --slow MS                delay every response by MS
  --status CODE            answer CODE (429 or 500..599; a 429 carries Retry-After: 1)
                           to the first --status-count of
  --status-count N         every --status-period requests
  --status-period N
  --truncate-rate F        fraction of responses cut off mid-body (0..1)
  --refuse-every MS        refuse connections for --refuse-for MS of every MS
  --refuse-for MS
  -h, --help               show this help

Stops on SIGINT or SIGTERM.`;

function fraction(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} expects a fraction from 0 to 1, got "${String(raw)}"`);
  return n;
}

function user(spec: string): { user_name: string; password: string } {
  const colon = spec.indexOf(':');
  if (colon <= 0 || colon === spec.length - 1) throw new UsageError(`--user expects NAME:PASSWORD, got "${spec}"`);
  return { user_name: spec.slice(0, colon), password: spec.slice(colon + 1) };
}

export async function parseServiceNowArgs(args: string[]): Promise<{ options: SimulatorOptions; save: string | undefined; certOut: string | undefined } | 'help'> {
  const s = { type: 'string' } as const;
  const b = { type: 'boolean' } as const;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: s, port: s, 'admin-host': s, 'admin-port': s, config: s, tls: b, 'tls-key': s, 'tls-cert': s, 'tls-cert-out': s, seed: s, records: s, load: s, save: s, churn: s, strict: b, 'case-sensitive': b,
      user: { type: 'string', multiple: true }, 'access-token-ttl': s, 'refresh-token-ttl': s, 'rate-limit': s, workers: s, 'queue-depth': s,
      'max-transaction': s, 'on-timeout': s, 'row-cost-us': s, 'keep-alive': s, 'lb-idle': s, 'lb-advertise': b, 'rst-rate': s, slow: s,
      status: s, 'status-count': s, 'status-period': s, 'truncate-rate': s, 'refuse-every': s, 'refuse-for': s, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see holdfast simulate servicenow --help)`);
  const file = values.config === undefined ? {} : (parseYaml(await readFile(values.config, 'utf8')) as Record<string, unknown> | null) ?? {};
  const onTimeout = values['on-timeout'];
  if (onTimeout !== undefined && onTimeout !== 'truncate' && onTimeout !== '500') throw new UsageError(`--on-timeout expects truncate or 500, got "${onTimeout}"`);
  const code = intFlag(values, 'status', { min: 429, max: 599 });
  if (code !== undefined && code !== 429 && code < 500) throw new UsageError(`--status expects 429 or 500..599, got ${code}`);
  if (code === undefined && (values['status-count'] ?? values['status-period']) !== undefined) throw new UsageError('--status-count and --status-period need --status');
  const refuseEvery = intFlag(values, 'refuse-every', { min: 1 });
  const refuseFor = intFlag(values, 'refuse-for', { min: 1 });
  if ((refuseEvery === undefined) !== (refuseFor === undefined)) throw new UsageError('--refuse-every and --refuse-for go together');
  const rateLimit = intFlag(values, 'rate-limit', { min: 1 });
  if ((values['tls-key'] === undefined) !== (values['tls-cert'] === undefined)) throw new UsageError('--tls-key and --tls-cert go together');
  if (values.tls === true && values['tls-key'] !== undefined) throw new UsageError('--tls (a generated certificate) and --tls-key/--tls-cert exclude each other');
  if (values['tls-cert-out'] !== undefined && values.tls !== true) throw new UsageError('--tls-cert-out needs --tls');
  const tls = values['tls-key'] !== undefined ? { key: await readFile(values['tls-key'], 'utf8'), cert: await readFile(values['tls-cert']!, 'utf8') } : values.tls === true ? true : undefined;
  const flags: Record<string, unknown> = {
    tls,
    host: values.host, port: intFlag(values, 'port', { max: 65_535 }), adminHost: values['admin-host'], adminPort: intFlag(values, 'admin-port', { max: 65_535 }),
    seed: intFlag(values, 'seed'), records: intFlag(values, 'records'), load: values.load, churnPerSecond: intFlag(values, 'churn'),
    strict: values.strict, caseSensitive: values['case-sensitive'], users: values.user?.map(user),
    accessTokenTtlS: intFlag(values, 'access-token-ttl', { min: 1 }), refreshTokenTtlS: intFlag(values, 'refresh-token-ttl', { min: 1 }),
    rateLimits: rateLimit === undefined ? undefined : [{ user: '*', limit: rateLimit }],
    workers: intFlag(values, 'workers', { min: 1 }), queueDepth: intFlag(values, 'queue-depth'), maxTransactionMs: intFlag(values, 'max-transaction', { min: 1 }),
    onTransactionTimeout: onTimeout, rowCostUs: intFlag(values, 'row-cost-us'), keepAliveTimeoutS: intFlag(values, 'keep-alive', { min: 1 }),
    lbIdleMs: intFlag(values, 'lb-idle'), lbAdvertise: values['lb-advertise'],
    refuse: refuseEvery === undefined ? undefined : { everyMs: refuseEvery, forMs: refuseFor },
  };
  const faults = {
    ...(file.faults as object | undefined),
    ...defined({ rstRate: fraction(values, 'rst-rate'), slowMs: intFlag(values, 'slow'), truncateRate: fraction(values, 'truncate-rate'),
      status: code === undefined ? undefined : { code, count: intFlag(values, 'status-count', { min: 1 }) ?? 1, period: intFlag(values, 'status-period', { min: 1 }) ?? 1 } }),
  };
  const options = { ...file, ...defined(flags), faults };
  resolveSimulatorOptions(options); // names the bad option now, before anything starts
  return { options, save: values.save, certOut: values['tls-cert-out'] };
}

const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export async function runSimulateServiceNow(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = await parseServiceNowArgs(args);
  if (parsed === 'help') {
    out(SERVICENOW_HELP);
    return 0;
  }
  const stopped = untilSignal();
  out('holdfast ServiceNow simulator: loading data…');
  const sim = await ServiceNowSimulator.start(parsed.options);
  const counts = [...sim.data.tables].map(([name, table]) => `${name} ${table.size}`).join(', ');
  if (parsed.certOut !== undefined && sim.certificate !== undefined) {
    await writeFile(parsed.certOut, sim.certificate);
    out(`the generated certificate is in ${parsed.certOut} (trust it with NODE_EXTRA_CA_CERTS=${parsed.certOut})`);
  }
  out(`holdfast ServiceNow simulator listening on ${sim.url} (admin ${sim.adminUrl}); ${counts}`);
  out(`sign in with Basic ${sim.options.users[0]!.user_name}:*** or OAuth at ${sim.url}/oauth_token.do`);
  const signal = await stopped;
  out(`${signal}: stopping`);
  if (parsed.save !== undefined) {
    await sim.data.save(parsed.save);
    out(`saved the data to ${parsed.save}`);
  }
  await sim.close();
  return 0;
}
