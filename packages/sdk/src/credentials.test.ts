/** The built-in credentials against a scripted token endpoint: grants, caching, renewal, rotation, errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import {
  AuthenticationError,
  ClientSecretCredential,
  RefreshTokenCredential,
  UsernamePasswordCredential,
  type TokenCredential,
} from './index.js';
import { FakeClock, fakeFetch, json, text, type RecordedCall } from './testing/fake.js';

const TENANT = '75c9ffb4-b27f-4abf-9ea9-6dc1d84b2e7c';
const CLIENT = '6392a47d-c9e1-479e-9d54-02c4b5347082';
const SCOPE = 'https://api.partnercenter.microsoft.com/.default';

let issued = 0;
const tokenAnswer = (extra: Record<string, unknown> = {}) => (): Response => {
  issued++;
  return json(200, { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: `at-${String(issued)}`, ...extra });
};
const form = (c: RecordedCall | undefined): Record<string, string> => Object.fromEntries(new URLSearchParams(c?.body ?? ''));

test('UsernamePasswordCredential: the password grant at {authority}/{tenant}/oauth2/v2.0/token', async () => {
  const f = fakeFetch(tokenAnswer());
  const c = new UsernamePasswordCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs', username: 'agent@p.example', password: 'pw', fetch: f });
  const t = await c.getToken(SCOPE);
  assert.match(t.token, /^at-\d+$/);
  assert.equal(f.calls[0]?.url, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`);
  assert.equal(f.calls[0].method, 'POST');
  assert.equal(f.calls[0].headers['content-type'], 'application/x-www-form-urlencoded');
  assert.deepEqual(form(f.calls[0]), { grant_type: 'password', client_id: CLIENT, client_secret: 'cs', username: 'agent@p.example', password: 'pw', scope: SCOPE });
  const pub = fakeFetch(tokenAnswer());
  await new UsernamePasswordCredential({ authority: 'http://127.0.0.1:9/', tenantId: TENANT, clientId: CLIENT, username: 'u', password: 'p', fetch: pub }).getToken([SCOPE]);
  assert.equal(pub.calls[0]?.url, `http://127.0.0.1:9/${TENANT}/oauth2/v2.0/token`);
  assert.equal(form(pub.calls[0]).client_secret, undefined, 'a public client sends no secret');
});

test('tokens are cached per scope set, renewed once by concurrent callers, renewed before expiry', async () => {
  const clock = new FakeClock();
  const f = fakeFetch(tokenAnswer());
  const c = new ClientSecretCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs', fetch: f, now: clock.now });
  const [a, b] = await Promise.all([c.getToken(SCOPE), c.getToken([SCOPE])]);
  assert.equal(a.token, b.token);
  assert.equal(a.expiresOnTimestamp, clock.t + 3_600_000);
  assert.equal(f.calls.length, 1);
  assert.deepEqual(form(f.calls[0]), { grant_type: 'client_credentials', client_id: CLIENT, client_secret: 'cs', scope: SCOPE });
  clock.advance(50 * 60_000);
  assert.equal((await c.getToken(SCOPE)).token, a.token, 'still well within its lifetime');
  clock.advance(6 * 60_000); // 4 minutes left: renew
  const renewed = await c.getToken(SCOPE);
  assert.notEqual(renewed.token, a.token);
  assert.equal(f.calls.length, 2);
  await c.getToken('https://graph.microsoft.com/.default');
  assert.equal(f.calls.length, 3, 'another scope set, another token');
  await c.getToken(SCOPE, { forceRefresh: true });
  assert.equal(f.calls.length, 4);
});

test('a failed renewal keeps the still-valid token; an expired one is not used', async () => {
  const clock = new FakeClock();
  const f = fakeFetch(tokenAnswer(), () => json(500, { error: 'server_error', error_description: 'AADSTS50000: boom', error_codes: [50000] }));
  const c = new ClientSecretCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs', fetch: f, now: clock.now });
  const first = await c.getToken(SCOPE);
  clock.advance(57 * 60_000);
  assert.equal((await c.getToken(SCOPE)).token, first.token);
  clock.advance(3 * 60_000);
  await assert.rejects(c.getToken(SCOPE), (e: unknown) => AuthenticationError.is(e) && e.status === 500 && e.errorCodes[0] === 50000);
});

test('RefreshTokenCredential: redeems, keeps the rotated refresh token, reports it, one redemption at a time', async () => {
  const seen: string[] = [];
  let n = 0;
  const f = fakeFetch(async (call) => {
    await new Promise((r) => setTimeout(r, 5));
    n++;
    return json(200, { token_type: 'Bearer', expires_in: 3600, access_token: `at-${String(n)}`, refresh_token: `rt-${String(n)}`, scope: form(call).scope });
  });
  const c = new RefreshTokenCredential({
    tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs', refreshToken: 'rt-0', fetch: f,
    onRefreshTokenRotated: (rt) => {
      seen.push(rt);
    },
  });
  await Promise.all([c.getToken(SCOPE), c.getToken('https://graph.microsoft.com/.default')]);
  await c.getToken(SCOPE, { forceRefresh: true });
  assert.deepEqual(f.calls.map((x) => form(x).refresh_token), ['rt-0', 'rt-1', 'rt-2']);
  assert.deepEqual(seen, ['rt-1', 'rt-2', 'rt-3']);
  assert.equal(form(f.calls[0]).grant_type, 'refresh_token');
  assert.equal(form(f.calls[0]).scope, `${SCOPE} offline_access`);
});

test('AuthenticationError: Entra error bodies become clear, actionable errors', async () => {
  const body = {
    error: 'invalid_grant',
    error_description: 'AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z',
    error_codes: [700082], trace_id: 'trace-1', correlation_id: 'corr-1',
  };
  const c = new RefreshTokenCredential({ tenantId: TENANT, clientId: CLIENT, refreshToken: 'rt-secret-value', fetch: fakeFetch(() => json(400, body)) });
  const e = await c.getToken(SCOPE).catch((x: unknown) => x);
  assert.ok(AuthenticationError.is(e));
  assert.equal(e.status, 400);
  assert.equal(e.error, 'invalid_grant');
  assert.deepEqual(e.errorCodes, [700082]);
  assert.equal(e.correlationId, 'corr-1');
  assert.equal(e.traceId, 'trace-1');
  assert.equal(e.errorDescription, 'AADSTS700082: The refresh token has expired due to inactivity.');
  assert.match(e.message, /sign the partner user in again/);
  assert.doesNotMatch(inspect(e), /rt-secret-value/);

  const html = new UsernamePasswordCredential({ tenantId: TENANT, clientId: CLIENT, username: 'u', password: 'p', fetch: fakeFetch(() => text(502, 'Bad Gateway')) });
  const e2 = await html.getToken(SCOPE).catch((x: unknown) => x);
  assert.ok(AuthenticationError.is(e2) && e2.status === 502 && /answered 502/.test(e2.message));

  const down = new UsernamePasswordCredential({ tenantId: TENANT, clientId: CLIENT, username: 'u', password: 'p', fetch: () => Promise.reject(new TypeError('fetch failed')) });
  const e3 = await down.getToken(SCOPE).catch((x: unknown) => x);
  assert.ok(AuthenticationError.is(e3) && e3.status === 0 && /could not be reached/.test(e3.message));
});

test('credentials keep secrets out of sight and refuse plain http except to loopback', () => {
  const creds: TokenCredential[] = [
    new UsernamePasswordCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs-SECRET', username: 'u@p.example', password: 'pw-SECRET' }),
    new RefreshTokenCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs-SECRET', refreshToken: 'rt-SECRET' }),
    new ClientSecretCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'cs-SECRET' }),
  ];
  for (const c of creds) {
    assert.doesNotMatch(`${inspect(c, { depth: 5, showHidden: true })} ${JSON.stringify(c)}`, /SECRET/);
  }
  assert.throws(() => new ClientSecretCredential({ authority: 'http://login.example', tenantId: TENANT, clientId: CLIENT, clientSecret: 'x' }), TypeError);
  assert.throws(() => new ClientSecretCredential({ tenantId: '', clientId: CLIENT, clientSecret: 'x' }), TypeError);
  assert.throws(() => new ClientSecretCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: '' }), TypeError);
});
