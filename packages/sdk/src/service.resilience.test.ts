/**
 * Retries and tokens against the real service: its throttling (429 + Retry-After), responses lost after the
 * service acted (the retry with the same MS-RequestId is replayed, not applied twice), refused connections,
 * token renewal before expiry and after a 401, and refresh-token rotation (Secure Application Model).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { DEMO, DEMO_IDS, startTestService, type TestService } from '@partnerkit/server/testing';
import { PartnerClient, PartnerError, RefreshTokenCredential, type FetchLike } from './index.js';
import { agentCredential, clientFor, hexId, newPassword, recordingFetch } from './testing/service.js';

const F = DEMO_IDS.fabrikam;

/** The shared service's clock: the client's clock plus `serverAhead`. */
let skew = 0;
let serverAhead = 0;
const clientNow = (): number => Date.now() + skew;
let svc: TestService;
let closed = false;

before(async () => {
  svc = await startTestService({ now: () => clientNow() + serverAhead });
});
after(async () => {
  if (!closed) await svc.close();
});

test('throttled (429 + Retry-After): waits as asked and retries with the same MS-RequestId', async () => {
  const svc = await startTestService({ config: { throttle: { limit: 3, windowMs: 1000 } } });
  try {
    const f = recordingFetch();
    const partner = clientFor(svc, { fetch: f });
    const user = partner.customers.byId(F.customerId).users.byId(F.users.noah);
    const started = Date.now();
    for (let i = 0; i < 5; i++) assert.equal((await user.get()).id, F.users.noah);
    const calls = f.attempts.filter((a) => a.url.includes('/v1/'));
    const throttled = calls.filter((a) => a.status === 429);
    assert.ok(throttled.length >= 1, 'the service throttled');
    for (const t of throttled) {
      const i = calls.indexOf(t);
      const retry = calls[i + 1];
      assert.ok(retry);
      assert.equal(retry.requestId, t.requestId, 'the retry carries the same MS-RequestId');
      assert.ok(retry.at - t.at >= 900, `waited ${String(retry.at - t.at)} ms for Retry-After`);
    }
    assert.equal(new Set(calls.map((a) => a.requestId)).size, 5, 'five logical calls');
    assert.ok(Date.now() - started < 10_000);

    // When the wait asked for is over the cap, the 429 is the caller's: TooManyRequests with retryAfterMs.
    const impatient = clientFor(svc, { retry: { maxRetryDelayMs: 100 } });
    const u2 = impatient.customers.byId(F.customerId).users.byId(F.users.noah);
    let e: unknown;
    for (let i = 0; i < 5 && e === undefined; i++) e = await u2.get().then(() => undefined, (x: unknown) => x);
    assert.ok(PartnerError.is(e));
    assert.equal(e.status, 429);
    assert.equal(e.category, 'TooManyRequests');
    assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs >= 1000);
    assert.match(e.body ?? '', /^\{"statusCode":429,"message":"Rate limit is exceeded\. Try again in \d+ seconds?\."\}$/);
    assert.match(e.description, /Rate limit is exceeded/);
  } finally {
    await svc.close();
  }
});

test('a response lost after the service acted: the retry (same MS-RequestId) is replayed, the user created once', async () => {
  {
    // The first POST reaches the service and is committed; its answer is lost on the way back.
    let dropped = false;
    const f = recordingFetch({ dropResponse: (_n, url, init) => !dropped && init.method === 'POST' && url.includes('/users') && (dropped = true) });
    const partner = clientFor(svc, { fetch: f });
    const users = partner.customers.byId(F.customerId).users;
    const upn = `${hexId()}@fabrikamtraders.onmicrosoft.com`;
    const created = await users.create({ userPrincipalName: upn, displayName: 'Once Only', passwordProfile: { password: newPassword() } });
    const posts = f.attempts.filter((a) => a.method === 'POST' && a.url.includes('/users'));
    assert.deepEqual(posts.map((a) => a.status), [201, 201]);
    assert.equal(posts[0]?.requestId, posts[1]?.requestId);
    let sameUpn = 0;
    for await (const u of users.list({ pageSize: 500 })) if (u.userPrincipalName === upn) sameUpn++;
    assert.equal(sameUpn, 1);
    let records = 0;
    for await (const r of partner.auditRecords.list({ startDate: new Date(Date.now() - 86_400_000), filter: { field: 'CustomerId', value: F.customerId, operator: 'equals' } })) {
      if (r.operationType === 'create_customer_user' && r.customizedData.some((d) => d.value === created.id)) records++;
    }
    assert.equal(records, 1, 'one create on record');

    // A PATCH whose first attempt never leaves (connection reset) is simply sent again.
    const g = recordingFetch({ refuse: (n) => n === 0 });
    const p2 = clientFor(svc, { fetch: g });
    const patched = await p2.customers.byId(F.customerId).users.byId(created.id).patch({ usageLocation: 'NZ' });
    assert.equal(patched.usageLocation, 'NZ');
    const patches = g.attempts.filter((a) => a.method === 'PATCH');
    assert.deepEqual(patches.map((a) => a.status), ['failed', 200]);
    assert.equal(patches[0]?.requestId, patches[1]?.requestId);
  }
});

