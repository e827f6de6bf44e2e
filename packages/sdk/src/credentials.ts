/**
 * Credentials: token providers shaped like `@azure/identity`'s (`getToken(scopes) → { token,
 * expiresOnTimestamp }`), so any Azure credential works unchanged, plus three built-in ones that talk to an
 * Entra-ID-v2-compatible token endpoint (`{authority}/{tenantId}/oauth2/v2.0/token`): Entra ID itself, or
 * PartnerKit's own. They cache tokens per scope set, renew them before they expire, never run two token
 * requests for the same credential at once, and keep their secrets in private fields (never printed).
 */
import { DefaultAuthority } from './defaults.js';
import type { FetchLike } from './pipeline.js';
import { redactText } from './redact.js';
import { globalFetch } from './policies/transport.js';
import { checkSecureBase, newId, raceAbort, requireId, timeoutSignal } from './util.js';

/** An access token and when it expires (milliseconds since the epoch). */
export interface AccessToken {
  /** The bearer token. */
  token: string;
  /** When it expires, in milliseconds since the epoch. */
  expiresOnTimestamp: number;
  /** When to start renewing it; by default a few minutes before expiry. */
  refreshAfterTimestamp?: number | undefined;
}

/** Options of `getToken`. */
export interface GetTokenOptions {
  /** Stops waiting for the token. */
  abortSignal?: AbortSignal;
  /**
   * Skip any cached token and ask the token endpoint (PartnerKit's extension; other credentials ignore it).
   * The client sets it once after a 401 to a cached token.
   */
  forceRefresh?: boolean;
}

/** Anything that gives access tokens: the built-in credentials, and every `@azure/identity` credential. */
export interface TokenCredential {
  /** An access token for `scopes`; null when the credential has none (treated as a failure). */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null>;
}

/** What the built-in credentials share. */
export interface CredentialOptions {
  /**
   * The identity host; the token URL is `{authority}/{tenantId}/oauth2/v2.0/token`. Default Entra ID's public
   * cloud, `https://login.microsoftonline.com`. For PartnerKit, its base URL. Must be https except to loopback.
   */
  authority?: string | undefined;
  /** The partner's tenant id (or domain). */
  tenantId: string;
  /** The application (client) id. */
  clientId: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike | undefined;
  /** The clock, in milliseconds since the epoch (default `Date.now`). */
  now?: (() => number) | undefined;
}

/** Options of `UsernamePasswordCredential`. */
export interface UsernamePasswordCredentialOptions extends CredentialOptions {
  /** For a confidential application; omit for a public client. */
  clientSecret?: string | undefined;
  /** The partner user's sign-in name. */
  username: string;
  /** The partner user's password (kept in a private field, never shown). */
  password: string;
}

/** Options of `RefreshTokenCredential`. */
export interface RefreshTokenCredentialOptions extends CredentialOptions {
  /** For a confidential application (the Secure Application Model's web app); omit for a public client. */
  clientSecret?: string | undefined;
  /** A refresh token of the partner user, from a consented sign-in with MFA. */
  refreshToken: string;
  /**
   * Called with each new refresh token the endpoint returns. Entra ID and PartnerKit rotate refresh tokens:
   * store the new one (e.g. in a key vault) so the next process starts from it.
   */
  onRefreshTokenRotated?: ((refreshToken: string) => void | Promise<void>) | undefined;
}

/** Options of `ClientSecretCredential`. */
export interface ClientSecretCredentialOptions extends CredentialOptions {
  /** The application's secret value (kept in a private field, never shown). */
  clientSecret: string;
}

