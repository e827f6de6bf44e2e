import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { base64url, SignJWT, type JWK, type JWTPayload } from 'jose';
import { PartnerKitError } from '../errors.js';
import type { Store } from '../store/store.js';
import { generateSigningKey, type SigningKey } from './keys.js';
import { TokenIssuer } from './issuer.js';
import { createTokenVerifier, type TokenVerifierOptions } from './verify.js';
import type { TokenVerifier } from './principal.js';
import { CONFIDENTIAL_APP, Clock, MFA_USER, omit, OTHER_PARTNER, PARTNER, PC_AUDIENCE, seededStore } from './fixture.test.js';

const ISSUER_BASE = 'https://login.partnerkit.test';
const PC_APP_ID = 'fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd';

let store: Store;
let key: SigningKey;
let otherKey: SigningKey;
let clock: Clock;
let issuer: TokenIssuer;
let verifier: TokenVerifier;

const nowS = (): number => Math.floor(clock.ms / 1000);
const issFor = (tid: string): string => `${ISSUER_BASE}/${tid}/v2.0`;

function makeVerifier(extra: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  const keys = [key.publicJwk];
  return createTokenVerifier({ issuerBase: ISSUER_BASE, keys: () => keys, store, now: clock.now, ...extra });
}

before(async () => {
  store = await seededStore();
  key = await generateSigningKey();
  otherKey = await generateSigningKey();
  clock = new Clock();
  issuer = new TokenIssuer({ store, key, issuerBase: ISSUER_BASE, now: clock.now });
  verifier = makeVerifier();
});
after(async () => {
  await store.close();
});

/** Claims of a valid App+User token, as this issuer writes them. */
function userClaims(): JWTPayload {
  const t = nowS();
  return {
    aud: PC_AUDIENCE, iss: issFor(PARTNER.tenantId), tid: PARTNER.tenantId, appid: CONFIDENTIAL_APP.clientId, azp: CONFIDENTIAL_APP.clientId,
    iat: t, nbf: t, exp: t + 3600, oid: MFA_USER.id, upn: MFA_USER.upn, name: MFA_USER.displayName, scp: 'user_impersonation', amr: ['pwd', 'mfa'],
  };
}
function appClaims(): JWTPayload {
  return { ...omit(userClaims(), 'oid', 'upn', 'name', 'scp', 'amr'), roles: [], idtyp: 'app' };
}

async function sign(claims: JWTPayload, signingKey: SigningKey = key, kid: string = signingKey.kid): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(signingKey.privateKey);
}

/** Asserts that the verifier refuses `token` with tokenInvalid, for a reason that quotes no part of the token. */
async function assertRefused(token: string, reason: RegExp, v: TokenVerifier = verifier): Promise<void> {
  await assert.rejects(v.verify(token), (err: unknown) => {
    assert.ok(err instanceof PartnerKitError, `expected PartnerKitError, got ${String(err)}`);
    assert.equal(err.kind, 'tokenInvalid');
    assert.match(err.message, reason);
    for (const part of token.split('.')) if (part.length > 8) assert.ok(!err.message.includes(part), 'reason quotes the token');
    return true;
  });
}

function flipBitIn(segment: string): string {
  const bytes = base64url.decode(segment);
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return base64url.encode(bytes);
}

// ---- accepted ----------------------------------------------------------------------------------------------

void test('a well-formed App+User token maps to a user principal', async () => {
  const principal = await verifier.verify(await sign(userClaims()));
  assert.deepEqual(principal, {
    kind: 'user', partnerId: PARTNER.tenantId, applicationId: CONFIDENTIAL_APP.clientId, userId: MFA_USER.id, upn: MFA_USER.upn,
    mfa: true, expiresAt: nowS() + 3600,
  });
});

