import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface SimUser {
  user_name: string;
  password: string;
}

export interface OAuthClient {
  client_id: string;
  client_secret: string;
  /** The OAuth Application User a client_credentials token acts as. */
  application_user?: string;
}

export interface AuthOptions {
  users: SimUser[];
  clients: OAuthClient[];
  /** Access token lifetime in seconds (ServiceNow's default is 1800). */
  accessTokenTtlS: number;
  /** Refresh token lifetime in seconds (default 8,640,000: 100 days). */
  refreshTokenTtlS: number;
}

/** A token endpoint answer: the status and the JSON body. */
export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

interface Token {
  user: string;
  client: string;
  expiresAt: number;
}

const DENIED: TokenAnswer = { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };

function same(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Basic and OAuth 2.0 for the simulator, as `oauth_token.do` behaves: the
 * password grant returns an access and a refresh token; refresh_token returns an
 * access token and the same refresh token; client_credentials acts as the
 * client's application user. A request within an access token's lifetime gets
 * the current token back, not a new one. Refresh tokens expire or are revoked.
 */
export class SimAuth {
  readonly #options: AuthOptions;
  readonly #now: () => number;
  readonly #access = new Map<string, Token>();
  readonly #refresh = new Map<string, Token>();
  /** client\0user → current access token. */
  readonly #current = new Map<string, string>();

  constructor(options: AuthOptions, now: () => number = Date.now) {
    this.#options = options;
    this.#now = now;
  }

  /** The user an `Authorization` header authenticates, or undefined. */
  authenticate(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    const [scheme = '', credentials = ''] = header.split(' ', 2);
    if (scheme.toLowerCase() === 'basic') {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon < 0 ? undefined : this.#checkPassword(decoded.slice(0, colon), decoded.slice(colon + 1));
    }
    if (scheme.toLowerCase() === 'bearer') {
      const token = this.#access.get(credentials);
      return token !== undefined && token.expiresAt > this.#now() ? token.user : undefined;
    }
    return undefined;
  }

  #checkPassword(user: string, password: string): string | undefined {
    const found = this.#options.users.find((u) => u.user_name === user);
    return found !== undefined && same(found.password, password) ? found.user_name : undefined;
  }

  /** `POST /oauth_token.do` with its form fields. */
  token(form: URLSearchParams): TokenAnswer {
    const client = this.#options.clients.find((c) => c.client_id === form.get('client_id'));
    if (client === undefined || !same(client.client_secret, form.get('client_secret') ?? '')) return DENIED;
    switch (form.get('grant_type')) {
      case 'password': {
        const user = this.#checkPassword(form.get('username') ?? '', form.get('password') ?? '');
        if (user === undefined) return DENIED;
        return this.#grant(client.client_id, user, this.#issue(this.#refresh, client.client_id, user, this.#options.refreshTokenTtlS));
      }
      case 'refresh_token': {
        const refresh = form.get('refresh_token') ?? '';
        const token = this.#refresh.get(refresh);
        if (token === undefined || token.client !== client.client_id || token.expiresAt <= this.#now()) return DENIED;
        return this.#grant(client.client_id, token.user, refresh);
      }
      case 'client_credentials': {
        if (client.application_user === undefined) return DENIED;
        return this.#grant(client.client_id, client.application_user, undefined);
      }
      default:
        return { status: 400, body: { error_description: 'unsupported grant_type', error: 'invalid_request' } };
    }
  }

  #issue(store: Map<string, Token>, client: string, user: string, ttlS: number): string {
    const token = randomBytes(48).toString('base64url');
    store.set(token, { client, user, expiresAt: this.#now() + ttlS * 1000 });
    return token;
  }

  #grant(client: string, user: string, refresh: string | undefined): TokenAnswer {
    const key = `${client}\u0000${user}`;
    let access = this.#current.get(key);
    const live = access === undefined ? undefined : this.#access.get(access);
    if (access === undefined || live === undefined || live.expiresAt <= this.#now()) {
      if (access !== undefined) this.#access.delete(access);
      access = this.#issue(this.#access, client, user, this.#options.accessTokenTtlS);
      this.#current.set(key, access);
    }
    const expiresIn = Math.max(0, Math.round((this.#access.get(access)!.expiresAt - this.#now()) / 1000));
    return {
      status: 200,
      body: { access_token: access, ...(refresh === undefined ? {} : { refresh_token: refresh }), scope: 'useraccount', token_type: 'Bearer', expires_in: expiresIn },
    };
  }

  /** Revokes a refresh token, or every token of a user; returns how many were revoked. */
  revoke({ refreshToken, user }: { refreshToken?: string; user?: string }): number {
    let revoked = 0;
    for (const store of [this.#refresh, this.#access]) {
      for (const [token, info] of store) {
        if (token === refreshToken || (user !== undefined && info.user === user)) {
          store.delete(token);
          revoked++;
        }
      }
    }
    return revoked;
  }
}
