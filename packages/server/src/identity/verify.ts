/**
 * Verification of bearer access tokens: RS256 only, against a local JWK set, Entra v2 claims, the partner
 * tenant known to the store. A bounded cache of verified tokens keeps the hot path to one Map lookup.
 */
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { PartnerCenterAppId, PartnerCenterAudience } from '@partnerkit/contract';
import { PartnerKitError } from '../errors.js';
import type { StoreTx } from '../store/store.js';
import type { Principal, TokenVerifier } from './principal.js';
import { issuerFor, USER_IMPERSONATION, type IssuerBase } from './issuer.js';

export interface TokenVerifierOptions {
  issuerBase: IssuerBase;
  /**
   * The keys tokens may be signed with. A function is called on every verification that misses the cache,
   * so keys can change (rotation); when the keys it returns differ from the last ones, the local JWK set is
   * rebuilt and the cache of verified tokens emptied. (Tokens already cached stay accepted until that next
   * miss or their expiry.)
   */
  keys: JSONWebKeySet | (() => readonly JWK[]);
  /**
   * Called when a token names a key the set does not hold (another instance may have rotated): reloads the keys
   * and says whether they changed; when they did, the token is verified once more. Rate-limit it (a stream of
   * tokens with made-up key ids must not become a stream of store reads).
   */
  onUnknownKey?: () => Promise<boolean>;
  /**
   * `findApplication` and `findPartnerUser`, when given, also check that the token's application (and user) belong
   * to its tenant: the issuer mints no other, so a correctly signed token saying otherwise is refused.
   */
  store: Pick<StoreTx, 'findPartner'> & Partial<Pick<StoreTx, 'findApplication' | 'findPartnerUser'>>;
  /** Clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Verified tokens kept, oldest evicted first. Default 10,000; 0 turns the cache off. */
  cacheSize?: number;
  /**
   * Leeway for `exp`, `nbf` and `iat`, in seconds, for clocks of issuer and verifier that disagree.
   * Default 30 (Microsoft.IdentityModel allows 300; 30 is plenty for one process or a few hosts on NTP).
   * Must be 0 to 60.
   */
  clockToleranceSeconds?: number;
}

/** Longest token accepted at all: Entra tokens are 1–3 KB; anything much larger is refused unparsed. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** How long a partner's existence is remembered. */
const PARTNER_TTL_MS = 5 * 60_000;
const MAX_PARTNERS_CACHED = 10_000;

const invalid = (reason: string): PartnerKitError => new PartnerKitError('tokenInvalid', reason);

/** A short reason for a jose failure, never containing token text. */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid';
    if (err.claim === 'aud') return 'wrong audience';
    return `invalid ${err.claim} claim`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching signing key';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous signing key';
  if (err instanceof errors.JOSENotSupported) return 'unsupported token';
  return 'malformed token';
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Characters of a token's end that key the verified-token cache. */
const CACHE_KEY_LENGTH = 32;

/**
 * The verified-token cache's key: the token's last characters, the end of its signature (192 random bits for RS256).
 * A Map hashes the whole of a string key, and a token is 1–2 KB sent anew with each request: keyed by the whole
 * token, the look-up took about 2 µs, a few per cent of a GET (docs/performance.md). An entry holds its whole token,
 * and only that token finds its principal; another token with the same end (which only a verified token could put
 * there) is verified in full.
 */
const cacheKey = (token: string): string => (token.length > CACHE_KEY_LENGTH ? token.slice(-CACHE_KEY_LENGTH) : token);

class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) break;
      this.map.delete(oldest.value);
    }
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

