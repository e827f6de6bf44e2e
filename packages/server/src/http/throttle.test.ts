/**
 * Throttling (contract section 1): off by default; `--throttle N/WINDOW` limits each (partner, customer) pair;
 * over the limit → 429 with Retry-After in seconds and the gateway body, not an ApiFault. The counters live in
 * the store, so instances on one database share them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DEMO, DEMO_IDS, openTestStore, startTestService, type CallResult, type TestService } from '../testing/harness.js';
import { Throttle } from './throttle.js';

const F = DEMO_IDS.fabrikam;
const C = DEMO_IDS.contoso;
const fabrikamUsers = `/v1/customers/${F.customerId}/users`;
const contosoUsers = `/v1/customers/${C.customerId}/users`;

/** A 429 exactly as the gateway sends it, with Retry-After equal to the seconds in the message. */
function assertThrottled(r: CallResult, seconds?: number): number {
  assert.equal(r.status, 429, r.text);
  const retryAfter = r.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^[1-9]\d*$/, 'Retry-After is whole seconds');
  const n = Number(retryAfter);
  if (seconds !== undefined) assert.equal(n, seconds);
  assert.equal(r.text, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in ${String(n)} seconds."}`);
  assert.deepEqual(JSON.parse(r.text), { statusCode: 429, message: `Rate limit is exceeded. Try again in ${String(n)} seconds.` });
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.match(r.headers.get('ms-requestid') ?? '', /\S/);
  assert.match(r.headers.get('ms-correlationid') ?? '', /\S/);
  assert.ok(r.headers.get('ms-cv'));
  assert.ok(r.headers.get('ms-serverid'));
  return n;
}

describe('with --throttle 5/60s', () => {
  let clock = Date.now();
  let s: TestService;
  let token: string;

  before(async () => {
    s = await startTestService({ config: { throttle: { limit: 5, windowMs: 60_000 } }, now: () => clock });
    token = await s.userToken();
  });
  after(async () => {
    await s.close();
  });

  /** Starts each test on a fresh window. */
  const nextWindow = (): void => {
    clock += 61_000;
  };

  test('the 6th request for the same (partner, customer) answers 429 with Retry-After and the gateway body', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) {
      const r = await s.call('GET', fabrikamUsers, { token });
      assert.equal(r.status, 200, `request ${String(i + 1)}: ${r.text}`);
    }
    const requestId = randomUUID();
    const sixth = await s.call('GET', fabrikamUsers, { token, headers: { 'MS-RequestId': requestId } });
    assertThrottled(sixth, 60);
    assert.equal(sixth.headers.get('ms-requestid'), requestId);

    // Retry-After counts down with the window
    clock += 20_500;
    assertThrottled(await s.call('GET', `${fabrikamUsers}/${F.users.ordinary}`, { token }), 40);
    clock += 39_000;
    assertThrottled(await s.call('GET', fabrikamUsers, { token }), 1);
  });

  test('every route of the customer counts, whatever the method or the casing of its id', async () => {
    nextWindow();
    const calls: (() => Promise<CallResult>)[] = [
      () => s.call('GET', fabrikamUsers, { token }),
      () => s.call('GET', `${fabrikamUsers}/${F.users.ordinary}`, { token }),
      () => s.call('GET', `/v1/customers/${F.customerId.toUpperCase()}/users`, { token }),
      () => s.call('PATCH', `${fabrikamUsers}/${F.users.tomas}`, { token, body: { usageLocation: 'ES' } }),
      () => s.call('GET', `${fabrikamUsers}/${F.users.ordinary}/directoryroles`, { token }),
    ];
    for (const c of calls) assert.ok((await c()).status < 400);
    assertThrottled(await s.call('GET', `${fabrikamUsers}/${F.users.aiko}`, { token }));
  });

  test('a throttled change is not applied', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) assert.equal((await s.call('GET', fabrikamUsers, { token })).status, 200);
    const r = await s.call('PATCH', `${fabrikamUsers}/${F.users.grace}`, { token, body: { displayName: 'Throttled Grace' } });
    assertThrottled(r);
    nextWindow();
    const now = await s.call<{ displayName: string }>('GET', `${fabrikamUsers}/${F.users.grace}`, { token });
    assert.equal(now.status, 200);
    assert.notEqual(now.json.displayName, 'Throttled Grace');
  });

  test('another customer of the same partner is not throttled', async () => {
    nextWindow();
    for (let i = 0; i < 6; i++) await s.call('GET', fabrikamUsers, { token });
    assertThrottled(await s.call('GET', fabrikamUsers, { token }));
    for (let i = 0; i < 5; i++) {
      const r = await s.call('GET', contosoUsers, { token });
      assert.equal(r.status, 200, r.text);
    }
    assertThrottled(await s.call('GET', contosoUsers, { token }));
  });

  test('the limit belongs to the partner, not to one of its users', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) assert.equal((await s.call('GET', fabrikamUsers, { token })).status, 200);
    const reader = await s.userToken({ username: DEMO.readerUsername });
    assertThrottled(await s.call('GET', fabrikamUsers, { token: reader }));
  });

  test('after the window, requests pass again', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) await s.call('GET', fabrikamUsers, { token });
    assertThrottled(await s.call('GET', fabrikamUsers, { token }));
    clock += 60_000;
    for (let i = 0; i < 5; i++) {
      const r = await s.call('GET', fabrikamUsers, { token });
      assert.equal(r.status, 200, `after the window, request ${String(i + 1)}: ${r.text}`);
    }
    assertThrottled(await s.call('GET', fabrikamUsers, { token }), 60);
  });

  test('the token endpoint and /healthz are not throttled', async () => {
    nextWindow();
    for (let i = 0; i < 6; i++) await s.call('GET', fabrikamUsers, { token });
    for (let i = 0; i < 8; i++) assert.equal((await s.call('GET', '/healthz')).status, 200);
    for (let i = 0; i < 3; i++) assert.ok(await s.userToken());
  });
});

