import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceData } from './instance-data.js';
import { seedInstance } from './seed.js';

const options = { caseSensitive: false, strict: false };

test('state saved to a JSON file loads back the same, numbering included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-sn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = new InstanceData(options);
  seedInstance(a, { seed: 3, records: 40, epochMs: Date.parse('2026-01-01T00:00:00Z') });
  await a.save(join(dir, 'state.json'));
  const b = new InstanceData(options);
  await b.load(join(dir, 'state.json'));
  for (const [name, table] of a.tables) assert.deepEqual(b.table(name)!.byUpdated(), table.byUpdated(), name);
  assert.equal(b.create(b.table('incident')!, {}, 't').number, a.create(a.table('incident')!, {}, 't').number);
  await assert.rejects(new InstanceData(options).load(join(dir, 'missing.json')));
});

test('the same seed gives the same data', () => {
  const make = () => {
    const data = new InstanceData(options);
    seedInstance(data, { seed: 9, records: 100, epochMs: Date.parse('2026-01-01T00:00:00Z') });
    return data.table('incident')!.byUpdated();
  };
  assert.deepEqual(make(), make());
});
