/** The pipeline's policies, one by one, against a scripted fetch: headers, retry, bearer, errors, log. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartnerClient, PartnerError, SDK_NAME, SDK_VERSION, parseRetryAfter, type Logger, type PartnerClientOptions } from './index.js';
import { CID, FakeClock, StaticCredential, UID, fakeFetch, json, networkFailure, text, userJson, type FakeFetch, type Responder } from './testing/fake.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function client(fetch: FakeFetch, extra: Partial<PartnerClientOptions> = {}): { partner: PartnerClient; credential: StaticCredential } {
  const credential = new StaticCredential();
  const partner = new PartnerClient({ credential, fetch, retry: { retryDelayMs: 5 }, ...extra });
  return { partner, credential };
}

const user = (p: PartnerClient) => p.customers.byId(CID).users.byId(UID);
const ok: Responder = () => json(200, userJson());

test('headers: Partner Center headers on every call, a new MS-RequestId per call, one MS-CorrelationId per client', async () => {
  const f = fakeFetch(ok);
  const { partner } = client(f, { applicationName: 'Contoso Provisioning', locale: 'fr-FR' });
  await user(partner).get();
  await user(partner).patch({ usageLocation: 'US' });
  const [a, b] = f.calls;
  assert.ok(a && b);
  assert.equal(a.method, 'GET');
  assert.equal(a.url, `https://api.partnercenter.microsoft.com/v1/customers/${CID}/users/${UID}`);
  assert.equal(a.headers.accept, 'application/json');
  assert.equal(a.headers['content-type'], undefined);
  assert.match(a.headers['ms-requestid'] ?? '', UUID);
  assert.match(a.headers['ms-correlationid'] ?? '', UUID);
  assert.equal(a.headers['ms-correlationid'], partner.correlationId);
  assert.equal(a.headers['x-locale'], 'fr-FR');
  assert.equal(a.headers['ms-partnercenter-client'], SDK_NAME);
  assert.equal(a.headers['ms-sdkversion'], SDK_VERSION);
  assert.equal(a.headers['ms-partnercenter-application'], 'Contoso Provisioning');
  assert.equal(a.headers.authorization, 'Bearer token-1');
  assert.equal(b.headers['content-type'], 'application/json');
  assert.notEqual(a.headers['ms-requestid'], b.headers['ms-requestid']);
  assert.equal(a.headers['ms-correlationid'], b.headers['ms-correlationid']);
});

test('headers: defaults (en-US, no application header), caller ids per call, withCorrelationId shares the token cache', async () => {
  const f = fakeFetch(ok);
  const { partner, credential } = client(f, { correlationId: 'job-42' });
  await user(partner).get({ requestId: 'my-request-1', correlationId: 'other' });
  const scoped = partner.withCorrelationId('job-43');
  await scoped.customers.byId(CID).users.byId(UID).get();
  assert.equal(f.calls[0]?.headers['x-locale'], 'en-US');
  assert.equal(f.calls[0].headers['ms-partnercenter-application'], undefined);
  assert.equal(f.calls[0].headers['ms-requestid'], 'my-request-1');
  assert.equal(f.calls[0].headers['ms-correlationid'], 'other');
  assert.equal(f.calls[1]?.headers['ms-correlationid'], 'job-43');
  assert.equal(scoped.correlationId, 'job-43');
  assert.equal(partner.correlationId, 'job-42');
  assert.equal(credential.calls.length, 1, 'one token for both clients');
  assert.deepEqual(credential.calls[0]?.scopes, ['https://api.partnercenter.microsoft.com/.default']);
});

test('bearer: no token over plain http except to loopback hosts', () => {
  const credential = new StaticCredential();
  for (const baseUrl of ['http://api.partnercenter.microsoft.com', 'http://10.0.0.5:8080', 'http://partnerkit.internal', 'ftp://127.0.0.1']) {
    assert.throws(() => new PartnerClient({ credential, baseUrl }), TypeError, baseUrl);
  }
  for (const baseUrl of ['http://localhost:8080', 'http://127.0.0.1:1', 'http://127.1.2.3', 'http://[::1]:8080', 'http://pk.localhost', 'https://partnerkit.example']) {
    assert.doesNotThrow(() => new PartnerClient({ credential, baseUrl }), baseUrl);
  }
  assert.throws(() => new PartnerClient({ credential: {} as unknown as StaticCredential }), TypeError);
});

test('bearer: a request built for a plain-http host is refused before any token is asked for', async () => {
  const f = fakeFetch(ok);
  const { partner, credential } = client(f);
  await assert.rejects(partner.send({ method: 'GET', url: 'http://api.partnercenter.microsoft.com/v1/customers', headers: {} }), /refusing to send a bearer token over http/);
  assert.equal(f.calls.length, 0);
  assert.equal(credential.calls.length, 0);
});

test('bearer: tokens are cached, renewed before expiry, and renewed once after a 401 to a cached token', async () => {
  const clock = new FakeClock();
  const credential = new StaticCredential(clock.now);
  let reject = false;
  const f = fakeFetch((call) => (reject && call.headers.authorization === 'Bearer token-1' ? json(401, { code: 400, description: 'Access denied', data: [], source: 'PartnerFD' }) : json(200, userJson())));
  const partner = new PartnerClient({ credential, fetch: f, now: clock.now });
  await user(partner).get();
  await user(partner).get();
  assert.equal(credential.calls.length, 1);
  reject = true; // e.g. the service restarted with a new signing key
  await user(partner).get();
  assert.equal(credential.calls.length, 2);
  assert.equal(credential.calls[1]?.options?.forceRefresh, true);
  assert.deepEqual(f.calls.map((c) => c.headers.authorization), ['Bearer token-1', 'Bearer token-1', 'Bearer token-1', 'Bearer token-2']);
  clock.advance(56 * 60_000); // within 5 minutes of expiry
  await user(partner).get();
  assert.equal(credential.calls.length, 3);
  assert.equal(f.calls.at(-1)?.headers.authorization, 'Bearer token-3');
});

test('bearer: a 401 to a fresh token is not retried', async () => {
  const f = fakeFetch(() => json(401, { code: 900421, description: 'MFA required', data: [], source: 'PartnerFD' }));
  const { partner, credential } = client(f);
  const e = await user(partner).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e));
  assert.equal(e.category, 'Unauthorized');
  assert.equal(e.code, 900421);
  assert.equal(f.calls.length, 1);
  assert.equal(credential.calls.length, 1);
});

test('retry: 5xx, 408 and network failures are retried with the same MS-RequestId, with exponential backoff', async () => {
  const f = fakeFetch(
    () => json(503, { code: 800005, description: 'busy', data: [], source: 'PartnerFD' }),
    () => networkFailure(),
    () => json(408, {}),
    () => json(500, { code: 800003, description: 'x', data: [], source: 'PartnerFD' }),
    ok,
  );
  const { partner } = client(f, { retry: { maxRetries: 4, retryDelayMs: 4 } });
  const started = Date.now();
  const u = await user(partner).patch({ usageLocation: 'US' });
  const elapsed = Date.now() - started;
  assert.equal(u.usageLocation, 'US');
  assert.equal(f.calls.length, 5);
  assert.equal(new Set(f.calls.map((c) => c.headers['ms-requestid'])).size, 1, 'one MS-RequestId for all attempts');
  assert.equal(new Set(f.calls.map((c) => c.body)).size, 1, 'the same body on every attempt');
  // 4 × (1 + 3 + 7 + 15) ms of backoff
  assert.ok(elapsed >= 4 * 26 - 5, `waited ${String(elapsed)} ms`);
});

test('retry: never 400, 401, 403, 404, 409 (or other 4xx), nor 501', async () => {
  for (const status of [400, 401, 403, 404, 405, 409, 412, 417, 501]) {
    const f = fakeFetch(() => json(status, { code: 1, description: 'no', data: [], source: 'PartnerFD' }));
    const { partner } = client(f);
    const e = await partner.customers.byId(CID).get().catch((x: unknown) => x);
    assert.ok(PartnerError.is(e) && e.status === status, String(status));
    // a 401 to a cached token gets one new token: here the token is fresh, so one attempt
    assert.equal(f.calls.length, 1, `status ${String(status)} was retried`);
  }
});

test('retry: gives up after maxRetries and reports the last answer', async () => {
  const f = fakeFetch(() => json(502, { code: 1, description: 'bad gateway', data: [], source: 'PartnerFD' }));
  const { partner } = client(f, { retry: { maxRetries: 2, retryDelayMs: 1 } });
  const e = await user(partner).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e));
  assert.equal(e.category, 'ServerError');
  assert.equal(f.calls.length, 3);
  const none = fakeFetch(() => networkFailure());
  const e2 = await client(none, { retry: { maxRetries: 1, retryDelayMs: 1 } }).partner.customers.byId(CID).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e2));
  assert.equal(e2.status, 0);
  assert.equal(e2.category, 'NetworkError');
  assert.match(e2.message, /ECONNREFUSED/);
  assert.equal(none.calls.length, 2);
});

test('retry: 429 honours Retry-After in each form', async () => {
  const forms: Record<string, string>[] = [
    { 'retry-after': '0' },
    { 'retry-after': '0.05' },
    { 'retry-after-ms': '30' },
    { 'x-ms-retry-after-ms': '30' },
    { 'retry-after': new Date(Date.now() - 1000).toUTCString() },
  ];
  for (const headers of forms) {
    const f = fakeFetch(() => json(429, { statusCode: 429, message: 'Rate limit is exceeded. Try again in 0 seconds.' }, headers), ok);
    const { partner } = client(f, { retry: { retryDelayMs: 10_000 } });
    const started = Date.now();
    await user(partner).get();
    assert.equal(f.calls.length, 2, JSON.stringify(headers));
    assert.equal(f.calls[0]?.headers['ms-requestid'], f.calls[1]?.headers['ms-requestid']);
    assert.ok(Date.now() - started < 1000, 'waited as asked, not the backoff');
  }
  // no header: the gateway's message
  const f = fakeFetch(() => json(429, { statusCode: 429, message: 'Rate limit is exceeded. Try again in 0 seconds.' }), ok);
  await client(f, { retry: { retryDelayMs: 10_000 } }).partner.customers.byId(CID).get();
  assert.equal(f.calls.length, 2);
});

test('parseRetryAfter: seconds, HTTP dates, milliseconds headers, garbage', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const h = (o: Record<string, string>): Headers => new Headers(o);
  assert.equal(parseRetryAfter(h({ 'retry-after': '57' }), now), 57_000);
  assert.equal(parseRetryAfter(h({ 'retry-after': ' 1.5 ' }), now), 1500);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'Thu, 01 Jan 2026 12:00:30 GMT' }), now), 30_000);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'Thu, 01 Jan 2026 11:00:00 GMT' }), now), 0);
  assert.equal(parseRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '9' }), now), 250);
  assert.equal(parseRetryAfter(h({ 'x-ms-retry-after-ms': '120' }), now), 120);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'soon' }), now), undefined);
  assert.equal(parseRetryAfter(h({ 'retry-after': '-5' }), now), undefined);
  assert.equal(parseRetryAfter(h({}), now), undefined);
});

test('retry: a Retry-After beyond the cap is not waited for; the 429 is surfaced with retryAfterMs', async () => {
  const f = fakeFetch(() => json(429, { statusCode: 429, message: 'Rate limit is exceeded. Try again in 57 seconds.' }, { 'retry-after': '57' }), ok);
  const { partner } = client(f, { retry: { maxRetryDelayMs: 10_000 } });
  const started = Date.now();
  const e = await user(partner).get().catch((x: unknown) => x);
  assert.ok(Date.now() - started < 1000);
  assert.ok(PartnerError.is(e));
  assert.equal(e.category, 'TooManyRequests');
  assert.equal(e.status, 429);
  assert.equal(e.retryAfterMs, 57_000);
  assert.equal(e.description, 'Rate limit is exceeded. Try again in 57 seconds.');
  assert.equal(e.body, '{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}');
  assert.equal(e.code, undefined);
  assert.equal(f.calls.length, 1);
});

test('retry: waits end when the AbortSignal aborts; an aborted call sends nothing', async () => {
  const f = fakeFetch(() => json(503, {}, { 'retry-after': '30' }));
  const { partner } = client(f, { retry: { maxRetryDelayMs: 60_000 } });
  const controller = new AbortController();
  const started = Date.now();
  const pending = user(partner).get({ abortSignal: controller.signal });
  setTimeout(() => controller.abort(), 30);
  await assert.rejects(pending, (e: unknown) => e instanceof Error && e.name === 'AbortError');
  assert.ok(Date.now() - started < 2000);
  assert.equal(f.calls.length, 1);
  const before = f.calls.length;
  await assert.rejects(user(partner).get({ abortSignal: AbortSignal.abort() }), (e: unknown) => e instanceof Error && e.name === 'AbortError');
  assert.equal(f.calls.length, before);
});

test('retry: an attempt with no answer within timeoutMs is abandoned and retried, then reported as Timeout', async () => {
  const hang: Responder = (call) =>
    new Promise((_resolve, reject) => {
      call.signal?.addEventListener('abort', () => reject(call.signal?.reason as Error));
    });
  const f = fakeFetch(hang, ok);
  const { partner } = client(f, { timeoutMs: 20 });
  assert.equal((await user(partner).get()).id, UID);
  assert.equal(f.calls.length, 2);
  const g = fakeFetch(hang);
  const e = await client(g, { timeoutMs: 20, retry: { maxRetries: 1, retryDelayMs: 1 } }).partner.customers.byId(CID).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e));
  assert.equal(e.category, 'Timeout');
  assert.equal(e.status, 0);
  assert.equal(g.calls.length, 2);
});

test('retry options are validated', () => {
  const credential = new StaticCredential();
  assert.throws(() => new PartnerClient({ credential, retry: { maxRetries: -1 } }), RangeError);
  assert.throws(() => new PartnerClient({ credential, retry: { maxRetries: 1.5 } }), RangeError);
  assert.throws(() => new PartnerClient({ credential, retry: { retryDelayMs: Number.NaN } }), RangeError);
  assert.throws(() => new PartnerClient({ credential, timeoutMs: 0 }), RangeError);
});

test('log: one line per attempt, retries warned, never a token, a secret or a password', async () => {
  const lines: string[] = [];
  const logger: Logger = { debug: (m) => lines.push(`debug ${m}`), info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
  const f = fakeFetch(() => json(503, {}), ok);
  const { partner } = client(f, { logger });
  await user(partner).resetPassword({ password: 'Sup3r-Secret!Pw', forceChangePassword: true });
  await partner.send(partner.buildRequest('GET', '/customers', { query: { size: 5, code: 'authcode-QQZX', client_secret: 's3cr3t' } }));
  const all = lines.join('\n');
  assert.match(all, /info PATCH https:\/\/api\.partnercenter\.microsoft\.com\/v1\/customers\/.+ → 503/);
  assert.match(all, /warn PATCH .* answered 503; retry 1 of 3/);
  assert.match(all, /debug PATCH .* → 200 in \d+ ms MS-RequestId=[0-9a-f-]{36} MS-CorrelationId=/);
  assert.match(all, /size=5/);
  // (The values are chosen so that no random request or correlation id can contain them.)
  assert.doesNotMatch(all, /Sup3r-Secret|s3cr3t|authcode-QQZX|token-1/);
});

test('additional policies run per call or per attempt', async () => {
  const seen: string[] = [];
  const f = fakeFetch(() => json(500, {}), ok);
  const { partner } = client(f, {
    additionalPolicies: [
      { position: 'perCall', policy: { name: 'call', sendRequest: (r, next) => (seen.push('call'), next(r)) } },
      {
        position: 'perRetry',
        policy: {
          name: 'attempt',
          sendRequest: (r, next) => {
            seen.push(`attempt ${r.headers.Authorization ?? '-'}`);
            return next({ ...r, headers: { ...r.headers, 'x-extra': '1' } });
          },
        },
      },
    ],
  });
  await user(partner).get();
  assert.deepEqual(seen, ['call', 'attempt Bearer token-1', 'attempt Bearer token-1']);
  assert.equal(f.calls[1]?.headers['x-extra'], '1');
});

test('a 2xx body that is not JSON is a ResponseParsing error', async () => {
  const f = fakeFetch(() => text(200, '<html>login</html>'));
  const { partner } = client(f);
  const e = await user(partner).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e));
  assert.equal(e.category, 'ResponseParsing');
  assert.equal(e.body, '<html>login</html>');
  const g = fakeFetch(() => json(200, [1, 2]));
  const e2 = await client(g).partner.customers.byId(CID).get().catch((x: unknown) => x);
  assert.ok(PartnerError.is(e2) && e2.category === 'ResponseParsing');
});

test('onResponse sees the final answer; no Authorization in its request', async () => {
  const f = fakeFetch(ok);
  const { partner } = client(f);
  let seen: { status: number; auth: string | undefined; server: string | null } | undefined;
  await user(partner).get({
    onResponse: (r) => {
      seen = { status: r.status, auth: r.request.headers.Authorization, server: r.headers.get('content-type') };
    },
  });
  assert.deepEqual(seen, { status: 200, auth: 'REDACTED', server: 'application/json; charset=utf-8' });
});