test('throttling is off by default', async () => {
  const s = await startTestService();
  try {
    const token = await s.userToken();
    const answers = await Promise.all(Array.from({ length: 40 }, () => s.call('GET', fabrikamUsers, { token })));
    assert.deepEqual(answers.map((a) => a.status), Array<number>(40).fill(200));
  } finally {
    await s.close();
  }
});

describe('Throttle', () => {
  const throttled = (seconds: number) => (err: unknown): boolean => err instanceof Error && 'retryAfterSeconds' in err && err.retryAfterSeconds === seconds;

  test('counts per (partner, customer) in fixed windows kept in the store, and rounds Retry-After up', async () => {
    const store = await openTestStore();
    try {
      let now = 1_000_000;
      const t = new Throttle({ limit: 2, windowMs: 10_000 }, store, () => now);
      await t.take('p', 'c');
      await t.take('p', 'c');
      await t.take('p', 'd');
      await t.take('q', 'c');
      now += 2_300;
      await assert.rejects(t.take('p', 'c'), throttled(8));
      now += 7_699;
      await assert.rejects(t.take('p', 'c'), throttled(1));
      now += 1;
      await t.take('p', 'c');

      // a second instance on the same store shares the counters
      const other = new Throttle({ limit: 2, windowMs: 10_000 }, store, () => now);
      await other.take('p', 'c');
      await assert.rejects(t.take('p', 'c'), throttled(10));
      await assert.rejects(other.take('p', 'c'), throttled(10));

      // ended windows are purged by the sweep; live ones are kept
      now += 5_000;
      await t.take('p', 'e');
      await t.take('p', 'e');
      now += 6_000;
      await t.purgeExpired();
      await assert.rejects(t.take('p', 'e'), throttled(4));
      await t.take('q', 'c');
    } finally {
      await store.close();
    }
  });

  test('concurrent requests are each counted once: exactly the limit passes', async () => {
    const store = await openTestStore();
    try {
      const t = new Throttle({ limit: 25, windowMs: 60_000 }, store);
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => t.take('p', 'c')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 25);
    } finally {
      await store.close();
    }
  });
});
