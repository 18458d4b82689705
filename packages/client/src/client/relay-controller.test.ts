import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller } from './handler.js';
import { RelayController } from './relay-controller.js';

/** An undici-like controller that records what reached it. */
function inner(rawHeaders: Buffer[] | null = null): Controller & { calls: string[] } {
  const calls: string[] = [];
  let paused = false;
  return {
    calls,
    rawHeaders,
    rawTrailers: null,
    get aborted() { return false; },
    get paused() { return paused; },
    get reason() { return null; },
    abort: () => { calls.push('abort'); },
    pause: () => { paused = true; calls.push('pause'); },
    resume: () => { paused = false; calls.push('resume'); },
  };
}

class Layer extends RelayController {
  readonly aborts: Error[] = [];
  protected onAbort(reason: Error): void {
    this.aborts.push(reason);
  }
}

test('pause and resume reach the current controller; a pause asked for before there is one is applied when it comes', () => {
  const layer = new Layer();
  layer.pause();
  assert.equal(layer.paused, true);
  const first = inner();
  layer.follow(first);
  assert.deepEqual(first.calls, ['pause'], 'the earlier pause reached the new controller');
  layer.resume();
  layer.resume();
  assert.deepEqual(first.calls, ['pause', 'resume'], 'a second resume is a no-op');
  const second = inner();
  layer.follow(second);
  layer.pause();
  assert.deepEqual(second.calls, ['pause']);
  assert.deepEqual(first.calls, ['pause', 'resume'], 'the abandoned controller hears nothing more');
});

// undici 8's fetch reads the response's raw headers from the controller it was handed
// (nodejs/undici#5345): a relay must show the current attempt's.
test('the raw headers are those of the controller followed now', () => {
  const layer = new Layer();
  assert.equal(layer.rawHeaders, null);
  const headers = [Buffer.from('content-type'), Buffer.from('text/plain')];
  layer.follow(inner(headers));
  assert.equal(layer.rawHeaders, headers);
  layer.follow(inner(null));
  assert.equal(layer.rawHeaders, null);
});

test('an abort reaches the layer once, and is what aborted and reason report', () => {
  const layer = new Layer();
  const reason = new Error('caller left');
  layer.abort(reason);
  layer.abort(new Error('again'));
  assert.deepEqual(layer.aborts, [reason]);
  assert.equal(layer.aborted, true);
  assert.equal(layer.reason, reason);
});
