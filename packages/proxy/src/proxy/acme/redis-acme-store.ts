import type { Redis } from 'ioredis';
import { newRedis } from 'holdfast/internal/redis-client.js';
import { RedisLock } from 'holdfast/internal/sync-lock.js';
import { storeKey, type AcmeStore, type ChallengeKind, type StoredCertificate } from './acme-store.js';

/** An order (account, authorizations, finalize) takes seconds; the holder refreshes the lock every third of this. */
const ORDER_LOCK_TTL_MS = 30_000;

/**
 * ACME state in Redis, shared by every proxy instance that names the same URL and prefix:
 *
 *   PREFIX account:KEY        the account key of a directory
 *   PREFIX cert:NAME          hash { cert, key }: the certificate a name is served with
 *   PREFIX challenge:KIND:KEY an answer, with the challenge's TTL: any instance can give it
 *   PREFIX lock:NAME          redis-semaphore mutex: one order per name at a time
 *   PREFIX changed            channel: a certificate was saved, every instance loads it
 */
export class RedisAcmeStore implements AcmeStore {
  readonly shared = true;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #listeners: ((name: string) => void)[] = [];

  private constructor(url: string, prefix: string) {
    this.#prefix = prefix;
    // A command waits for a reconnect at most one retry: an order fails (and is retried with
    // backoff) rather than hanging, and a challenge lookup answers 404 rather than never.
    this.#redis = newRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.#subscriber = this.#redis.duplicate();
    // Errors are logged by whoever calls; a connection error with no listener would crash the process.
    this.#redis.on('error', () => {});
    this.#subscriber.on('error', () => {});
    this.#subscriber.on('message', (_channel: string, name: string) => {
      for (const listener of this.#listeners) listener(name);
    });
  }

  static async open(url: string, prefix: string): Promise<RedisAcmeStore> {
    const store = new RedisAcmeStore(url, prefix);
    try {
      await store.#redis.connect();
      await store.#subscriber.connect();
      await store.#subscriber.subscribe(`${prefix}changed`);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  async accountKey(directory: string): Promise<string | undefined> {
    return (await this.#redis.get(`${this.#prefix}account:${storeKey(directory)}`)) ?? undefined;
  }

  async saveAccountKey(directory: string, pem: string): Promise<void> {
    // NX: two instances creating the first account at once keep one key between them.
    await this.#redis.set(`${this.#prefix}account:${storeKey(directory)}`, pem, 'NX');
  }

  async certificate(name: string): Promise<StoredCertificate | undefined> {
    const { cert, key } = await this.#redis.hgetall(`${this.#prefix}cert:${storeKey(name)}`);
    return cert === undefined || key === undefined ? undefined : { cert, key };
  }

  async saveCertificate(name: string, certificate: StoredCertificate): Promise<void> {
    await this.#redis.multi()
      .hset(`${this.#prefix}cert:${storeKey(name)}`, { cert: certificate.cert, key: certificate.key })
      .publish(`${this.#prefix}changed`, name)
      .exec();
  }

  async putChallenge(kind: ChallengeKind, key: string, value: string, ttlMs: number): Promise<void> {
    await this.#redis.set(this.#challengeKey(kind, key), value, 'PX', ttlMs);
  }

  async challenge(kind: ChallengeKind, key: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#challengeKey(kind, key))) ?? undefined;
  }

  async dropChallenge(kind: ChallengeKind, key: string): Promise<void> {
    await this.#redis.del(this.#challengeKey(kind, key));
  }

  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | 'busy'> {
    const ran = await new RedisLock(this.#redis, `${this.#prefix}lock:${storeKey(name)}`, ORDER_LOCK_TTL_MS).tryRun(fn);
    return ran === undefined ? 'busy' : ran.value;
  }

  onChange(listener: (name: string) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
    this.#redis.disconnect();
    return Promise.resolve();
  }

  #challengeKey(kind: ChallengeKind, key: string): string {
    // Tokens are base64url and domains are DNS names, but neither reaches a key unescaped.
    return `${this.#prefix}challenge:${kind}:${storeKey(key)}`;
  }
}
