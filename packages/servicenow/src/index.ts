// @holdfast/servicenow: the ServiceNow mirror and its simulator (docs/guides/servicenow.md). Named
// exports only; packages/client/test/public-api.test.ts pins the surface.

// the mirror: sync engine, store, and the view the dashboard reads
export { Mirror, type MirrorEvent, type MirrorStatus, type TableStatus, type UpstreamStatus } from './servicenow/mirror.js';
export { resolveMirrorOptions, type MirrorOptions, type ResolvedMirrorOptions } from './servicenow/mirror-options.js';
// the dashboard and its API (fastify), over a mirror
export { buildWebApp, type WebOptions } from './servicenow/web/app.js';
export { hashPassword, type AccessOptions } from './servicenow/web/access.js';

// the simulator: the Table API of a ServiceNow instance, with faults
export { ServiceNowSimulator, type SimulatorStats } from './simulate/servicenow/servicenow-simulator.js';
export type { SimulatorOptions } from './simulate/servicenow/options.js';
