import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeProxyV1, encodeProxyV2, readProxyHeader, type ProxiedAddresses } from './proxy-protocol.js';

const v4: ProxiedAddresses = { family: 'IPv4', sourceAddress: '203.0.113.7', sourcePort: 51234, destinationAddress: '10.0.0.1', destinationPort: 443 };
const v6: ProxiedAddresses = { family: 'IPv6', sourceAddress: '2001:db8::7', sourcePort: 1, destinationAddress: '::ffff:10.0.0.1', destinationPort: 65535 };

test('v1 and v2 headers round-trip, for IPv4 and IPv6, with the bytes that follow left alone', () => {
  assert.equal(encodeProxyV1(v4).toString(), 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n');
  for (const encode of [encodeProxyV1, encodeProxyV2]) {
    for (const addresses of [v4, v6]) {
      const header = encode(addresses);
      const result = readProxyHeader(Buffer.concat([header, Buffer.from('GET /')]));
      assert.equal(result.kind, 'header');
      if (result.kind !== 'header') continue;
      assert.equal(result.length, header.length);
      assert.equal(result.addresses?.sourceAddress, addresses.sourceAddress);
      assert.equal(result.addresses?.sourcePort, addresses.sourcePort);
      assert.equal(result.addresses?.destinationPort, addresses.destinationPort);
    }
  }
  const mapped = readProxyHeader(encodeProxyV2(v6));
  assert.equal(mapped.kind === 'header' && mapped.addresses?.destinationAddress, '::ffff:a00:1', 'canonical IPv6 text');
});

test('UNKNOWN and LOCAL carry no addresses', () => {
  assert.deepEqual(readProxyHeader(encodeProxyV1(undefined)), { kind: 'header', version: 1, addresses: undefined, length: 15 });
  assert.deepEqual(readProxyHeader(encodeProxyV2(undefined)), { kind: 'header', version: 2, addresses: undefined, length: 16 });
});

test('a header arriving a byte at a time is incomplete until its end', () => {
  for (const header of [encodeProxyV1(v4), encodeProxyV2(v6)]) {
    for (let n = 1; n < header.length; n++) assert.equal(readProxyHeader(header.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
    assert.equal(readProxyHeader(header).kind, 'header');
  }
});

test('anything else is rejected with a reason, never thrown', () => {
  const v2 = encodeProxyV2(v4);
  const cases: [string, Buffer][] = [
    ['no header', Buffer.from('GET / HTTP/1.1\r\n')],
    ['v1 without CRLF in 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)],
    ['v1 bad family', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['v1 v6 address under TCP4', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n')],
    ['v1 port out of range', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n')],
    ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')],
    ['v1 missing a field', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
    ['v2 version 1', Buffer.concat([v2.subarray(0, 12), Buffer.from([0x11]), v2.subarray(13)])],
    ['v2 command 2', Buffer.concat([v2.subarray(0, 12), Buffer.from([0x22]), v2.subarray(13)])],
    ['v2 over 1 KiB', Buffer.concat([v2.subarray(0, 14), Buffer.from([0x10, 0x00])])],
    ['v2 address block too short', Buffer.concat([v2.subarray(0, 14), Buffer.from([0, 4]), Buffer.alloc(4)])],
  ];
  for (const [name, bytes] of cases) assert.equal(readProxyHeader(bytes).kind, 'rejected', name);
});
