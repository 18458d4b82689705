import { request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { ServiceNowAuthError } from 'holdfast/internal/errors.js';

/** How requests to the instance are signed. Credentials stay in #private fields and are never logged. */
export interface Authenticator {
  /** The `Authorization` header for the next request; throws ServiceNowAuthError while sign-in is held off. */
  header(signal?: AbortSignal): Promise<string>;
  /**
   * The instance answered 401 to a request signed with `header`. True when the next
   * header() holds a new credential worth one more try (a token dropped); false when it
   * would be the same refused credential.
   */
  rejected(header: string): boolean;
}

/**
 * After the instance refuses the credentials, no sign-in is tried for this long: every
 * try is a failed login, and instances with a lockout policy lock the account after a
 * few (issue 17). A refusal from a passing fault is tried again after it.
 */
export const DEFAULT_SIGN_IN_HOLD_OFF_MS = 15 * 60_000;

interface HoldOffOptions { clock?: Clock; holdOffMs?: number }

/** Holds sign-in off after a refusal of the credentials. */
class SignInHoldOff {
  readonly #clock: Clock;
  readonly #holdOffMs: number;
  #until = 0;
  #reason = '';

  constructor({ clock = systemClock, holdOffMs = DEFAULT_SIGN_IN_HOLD_OFF_MS }: HoldOffOptions) {
    this.#clock = clock;
    this.#holdOffMs = holdOffMs;
  }

  refuse(reason: string): void {
    this.#reason = reason;
    this.#until = this.#clock.now() + this.#holdOffMs;
  }

  /** Throws while held off. */
  check(): void {
    const leftMs = this.#until - this.#clock.now();
    if (leftMs <= 0) return;
    throw new ServiceNowAuthError(`${this.#reason}; the credentials are not tried again for ${Math.ceil(leftMs / 60_000)} min (an account lockout policy would count every try): fix them and restart, or wait`, { statusCode: 401 });
  }
}

/** Basic auth (research/servicenow.md §4.1). */
export class BasicAuth implements Authenticator {
  readonly #header: string;
  readonly #holdOff: SignInHoldOff;

  constructor(user: string, password: string, options: HoldOffOptions = {}) {
    this.#header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    this.#holdOff = new SignInHoldOff(options);
  }

  async header(): Promise<string> {
    this.#holdOff.check();
    return this.#header;
  }

  rejected(): boolean {
    // The same credentials are all there is: sending them again is one more failed login.
    this.#holdOff.refuse('the instance refused the Basic credentials (401)');
    return false;
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
 * - a 401 drops the token; a refused refresh falls back to the password grant;
 * - a refused password grant holds sign-in off (DEFAULT_SIGN_IN_HOLD_OFF_MS);
 * - a token request that meets a 5xx or 429 is retried by the dispatcher: a grant is safe
 *   to ask twice.
 */
export class OAuthAuth implements Authenticator {
  readonly #tokenUrl: string;
  readonly #credentials: OAuthCredentials;
  readonly #dispatcher: Dispatcher;
  readonly #clock: Clock;
  readonly #marginMs: number;
  readonly #holdOff: SignInHoldOff;
  #token: Token | undefined;
  #pending: Promise<Token> | undefined;
  /** Token requests made so far, by grant. */
  readonly grants = { password: 0, refresh_token: 0 };

  constructor(instance: string, credentials: OAuthCredentials, dispatcher: Dispatcher, { clock = systemClock, marginMs = DEFAULT_REFRESH_MARGIN_MS, holdOffMs }: HoldOffOptions & { marginMs?: number } = {}) {
    this.#tokenUrl = new URL('/oauth_token.do', instance).href;
    this.#credentials = { ...credentials };
    this.#dispatcher = dispatcher;
    this.#clock = clock;
    this.#marginMs = marginMs;
    this.#holdOff = new SignInHoldOff({ clock, holdOffMs });
  }

  async header(signal?: AbortSignal): Promise<string> {
    const token = this.#token;
    if (token !== undefined && this.#clock.now() < token.expiresAt) return `Bearer ${token.access}`;
    this.#holdOff.check();
    this.#pending ??= this.#renew(token?.refresh, signal).finally(() => { this.#pending = undefined; });
    return `Bearer ${(await this.#pending).access}`;
  }

  rejected(header: string): boolean {
    if (this.#token !== undefined && header === `Bearer ${this.#token.access}`) this.#token = { ...this.#token, expiresAt: 0 };
    return true;
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
    return this.#grant({ grant_type: 'password', username: user, password }, signal).catch((err: unknown) => {
      const status = (err as ServiceNowAuthError).statusCode;
      if (err instanceof ServiceNowAuthError && status !== undefined && status >= 400 && status < 500 && status !== 429) this.#holdOff.refuse((err as Error).message);
      throw err;
    });
  }

  async #grant(fields: Record<string, string>, signal: AbortSignal | undefined): Promise<Token> {
    this.grants[fields.grant_type as keyof OAuthAuth['grants']]++;
    const { clientId, clientSecret } = this.#credentials;
    const body = new URLSearchParams({ ...fields, client_id: clientId, client_secret: clientSecret }).toString();
    const started = this.#clock.now();
    const res = await request(this.#tokenUrl, {
      method: 'POST', dispatcher: this.#dispatcher, signal, body, holdfast: { idempotent: true },
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
