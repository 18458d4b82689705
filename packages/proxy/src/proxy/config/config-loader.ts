import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { proxyConfigSchema, type ProxyConfig } from './config.js';
import { findLegacyKey } from './legacy-keys.js';

/**
 * Reads and validates a proxy config file (YAML, or JSON, which is YAML too). Throws a
 * ProxyConfigError whose message is one line naming the file, the field and what was
 * expected: `proxy.yaml: upstreams[0].targets[1]: expected "host:port"…`.
 */
export async function loadConfigFile(file: string): Promise<ProxyConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ProxyConfigError(file, '(file)', (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const at = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const where = at === undefined ? '(syntax)' : `(syntax, line ${at.line} column ${at.col})`;
    throw new ProxyConfigError(file, where, (err as Error).message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'not YAML or JSON');
  }
  return resolvePaths(parseConfig(raw, file), dirname(resolve(file)));
}

/** Certificate, key and CA files and the ACME store's directory named relative to the config file are found next to it. */
function resolvePaths(config: ProxyConfig, dir: string): ProxyConfig {
  for (const certificate of config.certificates) {
    if ('acme' in certificate) continue;
    certificate.certFile = resolve(dir, certificate.certFile);
    certificate.keyFile = resolve(dir, certificate.keyFile);
  }
  for (const upstream of config.upstreams) {
    if (upstream.tls?.caFile !== undefined) upstream.tls.caFile = resolve(dir, upstream.tls.caFile);
  }
  if ('dir' in config.acme.store) config.acme.store.dir = resolve(dir, config.acme.store.dir);
  if (config.acme.directoryCaFile !== undefined) config.acme.directoryCaFile = resolve(dir, config.acme.directoryCaFile);
  return config;
}

/** Validates an already parsed config; `source` names it in errors. */
export function parseConfig(raw: unknown, source = 'config'): ProxyConfig {
  const legacy = findLegacyKey(raw);
  if (legacy !== undefined) throw new ProxyConfigError(source, legacy.field, legacy.hint);
  const parsed = proxyConfigSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issue = closestIssue(parsed.error.issues[0]!);
  throw new ProxyConfigError(source, fieldOf(issue), messageOf(issue));
}

/**
 * For a value no option of a union accepts (a certificate with certFile, or one with acme:),
 * the first issue of the option it came closest to (the fewest issues): "keyFile: missing"
 * rather than "no option matched".
 */
function closestIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  // A record key refused (a header name): its own message, not "Invalid key in record".
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return { ...issue.issues[0]!, path: issue.path } as z.core.$ZodIssue;
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  const closest = issue.errors.reduce((best, option) => (option.length < best.length ? option : best));
  const first = closest[0];
  // A value of no option's type at all (a string for an object): the union's own message says what is expected.
  if (first === undefined || first.path.length === 0) return issue;
  return closestIssue({ ...first, path: [...issue.path, ...first.path] } as z.core.$ZodIssue);
}

/** `upstreams[0].targets[1]`, from zod's path. */
function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`), '');
  if (issue.code === 'unrecognized_keys') return path === '' ? issue.keys.join(', ') : `${path}.${issue.keys.join(', ')}`;
  return path === '' ? '(top level)' : path;
}

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return 'unknown field (check its spelling; docs/reference/proxy.md lists every field)';
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return issue.message.startsWith('Invalid input') ? `missing: expected ${issue.expected}` : `missing: ${issue.message}`;
  }
  return issue.message;
}

/**
 * Watches a config file and reports each change after a short settling delay. It watches
 * the file's directory rather than the file, because editors and config managers replace a
 * file by renaming a new one over it, and a watch on the old inode would go quiet.
 */
export class ConfigWatcher {
  readonly #watcher: FSWatcher;
  #cancel: (() => void) | undefined;

  constructor(file: string, onChange: () => void, settleMs = 100, clock: Clock = systemClock) {
    const name = basename(file);
    this.#watcher = watch(dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      this.#cancel?.();
      this.#cancel = clock.schedule(onChange, settleMs);
    });
    this.#watcher.on('error', () => {}); // the directory went away: reload still works on SIGHUP
  }

  close(): void {
    this.#cancel?.();
    this.#watcher.close();
  }
}
