import { z } from 'zod';
import { proxyConfigSchema } from '@holdfast/proxy/internal/proxy/config/config.js';
import { mirrorSchema } from '@holdfast/servicenow/internal/servicenow/mirror-options.js';

/** The config files that have a JSON Schema: `holdfast proxy --config` and `holdfast servicenow --config`. */
export const SCHEMA_NAMES = ['proxy', 'servicenow'] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

/**
 * The JSON Schema (draft 2020-12) of a config file, made from the zod schema that validates it
 * (zod 4's toJSONSchema, input side: what a file may hold, defaults optional). The mirror's file
 * may leave any key to a flag or the environment, so none is required there. Editors read the
 * copies in schemas/ (`npm run schemas` writes them; packages/cli/test/config-schemas.test.ts fails when one
 * is stale); `holdfast proxy --print-schema` prints the same.
 */
export function configJsonSchema(name: SchemaName): Record<string, unknown> {
  const schema = name === 'proxy' ? proxyConfigSchema : mirrorSchema.partial();
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  // A default made on this machine (the replica's name: host and pid) is said, not written.
  const replica = (json.properties as Record<string, Record<string, unknown>> | undefined)?.replica;
  if (replica !== undefined) {
    delete replica.default;
    replica.description = 'default: this host name and the process id';
  }
  const title = name === 'proxy' ? 'holdfast proxy config (holdfast proxy --config)' : 'holdfast ServiceNow mirror config (holdfast servicenow --config)';
  const reference = name === 'proxy' ? 'docs/reference/proxy.md' : 'docs/reference/servicenow.md';
  return { $schema: json.$schema, title, description: `Every field and default: ${reference}.`, ...json };
}

/** The schema as the file in schemas/ holds it. */
export function configJsonSchemaText(name: SchemaName): string {
  return `${JSON.stringify(configJsonSchema(name), null, 2)}\n`;
}
