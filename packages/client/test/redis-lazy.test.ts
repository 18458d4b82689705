import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * ioredis turns `String.prototype` into a dictionary-mode object when it is loaded (its
 * `class VerbatimString extends String`), which makes every string method call in optimized
 * code a generic lookup, process-wide (packages/client/src/redis-client.ts). holdfast loads it only when it
 * makes or checks a Redis client. These run in a fresh Node process each, with V8's natives
 * syntax to ask whether `String.prototype` still has fast properties.
 */
function stringPrototypeFastAfter(code: string): boolean {
  const out = execFileSync(process.execPath, [
    '--allow-natives-syntax', '--conditions=holdfast-source', '--import', 'tsx', '--input-type=module', '-e',
    `${code}\nprocess.stdout.write(String(%HasFastProperties(String.prototype)));`,
  ], { encoding: 'utf8', cwd: new URL('..', import.meta.url) });
  return out.trim().endsWith('true');
}

describe('ioredis is loaded only when Redis is used', () => {
  it('importing the library, the proxy and the mirror leaves String.prototype fast', () => {
    assert.equal(stringPrototypeFastAfter(`
      await import('@holdfast/proxy');
      await import('@holdfast/servicenow');
      const { createDispatcher } = await import('holdfast');
      await createDispatcher({ rateLimit: { requestsPerSecond: 10 } }).close();
    `), true);
  });

  it('checking a Redis client loads ioredis, and the probe sees what that does to String.prototype', () => {
    assert.equal(stringPrototypeFastAfter(`
      const { isRedisClient } = await import('holdfast/internal/redis-client.js');
      isRedisClient({});
    `), false);
  });
});
