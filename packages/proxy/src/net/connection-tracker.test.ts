import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { FakeClock } from '../../../../test/support/fake-clock.js';
import { ConnectionTracker, type LimitName } from './connection-tracker.js';

const socket = {} as Socket;

test('counters move once per connection, whichever side reports the close and however often', () => {
  const tracker = new ConnectionTracker({ maxConnections: 10, perIp: 10, newPerSecondPerIp: 100 }, new FakeClock());
  const closed: string[] = [];
  tracker.on('closed', (r) => closed.push(r.reason!));
  const record = tracker.open(socket, 'l', '10.0.0.1');
  assert.ok(typeof record === 'object');
  assert.equal(tracker.admit(record), undefined);
  assert.equal(tracker.assignRoute(record, 'r', 5), undefined);
  assert.deepEqual([...tracker.countsByRoute()], [['r', 1]]);
  assert.equal(tracker.close(record, 'backend-reset'), true);
  assert.equal(tracker.close(record, 'client-closed'), false);
  assert.deepEqual(closed, ['backend-reset']);
  assert.equal(tracker.active, 0);
  assert.deepEqual([...tracker.countsByRoute()], []);
  assert.deepEqual(tracker.trackedIps.connected, 0, 'an IP with no connection is forgotten');
  tracker.stop();
});

test('limits: total, per IP, per route and new connections per second per IP, each refused and reported', () => {
  const clock = new FakeClock();
  const tracker = new ConnectionTracker({ maxConnections: 3, perIp: 2, newPerSecondPerIp: 3 }, clock);
  const refused: LimitName[] = [];
  tracker.on('refused', (limit) => refused.push(limit));
  const open = (ip: string, routeLimit: number) => {
    const record = tracker.open(socket, 'l', ip);
    if (typeof record === 'string') return record;
    const verdict = tracker.admit(record) ?? tracker.assignRoute(record, 'r', routeLimit);
    if (verdict !== undefined) tracker.close(record, 'limit'); // as the proxy does
    return verdict ?? 'ok';
  };
  assert.deepEqual([open('a', 5), open('a', 5), open('a', 5)], ['ok', 'ok', 'per-ip']);
  assert.equal(open('b', 2), 'per-route', 'the route holds 2');
  assert.equal(open('c', 5), 'ok');
  assert.equal(open('d', 5), 'total', 'three are open');
  assert.deepEqual(refused, ['per-ip', 'per-route', 'total']);
  // Rate: 3 new connections per second per IP, whatever closes in between.
  const rate = new ConnectionTracker({ maxConnections: 100, perIp: 100, newPerSecondPerIp: 3 }, clock);
  const admitOne = () => {
    const record = rate.open(socket, 'l', 'e');
    if (typeof record === 'string') return record;
    const verdict = rate.admit(record);
    rate.close(record, 'client-closed');
    return verdict ?? 'ok';
  };
  assert.deepEqual([admitOne(), admitOne(), admitOne(), admitOne()], ['ok', 'ok', 'ok', 'rate-per-ip']);
  clock.advance(1000 / 3);
  assert.equal(admitOne(), 'ok', 'a token a third of a second later');
  tracker.stop();
  rate.stop();
});

test('whenIdle resolves when the last connection closes', async () => {
  const tracker = new ConnectionTracker({ maxConnections: 10, perIp: 10, newPerSecondPerIp: 10 });
  const record = tracker.open(socket, 'l', 'a');
  assert.ok(typeof record === 'object');
  let idle = false;
  const waiting = tracker.whenIdle().then(() => { idle = true; });
  await Promise.resolve();
  assert.equal(idle, false);
  tracker.close(record, 'client-closed');
  await waiting;
  assert.equal(idle, true);
  tracker.stop();
});
