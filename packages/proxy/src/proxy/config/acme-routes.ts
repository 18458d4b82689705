import type { z } from 'zod';
import { HostSet } from '../http/http-router.js';
import type { AcmeCertificateConfig } from './acme-config.js';

interface RouteLike {
  match: { sni?: string[] | undefined };
  action: { type: string };
}

/**
 * Every ACME domain must be one the proxy can prove it serves, and then serve: a `terminate`
 * route takes it (its `sni` names it, or it has no `sni`), and for HTTP-01 an `http` route
 * exists, on whose listener the CA's `/.well-known/acme-challenge/` request is answered.
 * A CA would otherwise fail the order after a network round trip, and count it against the
 * account's failed-validation limit.
 */
export function checkAcmeDomains(config: { certificates: ReadonlyArray<object>; routes: readonly RouteLike[] }, ctx: z.RefinementCtx): void {
  const terminating = config.routes.filter((route) => route.action.type === 'terminate');
  const plainHttp = config.routes.some((route) => route.action.type === 'http');
  config.certificates.forEach((certificate, i) => {
    if (!('acme' in certificate)) return;
    const { acme } = certificate as AcmeCertificateConfig;
    acme.domains.forEach((domain, j) => {
      const served = terminating.some((route) => route.match.sni === undefined || new HostSet(route.match.sni).has(domain));
      if (!served) ctx.addIssue({ code: 'custom', path: ['certificates', i, 'acme', 'domains', j], message: `no terminate route serves ${domain}: add it to a terminate route's match.sni (or add a terminate route without sni)` });
    });
    if (acme.challenge === 'http-01' && !plainHttp) {
      ctx.addIssue({ code: 'custom', path: ['certificates', i, 'acme', 'challenge'], message: 'http-01 is answered on a route with action http (the CA asks on port 80): add one, or use tls-alpn-01' });
    }
  });
}
