/**
 * The built-in token issuer: the grants of `POST /{tenant}/oauth2/v2.0/token` and the RS256 access tokens
 * it mints, with Microsoft Entra ID v2 claims. No HTTP here: `routes.ts` hands it the form parameters and
 * sends back what it answers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { PartnerCenterAppId, PartnerCenterAudience } from '@partnerkit/contract';
import type { StoreTx } from '../store/store.js';
import type { ApplicationRecord, PartnerRecord, PartnerUserRecord } from '../store/records.js';
import { DUMMY_HASH, verifySecret } from './passwords.js';
import type { SigningKey } from './keys.js';
import type { SignInLockout } from './lockout.js';
import { newOAuthContext, OAuthErrors, type OAuthContext, type OAuthError } from './oauth.js';

/** The store queries the issuer needs (a `Store` or `StoreTx` has them all). */
export type IssuerStore = Pick<
  StoreTx,
  'findPartner' | 'findApplication' | 'findPartnerUserByUpn' | 'findPartnerUser' | 'insertRefreshToken' | 'redeemRefreshToken'
>;

/** The issuer's base URL (no trailing slash), or a function giving it (for a port known only after listen). */
export type IssuerBase = string | (() => string);

export const resolveIssuerBase = (base: IssuerBase): string => (typeof base === 'string' ? base : base()).replace(/\/+$/, '');

/** `{base}/{tenantId}/v2.0` */
export const issuerFor = (base: IssuerBase, tenantId: string): string => `${resolveIssuerBase(base)}/${tenantId}/v2.0`;

export interface TokenIssuerOptions {
  store: IssuerStore;
  /** The signing key, or a function giving the current one (a key ring that may rotate). */
  key: SigningKey | (() => SigningKey);
  issuerBase: IssuerBase;
  /** Default 3600. */
  accessTokenLifetimeSeconds?: number;
  /** Refresh tokens expire after this many days without use (each use gives a new one). Default 90. */
  refreshTokenLifetimeDays?: number;
  /** Clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Smart lockout of repeated bad passwords and client secrets; none when absent. */
  lockout?: SignInLockout | undefined;
  /** Compares a secret with its stored hash. Default `verifySecret` (scrypt, constant time); replaceable to observe it in tests. */
  verifySecret?: (secret: string, storedHash: string) => Promise<boolean>;
}

export interface TokenResponseBody {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  ext_expires_in: number;
  scope: string;
  refresh_token?: string;
}

export type TokenOutcome = { status: 200; body: TokenResponseBody } | OAuthError;

/** Form parameters of a token request: each name once, empty values count as absent. */
export type TokenParams = ReadonlyMap<string, string>;

export const USER_IMPERSONATION = 'user_impersonation';
export const DELEGATED_SCOPE = `${PartnerCenterAudience}/${USER_IMPERSONATION}`;
export const DEFAULT_SCOPE = `${PartnerCenterAudience}/.default`;
const OIDC_SCOPES = new Set(['openid', 'profile', 'email']);
const RESOURCE_PREFIXES = [PartnerCenterAudience.toLowerCase(), PartnerCenterAppId.toLowerCase()];
const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

interface ParsedScope {
  delegated: boolean;
  defaultScope: boolean;
  offlineAccess: boolean;
  /** Entries that are neither Partner Center scopes nor OIDC scopes. */
  unknown: string[];
  /** Entries that are OIDC scopes (`openid`, `profile`, `email`). */
  oidc: string[];
}