void test('tokens minted by the issuer verify, user and app-only', async () => {
  const user = await store.findPartnerUser(MFA_USER.id);
  assert.ok(user);
  const u = await verifier.verify(await issuer.issueUserAccessToken(user, CONFIDENTIAL_APP.clientId));
  assert.equal(u.kind, 'user');
  const a = await verifier.verify(await issuer.issueAppAccessToken(PARTNER.tenantId, CONFIDENTIAL_APP.clientId));
  assert.deepEqual(a, { kind: 'app', partnerId: PARTNER.tenantId, applicationId: CONFIDENTIAL_APP.clientId, expiresAt: nowS() + 3600 });
});

void test('the Partner Center application id is accepted as audience too', async () => {
  const principal = await verifier.verify(await sign({ ...userClaims(), aud: PC_APP_ID }));
  assert.equal(principal.kind, 'user');
});

void test('tid is lowercased into partnerId; upn falls back to preferred_username; amr without mfa gives mfa false', async () => {
  const upperTid = PARTNER.tenantId.toUpperCase();
  const principal = await verifier.verify(await sign({
    ...omit(userClaims(), 'upn'), tid: upperTid, iss: issFor(upperTid), preferred_username: MFA_USER.upn, amr: ['pwd'],
  }));
  assert.equal(principal.partnerId, PARTNER.tenantId);
  assert.equal(principal.kind === 'user' && principal.upn, MFA_USER.upn);
  assert.equal(principal.kind === 'user' && principal.mfa, false);
});

void test('a key set given as a JWKS object works like a key function', async () => {
  const v = createTokenVerifier({ issuerBase: ISSUER_BASE, keys: { keys: [key.publicJwk] }, store, now: clock.now });
  assert.equal((await v.verify(await sign(userClaims()))).kind, 'user');
});

void test('clock skew within the 30 s tolerance is accepted', async () => {
  const t = nowS();
  assert.equal((await verifier.verify(await sign({ ...userClaims(), exp: t - 10 }))).kind, 'user');
  assert.equal((await verifier.verify(await sign({ ...userClaims(), nbf: t + 10, iat: t + 10 }))).kind, 'user');
});

// ---- refused -----------------------------------------------------------------------------------------------

void test('a token whose signature was altered is refused', async () => {
  const [h, p, sig] = (await sign(userClaims())).split('.') as [string, string, string];
  await assertRefused(`${h}.${p}.${flipBitIn(sig)}`, /signature/);
});

void test('a token whose payload was altered after signing is refused', async () => {
  const [h, , sig] = (await sign(userClaims())).split('.') as [string, string, string];
  const forged = base64url.encode(JSON.stringify({ ...userClaims(), upn: 'admin@northwindpartner.onmicrosoft.com' }));
  await assertRefused(`${h}.${forged}.${sig}`, /signature/);
});

void test('an unsigned token (alg none) is refused', async () => {
  const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid: key.kid }));
  const payload = base64url.encode(JSON.stringify(userClaims()));
  await assertRefused(`${header}.${payload}.`, /algorithm|malformed/);
});

