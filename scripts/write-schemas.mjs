// Writes schemas/*.schema.json from the zod schemas (through the build in dist/): `npm run schemas`.
// test/config-schemas.test.ts fails when a committed copy differs from what this writes.
import { writeFileSync } from 'node:fs';
import { configJsonSchemaText, SCHEMA_NAMES } from '../dist/cli/config-schemas.js';

for (const name of SCHEMA_NAMES) {
  const file = new URL(`../schemas/${name}.schema.json`, import.meta.url);
  writeFileSync(file, configJsonSchemaText(name));
  console.log(`wrote schemas/${name}.schema.json`);
}
