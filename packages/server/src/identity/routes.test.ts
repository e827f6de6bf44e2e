import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import {
  assertOAuthError, CONFIDENTIAL_APP, DEFAULT_SCOPE, MFA_USER, NO_MFA_USER, OTHER_PARTNER, OTHER_PARTNER_APP, OTHER_PARTNER_USER,
  omit, PARTNER, PC_AUDIENCE, PUBLIC_APP, passwordParams, postToken, readJson, startServer, USER_SCOPE, type Running,
} from './fixture.test.js';

let s: Running;
before(async () => {
  s = await startServer();
});
after(async () => {
  await s.close();
});

// ---- discovery and keys ----------------------------------------------------------------------------------

void test('discovery document names the issuer, token endpoint and JWKS of the partner tenant', async () => {
  for (const tenant of [PARTNER.tenantId, PARTNER.domain]) {
    const r = await readJson(await fetch(`${s.base}/${tenant}/v2.0/.well-known/openid-configuration`));
    assert.equal(r.status, 200);
    const t = `${s.base}/${PARTNER.tenantId}`;
    assert.equal(r.body.issuer, `${t}/v2.0`);
    assert.equal(r.body.token_endpoint, `${t}/oauth2/v2.0/token`);
    assert.equal(r.body.jwks_uri, `${t}/discovery/v2.0/keys`);
    assert.deepEqual(r.body.id_token_signing_alg_values_supported, ['RS256']);
    assert.deepEqual(r.body.grant_types_supported, ['password', 'client_credentials', 'refresh_token']);
    assert.ok(Array.isArray(r.body.response_types_supported));
    assert.equal(typeof r.body.authorization_endpoint, 'string');
  }
});

void test('discovery for an unknown tenant answers 400 with AADSTS90002', async () => {
  const r = await readJson(await fetch(`${s.base}/no-such-tenant.onmicrosoft.com/v2.0/.well-known/openid-configuration`));
  assertOAuthError(r, 400, 'invalid_tenant', 90002);
  assert.match(r.body.error_description as string, /Tenant 'no-such-tenant\.onmicrosoft\.com' not found/);
});

void test('JWKS publishes exactly the public signing key, identified by its RFC 7638 thumbprint', async () => {
  const r = await readJson(await fetch(`${s.base}/${PARTNER.domain}/discovery/v2.0/keys`));
  assert.equal(r.status, 200);
  const keys = r.body.keys;
  assert.ok(Array.isArray(keys));
  assert.equal(keys.length, 1);
  const jwk = keys[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  assert.equal(jwk.kty, 'RSA');
  assert.equal(jwk.alg, 'RS256');
  assert.equal(jwk.use, 'sig');
  assert.equal(jwk.kid, s.key.kid);
  const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  assert.equal(jwk.kid, createHash('sha256').update(canonical).digest('base64url'));
});

void test('JWKS for an unknown tenant answers 400 with AADSTS90002', async () => {
  const r = await readJson(await fetch(`${s.base}/00000000-0000-0000-0000-000000000000/discovery/v2.0/keys`));
  assertOAuthError(r, 400, 'invalid_tenant', 90002);
});

// ---- password grant --------------------------------------------------------------------------------------

void test('password grant gives an RS256 App+User token with Entra v2 claims that the verifier accepts', async () => {
  const r = await postToken(s.base, PARTNER.domain, passwordParams(MFA_USER));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.headers.get('pragma'), 'no-cache');
  assert.equal(r.body.token_type, 'Bearer');
  assert.equal(r.body.expires_in, 3600);
  assert.equal(r.body.ext_expires_in, 3600);
  assert.equal(r.body.scope, `${PC_AUDIENCE}/user_impersonation offline_access`);
  assert.equal(typeof r.body.refresh_token, 'string');
  const token = r.body.access_token;
  assert.equal(typeof token, 'string');
  const accessToken = token as string;

  const header = decodeProtectedHeader(accessToken);
  assert.deepEqual(header, { alg: 'RS256', typ: 'JWT', kid: s.key.kid });
  const claims = decodeJwt(accessToken);
  const nowSeconds = Math.floor(s.clock.ms / 1000);
  assert.equal(claims.aud, PC_AUDIENCE);
  assert.equal(claims.iss, `${s.base}/${PARTNER.tenantId}/v2.0`);
  assert.equal(claims.tid, PARTNER.tenantId);
  assert.equal(claims.appid, CONFIDENTIAL_APP.clientId);
  assert.equal(claims.azp, CONFIDENTIAL_APP.clientId);
  assert.equal(claims.oid, MFA_USER.id);
  assert.equal(claims.upn, MFA_USER.upn);
  assert.equal(claims.name, MFA_USER.displayName);
  assert.equal(claims.scp, 'user_impersonation');
  assert.deepEqual(claims.amr, ['pwd', 'mfa']);
  assert.equal(claims.iat, nowSeconds);
  assert.equal(claims.nbf, nowSeconds);
  assert.equal(claims.exp, nowSeconds + 3600);
  assert.equal(typeof claims.uti, 'string');
  assert.equal(typeof claims.jti, 'string');
  assert.equal(claims.idtyp, undefined);
  assert.equal(claims.roles, undefined);

  const principal = await s.verifier.verify(accessToken);
  assert.deepEqual(principal, {
    kind: 'user', partnerId: PARTNER.tenantId, applicationId: CONFIDENTIAL_APP.clientId, userId: MFA_USER.id,
    upn: MFA_USER.upn, mfa: true, expiresAt: nowSeconds + 3600,
  });
});