void test('an HS256 token keyed with the public key material is refused', async () => {
  const secrets = [
    new TextEncoder().encode(JSON.stringify(key.publicJwk)),
    base64url.decode(key.publicJwk.n ?? ''),
  ];
  for (const secret of secrets) {
    const token = await new SignJWT(userClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(secret);
    await assertRefused(token, /algorithm/);
  }
});

void test('a token signed by an unknown key is refused, whatever kid it claims', async () => {
  await assertRefused(await sign(userClaims(), otherKey), /no matching signing key/);
  await assertRefused(await sign(userClaims(), otherKey, key.kid), /signature/);
});

void test('a token for another audience is refused', async () => {
  await assertRefused(await sign({ ...userClaims(), aud: 'https://graph.microsoft.com' }), /audience/);
});

void test('a token from another issuer is refused', async () => {
  await assertRefused(await sign({ ...userClaims(), iss: `https://login.microsoftonline.com/${PARTNER.tenantId}/v2.0` }), /issuer/);
  // The issuer of another partner than the token's tid.
  await assertRefused(await sign({ ...userClaims(), iss: issFor(OTHER_PARTNER.tenantId) }), /issuer/);
});

void test('a token for a tenant the store does not know is refused', async () => {
  const tid = '12345678-90ab-4cde-8f01-234567890abc';
  await assertRefused(await sign({ ...userClaims(), tid, iss: issFor(tid) }), /unknown tenant/);
});

void test('a tid that is a partner domain rather than its tenant id is refused', async () => {
  await assertRefused(await sign({ ...userClaims(), tid: PARTNER.domain, iss: issFor(PARTNER.domain) }), /unknown tenant/);
});

void test('an expired token is refused once past the clock tolerance', async () => {
  await assertRefused(await sign({ ...userClaims(), exp: nowS() - 31 }), /expired/);
});

void test('a token not yet valid is refused (nbf, and iat in the future)', async () => {
  const t = nowS();
  await assertRefused(await sign({ ...userClaims(), nbf: t + 120 }), /not yet valid/);
  await assertRefused(await sign({ ...userClaims(), iat: t + 120, nbf: t }), /iat/);
});

void test('a token missing a required claim is refused', async () => {
  const user = userClaims();
  const without = (...names: string[]): JWTPayload => omit(user, ...names);
  const cases: [JWTPayload, RegExp][] = [
    [without('tid'), /tid/],
    [without('exp'), /exp/],
    [without('iat'), /iat/],
    [without('iss'), /iss/],
    [without('aud'), /aud/],
    [without('appid', 'azp'), /appid/],
    [without('oid'), /oid/],
    [without('upn'), /upn/],
    [without('scp'), /scope|idtyp/],
    [{ ...user, scp: 'Directory.Read' }, /scope|idtyp/],
  ];
  for (const [claims, reason] of cases) await assertRefused(await sign(claims), reason);
});

void test('an app-only token must say idtyp app and carry no delegated scope', async () => {
  assert.equal((await verifier.verify(await sign(appClaims()))).kind, 'app');
  await assertRefused(await sign(omit(appClaims(), 'idtyp')), /idtyp/);
  await assertRefused(await sign({ ...appClaims(), scp: 'user_impersonation' }), /scp/);
});

void test('appid and azp naming different applications are refused', async () => {
  await assertRefused(await sign({ ...userClaims(), azp: '99999999-9999-4999-8999-999999999999' }), /appid and azp/);
});

void test('a non-JWT string and an oversized token are refused', async () => {
  await assertRefused('not-a-jwt', /malformed/);
  await assertRefused(`${'a'.repeat(20_000)}.b.c`, /malformed/);
});

// ---- cache ---------------------------------------------------------------------------------------------------

void test('a cached token is not accepted past its exp', async () => {
  const v = makeVerifier({ clockToleranceSeconds: 0 });
  const token = await sign({ ...userClaims(), exp: nowS() + 60 });
  assert.equal((await v.verify(token)).kind, 'user');
  const saved = clock.ms;
  try {
    clock.advanceSeconds(60);
    await assertRefused(token, /expired/, v);
  } finally {
    clock.ms = saved;
  }
});

void test('a repeated token is answered from the cache without key or store look-ups', async () => {
  let keyCalls = 0;
  let storeCalls = 0;
  const keys = [key.publicJwk];
  const v = createTokenVerifier({
    issuerBase: ISSUER_BASE, now: clock.now,
    keys: () => { keyCalls++; return keys; },
    store: { findPartner: (t: string) => { storeCalls++; return store.findPartner(t); } },
  });
  const token = await sign(userClaims());
  const first = await v.verify(token);
  const second = await v.verify(token);
  assert.deepEqual(second, first);
  assert.equal(keyCalls, 1);
  assert.equal(storeCalls, 1);
  // A different token of the same partner re-verifies but finds the partner in its own cache.
  await v.verify(await sign({ ...userClaims(), jti: 'another' }));
  assert.equal(keyCalls, 2);
  assert.equal(storeCalls, 1);
});

void test("a token that ends like a cached one but differs elsewhere is verified in full, and leaves the cached token's entry as it was", async () => {
  let keyCalls = 0;
  const keys = [key.publicJwk];
  const v = createTokenVerifier({ issuerBase: ISSUER_BASE, now: clock.now, store, keys: () => { keyCalls++; return keys; } });
  const token = await sign(userClaims());
  const cachedPrincipal = await v.verify(token);
  assert.equal(keyCalls, 1);
  // The same signature (so the same end) under another payload: the partner user of another tenant.
  const [header, , signature] = token.split('.');
  const forged = `${header ?? ''}.${base64url.encode(JSON.stringify({ ...userClaims(), tid: OTHER_PARTNER.tenantId, iss: issFor(OTHER_PARTNER.tenantId) }))}.${signature ?? ''}`;
  assert.equal(forged.slice(-32), token.slice(-32));
  await assertRefused(forged, /signature verification failed/, v);
  assert.equal(keyCalls, 2, 'the forged token was verified, not found in the cache');
  assert.deepEqual(await v.verify(token), cachedPrincipal);
  assert.equal(keyCalls, 2, 'the genuine token is still answered from the cache');
});

void test('the cache is bounded: beyond cacheSize the oldest token is evicted', async () => {
  let keyCalls = 0;
  const keys = [key.publicJwk];
  const v = createTokenVerifier({ issuerBase: ISSUER_BASE, now: clock.now, store, cacheSize: 2, keys: () => { keyCalls++; return keys; } });
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((jti) => sign({ ...userClaims(), jti })));
  assert.ok(a !== undefined && b !== undefined && c !== undefined);
  for (const t of [a, b, c]) await v.verify(t);
  assert.equal(keyCalls, 3);
  await v.verify(c);
  await v.verify(b);
  assert.equal(keyCalls, 3, 'b and c are still cached');
  await v.verify(a);
  assert.equal(keyCalls, 4, 'a was evicted');
});

