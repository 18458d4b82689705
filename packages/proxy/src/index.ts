// @holdfast/proxy: its public API (docs/reference/proxy.md). Named exports only; packages/client/test/public-api.test.ts pins the surface.
export { ProxyServer, type BoundListener, type ConnectionSummary } from './proxy/proxy-server.js';
export { ProxyRuntime } from './proxy/runtime.js';
export { createProxy, HoldfastProxy, type ProxySource, type ProxyEvents } from './proxy/create-proxy.js';
export { loadConfigFile, parseConfig } from './proxy/config/config-loader.js';
export type { ProxyConfig, ProxyConfigInput } from './proxy/config/config.js';

// the proxy's errors (the one catalog is the client's: every class has a stable HF_ERR_* code)
export { ProxyConfigError, NoUpstreamError, ProxyBadRequestError, ProxyNoRouteError, BodyTooLargeError } from 'holdfast/internal/errors.js';
