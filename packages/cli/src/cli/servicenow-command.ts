import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { Mirror, type MirrorEvent } from '@holdfast/servicenow/internal/servicenow/mirror.js';
import { resolveMirrorOptions, withInstance, type MirrorOptions, type ResolvedMirrorOptions } from '@holdfast/servicenow/internal/servicenow/mirror-options.js';
import { hashPassword, LOOPBACK_HOSTS, parseUsersFile, type AccessOptions } from '@holdfast/servicenow/internal/servicenow/web/access.js';
import { isLoopbackAddress } from 'holdfast/internal/http/host-names.js';
import { buildWebApp } from '@holdfast/servicenow/internal/servicenow/web/app.js';
import { ServiceNowSimulator } from '@holdfast/servicenow/internal/simulate/servicenow/servicenow-simulator.js';
import { intFlag, UsageError, untilSignal } from './cli-error.js';
import { ProgressReporter } from './progress-reporter.js';
import { configJsonSchemaText } from './config-schemas.js';

export const MIRROR_HELP = `Usage: holdfast servicenow (--instance URL | --simulate) [options]
       holdfast servicenow hash-password NAME < password   (a line for --auth-users)

Mirrors a ServiceNow instance's waiting work per assignment group into a store and
serves a live dashboard of it. Page views never call the instance.

Instance:
  --instance URL           the instance (or SERVICENOW_INSTANCE); credentials come from
                           SERVICENOW_USER and SERVICENOW_PASSWORD, plus
                           SERVICENOW_CLIENT_ID and SERVICENOW_CLIENT_SECRET for OAuth
  --simulate               start the built-in simulator, with churn and faults on, and use it
  --records N              simulator: task records to generate (default 20000)
  --churn N                simulator: writes per second (default 5)
Web:
  --host HOST              dashboard bind address (default 127.0.0.1); beyond loopback,
                           --auth-tokens or --auth-users is required
  --port PORT              dashboard port (default 3000; 0: any free port)
  --auth-tokens FILE       bearer tokens, one per line (or HOLDFAST_DASHBOARD_TOKEN)
  --auth-users FILE        basic users, name:hash per line (holdfast servicenow
                           hash-password NAME prints a line from a password on stdin)
  --allowed-hosts LIST     host names the dashboard answers to, comma-separated
                           (default on a loopback bind: localhost,127.0.0.1,[::1];
                           otherwise any)
  --allow-remote-admin     accept POST /api/sync/TABLE from other hosts than loopback
Sync:
  --config FILE            mirror options as JSON or YAML (tables, fields, waiting rules,
                           redis...); flags given as well override the file
  --print-schema           print the config file's JSON Schema (also in the package's
                           schemas/servicenow.schema.json) and exit
  --tables LIST            tables to mirror, comma-separated
                           (default sys_user_group,incident,change_task,sc_task)
  --interval S             seconds between incremental cycles (default 300)
  --page-size N            records per request, 1..10000 (default 1000)
  --rate N                 requests per second to the instance, whole deployment (default 10)
  --concurrency N          requests in flight to the instance (default 2)
  --critical-groups LIST   groups to warm first, comma-separated names (default: all)
  --redis URL              share store, lock and rate budget with other replicas
                           (or HOLDFAST_REDIS_URL)
  --redis-prefix P         key prefix in Redis (default holdfast:sn:)
  --replica NAME           this replica's name in logs (default host:pid)
  -h, --help               show this help

The first load shows a progress bar on a terminal and log lines otherwise.
Stops on SIGINT or SIGTERM: the page in flight is abandoned, the watermark stays at
the last applied page, and the server closes.`;

const list = (raw: string | undefined) => raw?.split(',').map((s) => s.trim()).filter((s) => s !== '');
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export interface ParsedMirrorArgs {
  /** Validated once, here; with --simulate, withInstance() points them at the simulator. */
  options: Readonly<ResolvedMirrorOptions>;
  simulate: { records: number; churn: number } | undefined;
  host: string;
  port: number;
  allowRemoteAdmin: boolean;
  access: AccessOptions;
}


