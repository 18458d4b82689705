import type { Clock } from 'holdfast/internal/clock.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import type { ProxyConfig } from '../config/config.js';
import type { AcmeCertificateConfig } from '../config/acme-config.js';
import { AcmeManager } from './acme-manager.js';
import { FileAcmeStore, type AcmeStore } from './acme-store.js';
import type { AcmeTelemetry } from './acme-telemetry.js';
import { RedisAcmeStore } from './redis-acme-store.js';

/** What ACME is built from: its entries and settings. A reload that changes it makes a new manager. */
export function acmeKey(config: ProxyConfig): string {
  return JSON.stringify([config.acme, config.certificates.map((c, index) => ('acme' in c ? { index, ...c } : undefined))]);
}

/**
 * The manager for a config's `acme:` certificates, with their stored certificates loaded
 * (undefined: the config has none). Throws the ProxyConfigError of a directory that cannot
 * be reached for a certificate not yet held.
 */
export async function openAcme(config: ProxyConfig, clock: Clock, telemetry: AcmeTelemetry): Promise<AcmeManager | undefined> {
  const entries = config.certificates.flatMap((config, index) => ('acme' in config ? [{ config: config as AcmeCertificateConfig, index }] : []));
  if (entries.length === 0) return undefined;
  const { store: where } = config.acme;
  let store: AcmeStore;
  try {
    store = 'dir' in where ? new FileAcmeStore(where.dir) : await RedisAcmeStore.open(where.redis.url, where.redis.keyPrefix);
  } catch (err) {
    throw new ProxyConfigError('config', 'acme.store.redis.url', `the ACME store cannot be reached (${(err as Error).message})`);
  }
  const manager = new AcmeManager(entries, store, config.acme, { clock });
  telemetry.attach(manager);
  try {
    await manager.load();
  } catch (err) {
    await manager.close();
    throw err;
  }
  return manager;
}
