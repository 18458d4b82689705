import { request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { ServiceNowAuthError } from '../errors.js';

/** How requests to the instance are signed. Credentials stay in #private fields and are never logged. */
export interface Authenticator {
  /** The `Authorization` header for the next request. */
  header(signal?: AbortSignal): Promise<string>;
  /** The instance answered 401 to a request signed with `header`: the next header() gets a new credential. */
  rejected(header: string): void;
}

/** Basic auth (research/servicenow.md §4.1). */
export class BasicAuth implements Authenticator {
  readonly #header: string;

  constructor(user: string, password: string) {
    this.#header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  header(): Promise<string> {
    return Promise.resolve(this.#header);
  }

  rejected(): void {
    // The same credentials are all there is; the caller reports the 401.
  }

  toJSON(): string {
    return 'BasicAuth(***)';
  }
}

export interface OAuthCredentials {
  clientId: string;
  clientSecret: string;
  user: string;
  password: string;
}

/** Refresh this long before the access token expires (and never later than 90% of its life). */
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;

interface Token { access: string; refresh: string | undefined; expiresAt: number }

/**
 * OAuth 2.0 password grant against `/oauth_token.do` (research/servicenow.md §4.2):
 * - the access token is refreshed with the refresh_token grant before it expires;
 * - concurrent callers share one refresh;
 * - a 401 drops the token; a refused refresh falls back to the password grant.
 */
export class OAuthAuth implements Authenticator {
  readonly #tokenUrl: string;
  readonly #credentials: OAuthCredentials;
  readonly #dispatcher: Dispatcher;
  readonly #clock: Clock;
  readonly #marginMs: number;
  #token: Token | undefined;
  #pending: Promise<Token> | undefined;
  /** Token requests made so far, by grant. */
  readonly grants = { password: 0, refresh_token: 0 };

  constructor(instance: string, credentials: OAuthCredentials, dispatcher: Dispatcher, { clock = systemClock, marginMs = DEFAULT_REFRESH_MARGIN_MS } = {}) {
    this.#tokenUrl = new URL('/oauth_token.do', instance).href;
    this.#credentials = { ...credentials };
    this.#dispatcher = dispatcher;
    this.#clock = clock;
    this.#marginMs = marginMs;
  }

  async header(signal?: AbortSignal): Promise<string> {
    const token = this.#token;
    if (token !== undefined && this.#clock.now() < token.expiresAt) return `Bearer ${token.access}`;
    this.#pending ??= this.#renew(token?.refresh, signal).finally(() => { this.#pending = undefined; });
    return `Bearer ${(await this.#pending).access}`;
  }

  rejected(header: string): void {
    if (this.#token !== undefined && header === `Bearer ${this.#token.access}`) this.#token = { ...this.#token, expiresAt: 0 };
  }

  async #renew(refresh: string | undefined, signal: AbortSignal | undefined): Promise<Token> {
    if (refresh !== undefined) {
      const renewed = await this.#grant({ grant_type: 'refresh_token', refresh_token: refresh }, signal).catch((err: unknown) => {
        if (err instanceof ServiceNowAuthError) return undefined; // refused: sign in again
        throw err;
      });
      if (renewed !== undefined) return renewed;
    }
    const { user, password } = this.#credentials;
    return this.#grant({ grant_type: 'password', username: user, password }, signal);
  }

  async #grant(fields: Record<string, string>, signal: AbortSignal | undefined): Promise<Token> {
    this.grants[fields.grant_type as keyof OAuthAuth['grants']]++;
    const { clientId, clientSecret } = this.#credentials;
    const body = new URLSearchParams({ ...fields, client_id: clientId, client_secret: clientSecret }).toString();
    const started = this.#clock.now();
    const res = await request(this.#tokenUrl, {
      method: 'POST', dispatcher: this.#dispatcher, signal, body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    });
    const text = await res.body.text();
    let json: { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown; error?: unknown } = {};
    try { json = JSON.parse(text) as typeof json; } catch { /* reported below */ }
    if (res.statusCode !== 200 || typeof json.access_token !== 'string') {
      // The body names the error (invalid_grant, …); it never carries the secrets we sent.
      throw new ServiceNowAuthError(`OAuth ${fields.grant_type} grant refused: ${res.statusCode} ${typeof json.error === 'string' ? json.error : ''}`.trim(), { statusCode: res.statusCode });
    }
    const lifeMs = Number(json.expires_in ?? 1800) * 1000;
    const expiresAt = started + Math.max(0, Math.min(lifeMs - this.#marginMs, lifeMs * 0.9));
    const token: Token = { access: json.access_token, refresh: typeof json.refresh_token === 'string' ? json.refresh_token : fields.refresh_token, expiresAt };
    this.#token = token;
    return token;
  }

  toJSON(): string {
    return 'OAuthAuth(***)';
  }
}