/** Maps verified claims to a principal, or says what is missing. */
function toPrincipal(p: JWTPayload, partnerId: string): Principal {
  const appid = p.appid;
  const azp = p.azp;
  if (isString(appid) && isString(azp) && appid.toLowerCase() !== azp.toLowerCase()) throw invalid('appid and azp differ');
  const applicationId = isString(appid) ? appid : isString(azp) ? azp : undefined;
  if (applicationId === undefined) throw invalid('missing appid claim');
  const exp = p.exp;
  if (exp === undefined) throw invalid('missing exp claim');
  const scp = p.scp;
  if (p.idtyp === 'app') {
    if (scp !== undefined) throw invalid('app token carries scp');
    return { kind: 'app', partnerId, applicationId: applicationId.toLowerCase(), expiresAt: exp };
  }
  if (!isString(scp) || !scp.split(' ').includes(USER_IMPERSONATION)) throw invalid('token has neither user_impersonation scope nor idtyp app');
  const oid = p.oid;
  // `upn` is what this issuer and Entra v1 write; Entra v2 tokens carry `preferred_username` unless upn is configured.
  const upn = isString(p.upn) ? p.upn : p.preferred_username;
  if (!isString(oid)) throw invalid('missing oid claim');
  if (!isString(upn)) throw invalid('missing upn claim');
  const amr = p.amr;
  return {
    kind: 'user',
    partnerId,
    applicationId: applicationId.toLowerCase(),
    userId: oid.toLowerCase(),
    upn,
    mfa: Array.isArray(amr) && amr.includes('mfa'),
    expiresAt: exp,
  };
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const now = opts.now ?? Date.now;
  const tolerance = opts.clockToleranceSeconds ?? 30;
  if (!(tolerance >= 0 && tolerance <= 60)) throw new RangeError('clockToleranceSeconds must be 0 to 60');
  const cache = new BoundedCache<{ token: string; principal: Principal }>(opts.cacheSize ?? 10_000);
  const partners = new BoundedCache<number>(MAX_PARTNERS_CACHED);
  const audience = [PartnerCenterAudience, PartnerCenterAppId];

  const keySource = opts.keys;
  let lastKeys: readonly JWK[] | undefined;
  let lastFingerprint = '';
  let resolver: KeyResolver = createLocalJWKSet(typeof keySource === 'function' ? { keys: [] } : keySource);
  const currentResolver = (): KeyResolver => {
    if (typeof keySource !== 'function') return resolver;
    const keys = keySource();
    if (keys === lastKeys) return resolver;
    lastKeys = keys;
    const fingerprint = keys.map((k) => JSON.stringify([k.kid, k.kty, k.n, k.e, k.x, k.y, k.crv, k.alg, k.use])).join('\n');
    if (fingerprint !== lastFingerprint) {
      // A key set that changed (rotation, revocation): tokens verified with the old set are verified again.
      cache.clear();
      lastFingerprint = fingerprint;
      resolver = createLocalJWKSet({ keys: [...keys] });
    }
    return resolver;
  };

  /** The token's application, and its user, are the tenant's own (checked once per token: the answer is cached with it). */
  async function ofTenant(p: Principal): Promise<boolean> {
    const { store } = opts;
    if (store.findApplication && (await store.findApplication(p.applicationId))?.partnerId.toLowerCase() !== p.partnerId) return false;
    if (p.kind === 'user' && store.findPartnerUser && (await store.findPartnerUser(p.userId))?.partnerId.toLowerCase() !== p.partnerId) return false;
    return true;
  }

  async function partnerExists(tid: string, at: number): Promise<boolean> {
    const until = partners.get(tid);
    if (until !== undefined && until > at) return true;
    const partner = await opts.store.findPartner(tid);
    // findPartner also matches domains: the tid claim must be the tenant id itself.
    if (partner?.tenantId.toLowerCase() !== tid) {
      partners.delete(tid);
      return false;
    }
    partners.set(tid, at + PARTNER_TTL_MS);
    return true;
  }

  async function verify(token: string): Promise<Principal> {
    const at = now();
    const key = cacheKey(token);
    const cached = cache.get(key);
    if (cached?.token === token) {
      if (cached.principal.expiresAt * 1000 > at) return cached.principal;
      cache.delete(key);
    }
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid('malformed token');

    const verifyWith = (keyResolver: KeyResolver): ReturnType<typeof jwtVerify> =>
      jwtVerify(token, keyResolver, {
        algorithms: ['RS256'],
        audience,
        clockTolerance: tolerance,
        currentDate: new Date(at),
        requiredClaims: ['exp', 'iat', 'iss', 'tid'],
      });
    let payload: JWTPayload;
    try {
      ({ payload } = await verifyWith(currentResolver()));
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || !opts.onUnknownKey || !(await opts.onUnknownKey())) throw invalid(reasonOf(err));
      try {
        ({ payload } = await verifyWith(currentResolver()));
      } catch (again) {
        throw invalid(reasonOf(again));
      }
    }
    const nowSeconds = at / 1000;
    if (typeof payload.iat !== 'number' || payload.iat > nowSeconds + tolerance) throw invalid('invalid iat claim');
    const tidClaim = payload.tid;
    if (!isString(tidClaim) || tidClaim.length > 64) throw invalid('invalid tid claim');
    const tid = tidClaim.toLowerCase();
    if (payload.iss !== issuerFor(opts.issuerBase, tidClaim) && payload.iss !== issuerFor(opts.issuerBase, tid)) {
      throw invalid('wrong issuer');
    }
    const principal = Object.freeze(toPrincipal(payload, tid));
    if (!(await partnerExists(tid, at))) throw invalid('unknown tenant');
    if (!(await ofTenant(principal))) throw invalid('application or user of another tenant');
    if (principal.expiresAt * 1000 > at) cache.set(key, { token, principal });
    return principal;
  }

  return { verify };
}
