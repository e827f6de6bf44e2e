/**
 * Several instances on one PostgreSQL database (PostgreSQL only: `scripts/run-tests.mjs` runs this file in its
 * PostgreSQL pass). Built `partnerkit-server` processes on a fresh database: they start at once on the empty
 * database (one migrates and loads the demo), share every change, replay each other's MS-RequestIds, verify each
 * other's tokens across a key rotation, apply 200 concurrent PATCHes of one user without losing or tearing any,
 * and one of them, behind a TCP proxy the test cuts and restores, answers 503 during the outage and recovers by
 * itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PartnerCenterAudience } from '@partnerkit/contract';
import { demoAgentToken, DEMO, DEMO_IDS, createTestDatabase, spawnServer, TEST_POSTGRES_URL, type ServerProcess, type TestDatabase } from '../testing/harness.js';

const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
const userPath = (id: string): string => `${usersPath}/${id}`;
const QUIET = ['--log-level', 'warn'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

async function call(baseUrl: string, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}


const kidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;

/** A TCP proxy between one instance and PostgreSQL that the test can cut and restore. */
class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    this.port = address.port;
    this.server = server;
  }

  /** Stops accepting and destroys every open connection: to the instance, the database is gone. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  async restore(): Promise<void> {
    await this.start();
  }
}

let db: TestDatabase;
let dataDir: string;
const running: ServerProcess[] = [];
let proxy: TcpProxy | undefined;
let A: string;
let B: string;
let C: string;
const tokens = new Map<string, string>();
const token = (base: string): string => {
  const t = tokens.get(base);
  assert.ok(t !== undefined);
  return t;
};

/**
 * Behind a load balancer every instance is reached at one URL, which it must know (`--public-url`): tokens name
 * it as their issuer, so a token from any instance is good at every other.
 */
const PUBLIC_URL = 'http://partnerkit.test';

async function start(url: string, extra: string[] = []): Promise<ServerProcess> {
  const p = await spawnServer(['--port', '0', '--public-url', PUBLIC_URL, '--data-dir', dataDir, '--database-url', url, '--demo', ...QUIET, ...extra], {}, 30_000);
  running.push(p);
  return p;
}

async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

interface AuditRow {
  operation_type: string;
  old_value: string | null;
  new_value: string | null;
}
const auditOf = (userId: string): Promise<AuditRow[]> =>
  query<AuditRow>(`select operation_type, old_value, new_value from audit_records where customized_data like $1 order by seq`, [`%"value":"${userId}"%`]);

async function newUser(base: string, name: string): Promise<string> {
  const r = await call(base, token(base), 'POST', usersPath, {
    userPrincipalName: `${name.toLowerCase().replace(/\W+/g, '.')}.${randomUUID().slice(0, 8)}@fabrikam.example`,
    displayName: name, passwordProfile: { password: 'Correct-Horse-42!' },
  }, { 'MS-RequestId': randomUUID() });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

before(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'partnerkit-multi-'));
});