/** The token endpoint refused, or could not be reached. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
  /** HTTP status of the token endpoint's answer; 0 when there was none. */
  readonly status: number;
  /** OAuth error, e.g. `invalid_grant`. */
  readonly error: string | undefined;
  /** Entra's AADSTS numbers, e.g. `[700082]`. */
  readonly errorCodes: readonly number[];
  /** The first line of `error_description`. */
  readonly errorDescription: string;
  /** Entra's correlation id (or the `client-request-id` sent), for support requests. */
  readonly correlationId: string | undefined;
  /** Entra's trace id. */
  readonly traceId: string | undefined;

  constructor(init: {
    status: number;
    error?: string | undefined;
    errorCodes?: readonly number[] | undefined;
    errorDescription: string;
    correlationId?: string | undefined;
    traceId?: string | undefined;
    cause?: unknown;
  }) {
    const codes = init.errorCodes ?? [];
    const hint = hintFor(codes, init.error);
    const description = redactText(init.errorDescription);
    super(`${description}${hint ? ` ${hint}` : ''}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.error = init.error;
    this.errorCodes = codes;
    this.errorDescription = description;
    this.correlationId = init.correlationId;
    this.traceId = init.traceId;
  }

  /** True for an `AuthenticationError`, also from another copy of this package. */
  static is(value: unknown): value is AuthenticationError {
    return value instanceof Error && value.name === 'AuthenticationError' && typeof (value as Partial<AuthenticationError>).status === 'number';
  }
}

function hintFor(codes: readonly number[], error: string | undefined): string | undefined {
  const has = (c: number): boolean => codes.includes(c);
  if (has(700082)) return 'The refresh token has expired: sign the partner user in again (Secure Application Model consent) and store the new refresh token.';
  if (has(50126)) return 'Check the username and password.';
  if (has(7000215)) return "Check clientSecret: it must be the secret's value, not its id.";
  if (has(700016)) return 'Check clientId and tenantId (and the authority).';
  if (has(90002)) return 'Check tenantId and the authority.';
  if (has(50076) || has(50078) || has(50079)) {
    return 'The partner user must sign in with MFA: use RefreshTokenCredential with a refresh token from an interactive sign-in (Secure Application Model).';
  }
  if (has(70011) || has(1002012)) return 'Check the scopes.';
  if (error === 'invalid_grant') return 'The grant is invalid, expired or already used; refresh tokens are single use once rotated: use the latest one.';
  return undefined;
}

const REFRESH_WINDOW_MS = 5 * 60_000;
/** A token this close to expiry is not used any more. */
const EXPIRY_MARGIN_MS = 30_000;
const TOKEN_REQUEST_TIMEOUT_MS = 60_000;

/**
 * One token at a time for one scope set: handed out until its renewal time, renewed by one request however
 * many callers ask, and kept in use if a renewal fails while it is still valid.
 */
export class AccessTokenCache {
  private current: AccessToken | undefined;
  private obtainedAt = 0;
  private pending: Promise<AccessToken> | undefined;

  constructor(
    private readonly fetchToken: (forceRefresh: boolean) => Promise<AccessToken>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(options: GetTokenOptions = {}): Promise<{ token: AccessToken; fresh: boolean }> {
    const now = this.now();
    const cur = this.current;
    if (options.forceRefresh !== true && cur) {
      if (now < this.renewAt(cur)) return { token: cur, fresh: false };
      if (now < cur.expiresOnTimestamp - EXPIRY_MARGIN_MS) {
        try {
          return { token: await raceAbort(this.refresh(false), options.abortSignal), fresh: true };
        } catch (e) {
          if (options.abortSignal?.aborted) throw e;
          return { token: cur, fresh: false }; // still valid: renew on a later call
        }
      }
    }
    return { token: await raceAbort(this.refresh(options.forceRefresh === true), options.abortSignal), fresh: true };
  }

  /** Forget the token (the next `get` asks for a new one). */
  clear(): void {
    this.current = undefined;
  }

  private renewAt(t: AccessToken): number {
    if (t.refreshAfterTimestamp !== undefined) return Math.min(t.refreshAfterTimestamp, t.expiresOnTimestamp - EXPIRY_MARGIN_MS);
    const lifetime = Math.max(0, t.expiresOnTimestamp - this.obtainedAt);
    return t.expiresOnTimestamp - Math.min(REFRESH_WINDOW_MS, lifetime / 2);
  }

  private refresh(force: boolean): Promise<AccessToken> {
    if (this.pending) return this.pending;
    const startedAt = this.now();
    const p = this.fetchToken(force).then((t) => {
      if (typeof t.token !== 'string' || t.token === '' || !Number.isFinite(t.expiresOnTimestamp)) {
        throw new AuthenticationError({ status: 0, errorDescription: 'The credential returned no usable access token.' });
      }
      this.current = t;
      this.obtainedAt = startedAt;
      return t;
    });
    this.pending = p;
    const clear = (): void => {
      if (this.pending === p) this.pending = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}

interface TokenAnswer {
  accessToken: string;
  expiresOnTimestamp: number;
  refreshToken: string | undefined;
}

/** The token endpoint of one tenant. */
class TokenEndpoint {
  readonly url: string;
  private readonly fetchImpl: FetchLike;
  readonly now: () => number;

  constructor(o: CredentialOptions) {
    requireId(o.tenantId, 'tenantId');
    requireId(o.clientId, 'clientId');
    const authority = checkSecureBase(o.authority ?? DefaultAuthority, 'authority');
    const base = authority.toString().replace(/\/+$/, '');
    this.url = `${base}/${encodeURIComponent(o.tenantId)}/oauth2/v2.0/token`;
    this.fetchImpl = o.fetch ?? globalFetch;
    this.now = o.now ?? Date.now;
  }

  async request(params: Record<string, string | undefined>): Promise<TokenAnswer> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, v);
    const startedAt = this.now();
    const clientRequestId = newId();
    const t = timeoutSignal(undefined, TOKEN_REQUEST_TIMEOUT_MS);
    let status: number;
    let text: string;
    try {
      const res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          'client-request-id': clientRequestId,
          'return-client-request-id': 'true',
        },
        body: form.toString(),
        ...(t.signal ? { signal: t.signal } : {}),
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      throw new AuthenticationError({
        status: 0,
        errorDescription: `The token endpoint ${this.url} could not be reached: ${e instanceof Error ? e.message : String(e)}.`,
        correlationId: clientRequestId,
        cause: e,
      });
    } finally {
      t.dispose();
    }
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // not JSON: reported below
    }
    const token = body.access_token;
    const expiresIn = Number(body.expires_in);
    if (status === 200 && typeof token === 'string' && token !== '' && Number.isFinite(expiresIn)) {
      const refreshToken = typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined;
      return { accessToken: token, expiresOnTimestamp: startedAt + expiresIn * 1000, refreshToken };
    }
    const description = typeof body.error_description === 'string'
      ? (body.error_description.split(/\r?\n/)[0] ?? '')
      : `The token endpoint answered ${String(status)} without a token${text.trim() === '' ? '' : `: ${text.trim().slice(0, 200)}`}.`;
    const codes = Array.isArray(body.error_codes) ? body.error_codes.filter((c): c is number => typeof c === 'number') : [];
    return Promise.reject(
      new AuthenticationError({
        status,
        error: typeof body.error === 'string' ? body.error : undefined,
        errorCodes: codes,
        errorDescription: description,
        correlationId: typeof body.correlation_id === 'string' ? body.correlation_id : clientRequestId,
        traceId: typeof body.trace_id === 'string' ? body.trace_id : undefined,
      }),
    );
  }
}

const scopeList = (scopes: string | string[]): string[] => (typeof scopes === 'string' ? [scopes] : [...scopes]);

/** Per scope set, a token cache over one way of getting tokens. */
class CachedTokens {
  private readonly caches = new Map<string, AccessTokenCache>();
  constructor(
    private readonly acquire: (scopes: string[]) => Promise<AccessToken>,
    private readonly now: () => number,
  ) {}

  async getToken(scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const list = scopeList(scopes);
    const key = [...list].sort().join(' ');
    let cache = this.caches.get(key);
    if (!cache) {
      cache = new AccessTokenCache(() => this.acquire(list), this.now);
      this.caches.set(key, cache);
    }
    return (await cache.get(options)).token;
  }
}

/**
 * App+User tokens by the resource-owner password grant (`grant_type=password`). Works with PartnerKit and
 * with Entra ID for accounts without MFA; real partner users need MFA, so against Partner Center prefer
 * `RefreshTokenCredential` (the Secure Application Model).
 */
export class UsernamePasswordCredential implements TokenCredential {
  /** The partner's tenant. */
  readonly tenantId: string;
  /** The application (client) id. */
  readonly clientId: string;
  /** The partner user's sign-in name. */
  readonly username: string;
  readonly #endpoint: TokenEndpoint;
  readonly #clientSecret: string | undefined;
  readonly #password: string;
  readonly #tokens: CachedTokens;

  constructor(options: UsernamePasswordCredentialOptions) {
    this.#endpoint = new TokenEndpoint(options);
    this.tenantId = options.tenantId;
    this.clientId = options.clientId;
    this.username = requireId(options.username, 'username');
    this.#password = requireId(options.password, 'password');
    this.#clientSecret = options.clientSecret;
    this.#tokens = new CachedTokens(async (scopes) => {
      const a = await this.#endpoint.request({
        grant_type: 'password',
        client_id: this.clientId,
        client_secret: this.#clientSecret,
        username: this.username,
        password: this.#password,
        scope: scopes.join(' '),
      });
      return { token: a.accessToken, expiresOnTimestamp: a.expiresOnTimestamp };
    }, this.#endpoint.now);
  }

  /** A token for `scopes`: the cached one, or a new one when it is near expiry or `forceRefresh` is set. */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    return this.#tokens.getToken(scopes, options);
  }
}

/**
 * App+User tokens from a refresh token: the Secure Application Model that real partners use. The partner
 * user signs in once, interactively and with MFA, to consent; the refresh token from that sign-in is
 * redeemed here for access tokens. Refresh tokens rotate: each redemption returns a new one, which this
 * credential keeps and hands to `onRefreshTokenRotated` for storing.
 */
export class RefreshTokenCredential implements TokenCredential {
  /** The partner's tenant. */
  readonly tenantId: string;
  /** The application (client) id. */
  readonly clientId: string;
  readonly #endpoint: TokenEndpoint;
  readonly #clientSecret: string | undefined;
  readonly #onRotated: ((refreshToken: string) => void | Promise<void>) | undefined;
  #refreshToken: string;
  /** Redemptions run one after another: a refresh token can be used once. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #tokens: CachedTokens;

  constructor(options: RefreshTokenCredentialOptions) {
    this.#endpoint = new TokenEndpoint(options);
    this.tenantId = options.tenantId;
    this.clientId = options.clientId;
    this.#refreshToken = requireId(options.refreshToken, 'refreshToken');
    this.#clientSecret = options.clientSecret;
    this.#onRotated = options.onRefreshTokenRotated;
    this.#tokens = new CachedTokens((scopes) => this.#redeem(scopes), this.#endpoint.now);
  }

  /** A token for `scopes`: the cached one, or a new one when it is near expiry or `forceRefresh` is set. */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    return this.#tokens.getToken(scopes, options);
  }

  #redeem(scopes: string[]): Promise<AccessToken> {
    const run = async (): Promise<AccessToken> => {
      const a = await this.#endpoint.request({
        grant_type: 'refresh_token',
        client_id: this.clientId,
        client_secret: this.#clientSecret,
        refresh_token: this.#refreshToken,
        scope: [...scopes.filter((s) => s !== 'offline_access'), 'offline_access'].join(' '),
      });
      if (a.refreshToken !== undefined && a.refreshToken !== this.#refreshToken) {
        this.#refreshToken = a.refreshToken;
        await this.#onRotated?.(a.refreshToken);
      }
      return { token: a.accessToken, expiresOnTimestamp: a.expiresOnTimestamp };
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}

/**
 * App-only tokens by the client-credentials grant. Partner Center accepts them on customers and audit
 * records, not on customer users (those need App+User).
 */
export class ClientSecretCredential implements TokenCredential {
  /** The partner's tenant. */
  readonly tenantId: string;
  /** The application (client) id. */
  readonly clientId: string;
  readonly #endpoint: TokenEndpoint;
  readonly #clientSecret: string;
  readonly #tokens: CachedTokens;

  constructor(options: ClientSecretCredentialOptions) {
    this.#endpoint = new TokenEndpoint(options);
    this.tenantId = options.tenantId;
    this.clientId = options.clientId;
    this.#clientSecret = requireId(options.clientSecret, 'clientSecret');
    this.#tokens = new CachedTokens(async (scopes) => {
      const a = await this.#endpoint.request({
        grant_type: 'client_credentials',
        client_id: this.clientId,
        client_secret: this.#clientSecret,
        scope: scopes.join(' '),
      });
      return { token: a.accessToken, expiresOnTimestamp: a.expiresOnTimestamp };
    }, this.#endpoint.now);
  }

  /** A token for `scopes`: the cached one, or a new one when it is near expiry or `forceRefresh` is set. */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    return this.#tokens.getToken(scopes, options);
  }
}
