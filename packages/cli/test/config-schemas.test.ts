/**
 * Issue 23, item 2: the config files' JSON Schemas. The copies in schemas/ (what editors read)
 * are what the zod schemas make now; the commented example validates against the proxy's, and
 * a misspelt or mistyped key does not; the CLI prints the same schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema, configJsonSchemaText, SCHEMA_NAMES } from '../src/cli/config-schemas.js';
import { CLI_BIN } from '../../../test/support/helpers.js';

test('schemas/*.schema.json are what the zod schemas make (run npm run schemas after changing a config schema)', () => {
  for (const name of SCHEMA_NAMES) {
    assert.equal(readFileSync(`packages/cli/schemas/${name}.schema.json`, 'utf8'), configJsonSchemaText(name), `packages/cli/schemas/${name}.schema.json is stale: run npm run schemas`);
  }
});

test('examples/proxy.yaml validates against the proxy schema, and names it for editors; a misspelt or mistyped key does not validate', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(configJsonSchema('proxy'));
  const text = readFileSync('examples/proxy.yaml', 'utf8');
  assert.match(text.split('\n')[0]!, /^# yaml-language-server: \$schema=\.\.\/packages\/cli\/schemas\/proxy\.schema\.json$/);
  const example = parse(text) as Record<string, unknown>;
  assert.equal(validate(example), true, JSON.stringify(validate.errors));
  assert.equal(validate({ ...example, listners: example.listeners }), false, 'an unknown key');
  assert.equal(validate({ ...example, shutdown: { drainMs: '30s' } }), false, 'a string for a number');
  const mirror = ajv.compile(configJsonSchema('servicenow'));
  assert.equal(mirror({ tables: ['incident'], intervalS: 30 }), true, JSON.stringify(mirror.errors));
  assert.equal(mirror({ intervalS: 'often' }), false);
});

test('holdfast proxy --print-schema and holdfast servicenow --print-schema print the schemas', () => {
  for (const name of SCHEMA_NAMES) {
    const printed = execFileSync(process.execPath, [CLI_BIN, name, '--print-schema'], { encoding: 'utf8' });
    assert.equal(printed, configJsonSchemaText(name));
  }
});
