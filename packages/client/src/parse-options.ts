import type { z } from 'zod';
import { InvalidOptionError } from './errors.js';

/**
 * Validates `input` against `schema` once, at the boundary. On failure it throws
 * an InvalidOptionError naming the offending option by its dotted path (or the
 * unknown key, for a strict object), so the caller sees which setting to fix.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') || (issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(options)');
  // A record's bad key carries the key rule's own message one level down.
  const message = issue?.code === 'invalid_key' ? issue.issues[0]?.message ?? issue.message : issue?.message;
  throw new InvalidOptionError(path, message ?? 'invalid');
}