after(async () => {
  for (const p of running) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
  await proxy?.cut();
  await db.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('three instances on one database', () => {
  test('three instances started at once on an empty database all come up; migrations run once and the demo loads once', async () => {
    const started = await Promise.all([start(db.url), start(db.url), start(db.url)]);
    [A, B, C] = started.map((p) => p.baseUrl) as [string, string, string];
    for (const base of [A, B, C]) {
      assert.equal((await call(base, undefined, 'GET', '/healthz')).status, 200);
    }
    const migrations = await query<{ name: string }>('select name from kysely_migration order by name');
    assert.deepEqual(migrations.map((m) => m.name), ['001_initial', '002_shared_state', '003_signin_failures', '004_audit_id_not_indexed', '005_replay_keys_in_memory']);
    assert.deepEqual(await query('select tenant_id from partners'), [{ tenant_id: DEMO.tenantId }]);
    const [users] = await query<{ n: string }>('select count(*) as n from users');
    assert.equal(Number(users?.n), 17, 'the demo users, once');
    const [audits] = await query<{ n: string }>('select count(*) as n from audit_records');
    assert.equal(Number(audits?.n), 0);
    const keys = await query<{ kid: string; retired_at: string | null }>('select kid, retired_at from signing_keys');
    assert.equal(keys.length, 1, 'one signing key, made by the first instance');
  });

  test('a token from one instance’s token endpoint is accepted by the others', async () => {
    for (const base of [A, B, C]) tokens.set(base, await demoAgentToken(base));
    assert.equal(new Set([A, B, C].map((b) => kidOf(token(b)))).size, 1, 'every instance signs with the one key in the store');
    for (const issuer of [A, B, C]) {
      for (const base of [A, B, C]) {
        const r = await call(base, token(issuer), 'GET', userPath(F.users.ordinary));
        assert.equal(r.status, 200, `a token of ${issuer} at ${base}: ${r.text}`);
      }
    }
  });

  test('a change made through one instance is read through the others', async () => {
    const r = await call(A, token(A), 'PATCH', userPath(F.users.ordinary), { displayName: 'Changed Through A', usageLocation: 'DE' });
    assert.equal(r.status, 200, r.text);
    for (const base of [B, C]) {
      const u = await call(base, token(base), 'GET', userPath(F.users.ordinary));
      assert.equal(u.status, 200, u.text);
      assert.equal(u.body.displayName, 'Changed Through A');
      assert.equal(u.body.usageLocation, 'DE');
    }
    const created = await newUser(B, 'Made Through B');
    const seen = await call(C, token(C), 'GET', userPath(created));
    assert.equal(seen.status, 200, seen.text);
    assert.equal(seen.body.displayName, 'Made Through B');
  });

  test('MS-RequestId replay across instances: a repeat on another instance replays; a different request there is 409', async () => {
    const user = await newUser(A, 'Replay Across');
    const id = randomUUID();
    const first = await call(A, token(A), 'PATCH', userPath(user), { displayName: 'Replay Across One' }, { 'MS-RequestId': id });
    assert.equal(first.status, 200, first.text);
    const between = await call(C, token(C), 'PATCH', userPath(user), { displayName: 'Replay Across Two' }, { 'MS-RequestId': randomUUID() });
    assert.equal(between.status, 200, between.text);
    const again = await call(B, token(B), 'PATCH', userPath(user), { displayName: 'Replay Across One' }, { 'MS-RequestId': id });
    assert.equal(again.status, 200);
    assert.equal(again.text, first.text, 'the stored answer, not a new run');
    assert.equal(again.headers.get('ms-requestid'), id);
    const conflict = await call(C, token(C), 'PATCH', userPath(user), { displayName: 'Something Else' }, { 'MS-RequestId': id });
    assert.equal(conflict.status, 409, conflict.text);
    assert.equal(conflict.body.code, 800004);
    const now = await call(A, token(A), 'GET', userPath(user));
    assert.equal(now.body.displayName, 'Replay Across Two');
    assert.equal((await auditOf(user)).filter((a) => a.operation_type === 'update_customer_user').length, 2);
  });

  test('concurrent duplicates across instances: one POST runs, every answer is the same 201; one PATCH runs for twelve duplicates', async () => {
    const id = randomUUID();
    const body = { userPrincipalName: `dup.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Duplicate', passwordProfile: { password: 'Correct-Horse-42!' } };
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => {
      const base = [A, B, C][i % 3] ?? A;
      return call(base, token(base), 'POST', usersPath, body, { 'MS-RequestId': id });
    }));
    for (const a of answers) {
      assert.equal(a.status, 201, a.text);
      assert.equal(a.text, answers[0]?.text);
    }
    const created = answers[0]?.body.id as string;
    assert.deepEqual((await auditOf(created)).map((a) => a.operation_type), ['create_customer_user']);
    const holders = await query('select id from users where upn_lower = $1', [body.userPrincipalName]);
    assert.equal(holders.length, 1);

    const patchId = randomUUID();
    const patches = await Promise.all(Array.from({ length: 12 }, (_, i) => {
      const base = [A, B, C][i % 3] ?? A;
      return call(base, token(base), 'PATCH', userPath(created), { displayName: 'Duplicate Patched', firstName: 'Once' }, { 'MS-RequestId': patchId });
    }));
    for (const p of patches) {
      assert.equal(p.status, 200, p.text);
      assert.equal(p.text, patches[0]?.text);
    }
    assert.equal((await auditOf(created)).filter((a) => a.operation_type === 'update_customer_user').length, 1);
  });

  test('200 concurrent PATCHes of one user spread over the instances: none lost, none torn, one audit record each, in one serial order', async (t) => {
    const user = await newUser(A, 'Contended');
    const locations = ['US', 'GB', 'FR', 'DE', 'NO', 'JP', 'BR', 'IN'];
    const sent = Array.from({ length: 200 }, (_, i) => ({
      displayName: `Contended ${String(i)}`,
      firstName: `First${String(i)}`,
      ...(i % 2 === 0 ? { usageLocation: locations[i % locations.length] } : {}),
    }));
    const bases = [A, B, C];
    const started = performance.now();
    const answers = await Promise.all(sent.map((body, i) => {
      const base = bases[i % 3] ?? A;
      return call(base, token(base), 'PATCH', userPath(user), body, { 'MS-RequestId': randomUUID() });
    }));
    const ok = answers.filter((a) => a.status === 200);
    t.diagnostic(`200 concurrent PATCHes over 3 instances: ${String(ok.length)} answered 200 in ${String(Math.round(performance.now() - started))} ms`);
    for (const a of answers) assert.ok(a.status === 200 || a.status === 503, `${String(a.status)} ${a.text}`);
    assert.ok(ok.length >= 190, `${String(ok.length)} of 200 answered 200`);
    // every 200 answer is its own request's change, whole
    for (const a of ok) {
      const i = Number(/^Contended (\d+)$/.exec(String(a.body.displayName))?.[1]);
      assert.equal(a.body.firstName, `First${String(i)}`, 'an answer holds one request’s fields together');
    }

    const final = await call(B, token(B), 'GET', userPath(user));
    const k = Number(/^Contended (\d+)$/.exec(String(final.body.displayName))?.[1]);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 200, `final displayName ${String(final.body.displayName)} is one that was sent`);
    assert.equal(final.body.firstName, `First${String(k)}`, 'displayName and firstName come from the same request (no torn record)');
    const sentLocations = new Set(sent.map((s) => s.usageLocation).filter((l) => l !== undefined));
    assert.ok(sentLocations.has(String(final.body.usageLocation)), `usageLocation ${String(final.body.usageLocation)} was sent`);

    // One audit record per 2xx change, and they chain: each change read the result of the one before (nothing lost).
    const updates = (await auditOf(user)).filter((a) => a.operation_type === 'update_customer_user');
    assert.equal(updates.length, ok.length);
    const name = (v: string | null): string => (JSON.parse(v ?? '{}') as { DisplayName?: string }).DisplayName ?? '';
    const answered = new Set(ok.map((a) => String(a.body.displayName)));
    const newNames = updates.map((u) => name(u.new_value));
    assert.deepEqual(new Set(newNames), answered, 'the audit records are exactly the answered changes');
    let current = 'Contended';
    for (const u of updates) {
      assert.equal(name(u.old_value), current, 'each change saw the one committed before it');
      current = name(u.new_value);
    }
    assert.equal(current, final.body.displayName);
  });

  test('key rotation: an instance started with --rotate-signing-key signs with a new key; the others accept it, and tokens of the previous key stay valid everywhere', async () => {
    const D = (await start(db.url, ['--rotate-signing-key'])).baseUrl;
    const old = token(A);
    const fresh = await demoAgentToken(D);
    assert.notEqual(kidOf(fresh), kidOf(old));
    const keys = await query<{ kid: string; retired_at: string | null }>('select kid, retired_at from signing_keys order by created_at');
    assert.deepEqual(keys.map((k) => k.kid), [kidOf(old), kidOf(fresh)]);
    assert.notEqual(keys[0]?.retired_at, null, 'the previous key is retired');
    assert.equal(keys[1]?.retired_at, null);
    // the others meet a key id they do not know: they reload the keys from the store and accept it
    for (const base of [A, B, C]) {
      const r = await call(base, fresh, 'GET', userPath(F.users.ordinary));
      assert.equal(r.status, 200, `the new key's token at ${base}: ${r.text}`);
    }
    // the previous key's tokens stay valid until they expire, on the rotating instance too
    for (const base of [A, B, C, D]) {
      assert.equal((await call(base, old, 'GET', userPath(F.users.ordinary))).status, 200, `the previous key's token at ${base}`);
    }
    const jwks = await call(D, undefined, 'GET', `/${DEMO.tenantId}/discovery/v2.0/keys`);
    assert.deepEqual((jwks.body.keys as { kid: string }[]).map((k) => k.kid).sort(), [kidOf(old), kidOf(fresh)].sort());
    // an instance that has not reloaded yet may still sign with the previous key (for up to a minute): its tokens
    // are accepted everywhere, since that key is within its grace
    const fromA = await demoAgentToken(A);
    assert.equal((await call(D, fromA, 'GET', userPath(F.users.ordinary))).status, 200);
  });

  test('one instance behind a proxy: cutting its database connection gives 503 with Partner Center’s body, and it recovers by itself', async () => {
    const target = new URL(TEST_POSTGRES_URL);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${String(proxy.port)}`;
    const p = await start(viaProxy.toString());
    const E = p.baseUrl;
    const t = await demoAgentToken(E);
    assert.equal((await call(E, t, 'GET', userPath(F.users.ordinary))).status, 200);

    // Requests in flight when the connection is cut: each is answered (200 if it finished first, else 503), and
    // the process survives connections lost in the middle of a transaction.
    const inFlight = Array.from({ length: 30 }, (_, i) =>
      call(E, t, 'PATCH', userPath(F.users.ordinary), { displayName: `In Flight ${String(i)}` }, { 'MS-RequestId': randomUUID() }));
    await new Promise((r) => setTimeout(r, 5));
    await proxy.cut();
    for (const r of await Promise.all(inFlight)) assert.ok(r.status === 200 || r.status === 503, `${String(r.status)} ${r.text}`);
    const requestId = randomUUID();
    for (const r of [
      await call(E, t, 'GET', userPath(F.users.ordinary), undefined, { 'MS-RequestId': requestId }),
      await call(E, t, 'PATCH', userPath(F.users.ordinary), { displayName: 'During The Outage' }, { 'MS-RequestId': randomUUID() }),
    ]) {
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.code, 800005);
      assert.equal(r.body.source, 'PartnerFD');
      assert.deepEqual(r.body.data, []);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.ok(r.headers.get('ms-correlationid'));
      assert.doesNotMatch(r.text, /ECONN|postgres|Connection terminated|pg/i);
    }
    const health = await call(E, undefined, 'GET', '/healthz');
    assert.equal(health.status, 503);
    assert.equal(health.body.code, 800005);
    const tokenDuring = await fetch(`${E}/${DEMO.tenantId}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, scope: `${PartnerCenterAudience}/.default` }).toString(),
    });
    assert.equal(tokenDuring.status, 503);
    assert.equal(((await tokenDuring.json()) as { error: string }).error, 'temporarily_unavailable');
    // the other instances, on their own connections, are not affected
    assert.equal((await call(A, token(A), 'GET', userPath(F.users.ordinary))).status, 200);

    await proxy.restore();
    const until = Date.now() + 10_000;
    let health2 = await call(E, undefined, 'GET', '/healthz');
    while (health2.status !== 200 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      health2 = await call(E, undefined, 'GET', '/healthz');
    }
    assert.equal(health2.status, 200, 'healthy again without a restart');
    const patched = await call(E, t, 'PATCH', userPath(F.users.ordinary), { displayName: 'After The Outage' }, { 'MS-RequestId': randomUUID() });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await call(B, token(B), 'GET', userPath(F.users.ordinary))).body.displayName, 'After The Outage');
    assert.equal(p.proc.exitCode, null, 'the instance never exited');
  });

  test('SIGTERM stops every instance cleanly', async () => {
    for (const p of running) if (p.proc.exitCode === null) p.proc.kill('SIGTERM');
    const exits = await Promise.all(running.map((p) => p.exited));
    for (const e of exits) assert.deepEqual(e, { code: 0, signal: null });
  });
});
