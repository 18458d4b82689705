import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import * as acme from 'acme-client';
import type { AcmeOrderConfig, AcmeSettings } from '../config/acme-config.js';
import type { AcmeStore, StoredCertificate } from './acme-store.js';
import { getJson } from './renewal-info.js';

/**
 * acme-client sends every request through one axios instance of its own: the directory's CA
 * (`acme.directoryCaFile`) and the retry count are set there, for the process.
 */
let trustedCaFile: string | undefined;
function configure({ directoryCaFile, requestRetries }: AcmeSettings): void {
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = requestRetries;
  if (directoryCaFile === undefined || directoryCaFile === trustedCaFile) return;
  acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: readFileSync(directoryCaFile), keepAlive: true });
  trustedCaFile = directoryCaFile;
}

/**
 * The directory (one try, no retries): why it cannot be used, or its `renewalInfo` resource
 * (RFC 9773; undefined when the CA offers none).
 */
export async function probeDirectory(directory: string, caFile: string | undefined): Promise<{ error: string } | { renewalInfo: string | undefined }> {
  const answer = await getJson(directory, caFile);
  if ('error' in answer) return answer;
  const value = answer.value as { newOrder?: unknown; renewalInfo?: unknown } | null;
  if (typeof value?.newOrder !== 'string') return { error: 'the answer is not an ACME directory (no newOrder)' };
  return { renewalInfo: typeof value.renewalInfo === 'string' ? value.renewalInfo : undefined };
}

/**
 * One order (RFC 8555 §7.4) with acme-client: the account (its key made once per directory
 * and kept in the store), a new P-256 key and CSR for the domains, the challenge answered
 * from the store, then the certificate chain. The challenge answers are removed whatever
 * the outcome.
 */
export async function orderCertificate(order: AcmeOrderConfig, store: AcmeStore, settings: AcmeSettings, challengeTtlMs: number): Promise<StoredCertificate> {
  configure(settings);
  const client = new acme.Client({ directoryUrl: order.directory, accountKey: await accountKey(order.directory, store), backoffMin: 1_000, backoffMax: 30_000 });
  const [key, csr] = await acme.crypto.createCsr({ commonName: order.domains[0], altNames: order.domains }, await acme.crypto.createPrivateEcdsaKey('P-256'));
  const cert = await client.auto({
    csr,
    email: order.contact,
    termsOfServiceAgreed: true,
    challengePriority: [order.challenge],
    // acme-client would fetch the answer itself first, through the public DNS name: behind a
    // load balancer, or in a test CA's own DNS, that is not where the CA looks.
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, challenge, keyAuthorization) => {
      if (challenge.type === 'http-01') return store.putChallenge('http-01', challenge.token, keyAuthorization, challengeTtlMs);
      const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
      return store.putChallenge('tls-alpn-01', authz.identifier.value.toLowerCase(), JSON.stringify({ cert: alpnCert.toString(), key: alpnKey.toString() }), challengeTtlMs);
    },
    challengeRemoveFn: (authz, challenge) => store.dropChallenge(challenge.type as 'http-01' | 'tls-alpn-01', challenge.type === 'http-01' ? challenge.token : authz.identifier.value.toLowerCase()),
  });
  return { cert, key: key.toString() };
}

/** The account key of a directory: the stored one, or a new one stored (the first instance's wins). */
async function accountKey(directory: string, store: AcmeStore): Promise<string> {
  const stored = await store.accountKey(directory);
  if (stored !== undefined) return stored;
  await store.saveAccountKey(directory, (await acme.crypto.createPrivateEcdsaKey('P-256')).toString());
  return (await store.accountKey(directory))!;
}