/** Credentials and host names for the dashboard, from the flags; binding beyond loopback needs credentials. */
async function accessOf(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, host: string): Promise<AccessOptions> {
  const tokensFile = values['auth-tokens'] as string | undefined;
  const usersFile = values['auth-users'] as string | undefined;
  const tokens = tokensFile === undefined ? [] : (await readFile(tokensFile, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (tokensFile !== undefined && tokens.length === 0) throw new UsageError(`--auth-tokens ${tokensFile}: no tokens`);
  if (tokens.some((token) => token.length < 16)) throw new UsageError(`--auth-tokens ${tokensFile}: a token is shorter than 16 characters`);
  if (env.HOLDFAST_DASHBOARD_TOKEN !== undefined && env.HOLDFAST_DASHBOARD_TOKEN !== '') tokens.push(env.HOLDFAST_DASHBOARD_TOKEN);
  let users: Map<string, string> | undefined;
  if (usersFile !== undefined) {
    try {
      users = parseUsersFile(await readFile(usersFile, 'utf8'), usersFile);
    } catch (err) {
      throw new UsageError(`--auth-users ${(err as Error).message}`);
    }
  }
  if (!isLoopbackAddress(host) && tokens.length === 0 && users === undefined) {
    throw new UsageError(`--host ${host} is beyond loopback: give --auth-tokens or --auth-users (or HOLDFAST_DASHBOARD_TOKEN), so that the dashboard is not open to the network`);
  }
  const allowed = list(values['allowed-hosts'] as string | undefined);
  return { tokens, users, allowedHosts: allowed ?? (isLoopbackAddress(host) ? [...LOOPBACK_HOSTS] : undefined) };
}

function credentials(env: NodeJS.ProcessEnv, file: Record<string, unknown>): MirrorOptions['auth'] {
  if (file.auth !== undefined) return file.auth as MirrorOptions['auth'];
  const { SERVICENOW_USER: user, SERVICENOW_PASSWORD: password, SERVICENOW_CLIENT_ID: clientId, SERVICENOW_CLIENT_SECRET: clientSecret } = env;
  if (user === undefined || password === undefined) throw new UsageError('set SERVICENOW_USER and SERVICENOW_PASSWORD (or auth in --config) to sign in to the instance');
  return clientId !== undefined && clientSecret !== undefined ? { type: 'oauth', clientId, clientSecret, user, password } : { type: 'basic', user, password };
}

export async function parseMirrorArgs(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ParsedMirrorArgs | 'help' | 'print-schema'> {
  const s = { type: 'string' } as const;
  const b = { type: 'boolean' } as const;
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      instance: s, simulate: b, records: s, churn: s, host: s, port: s, 'allow-remote-admin': b, 'auth-tokens': s, 'auth-users': s, 'allowed-hosts': s,
      config: s, tables: s, interval: s, 'page-size': s,
      rate: s, concurrency: s, 'critical-groups': s, redis: s, 'redis-prefix': s, replica: s, help: { type: 'boolean', short: 'h' }, 'print-schema': b,
    },
  });
  if (values.help === true) return 'help';
  if (values['print-schema'] === true) return 'print-schema';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see holdfast servicenow --help)`);
  const file = values.config === undefined ? {} : (parseYaml(await readFile(values.config, 'utf8')) as Record<string, unknown> | null) ?? {};
  const simulate = values.simulate === true;
  const instance = values.instance ?? (simulate ? undefined : env.SERVICENOW_INSTANCE ?? file.instance as string | undefined);
  if (simulate && values.instance !== undefined) throw new UsageError('--simulate and --instance exclude each other');
  if (!simulate && instance === undefined) throw new UsageError('give --instance URL (or SERVICENOW_INSTANCE), or --simulate');
  if (!simulate && (values.records ?? values.churn) !== undefined) throw new UsageError('--records and --churn need --simulate');
  if (instance !== undefined && URL.canParse(instance) && (new URL(instance).username !== '' || new URL(instance).password !== '')) {
    throw new UsageError('--instance must not carry credentials (user:password@): give them in SERVICENOW_USER and SERVICENOW_PASSWORD');
  }
  const redisUrl = values.redis ?? env.HOLDFAST_REDIS_URL;
  const fileRedis = file.redis as Record<string, unknown> | undefined;
  const options: Record<string, unknown> = {
    ...file,
    instance: simulate ? 'http://127.0.0.1:1' : instance, // replaced by the simulator's URL once it listens
    auth: simulate ? { type: 'basic', user: 'admin', password: 'admin' } : credentials(env, file),
    ...defined({
      tables: list(values.tables), intervalS: intFlag(values, 'interval', { min: 1 }) ?? (simulate && file.intervalS === undefined ? 15 : undefined),
      pageSize: intFlag(values, 'page-size', { min: 1, max: 10_000 }), requestsPerSecond: intFlag(values, 'rate', { min: 1 }),
      concurrency: intFlag(values, 'concurrency', { min: 1, max: 16 }), criticalGroups: list(values['critical-groups']), replica: values.replica,
      redis: redisUrl === undefined && fileRedis === undefined ? undefined : { ...fileRedis, ...defined({ url: redisUrl, prefix: values['redis-prefix'] }) },
    }),
  };
  const resolved = resolveMirrorOptions(options); // names the bad option now, before anything starts
  const host = values.host ?? '127.0.0.1';
  return {
    access: await accessOf(values, env, host),
    options: resolved,
    simulate: simulate ? { records: intFlag(values, 'records') ?? 20_000, churn: intFlag(values, 'churn') ?? 5 } : undefined,
    host,
    port: intFlag(values, 'port', { max: 65_535 }) ?? 3000,
    allowRemoteAdmin: values['allow-remote-admin'] === true,
  };
}

/** `holdfast servicenow hash-password NAME`: a users-file line from a password read on stdin. */
async function hashPasswordCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || rest.length > 0 || !/^[^:\s]+$/.test(name)) throw new UsageError('usage: holdfast servicenow hash-password NAME (the password on stdin; NAME without ":" or spaces)');
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  const password = input.replace(/\r?\n$/, '');
  if (password.length < 8) throw new UsageError('the password on stdin is shorter than 8 characters');
  out(`${name}:${hashPassword(password)}`);
  return 0;
}

export async function runServiceNow(args: string[], out: (line: string) => void): Promise<number> {
  if (args[0] === 'hash-password') return hashPasswordCommand(args.slice(1), out);
  const parsed = await parseMirrorArgs(args);
  if (parsed === 'help') {
    out(MIRROR_HELP);
    return 0;
  }
  if (parsed === 'print-schema') {
    out(configJsonSchemaText('servicenow').trimEnd());
    return 0;
  }
  const stopped = untilSignal();
  let sim: ServiceNowSimulator | undefined;
  if (parsed.simulate !== undefined) {
    out(`starting the ServiceNow simulator (${parsed.simulate.records} records, churn ${parsed.simulate.churn}/s, faults on)…`);
    sim = await ServiceNowSimulator.start({
      records: parsed.simulate.records, churnPerSecond: parsed.simulate.churn,
      faults: { rstRate: 0.01, truncateRate: 0.01, status: { code: 503, count: 1, period: 40 } },
    });
    out(`simulator listening on ${sim.url} (admin ${sim.adminUrl})`);
  }
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn', redact: ['*.authorization', '*.password', '*.clientSecret'] }, pino.destination(2));
  const mirror = new Mirror(sim === undefined ? parsed.options : withInstance(parsed.options, sim.url), { logger });
  const progress = new ProgressReporter(process.stderr, out, mirror.options.replica);
  mirror.on('event', (e: MirrorEvent) => progress.event(e));
  const app = buildWebApp(mirror, { allowRemoteAdmin: parsed.allowRemoteAdmin, access: parsed.access });
  try {
    const url = await app.listen({ host: parsed.host, port: parsed.port });
    out(`holdfast servicenow: dashboard listening on ${url}/dashboard (store ${mirror.store.kind}, replica ${mirror.options.replica})`);
    // start() waits for Redis; a signal that comes first (Redis unreachable) still stops (issue 17).
    const signal = await Promise.race([stopped, mirror.start().then(() => stopped)]);
    out(`${signal}: stopping`);
  } finally {
    progress.close();
    await mirror.close();
    await app.close();
    await sim?.close();
  }
  return 0;
}
