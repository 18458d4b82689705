import { createRequire } from 'node:module';
import { MissingPackageError } from './errors.js';

const require = createRequire(import.meta.url);

/**
 * An optional peer of the client package, loaded the first time a feature uses it (`require`:
 * each is CommonJS, so an option parsed synchronously can load it). The client depends on undici
 * and zod only; an app that asks for metrics without prom-client installed gets a
 * MissingPackageError naming it, not a bare "Cannot find module" from deep inside holdfast.
 */
export function optionalPackage<T>(name: 'prom-client' | 'ioredis' | 'rate-limiter-flexible' | 'redis-semaphore' | '@opentelemetry/api', feature: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${name}'`)) throw new MissingPackageError(name, feature, err);
    throw err;
  }
}