void test('each token carries a fresh token identifier', async () => {
  const a = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  const b = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  assert.notEqual(decodeJwt(a.body.access_token as string).uti, decodeJwt(b.body.access_token as string).uti);
});

void test('a partner user without MFA gets amr ["pwd"] and a principal with mfa false', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, passwordParams(NO_MFA_USER));
  assert.equal(r.status, 200, r.text);
  const token = r.body.access_token as string;
  assert.deepEqual(decodeJwt(token).amr, ['pwd']);
  const principal = await s.verifier.verify(token);
  assert.ok(principal.kind === 'user');
  assert.equal(principal.mfa, false);
});

void test('password grant without offline_access gives no refresh token', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER, DEFAULT_SCOPE));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.refresh_token, undefined);
  assert.equal(r.body.scope, `${PC_AUDIENCE}/user_impersonation`);
  assert.equal(decodeJwt(r.body.access_token as string).scp, 'user_impersonation');
});

void test('a public client needs no secret for the password grant', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, {
    grant_type: 'password', client_id: PUBLIC_APP.clientId, username: MFA_USER.upn, password: MFA_USER.password, scope: USER_SCOPE,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(decodeJwt(r.body.access_token as string).appid, PUBLIC_APP.clientId);
});

void test('a wrong password answers invalid_grant AADSTS50126 without echoing the password', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), password: 'Wrong-Password-123' });
  assertOAuthError(r, 400, 'invalid_grant', 50126);
  assert.match(r.body.error_description as string, /^AADSTS50126: Error validating credentials due to invalid username or password\./);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.ok(!r.text.includes('Wrong-Password-123'));
  assert.ok(!r.text.includes(CONFIDENTIAL_APP.secret));
});

void test('an unknown user and a user of another partner get the same AADSTS50126 answer', async () => {
  const unknown = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), username: 'ghost@northwindpartner.onmicrosoft.com' });
  assertOAuthError(unknown, 400, 'invalid_grant', 50126);
  const foreign = await postToken(s.base, PARTNER.tenantId, passwordParams(OTHER_PARTNER_USER));
  assertOAuthError(foreign, 400, 'invalid_grant', 50126);
});

void test('an unknown client, or a client of another partner, answers AADSTS700016', async () => {
  const unknown = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), client_id: '99999999-9999-4999-8999-999999999999' });
  assertOAuthError(unknown, 400, 'unauthorized_client', 700016);
  assert.match(unknown.body.error_description as string, /Application with identifier '99999999-9999-4999-8999-999999999999' was not found/);
  const foreign = await postToken(s.base, PARTNER.tenantId, {
    ...passwordParams(MFA_USER), client_id: OTHER_PARTNER_APP.clientId, client_secret: OTHER_PARTNER_APP.secret,
  });
  assertOAuthError(foreign, 400, 'unauthorized_client', 700016);
});