function parseScope(raw: string): ParsedScope {
  const parsed: ParsedScope = { delegated: false, defaultScope: false, offlineAccess: false, unknown: [], oidc: [] };
  for (const entry of raw.split(/\s+/)) {
    if (entry === '') continue;
    const lower = entry.toLowerCase();
    if (lower === 'offline_access') { parsed.offlineAccess = true; continue; }
    if (OIDC_SCOPES.has(lower)) { parsed.oidc.push(entry); continue; }
    const slash = lower.lastIndexOf('/');
    const resource = slash > 0 ? lower.slice(0, slash) : '';
    const permission = slash > 0 ? lower.slice(slash + 1) : '';
    if (RESOURCE_PREFIXES.includes(resource) && permission === '.default') parsed.defaultScope = true;
    else if (RESOURCE_PREFIXES.includes(resource) && permission === USER_IMPERSONATION) parsed.delegated = true;
    else parsed.unknown.push(entry);
  }
  return parsed;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url');

/** A fresh opaque refresh token and the hash the store keeps of it. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}
export const hashRefreshToken = (token: string): string => sha256(token);

interface Granted {
  partner: PartnerRecord;
  app: ApplicationRecord;
}

export class TokenIssuer {
  private readonly store: IssuerStore;
  private readonly key: SigningKey | (() => SigningKey);
  private readonly issuerBase: IssuerBase;
  private readonly accessLifetime: number;
  private readonly refreshLifetimeDays: number;
  private readonly now: () => number;
  private readonly lockout: SignInLockout | undefined;
  private readonly verifySecret: (secret: string, storedHash: string) => Promise<boolean>;

  constructor(opts: TokenIssuerOptions) {
    this.lockout = opts.lockout;
    this.verifySecret = opts.verifySecret ?? verifySecret;
    this.store = opts.store;
    this.key = opts.key;
    this.issuerBase = opts.issuerBase;
    this.accessLifetime = opts.accessTokenLifetimeSeconds ?? 3600;
    this.refreshLifetimeDays = opts.refreshTokenLifetimeDays ?? 90;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.accessLifetime) || this.accessLifetime < 1) throw new RangeError('accessTokenLifetimeSeconds must be a positive integer');
    if (!(this.refreshLifetimeDays > 0)) throw new RangeError('refreshTokenLifetimeDays must be positive');
  }

  /** The issuer (`iss`) of tokens for a partner tenant. */
  issuer(tenantId: string): string {
    return issuerFor(this.issuerBase, tenantId);
  }

  /** A new OAuth error context at the issuer's clock. */
  context(clientRequestId?: string): OAuthContext {
    return newOAuthContext(new Date(this.now()), clientRequestId);
  }

  /**
   * Answers a token request made to `/{tenant}/oauth2/v2.0/token`: `tenant` as in the URL (tenant id or
   * domain), `params` the form parameters, `source` the client's address (what the lockout counts failures by).
   */
  async token(tenant: string, params: TokenParams, ctx: OAuthContext = this.context(), source?: string): Promise<TokenOutcome> {
    const grantType = params.get('grant_type');
    if (grantType === undefined) return OAuthErrors.missingParameter(ctx, 'grant_type');
    if (grantType !== 'password' && grantType !== 'client_credentials' && grantType !== 'refresh_token') {
      return OAuthErrors.unsupportedGrantType(ctx, grantType);
    }
    const required =
      grantType === 'password' ? ['client_id', 'username', 'password', 'scope']
      : grantType === 'client_credentials' ? ['client_id', 'scope']
      : ['client_id', 'refresh_token'];
    for (const name of required) if (!params.has(name)) return OAuthErrors.missingParameter(ctx, name);

    const partner = await this.store.findPartner(tenant);
    if (!partner) return OAuthErrors.tenantNotFound(ctx, tenant);
    const clientId = params.get('client_id') ?? '';
    const app = await this.store.findApplication(clientId);
    if (app?.partnerId.toLowerCase() !== partner.tenantId.toLowerCase()) return OAuthErrors.unknownClient(ctx, clientId, tenant);

    const scope = params.get('scope');
    const parsedScope = scope === undefined ? undefined : parseScope(scope);
    // Scope before client authentication, as Entra does: a bad scope costs no secret check.
    if (grantType === 'client_credentials') {
      if (scope === undefined || parsedScope === undefined) return OAuthErrors.missingParameter(ctx, 'scope');
      const onlyDefault = parsedScope.defaultScope && !parsedScope.delegated && !parsedScope.offlineAccess
        && parsedScope.unknown.length === 0 && parsedScope.oidc.length === 0;
      if (!onlyDefault) return OAuthErrors.clientCredentialsScope(ctx, scope);
    } else if (parsedScope !== undefined) {
      const bad = parsedScope.unknown[0];
      if (bad !== undefined) return OAuthErrors.invalidScope(ctx, bad);
      if (grantType === 'password' && !parsedScope.delegated && !parsedScope.defaultScope) return OAuthErrors.invalidScope(ctx, scope ?? '');
    }

    const clientError = await this.authenticateClient(app, params.get('client_secret'), grantType === 'client_credentials', ctx, source);
    if (clientError) return clientError;
    const granted: Granted = { partner, app };

    if (grantType === 'client_credentials') return this.success(await this.appToken(granted), DEFAULT_SCOPE, undefined);
    if (grantType === 'password') {
      return this.passwordGrant(granted, params.get('username') ?? '', params.get('password') ?? '', parsedScope?.offlineAccess === true, ctx, source);
    }
    return this.refreshGrant(granted, params.get('refresh_token') ?? '', ctx);
  }

  /** An App+User access token for a partner user (for tests and tools: no password is checked). */
  async issueUserAccessToken(user: PartnerUserRecord, clientId: string): Promise<string> {
    return this.userToken(user.partnerId.toLowerCase(), clientId.toLowerCase(), user);
  }

  /** An app-only access token (for tests and tools: no secret is checked). */
  async issueAppAccessToken(partnerId: string, clientId: string): Promise<string> {
    return this.sign(this.baseClaims(partnerId.toLowerCase(), clientId.toLowerCase()), { sub: clientId.toLowerCase(), roles: [], idtyp: 'app' });
  }

  // ---- grants --------------------------------------------------------------------------------------------

  private async authenticateClient(
    app: ApplicationRecord,
    secret: string | undefined,
    confidentialOnly: boolean,
    ctx: OAuthContext,
    source: string | undefined,
  ): Promise<OAuthError | undefined> {
    if (app.secretHash === null) {
      // A public client: it has nothing to authenticate with, and must not pretend to.
      if (secret !== undefined) return OAuthErrors.publicClientSecret(ctx);
      if (confidentialOnly) return OAuthErrors.clientSecretRequired(ctx);
      return undefined;
    }
    if (secret === undefined) return OAuthErrors.clientSecretRequired(ctx);
    // A locked client is refused before its secret is checked: the answer says nothing about the secret.
    const guard = this.lockout?.client(app.clientId, source);
    if (guard && (await guard.locked())) return OAuthErrors.accountLocked(ctx);
    if (!(await this.verifySecret(secret, app.secretHash))) {
      await guard?.failed();
      return OAuthErrors.badClientSecret(ctx, app.clientId);
    }
    await guard?.succeeded();
    return undefined;
  }

  private async passwordGrant(
    g: Granted, username: string, password: string, offline: boolean, ctx: OAuthContext, source: string | undefined,
  ): Promise<TokenOutcome> {
    // Known or not, the name is counted and locked the same way: the lockout tells nobody which users exist. A
    // locked sign-in is refused before the password is checked, so the answer says nothing about the password.
    const guard = this.lockout?.user(g.partner.tenantId, username, source);
    if (guard && (await guard.locked())) return OAuthErrors.accountLocked(ctx);
    const user = await this.store.findPartnerUserByUpn(username);
    const known = user?.partnerId.toLowerCase() === g.partner.tenantId.toLowerCase();
    // Unknown users cost the same scrypt work as known ones, so timing does not tell them apart.
    const ok = await this.verifySecret(password, known ? user.passwordHash : DUMMY_HASH);
    if (!known || !ok) {
      await guard?.failed();
      return OAuthErrors.badCredentials(ctx);
    }
    await guard?.succeeded();
    const scope = offline ? `${DELEGATED_SCOPE} offline_access` : DELEGATED_SCOPE;
    const accessToken = await this.userToken(g.partner.tenantId, g.app.clientId, user);
    const refreshToken = offline ? await this.storeRefreshToken(g, user.id, scope) : undefined;
    return this.success(accessToken, scope, refreshToken);
  }

  private async refreshGrant(g: Granted, refreshToken: string, ctx: OAuthContext): Promise<TokenOutcome> {
    if (!REFRESH_TOKEN_PATTERN.test(refreshToken)) return OAuthErrors.malformed(ctx);
    const now = this.now();
    const record = await this.store.redeemRefreshToken(hashRefreshToken(refreshToken), now);
    // Unknown, already used, or presented by another client or tenant: one answer for all. The token is
    // redeemed before those checks, so a refused presentation also burns it (it was exposed anyway).
    if (record?.clientId.toLowerCase() !== g.app.clientId.toLowerCase()
      || record.partnerId.toLowerCase() !== g.partner.tenantId.toLowerCase()) return OAuthErrors.invalidGrant(ctx);
    if (record.expiresAt <= now) {
      const lifetimeMs = this.refreshLifetimeDays * 86_400_000;
      return OAuthErrors.refreshTokenExpired(ctx, new Date(record.expiresAt - lifetimeMs), this.refreshLifetimeDays);
    }
    const user = await this.store.findPartnerUser(record.userId);
    if (user?.partnerId.toLowerCase() !== g.partner.tenantId.toLowerCase()) return OAuthErrors.invalidGrant(ctx);
    const accessToken = await this.userToken(g.partner.tenantId, g.app.clientId, user);
    const next = await this.storeRefreshToken(g, user.id, record.scope);
    return this.success(accessToken, record.scope, next);
  }

  private async storeRefreshToken(g: Granted, userId: string, scope: string): Promise<string> {
    const { token, hash } = newRefreshToken();
    await this.store.insertRefreshToken({
      tokenHash: hash,
      partnerId: g.partner.tenantId.toLowerCase(),
      userId: userId.toLowerCase(),
      clientId: g.app.clientId.toLowerCase(),
      scope,
      expiresAt: this.now() + Math.round(this.refreshLifetimeDays * 86_400_000),
      usedAt: null,
    });
    return token;
  }

  private success(accessToken: string, scope: string, refreshToken: string | undefined): TokenOutcome {
    const body: TokenResponseBody = {
      token_type: 'Bearer',
      scope,
      expires_in: this.accessLifetime,
      ext_expires_in: this.accessLifetime,
      access_token: accessToken,
    };
    if (refreshToken !== undefined) body.refresh_token = refreshToken;
    return { status: 200, body };
  }

  // ---- tokens --------------------------------------------------------------------------------------------

  private async appToken(g: Granted): Promise<string> {
    return this.issueAppAccessToken(g.partner.tenantId, g.app.clientId);
  }

  private async userToken(tenantId: string, clientId: string, user: PartnerUserRecord): Promise<string> {
    const oid = user.id.toLowerCase();
    return this.sign(this.baseClaims(tenantId.toLowerCase(), clientId.toLowerCase()), {
      sub: oid,
      oid,
      upn: user.upn,
      name: user.displayName,
      scp: USER_IMPERSONATION,
      amr: user.mfa ? ['pwd', 'mfa'] : ['pwd'],
    });
  }

  private baseClaims(tenantId: string, clientId: string): JWTPayload {
    const iat = Math.floor(this.now() / 1000);
    const uti = randomBytes(16).toString('base64url');
    return {
      aud: PartnerCenterAudience,
      iss: this.issuer(tenantId),
      iat,
      nbf: iat,
      exp: iat + this.accessLifetime,
      tid: tenantId,
      appid: clientId,
      azp: clientId,
      ver: '2.0',
      uti,
      jti: uti,
    };
  }

  private async sign(base: JWTPayload, extra: JWTPayload): Promise<string> {
    const key = typeof this.key === 'function' ? this.key() : this.key;
    return new SignJWT({ ...base, ...extra })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
      .sign(key.privateKey);
  }
}
