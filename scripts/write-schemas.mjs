// Writes packages/cli/schemas/*.schema.json from the zod schemas (through the CLI package's build): `npm run schemas`.
// packages/cli/test/config-schemas.test.ts fails when a committed copy differs from what this writes.
import { writeFileSync } from 'node:fs';
import { configJsonSchemaText, SCHEMA_NAMES } from '../packages/cli/dist/cli/config-schemas.js';

for (const name of SCHEMA_NAMES) {
  const file = new URL(`../packages/cli/schemas/${name}.schema.json`, import.meta.url);
  writeFileSync(file, configJsonSchemaText(name));
  console.log(`wrote packages/cli/schemas/${name}.schema.json`);
}