void test('a wrong client secret answers 401 invalid_client AADSTS7000215 without echoing it', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), client_secret: 'not-the-secret-42' });
  assertOAuthError(r, 401, 'invalid_client', 7000215);
  assert.ok(!r.text.includes('not-the-secret-42'));
  assert.ok(!r.text.includes(MFA_USER.password));
});

void test('a confidential client without its secret answers 401 AADSTS7000218', async () => {
  const params = omit(passwordParams(MFA_USER), 'client_secret') as Record<string, string>;
  const r = await postToken(s.base, PARTNER.tenantId, params);
  assertOAuthError(r, 401, 'invalid_client', 7000218);
});

void test('a scope without Partner Center answers invalid_scope AADSTS70011', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER, 'https://graph.microsoft.com/User.Read offline_access'));
  assertOAuthError(r, 400, 'invalid_scope', 70011);
  const onlyOffline = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER, 'offline_access openid'));
  assertOAuthError(onlyOffline, 400, 'invalid_scope', 70011);
});

void test('a missing parameter answers invalid_request AADSTS900144 naming it', async () => {
  const params = omit(passwordParams(MFA_USER), 'username') as Record<string, string>;
  const r = await postToken(s.base, PARTNER.tenantId, params);
  assertOAuthError(r, 400, 'invalid_request', 900144);
  assert.match(r.body.error_description as string, /^AADSTS900144: The request body must contain the following parameter: 'username'\./);
  const noGrant = await postToken(s.base, PARTNER.tenantId, {});
  assert.match(noGrant.body.error_description as string, /parameter: 'grant_type'/);
});

void test('an unsupported grant type answers unsupported_grant_type AADSTS70003', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, { grant_type: 'authorization_code', client_id: PUBLIC_APP.clientId, code: 'x' });
  assertOAuthError(r, 400, 'unsupported_grant_type', 70003);
});

void test('a token request to an unknown tenant answers AADSTS90002', async () => {
  const r = await postToken(s.base, 'nowhere.onmicrosoft.com', passwordParams(MFA_USER));
  assertOAuthError(r, 400, 'invalid_request', 90002);
});

void test('a JSON body is not a token request: 400 invalid_request', async () => {
  const res = await fetch(`${s.base}/${PARTNER.tenantId}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(passwordParams(MFA_USER)),
  });
  const r = await readJson(res);
  assertOAuthError(r, 400, 'invalid_request', 900144);
  assert.ok(!r.text.includes(MFA_USER.password));
});

void test('a form body over 64 KiB and a repeated parameter are refused with invalid_request AADSTS9002313', async () => {
  const big = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), padding: 'x'.repeat(70 * 1024) });
  assertOAuthError(big, 400, 'invalid_request', 9002313);
  const res = await fetch(`${s.base}/${PARTNER.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `${new URLSearchParams(passwordParams(MFA_USER)).toString()}&grant_type=client_credentials`,
  });
  assertOAuthError(await readJson(res), 400, 'invalid_request', 9002313);
});

void test('a body of another content type is not parsed past 64 KiB, and a body-less request has no grant_type', async () => {
  const url = `${s.base}/${PARTNER.tenantId}/oauth2/v2.0/token`;
  const bigJson = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) });
  assertOAuthError(await readJson(bigJson), 400, 'invalid_request', 9002313);
  const text = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=password' });
  assertOAuthError(await readJson(text), 400, 'invalid_request', 900144);
  const empty = await fetch(url, { method: 'POST' });
  assertOAuthError(await readJson(empty), 400, 'invalid_request', 900144);
});

