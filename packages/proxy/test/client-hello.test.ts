import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientHelloReader, parseClientHelloBody } from '../src/net/client-hello.js';
import { captureClientHello } from '../../../test/support/tls-fixtures.js';

const hello = await captureClientHello({ servername: 'App.Example.test', ALPNProtocols: ['h2', 'http/1.1'] });

/** Re-frames a captured single-record hello as several records of at most `size` bytes each. */
function refragment(records: Buffer, size: number): Buffer {
  const body = records.subarray(5, 5 + records.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const part = body.subarray(i, i + size);
    const header = Buffer.from([22, 3, 1, 0, 0]);
    header.writeUInt16BE(part.length, 3);
    out.push(header, part);
  }
  return Buffer.concat(out);
}

test('a real ClientHello in one chunk: SNI lower-cased, ALPN in order', () => {
  assert.deepEqual(new ClientHelloReader().push(hello), { kind: 'hello', serverName: 'app.example.test', alpn: ['h2', 'http/1.1'] });
});

test('a hello fragmented across TCP segments, down to one byte at a time', () => {
  for (const segment of [1, 2, 3, 5, 7, 100]) {
    const reader = new ClientHelloReader();
    let result = reader.push(hello.subarray(0, segment));
    for (let i = segment; i < hello.length; i += segment) {
      assert.equal(result.kind, 'incomplete', `segment ${segment}, at ${i}`);
      result = reader.push(hello.subarray(i, i + segment));
    }
    assert.equal(result.kind === 'hello' && result.serverName, 'app.example.test', `segment ${segment}`);
  }
});

test('a hello fragmented across TLS records (RFC 8446 §5.1), and across both records and segments', () => {
  for (const size of [1, 3, 64, 500]) {
    const records = refragment(hello, size);
    assert.equal((new ClientHelloReader().push(records) as { serverName?: string }).serverName, 'app.example.test', `records of ${size}`);
    const reader = new ClientHelloReader();
    let result = reader.push(records.subarray(0, 4));
    for (let i = 4; i < records.length; i += 13) result = reader.push(records.subarray(i, i + 13));
    assert.equal((result as { serverName?: string }).serverName, 'app.example.test');
  }
});

test('a hello without SNI has serverName undefined', async () => {
  const bare = await captureClientHello({});
  const result = new ClientHelloReader().push(bare);
  assert.equal(result.kind, 'hello');
  assert.equal(result.kind === 'hello' && result.serverName, undefined);
});

test('not TLS: an HTTP request is told apart by its first byte', () => {
  const result = new ClientHelloReader().push(Buffer.from('GET / HTTP/1.1\r\n'));
  assert.equal(result.kind === 'rejected' && result.reason, 'not-tls');
});

test('malformed records and messages are rejected with a reason, never thrown', () => {
  const cases: [string, Buffer, string][] = [
    ['alert record after a handshake record', Buffer.concat([refragment(hello, 10).subarray(0, 15), Buffer.from([21, 3, 3, 0, 2, 2, 40])]), 'bad-record'],
    ['record version 2', Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0]), 'bad-record'],
    ['zero-length record', Buffer.from([22, 3, 1, 0, 0]), 'bad-record'],
    ['record over 2^14', Buffer.from([22, 3, 1, 0x40, 0x01]), 'bad-record'],
    ['ServerHello first', Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]), 'not-client-hello'],
    ['a hello claiming 1 MB', Buffer.from([22, 3, 3, 0, 4, 1, 0x10, 0, 0]), 'too-large'],
    ['a hello body cut short', Buffer.from([22, 3, 3, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0]), 'malformed'],
  ];
  for (const [name, bytes, reason] of cases) {
    const result = new ClientHelloReader().push(bytes);
    assert.equal(result.kind === 'rejected' && result.reason, reason, name);
  }
});

// The bound comes from the hello this Node sends: with OpenSSL 3.5's post-quantum key share
// (X25519MLKEM768), Node 22+ sends about 1,600 bytes, where Node 20 sent under 400.
test('oversized: a hello announcing more than maxBytes is refused at its header, before the rest is read', () => {
  const maxBytes = hello.length + 100;
  const reader = new ClientHelloReader({ maxBytes });
  // The record header, then a handshake header announcing maxBytes + 1,000 bytes, dribbled one byte at a time.
  const announced = maxBytes + 1000;
  const bytes = [22, 3, 3, 0, 4, 1, announced >> 16, (announced >> 8) & 255, announced & 255];
  const results = bytes.map((byte) => reader.push(Buffer.from([byte])).kind);
  assert.deepEqual(results, ['incomplete', 'incomplete', 'incomplete', 'incomplete', 'incomplete', 'incomplete', 'incomplete', 'incomplete', 'rejected']);
  const result = reader.push(Buffer.alloc(10));
  assert.equal(result.kind === 'rejected' && result.reason, 'too-large', 'the answer stays');
  const within = new ClientHelloReader({ maxBytes }).push(refragment(hello, 100));
  assert.equal(within.kind, 'hello', `a hello under the bound is read (Node's is ${hello.length} bytes)`);
});

test('a bad SNI, a duplicated extension and a bad ALPN list are refused', () => {
  const body = (extensions: Buffer) => {
    const fixed = Buffer.concat([Buffer.alloc(34), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0])]);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(extensions.length);
    return Buffer.concat([fixed, length, extensions]);
  };
  const ext = (type: number, data: Buffer) => Buffer.concat([Buffer.from([type >> 8, type & 255, data.length >> 8, data.length & 255]), data]);
  const sni = (name: string) => {
    const n = Buffer.from(name, 'latin1');
    return ext(0, Buffer.concat([Buffer.from([0, n.length + 3, 0, 0, n.length]), n]));
  };
  assert.deepEqual(parseClientHelloBody(body(sni('ok.example'))), { kind: 'hello', serverName: 'ok.example', alpn: [] });
  for (const [name, bytes, reason] of [
    ['space in SNI', body(sni('bad name.example')), 'bad-server-name'],
    ['trailing dot', body(sni('example.test.')), 'bad-server-name'],
    ['NUL in SNI', body(sni('a\u0000b')), 'bad-server-name'],
    ['SNI twice', body(Buffer.concat([sni('a.test'), sni('b.test')])), 'malformed'],
    ['empty ALPN name', body(ext(16, Buffer.from([0, 1, 0]))), 'malformed'],
    ['extension past the end', body(Buffer.from([0, 16, 0, 9, 0])), 'malformed'],
  ] as const) {
    const result = parseClientHelloBody(bytes);
    assert.equal(result.kind === 'rejected' && result.reason, reason, name);
  }
});

test('random and truncated input never throws', () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(hello);
    for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const cut = bytes.subarray(0, Math.floor(random() * bytes.length) + 1);
    assert.doesNotThrow(() => new ClientHelloReader().push(cut));
    assert.doesNotThrow(() => parseClientHelloBody(cut.subarray(9)));
  }
});
