/**
 * Smart lockout of the token endpoint (identity/lockout.ts), over real HTTP on the test engine: requests come
 * from different loopback source addresses (127.0.0.1, 127.0.0.2, …: a socket bound with `localAddress`), the
 * clock is injected, delays are off (`delayStepMs: 0`). No timing is measured anywhere.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartnerCenterAudience } from '@partnerkit/contract';
import { DEMO, startTestService, TEST_ENGINE, type TestService } from '../testing/harness.js';
import { TokenIssuer, type IssuerStore } from './issuer.js';
import { DEFAULT_LOCKOUT_POLICY, SignInLockout, sourceOf, type LockoutPolicy } from './lockout.js';
import { DUMMY_HASH } from './passwords.js';

const USER_SCOPE = `${PartnerCenterAudience}/user_impersonation`;
const APP_SCOPE = `${PartnerCenterAudience}/.default`;

interface TokenAnswer {
  status: number;
  code: number | undefined;
  error: string | undefined;
}

/** POSTs a token request from the loopback address `from`. */
function token(base: string, form: Record<string, string>, from = '127.0.0.1'): Promise<TokenAnswer> {
  const body = new URLSearchParams(form).toString();
  const url = new URL(`${base}/${DEMO.tenantId}/oauth2/v2.0/token`);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: from, agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const json = JSON.parse(text) as { error?: string; error_codes?: number[] };
        resolve({ status: res.statusCode ?? 0, code: json.error_codes?.[0], error: json.error });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const password = (username: string, pw: string): Record<string, string> => ({
  grant_type: 'password', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username, password: pw, scope: USER_SCOPE,
});
const appOnly = (secret: string): Record<string, string> => ({
  grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: secret, scope: APP_SCOPE,
});

const LOCKED = { status: 400, code: 50053, error: 'invalid_grant' };
const BAD_PASSWORD = { status: 400, code: 50126, error: 'invalid_grant' };
const BAD_SECRET = { status: 401, code: 7000215, error: 'invalid_client' };
const OK = { status: 200, code: undefined, error: undefined };

const services: TestService[] = [];
const dirs: string[] = [];
after(async () => {
  for (const s of services) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A service with the lockout on (no delays) and a clock the test moves. */
async function start(policy: Partial<LockoutPolicy> = {}, dataDir?: string): Promise<{ s: TestService; clock: { t: number } }> {
  const clock = { t: Date.now() };
  const s = await startTestService({ now: () => clock.t, lockout: { delayStepMs: 0, ...policy }, ...(dataDir !== undefined ? { dataDir } : {}) });
  services.push(s);
  return { s, clock };
}

describe('smart lockout of passwords', { concurrency: true }, () => {
  test('10 wrong passwords lock the (user, source): the right password is then refused with 50053; another source signs in', async () => {
    const { s } = await start();
    for (let i = 0; i < 10; i++) assert.deepEqual(await token(s.baseUrl, password(DEMO.username, `wrong-${String(i)}`)), BAD_PASSWORD, `failure ${String(i + 1)}`);
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), LOCKED, 'the right password, from the locked source');
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, 'wrong-again')), LOCKED, 'a wrong one gets the same answer');
    // The real user, elsewhere: the attacker's lock is not theirs.
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password), '127.0.0.2'), OK);
    // The user name in other casing is the same user.
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username.toUpperCase(), DEMO.password)), LOCKED);
  });

  test('the lock ends after 60 s, the next one lasts twice as long, and a success resets the count', async () => {
    const { s, clock } = await start();
    for (let i = 0; i < 10; i++) await token(s.baseUrl, password(DEMO.username, 'wrong'));
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), LOCKED);
    clock.t += 59_000;
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), LOCKED, 'still locked at 59 s');
    clock.t += 2_000;
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), OK, 'unlocked after 61 s');
    // The success forgot the count: 9 failures do not lock; the lock count was forgotten with it.
    for (let i = 0; i < 9; i++) await token(s.baseUrl, password(DEMO.username, 'wrong'));
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), OK, '9 failures after a success do not lock');
    // Two locks in a row without a success in between: the second lasts 120 s.
    for (let i = 0; i < 10; i++) await token(s.baseUrl, password(DEMO.username, 'wrong'));
    clock.t += 61_000;
    for (let i = 0; i < 10; i++) assert.deepEqual(await token(s.baseUrl, password(DEMO.username, 'wrong')), BAD_PASSWORD);
    clock.t += 61_000;
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), LOCKED, 'the second lock outlasts 60 s');
    clock.t += 60_000;
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), OK, 'and ends after 120 s');
  });

  test('failures spread over more than the window do not add up', async () => {
    const { s, clock } = await start();
    for (let i = 0; i < 9; i++) await token(s.baseUrl, password(DEMO.username, 'wrong'));
    clock.t += DEFAULT_LOCKOUT_POLICY.windowMs;
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, 'wrong')), BAD_PASSWORD);
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), OK);
  });

  test('an unknown user is answered exactly like a known one, failure by failure', async () => {
    const { s } = await start();
    const known: TokenAnswer[] = [];
    const unknown: TokenAnswer[] = [];
    for (let i = 0; i < 12; i++) {
      known.push(await token(s.baseUrl, password(DEMO.username, 'wrong')));
      unknown.push(await token(s.baseUrl, password(`nobody-${DEMO.username}`, 'wrong')));
    }
    assert.deepEqual(unknown, known);
    assert.deepEqual(known.slice(9), [BAD_PASSWORD, LOCKED, LOCKED]);
  });

  test('the same user hammered from many sources is locked everywhere at the per-user threshold', async () => {
    const { s } = await start({ globalThreshold: 12 });
    // 4 sources × 3 failures: no pair reaches 10, the user reaches 12.
    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      for (let i = 0; i < 3; i++) assert.deepEqual(await token(s.baseUrl, password(DEMO.username, 'wrong'), from), BAD_PASSWORD);
    }
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password), '127.0.0.6'), LOCKED, 'a source that never failed');
  });

  // Two services share a store on PostgreSQL only: a SQLite data directory takes one (store/dir-lock.test.ts).
  test('the counts are shared by two services on one store', { skip: TEST_ENGINE === 'sqlite' ? 'one service per SQLite data directory' : false }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'partnerkit-lockout-'));
    dirs.push(dir);
    const { s: a } = await start({}, dir);
    const { s: b } = await start({}, dir);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await token(a.baseUrl, password(DEMO.username, 'wrong')), BAD_PASSWORD);
      assert.deepEqual(await token(b.baseUrl, password(DEMO.username, 'wrong')), BAD_PASSWORD);
    }
    assert.deepEqual(await token(a.baseUrl, password(DEMO.username, DEMO.password)), LOCKED);
    assert.deepEqual(await token(b.baseUrl, password(DEMO.username, DEMO.password)), LOCKED);
    assert.deepEqual(await token(b.baseUrl, password(DEMO.username, DEMO.password), '127.0.0.2'), OK);
  });
});

