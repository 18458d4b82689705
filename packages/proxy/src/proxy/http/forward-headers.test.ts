import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downstreamResponseHeaders, upstreamRequestHeaders, type ForwardContext } from './forward-headers.js';

const ctx: ForwardContext = {
  clientIp: '192.0.2.7', trusted: false, proto: 'https', host: 'app.example.test', upstreamHost: 'app.example.test', viaEntry: '1.1 holdfast',
};

function asMap(flat: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i]!.toLowerCase(), [...(map.get(flat[i]!.toLowerCase()) ?? []), flat[i + 1]!]);
  return map;
}

describe('upstreamRequestHeaders', () => {
  it('drops the hop-by-hop fields of RFC 9110 §7.6.1 and those the Connection header names', () => {
    const out = asMap(upstreamRequestHeaders([
      'Host', 'app.example.test', 'Connection', 'keep-alive, X-Secret-Hop', 'Keep-Alive', 'timeout=5', 'TE', 'trailers',
      'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'keep-alive', 'X-Secret-Hop', '1', 'Trailer', 'X-T',
      'Accept', 'text/html', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Expect', '100-continue',
    ], ctx));
    for (const gone of ['connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'proxy-connection', 'x-secret-hop', 'trailer', 'expect']) {
      assert.equal(out.has(gone), false, gone);
    }
    assert.deepEqual(out.get('accept'), ['text/html']);
    assert.deepEqual(out.get('set-cookie'), ['a=1', 'b=2'], 'repeated fields keep their order');
    assert.deepEqual(out.get('host'), ['app.example.test']);
  });

  it('drops a field the Connection header names even when it comes before Connection', () => {
    const out = asMap(upstreamRequestHeaders(['X-Secret-Hop', '1', 'Accept', '*/*', 'X-Forwarded-For', '10.9.9.9', 'connection', 'X-Secret-Hop'], ctx));
    assert.equal(out.has('x-secret-hop'), false);
    assert.deepEqual(out.get('accept'), ['*/*']);
    assert.deepEqual(out.get('x-forwarded-for'), ['192.0.2.7'], 'nothing of the first pass is left over');
    assert.deepEqual(asMap(upstreamRequestHeaders(['X-Kept', '1', 'Connection', 'close'], ctx)).get('x-kept'), ['1'], 'close names no field');
  });

  it('drops underscore lookalikes of the forwarding fields, and X-Real-IP from an untrusted peer (issue 19)', () => {
    const raw = ['X_Forwarded_For', '10.9.9.9', 'x-forwarded_host', 'evil.test', 'X_Real_IP', '10.9.9.9', 'X-Real-IP', '10.8.8.8', 'X_Custom_Thing', 'kept'];
    const untrusted = asMap(upstreamRequestHeaders(raw, ctx));
    for (const gone of ['x_forwarded_for', 'x-forwarded_host', 'x_real_ip', 'x-real-ip']) assert.equal(untrusted.has(gone), false, gone);
    assert.deepEqual(untrusted.get('x_custom_thing'), ['kept'], 'other names with underscores pass');
    const trusted = asMap(upstreamRequestHeaders(raw, { ...ctx, trusted: true }));
    assert.deepEqual(trusted.get('x-real-ip'), ['10.8.8.8'], 'a trusted proxy may say who the client is');
    assert.equal(trusted.has('x_forwarded_for'), false, 'a lookalike is dropped even from a trusted peer');
  });

  it('a Connection header cannot remove the forwarding fields a trusted proxy sent (issue 19)', () => {
    const out = asMap(upstreamRequestHeaders(['X-Forwarded-For', '203.0.113.9', 'Connection', 'X-Forwarded-For, Forwarded', 'Forwarded', 'for=203.0.113.9'], { ...ctx, trusted: true }));
    assert.deepEqual(out.get('x-forwarded-for'), ['203.0.113.9, 192.0.2.7'], 'the client behind the trusted proxy stays in the chain');
    assert.match(out.get('forwarded')![0]!, /^for=203\.0\.113\.9, for=192\.0\.2\.7/);
  });

  it('replaces forwarding headers from an untrusted peer, so a client cannot forge its address', () => {
    const out = asMap(upstreamRequestHeaders([
      'X-Forwarded-For', '10.9.9.9', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'evil.test', 'Forwarded', 'for=10.9.9.9',
    ], ctx));
    assert.deepEqual(out.get('x-forwarded-for'), ['192.0.2.7']);
    assert.deepEqual(out.get('x-forwarded-proto'), ['https']);
    assert.deepEqual(out.get('x-forwarded-host'), ['app.example.test']);
    assert.deepEqual(out.get('forwarded'), ['for=192.0.2.7;host=app.example.test;proto=https']);
  });

  it('appends to forwarding headers from a trusted proxy', () => {
    const out = asMap(upstreamRequestHeaders([
      'X-Forwarded-For', '203.0.113.1', 'x-forwarded-for', '198.51.100.2', 'X-Forwarded-Proto', 'https', 'Forwarded', 'for=203.0.113.1',
      'Via', '1.1 edge',
    ], { ...ctx, trusted: true, proto: 'http', clientIp: '::1', host: 'app.example.test:8443' }));
    assert.deepEqual(out.get('x-forwarded-for'), ['203.0.113.1, 198.51.100.2, ::1']);
    assert.deepEqual(out.get('x-forwarded-proto'), ['https'], 'the first proxy saw the client scheme');
    assert.deepEqual(out.get('forwarded'), ['for=203.0.113.1, for="[::1]";host="app.example.test:8443";proto=http'], 'IPv6 and host:port are quoted (RFC 7239 §6)');
    assert.deepEqual(out.get('via'), ['1.1 edge, 1.1 holdfast']);
  });

  it('sends the upstream host it is given, or none (the target address goes) without one', () => {
    const out = asMap(upstreamRequestHeaders(['Host', 'app.example.test'], { ...ctx, upstreamHost: '10.0.0.5:8080' }));
    assert.deepEqual(out.get('host'), ['10.0.0.5:8080']);
    assert.equal(asMap(upstreamRequestHeaders(['Host', 'app.example.test'], { ...ctx, upstreamHost: undefined })).has('host'), false);
  });
});

describe('downstreamResponseHeaders', () => {
  it('drops hop-by-hop fields from the upstream response and appends Via', () => {
    const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Internal', 'Keep-Alive', 'timeout=4', 'X-Internal', 'x', 'Transfer-Encoding', 'chunked', 'Via', '1.1 app']
      .map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual(downstreamResponseHeaders(raw, '1.1 holdfast'), ['Content-Type', 'text/plain', 'via', '1.1 app, 1.1 holdfast']);
  });

  it('drops a field the Connection header names even when it comes before Connection', () => {
    const raw = ['X-Internal', 'x', 'Content-Type', 'text/plain', 'Via', '1.1 app', 'CONNECTION', 'X-Internal'].map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual(downstreamResponseHeaders(raw, '1.1 holdfast'), ['Content-Type', 'text/plain', 'via', '1.1 app, 1.1 holdfast']);
    const close = ['X-Kept', '1', 'Connection', 'close'].map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual(downstreamResponseHeaders(close, '1.1 holdfast'), ['X-Kept', '1', 'via', '1.1 holdfast']);
  });

  it('passes every Set-Cookie on, in order, in the case the upstream sent', () => {
    const raw = ['Set-Cookie', 'session=abc; HttpOnly', 'X-Id', '7', 'set-cookie', 'theme=dark'].map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual(downstreamResponseHeaders(raw, '1.1 holdfast'), ['Set-Cookie', 'session=abc; HttpOnly', 'X-Id', '7', 'set-cookie', 'theme=dark', 'via', '1.1 holdfast']);
  });

  it('keeps Upgrade and Connection on a switch of protocols when asked', () => {
    const raw = ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc'].map((s) => Buffer.from(s, 'latin1'));
    const out = downstreamResponseHeaders(raw, '1.1 holdfast', new Set(['upgrade', 'connection']));
    assert.deepEqual(out, ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc', 'via', '1.1 holdfast']);
  });
});