test('no service at all: NetworkError after the retries', async () => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const f = recordingFetch();
  const partner = new PartnerClient({
    credential: { getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) },
    baseUrl,
    fetch: f,
    retry: { maxRetries: 2, retryDelayMs: 5 },
  });
  const e = await partner.customers.byId(F.customerId).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e));
  assert.equal(e.status, 0);
  assert.equal(e.category, 'NetworkError');
  assert.equal(f.attempts.length, 3);
  assert.equal(new Set(f.attempts.map((a) => a.requestId)).size, 1);
});

test('tokens: renewed before expiry, and once more when the service refuses a cached one', async () => {
  const now = clientNow;
  try {
    const tokenRequests: string[] = [];
    const countingFetch: FetchLike = (url, init) => {
      if (url.endsWith('/oauth2/v2.0/token')) tokenRequests.push(url);
      return fetch(url, init);
    };
    const partner = new PartnerClient({
      credential: agentCredential(svc, { fetch: countingFetch, now }),
      baseUrl: svc.baseUrl,
      now,
      fetch: countingFetch,
    });
    const customer = partner.customers.byId(F.customerId);
    await customer.get();
    await customer.get();
    assert.equal(tokenRequests.length, 1, 'cached');
    skew += 57 * 60_000; // 3 minutes before the hour-long token expires
    await customer.get();
    assert.equal(tokenRequests.length, 2, 'renewed before expiry');
    skew += 10 * 60_000;
    await customer.get();
    assert.equal(tokenRequests.length, 2, 'the renewed token is still good');
    // The service's clock runs two hours ahead: it refuses the cached token (401); the client gets a new one.
    serverAhead = 2 * 3_600_000;
    assert.equal((await customer.get()).id, F.customerId);
    assert.equal(tokenRequests.length, 3, 'one new token after the 401');
  } finally {
    skew = 0;
    serverAhead = 0;
  }
});

test('RefreshTokenCredential (Secure Application Model): redeems and rotates refresh tokens with the service', async () => {
  {
    const res = await fetch(`${svc.baseUrl}/${DEMO.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: DEMO.username, password: DEMO.password,
        scope: 'https://api.partnercenter.microsoft.com/user_impersonation offline_access',
      }).toString(),
    });
    const { refresh_token: initial } = (await res.json()) as { refresh_token: string };
    const rotated: string[] = [];
    const credential = new RefreshTokenCredential({
      authority: svc.baseUrl, tenantId: DEMO.tenantId, clientId: DEMO.clientId, clientSecret: DEMO.clientSecret, refreshToken: initial,
      onRefreshTokenRotated: (rt) => {
        rotated.push(rt);
      },
    });
    const partner = new PartnerClient({ credential, baseUrl: svc.baseUrl });
    const user = await partner.customers.byId(F.customerId).users.byId(F.users.grace).get();
    assert.equal(user.displayName, 'Grace Mensah');
    await credential.getToken('https://api.partnercenter.microsoft.com/.default', { forceRefresh: true });
    assert.equal(rotated.length, 2);
    assert.notEqual(rotated[0], initial);
    assert.notEqual(rotated[1], rotated[0]);
    // the used refresh token is spent
    const stale = new RefreshTokenCredential({ authority: svc.baseUrl, tenantId: DEMO.tenantId, clientId: DEMO.clientId, clientSecret: DEMO.clientSecret, refreshToken: initial });
    await assert.rejects(stale.getToken('https://api.partnercenter.microsoft.com/.default'), { name: 'AuthenticationError' });
  }
});

test('tokens: a cached token the service refuses (it restarted with a new key) is replaced once (last: it stops the shared service)', async () => {
  // The client always talks to "the service at svc.baseUrl"; a rewriting fetch sends that to whichever
  // instance is current, so the restart needs no port reuse.
  const original = svc.baseUrl;
  let current = svc;
  let restarted: TestService | undefined;
  const tokenRequests: string[] = [];
  const routed: FetchLike = (url, init) => {
    if (url.endsWith('/token')) tokenRequests.push(url);
    return fetch(url.replace(original, current.baseUrl), init);
  };
  try {
    const partner = new PartnerClient({ credential: agentCredential(svc, { fetch: routed }), baseUrl: original, fetch: routed });
    await partner.customers.byId(F.customerId).get();
    assert.equal(tokenRequests.length, 1);
    await svc.close();
    closed = true;
    // a new instance: new data directory, new signing key; the cached token is worthless there
    restarted = await startTestService();
    current = restarted;
    const c = await partner.customers.byId(F.customerId).get();
    assert.equal(c.id, F.customerId);
    assert.equal(tokenRequests.length, 2, 'one new token after the 401');
  } finally {
    await restarted?.close();
  }
});
