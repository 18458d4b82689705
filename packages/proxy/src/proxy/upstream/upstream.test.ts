import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { proxyConfigSchema } from '../config/config.js';
import type { UpstreamConfig } from '../config/upstream-config.js';
import { Upstream, type UpstreamHooks } from './upstream.js';

const hooks: UpstreamHooks = { ejected() {}, replayed() {}, checked() {}, healthChanged() {} };
const made: Upstream[] = [];
after(async () => { await Promise.all(made.map((upstream) => upstream.close())); });

/** An entry of `upstreams:` as the config schema defaults it. */
function config(extra: Record<string, unknown>): UpstreamConfig {
  return proxyConfigSchema.parse({
    listeners: [{ port: 0 }],
    upstreams: [{ name: 'u', ...extra }],
    routes: [{ name: 'r', action: { type: 'forward', upstream: 'u' } }],
  }).upstreams[0]!;
}

function group(extra: Record<string, unknown>): Upstream {
  const upstream = new Upstream(config(extra), { tls: undefined, connectMs: 5_000, hooks });
  made.push(upstream);
  return upstream;
}

describe('Upstream.pick', () => {
  it('spreads by weight in smooth round-robin order (5,1,1 → a a b a c a a)', () => {
    const g = group({ targets: [{ address: 'a:1', weight: 5 }, 'b:1', 'c:1'] });
    assert.deepEqual(Array.from({ length: 7 }, () => g.pick()!.address), ['a:1', 'a:1', 'b:1', 'a:1', 'c:1', 'a:1', 'a:1']);
  });

  it('least-request picks the fewest in flight per unit of weight', () => {
    const g = group({ targets: [{ address: 'a:1', weight: 2 }, 'b:1'], balance: 'least-request' });
    const [a, b] = g.targets;
    a!.inFlight = 3; // 1.5 per unit of weight
    b!.inFlight = 1; // 1 per unit
    assert.equal(g.pick()!.address, 'b:1');
    b!.inFlight = 2; // 2 per unit
    assert.equal(g.pick()!.address, 'a:1');
  });

  it('skips targets out of rotation (unhealthy, or tried already) and answers undefined when none is left', () => {
    const g = group({ targets: ['a:1', 'b:1'] });
    const [a, b] = g.targets;
    a!.healthy = false;
    assert.equal(g.pick()!.address, 'b:1');
    assert.equal(g.pick()!.address, 'b:1');
    assert.equal(g.pick(new Set([b!])), undefined);
  });

  it('asks the breaker about an ejected target: once its breaker lets probes through, it is back', () => {
    const g = group({ targets: ['a:1', 'b:1'] });
    const [a] = g.targets;
    a!.ejected = true;
    // Its breaker never opened (no failures were seen): the flag alone does not keep it out.
    assert.equal(g.available(a!), true);
    g.dispatcher.isolate(a!.origin);
    assert.equal(g.available(a!), false);
  });
});

describe('Upstream.dialOrder (layer-4 routes)', () => {
  it('the chosen target first, the others after it in rotation as fallbacks; round-robin moves the start', () => {
    const g = group({ targets: ['a:1', 'b:1', 'c:1'] });
    const order = () => g.dialOrder().map((t) => t.address[0]).join('');
    assert.deepEqual([order(), order(), order(), order()], ['abc', 'bca', 'cab', 'abc']);
  });

  it('least-request counts connections in flight; targets out of rotation are neither chosen nor fallbacks', () => {
    const g = group({ targets: ['a:1', 'b:1', 'c:1'], balance: 'least-request' });
    const [a, b, c] = g.targets;
    a!.inFlight = 1;
    b!.inFlight = 1;
    assert.deepEqual(g.dialOrder().map((t) => t.address), ['c:1', 'a:1', 'b:1']);
    c!.healthy = false;
    assert.ok(!g.dialOrder().includes(c!), 'an unhealthy target is not dialled');
    a!.healthy = false;
    b!.healthy = false;
    assert.deepEqual(g.dialOrder(), [], 'every target out: nothing to dial');
  });

  it('makes no HTTP pool until an HTTP route asks for one', () => {
    const g = group({ targets: ['a:1'] });
    assert.equal(g.openSockets, 0);
    assert.equal(g.available(g.targets[0]!), true);
  });
});