void test('when the key set changes, tokens of a removed key are refused, even ones verified before', async () => {
  let keys: JWK[] = [key.publicJwk];
  const v = createTokenVerifier({ issuerBase: ISSUER_BASE, now: clock.now, store, keys: () => keys });
  const oldToken = await sign(userClaims());
  assert.equal((await v.verify(oldToken)).kind, 'user');
  keys = [otherKey.publicJwk];
  assert.equal((await v.verify(await sign(userClaims(), otherKey))).kind, 'user');
  await assertRefused(oldToken, /no matching signing key/, v);
});

void test('a token of a key the set does not hold makes the verifier reload the keys once and verify again', async () => {
  let keys: JWK[] = [key.publicJwk];
  let reloads = 0;
  const v = createTokenVerifier({
    issuerBase: ISSUER_BASE, now: clock.now, store, keys: () => keys,
    onUnknownKey: () => {
      reloads++;
      // another instance rotated: the store now holds the new key as well
      const changed = keys.length === 1;
      keys = [key.publicJwk, otherKey.publicJwk];
      return Promise.resolve(changed);
    },
  });
  assert.equal((await v.verify(await sign(userClaims(), otherKey))).kind, 'user');
  assert.equal(reloads, 1);
  // the old key still verifies; a key that is nowhere is refused after one more (unchanged) reload
  assert.equal((await v.verify(await sign(userClaims()))).kind, 'user');
  const stranger = await generateSigningKey();
  await assertRefused(await sign(userClaims(), stranger), /no matching signing key/, v);
  assert.equal(reloads, 2);
});

void test('a clock tolerance outside 0–60 s is a configuration error', () => {
  assert.throws(() => makeVerifier({ clockToleranceSeconds: 300 }), RangeError);
  assert.throws(() => makeVerifier({ clockToleranceSeconds: -1 }), RangeError);
});