describe('smart lockout of client secrets', () => {
  test('10 wrong secrets lock the (client, source) with 50053; the right secret works from another source', async () => {
    const { s, clock } = await start();
    for (let i = 0; i < 10; i++) assert.deepEqual(await token(s.baseUrl, appOnly(`wrong-${String(i)}`)), BAD_SECRET);
    assert.deepEqual(await token(s.baseUrl, appOnly(DEMO.clientSecret)), LOCKED);
    assert.deepEqual(await token(s.baseUrl, password(DEMO.username, DEMO.password)), LOCKED, 'the password grant authenticates the same client');
    assert.deepEqual(await token(s.baseUrl, appOnly(DEMO.clientSecret), '127.0.0.2'), OK);
    clock.t += 61_000;
    assert.deepEqual(await token(s.baseUrl, appOnly(DEMO.clientSecret)), OK);
  });
});

describe('the constant-time path', () => {
  /** An issuer over a store that knows the demo partner and client only, with a recording secret comparison. */
  function issuerWithSpy(lockout?: SignInLockout): { issuer: TokenIssuer; compared: string[] } {
    const compared: string[] = [];
    const store: IssuerStore = {
      findPartner: (t) => Promise.resolve(t === DEMO.tenantId ? { tenantId: DEMO.tenantId, name: 'P', domain: 'p.example' } : undefined),
      findApplication: () => Promise.resolve({ clientId: DEMO.clientId, partnerId: DEMO.tenantId, displayName: 'App', secretHash: null }),
      findPartnerUserByUpn: () => Promise.resolve(undefined),
      findPartnerUser: () => Promise.resolve(undefined),
      insertRefreshToken: () => Promise.resolve(),
      redeemRefreshToken: () => Promise.resolve(undefined),
    };
    const issuer = new TokenIssuer({
      store, issuerBase: 'http://127.0.0.1', lockout,
      key: () => { throw new Error('nothing is signed here'); },
      verifySecret: (_secret, hash) => {
        compared.push(hash);
        return Promise.resolve(false);
      },
    });
    return { issuer, compared };
  }
  const form = (username: string): Map<string, string> =>
    new Map(Object.entries({ grant_type: 'password', client_id: DEMO.clientId, username, password: 'guess', scope: USER_SCOPE }));

  test('an unknown user\'s password is compared, against the dummy hash', async () => {
    const { issuer, compared } = issuerWithSpy();
    const r = await issuer.token(DEMO.tenantId, form('nobody@example.com'));
    assert.equal(r.status, 400);
    assert.deepEqual(compared, [DUMMY_HASH]);
  });

  test('a locked sign-in compares nothing', async () => {
    const rows = new Map<string, number>();
    const lockout = new SignInLockout({
      signinLocks: (keys) => Promise.resolve(keys.filter((k) => rows.has(k)).map((key) => ({ key, lockedUntil: rows.get(key) ?? 0 }))),
      recordSigninFailure: () => Promise.resolve({ count: 1, lockouts: 0 }),
      lockSignin: () => Promise.resolve(false),
      clearSigninFailures: () => Promise.resolve(),
      purgeSigninFailures: () => Promise.resolve(),
    }, { policy: { delayStepMs: 0 } });
    const subject = lockout.user(DEMO.tenantId, 'nobody@example.com', '10.0.0.1');
    rows.set(subject.pairKey, Date.now() + 60_000);
    const { issuer, compared } = issuerWithSpy(lockout);
    const r = await issuer.token(DEMO.tenantId, form('nobody@example.com'), undefined, '10.0.0.1');
    assert.equal(r.status, 400);
    assert.ok('error_codes' in r.body);
    assert.deepEqual(r.body.error_codes, [50053]);
    assert.deepEqual(compared, []);
  });
});

describe('lockout arithmetic', () => {
  test('delays: none for the first 3 failures, then 200 ms doubling up to 2 s; locks: 60 s doubling up to 1 h', () => {
    const l = new SignInLockout({} as never);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 50].map((n) => l.delayAfter(n)), [0, 0, 0, 200, 400, 800, 1600, 2000, 2000, 2000]);
    assert.deepEqual([0, 1, 2, 5, 6, 100].map((n) => l.lockLength(n) / 1000), [60, 120, 240, 1920, 3600, 3600]);
    assert.equal(new SignInLockout({} as never, { policy: { delayStepMs: 0 } }).delayAfter(9), 0);
  });

  test('sources: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(sourceOf('127.0.0.2'), '127.0.0.2');
    assert.equal(sourceOf('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(sourceOf('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(sourceOf('2001:db8:0:1:bbbb:cccc:dddd:eeee'), '2001:db8:0:1::/64');
    assert.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf(undefined), 'unknown');
  });
});
