import { Agent, EnvHttpProxyAgent, ProxyAgent, type Dispatcher, type Pool } from 'undici';
import type { ResolvedDispatcherOptions } from './options.js';

/**
 * The undici dispatcher under holdfast's interceptors: an `Agent` of holdfast pools, or, with
 * `proxy`, undici's `ProxyAgent` (one proxy URL) or `EnvHttpProxyAgent` (`HTTP_PROXY`,
 * `HTTPS_PROXY` and `NO_PROXY`, as curl reads them) over the same pools. Through a proxy,
 * https origins are tunnelled with CONNECT and each tunnel is one of holdfast's pooled
 * sockets, aligned, replayed and retired like a direct one; http origins are forwarded, and
 * the pooled sockets are those to the proxy.
 */
/** PING interval on HTTP/2 sessions while silent-drop detection is on. */
const H2_PING_MS = 5_000;

export function createTransport(resolved: ResolvedDispatcherOptions, pools: (origin: URL | string, opts: Pool.Options) => Pool): Dispatcher {
  const { tls, silentDrop, proxy } = resolved;
  // TCP keep-alive probes on pooled sockets (undici's default is one after 60 s of idle):
  // a probe refreshes a NAT's or a load balancer's state for the flow before it forgets it.
  const connect = { ...tls, keepAlive: true, ...(silentDrop === false ? {} : { keepAliveInitialDelay: silentDrop.tcpKeepAliveMs }) };
  const common = {
    factory: pools as unknown as Agent.Options['factory'],
    // HTTP/2 by ALPN only when asked for (undici 8 offers it by default). PING every 5 s on an
    // h2 session: one still unanswered when the next is due closes the session (a silent drop).
    allowH2: resolved.http2,
    ...(resolved.http2 ? { h2Options: { pingInterval: silentDrop === false ? 60_000 : H2_PING_MS } } : {}),
    connectTimeout: resolved.connectTimeoutMs,
    headersTimeout: resolved.headersTimeoutMs,
    bodyTimeout: resolved.bodyTimeoutMs,
    connect,
  };
  // Direct, HTTP/1.1 only: every pooled client is holdfast's TrackedClient, which offers h2 only
  // when allowH2 is true, so the Agent is not told `false`. (Told `false`, undici's Agent builds
  // a `${origin}#http1-only` key for every request it dispatches.)
  if (proxy === undefined) return new Agent(resolved.http2 ? common : { ...common, allowH2: undefined });
  // The TLS options are for the origin, through the tunnel; the proxy's own TLS is Node's default.
  const viaProxy = { ...common, requestTls: tls };
  return proxy === 'env' ? new EnvHttpProxyAgent(viaProxy) : new ProxyAgent({ ...viaProxy, uri: proxy });
}
