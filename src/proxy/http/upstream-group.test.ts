import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { proxyConfigSchema } from '../config/config.js';
import type { ProxyActionConfig } from '../config/http-config.js';
import { UpstreamGroup, type UpstreamHooks } from './upstream-group.js';

const hooks: UpstreamHooks = { ejected() {}, replayed() {}, checked() {}, healthChanged() {} };
const groups: UpstreamGroup[] = [];
after(async () => { await Promise.all(groups.map((group) => group.close())); });

/** A `proxy` action as the config schema defaults it. */
function action(extra: Record<string, unknown>): ProxyActionConfig {
  const config = proxyConfigSchema.parse({
    listeners: [{ port: 0 }],
    routes: [{ name: 'r', action: { type: 'http', routes: [{ name: 'h', action: { type: 'proxy', ...extra } }] } }],
  });
  const route = config.routes[0]!.action;
  assert.ok(route.type === 'http' && route.routes[0]!.action.type === 'proxy');
  return route.routes[0]!.action;
}

function group(extra: Record<string, unknown>): UpstreamGroup {
  const made = new UpstreamGroup('r', action(extra), undefined, hooks);
  groups.push(made);
  return made;
}

describe('UpstreamGroup.pick', () => {
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
