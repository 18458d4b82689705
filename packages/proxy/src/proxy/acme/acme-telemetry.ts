import { basename } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { CertificateStore } from '../tls/certificate-store.js';
import type { AcmeManager } from './acme-manager.js';

/**
 * Certificates' expiry and ACME's orders as metrics and log lines:
 * - `holdfast_proxy_certificate_expiry_timestamp_seconds{certificate}`: every served
 *   certificate's notAfter (files and ACME alike), read at scrape time;
 * - `holdfast_proxy_acme_orders_total{certificate,result}`: issued, failed;
 * - a line per order (with the new notAfter), per certificate loaded from the store, and per
 *   failure (with the retry delay and the notAfter of the certificate still served).
 */
export class AcmeTelemetry {
  readonly #orders: Counter<'certificate' | 'result'>;
  readonly #logger: Logger | undefined;

  constructor(certificates: CertificateStore, registry: Registry, logger: Logger | undefined) {
    this.#logger = logger;
    this.#orders = new Counter({ name: 'holdfast_proxy_acme_orders_total', help: 'ACME orders, by certificate (its first domain) and result (issued, failed).', labelNames: ['certificate', 'result'], registers: [registry] });
    new Gauge({
      name: 'holdfast_proxy_certificate_expiry_timestamp_seconds',
      help: 'When each served certificate expires (notAfter, Unix seconds), by certificate (the file, or acme: and its first domain).',
      labelNames: ['certificate'],
      registers: [registry],
      collect() {
        this.reset();
        for (const summary of certificates.summaries()) {
          this.set({ certificate: summary.certFile.startsWith('acme:') ? summary.certFile : basename(summary.certFile) }, Date.parse(summary.notAfter) / 1000);
        }
      },
    });
  }

  /** Reports a manager's events from now on. */
  attach(acme: AcmeManager): void {
    const logger = this.#logger;
    acme.on('issued', ({ name, notAfter, renewal }) => {
      this.#orders.inc({ certificate: name, result: 'issued' });
      logger?.info({ certificate: name, notAfter, renewal }, renewal ? 'ACME certificate renewed' : 'ACME certificate issued');
    });
    acme.on('loaded', ({ name, notAfter }) => logger?.info({ certificate: name, notAfter }, 'ACME certificate loaded from the store'));
    acme.on('failed', ({ name, error, retryInMs }) => {
      this.#orders.inc({ certificate: name, result: 'failed' });
      const held = acme.held().find((h) => h.name === name);
      const serving = held === undefined ? 'nothing yet' : `the held certificate, valid until ${new Date(held.notAfter).toISOString()}`;
      logger?.error({ certificate: name, error: error.message, retryInMs, serving }, 'ACME order failed');
    });
  }
}
