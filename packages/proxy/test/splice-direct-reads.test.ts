import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { dial } from '../src/net/dial.js';
import type { DirectReads } from '../src/net/direct-reads.js';
import { Splice } from '../src/net/splice.js';
import { tcpServer } from '../../../test/support/proxy-harness.js';

const DATA = Buffer.from(Array.from({ length: 2 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 11)) & 0xff));

test('direct reads: a chunk held by a queued write is never overwritten by the next read', async (t) => {
  // The backend sends small segments, one per event-loop turn, so that the proxy side reads
  // small chunks; the "client" keeps every chunk it is given by reference and completes each
  // write only a turn later, so writes queue while they stay under the high-water mark and
  // write() keeps returning true: the case where the shared read buffer must be detached.
  const backend = await tcpServer(t, (socket) => {
    let at = 0;
    const next = () => {
      if (at >= DATA.length) return void socket.end();
      socket.write(DATA.subarray(at, at + 700));
      at += 700;
      setImmediate(next);
    };
    next();
  });
  const held: Buffer[] = [];
  let queuedWhileTrue = 0;
  const client = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      held.push(chunk); // by reference, as a socket's queued write holds it
      setImmediate(callback);
    },
  });
  const write = client.write.bind(client);
  client.write = ((chunk: Buffer) => {
    const ok = write(chunk);
    if (ok && client.writableLength > 0) queuedWhileTrue++;
    return ok;
  }) as typeof client.write;
  const reads: DirectReads = { sink: undefined, early: [] };
  const socket = await new Promise<Socket>((resolve, reject) => {
    dial('127.0.0.1', backend.port, 5000, { onConnect: resolve, onFail: (failure) => reject(new Error(failure)) }, { reads });
  });
  socket.on('error', () => {});
  const ended = new Promise<string>((resolve) => {
    const splice = new Splice(client as unknown as Socket, socket, { idleMs: 0, halfCloseMs: 5000, lifetimeMs: 0 }, { onHalfClose: () => { client.push(null); }, onEnd: resolve }, { reads });
    splice.start([]);
  });
  await once(client, 'finish');
  assert.ok(queuedWhileTrue > 10, `${queuedWhileTrue} writes queued below the high-water mark`);
  assert.ok(Buffer.concat(held).equals(DATA), 'every chunk the client holds is still what was read');
  client.destroy();
  assert.equal(await ended, 'backend-closed');
});