void test('a form content type with a charset parameter is accepted', async () => {
  const res = await fetch(`${s.base}/${PARTNER.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams(passwordParams(MFA_USER)).toString(),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
});

void test('a client-request-id is echoed as the correlation id', async () => {
  const id = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const r = await postToken(s.base, PARTNER.tenantId, { ...passwordParams(MFA_USER), password: 'nope' }, { 'client-request-id': id });
  assert.equal(r.body.correlation_id, id);
  assert.equal(r.headers.get('client-request-id'), id);
});

// ---- client credentials ----------------------------------------------------------------------------------

void test('client_credentials gives an app-only token (idtyp app, roles []) the verifier maps to an app principal', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, {
    grant_type: 'client_credentials', client_id: CONFIDENTIAL_APP.clientId, client_secret: CONFIDENTIAL_APP.secret, scope: DEFAULT_SCOPE,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.refresh_token, undefined);
  const token = r.body.access_token as string;
  const claims = decodeJwt(token);
  assert.equal(claims.idtyp, 'app');
  assert.deepEqual(claims.roles, []);
  assert.equal(claims.appid, CONFIDENTIAL_APP.clientId);
  assert.equal(claims.tid, PARTNER.tenantId);
  assert.equal(claims.scp, undefined);
  assert.equal(claims.upn, undefined);
  assert.equal(claims.oid, undefined);
  const principal = await s.verifier.verify(token);
  assert.deepEqual(principal, { kind: 'app', partnerId: PARTNER.tenantId, applicationId: CONFIDENTIAL_APP.clientId, expiresAt: claims.exp });
});

void test('client_credentials accepts the client secret in HTTP Basic authentication', async () => {
  const basic = Buffer.from(`${CONFIDENTIAL_APP.clientId}:${encodeURIComponent(CONFIDENTIAL_APP.secret)}`).toString('base64');
  const r = await postToken(s.base, PARTNER.tenantId, { grant_type: 'client_credentials', scope: DEFAULT_SCOPE }, { authorization: `Basic ${basic}` });
  assert.equal(r.status, 200, r.text);
  const wrong = Buffer.from(`${CONFIDENTIAL_APP.clientId}:wrong`).toString('base64');
  const refused = await postToken(s.base, PARTNER.tenantId, { grant_type: 'client_credentials', scope: DEFAULT_SCOPE }, { authorization: `Basic ${wrong}` });
  assertOAuthError(refused, 401, 'invalid_client', 7000215);
});

void test('client_credentials needs the .default scope (AADSTS1002012), a secret, and a confidential client', async () => {
  const base = { grant_type: 'client_credentials', client_id: CONFIDENTIAL_APP.clientId, client_secret: CONFIDENTIAL_APP.secret };
  assertOAuthError(await postToken(s.base, PARTNER.tenantId, { ...base, scope: `${PC_AUDIENCE}/user_impersonation` }), 400, 'invalid_scope', 1002012);
  assertOAuthError(await postToken(s.base, PARTNER.tenantId, { ...base, client_secret: 'wrong', scope: DEFAULT_SCOPE }), 401, 'invalid_client', 7000215);
  assertOAuthError(
    await postToken(s.base, PARTNER.tenantId, { grant_type: 'client_credentials', client_id: CONFIDENTIAL_APP.clientId, scope: DEFAULT_SCOPE }),
    401, 'invalid_client', 7000218,
  );
  assertOAuthError(
    await postToken(s.base, PARTNER.tenantId, { grant_type: 'client_credentials', client_id: PUBLIC_APP.clientId, scope: DEFAULT_SCOPE }),
    401, 'invalid_client', 7000218,
  );
});

// ---- refresh tokens --------------------------------------------------------------------------------------

void test('a refresh token is opaque and kept in the store only as its SHA-256 hash', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  const rt = r.body.refresh_token as string;
  assert.match(rt, /^[A-Za-z0-9_-]{43}$/);
  const hash = createHash('sha256').update(rt).digest('base64url');
  const record = await s.store.redeemRefreshToken(hash, s.clock.ms);
  assert.ok(record, 'the store holds the hash');
  assert.equal(record.userId, MFA_USER.id);
  assert.equal(record.clientId, CONFIDENTIAL_APP.clientId);
  assert.equal(await s.store.redeemRefreshToken(rt, s.clock.ms), undefined, 'the store does not hold the token itself');
});

void test('a refresh token is single use: redeeming it rotates it, and replaying the old one is refused', async () => {
  const first = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  const rt1 = first.body.refresh_token as string;
  const refresh = (rt: string): Promise<Awaited<ReturnType<typeof postToken>>> => postToken(s.base, PARTNER.tenantId, {
    grant_type: 'refresh_token', client_id: CONFIDENTIAL_APP.clientId, client_secret: CONFIDENTIAL_APP.secret, refresh_token: rt,
  });
  const second = await refresh(rt1);
  assert.equal(second.status, 200, second.text);
  const rt2 = second.body.refresh_token as string;
  assert.equal(typeof rt2, 'string');
  assert.notEqual(rt2, rt1);
  assert.equal(second.body.scope, `${PC_AUDIENCE}/user_impersonation offline_access`);
  const principal = await s.verifier.verify(second.body.access_token as string);
  assert.equal(principal.kind === 'user' && principal.userId, MFA_USER.id);

  const replay = await refresh(rt1);
  assertOAuthError(replay, 400, 'invalid_grant', 70000);
  assert.ok(!replay.text.includes(rt1));

  const third = await refresh(rt2);
  assert.equal(third.status, 200, third.text);
});

void test('a refresh token presented by another client or in another tenant is refused', async () => {
  const first = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  const rt = first.body.refresh_token as string;
  const byOtherClient = await postToken(s.base, PARTNER.tenantId, { grant_type: 'refresh_token', client_id: PUBLIC_APP.clientId, refresh_token: rt });
  assertOAuthError(byOtherClient, 400, 'invalid_grant', 70000);

  const again = await postToken(s.base, PARTNER.tenantId, passwordParams(MFA_USER));
  const inOtherTenant = await postToken(s.base, OTHER_PARTNER.tenantId, {
    grant_type: 'refresh_token', client_id: OTHER_PARTNER_APP.clientId, client_secret: OTHER_PARTNER_APP.secret,
    refresh_token: again.body.refresh_token as string,
  });
  assertOAuthError(inOtherTenant, 400, 'invalid_grant', 70000);
});

void test('a garbage refresh token answers invalid_request', async () => {
  const r = await postToken(s.base, PARTNER.tenantId, { grant_type: 'refresh_token', client_id: PUBLIC_APP.clientId, refresh_token: 'not a token' });
  assertOAuthError(r, 400, 'invalid_request', 9002313);
});

void test('an expired refresh token answers invalid_grant AADSTS700082', async () => {
  const own = await startServer();
  try {
    const first = await postToken(own.base, PARTNER.tenantId, {
      grant_type: 'password', client_id: PUBLIC_APP.clientId, username: MFA_USER.upn, password: MFA_USER.password, scope: USER_SCOPE,
    });
    assert.equal(first.status, 200, first.text);
    const rt = first.body.refresh_token as string;
    own.clock.advanceSeconds(89 * 86_400);
    const stillValid = await postToken(own.base, PARTNER.tenantId, { grant_type: 'refresh_token', client_id: PUBLIC_APP.clientId, refresh_token: rt });
    assert.equal(stillValid.status, 200, 'a refresh token used within 90 days works and slides the window');
    const rt2 = stillValid.body.refresh_token as string;
    own.clock.advanceSeconds(90 * 86_400 + 1);
    const expired = await postToken(own.base, PARTNER.tenantId, { grant_type: 'refresh_token', client_id: PUBLIC_APP.clientId, refresh_token: rt2 });
    assertOAuthError(expired, 400, 'invalid_grant', 700082);
  } finally {
    await own.close();
  }
});

// ---- encapsulation ---------------------------------------------------------------------------------------

void test('the form parser stays inside the identity plugin: sibling routes keep JSON and do not parse forms', async () => {
  const json = await fetch(`${s.base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  assert.equal(json.status, 200);
  assert.deepEqual(await json.json(), { body: { a: 1 } });
  const form = await fetch(`${s.base}/echo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
  assert.equal(form.status, 415);
  await form.body?.cancel();
});
