/**
 * `kill -9` at random moments under concurrent load, on the test engine's store (SQLite in the data directory, or
 * PostgreSQL), with the built executable (`spawnServer`; needs `tsc -b` first). Several rounds on the same store:
 * start, drive 16 workers of creates, PATCHes, deletes and restores (distinct values), kill -9 after a seeded
 * random 100–800 ms, then read the store beside the service and check that
 * - every acknowledged change is there (or the one change in flight on that user, unacknowledged, after it);
 * - every test user has its audit records, the last one's new value is the user as stored, and no audit record
 *   names a user that does not exist (a change never lands without its record, nor a record without its change);
 * - the SQLite file passes `PRAGMA integrity_check` (opened read-only while no process has it);
 * - the service starts again on it and is healthy, and each worker's last acknowledged create, sent again with its
 *   MS-RequestId, is replayed (the same answer), not run again (a second create of the UPN would be refused).
 * `PARTNERKIT_CRASH_SEED` picks the random schedule (default 4242), `PARTNERKIT_CRASH_ROUNDS` the rounds (default 4).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { databaseForDir, demoAgentToken, DEMO_IDS, seededRandom as random, spawnServer, storeArgs, TEST_ENGINE, type ServerProcess } from './testing/harness.js';
import { SQLITE_FILE } from './store/sqlite.js';

const SEED = Number(process.env.PARTNERKIT_CRASH_SEED ?? 4242);
const ROUNDS = Number(process.env.PARTNERKIT_CRASH_ROUNDS ?? 4);
const WORKERS = 16;
const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;

interface UserState {
  displayName: string;
  state: 'active' | 'inactive';
}
interface Tracked {
  id: string;
  owner: number;
  /** The last state a 2xx confirmed. */
  acked: UserState;
  /** The state the request in flight on this user would leave (unacknowledged). */
  pending: UserState | undefined;
  /** Acknowledged changes, for the audit check. */
  ackedNames: string[];
}

interface StoredUser extends UserState {
  id: string;
  upn: string;
}
interface StoredAudit {
  seq: number;
  operationType: string;
  userId: string;
  newValue: { DisplayName?: string; State?: string; UserPrincipalName?: string };
}

const running: ServerProcess[] = [];
const dirs: string[] = [];
after(async () => {
  for (const p of running) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});


/** Reads the test users and every customer-user audit record beside the service (no process has the store open). */
async function readStore(dataDir: string): Promise<{ users: StoredUser[]; audit: StoredAudit[]; integrity?: string }> {
  const usersSql = `select id, upn, display_name, state from users where customer_id = '${F.customerId}' and upn_lower like 'crash-%'`;
  const auditSql = "select seq, operation_type, new_value from audit_records where resource_type = 'customer_user' and new_value is not null order by seq";
  type UserRow = { id: string; upn: string; display_name: string; state: string };
  type AuditRow = { seq: number | string; operation_type: string; new_value: string };
  let userRows: UserRow[];
  let auditRows: AuditRow[];
  let integrity: string | undefined;
  if (TEST_ENGINE === 'sqlite') {
    const db = new BetterSqlite3(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
    try {
      integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
      userRows = db.prepare(usersSql).all() as UserRow[];
      auditRows = db.prepare(auditSql).all() as AuditRow[];
    } finally {
      db.close();
    }
  } else {
    const client = new pg.Client({ connectionString: (await databaseForDir(dataDir)).url });
    await client.connect();
    try {
      userRows = (await client.query<UserRow>(usersSql)).rows;
      auditRows = (await client.query<AuditRow>(auditSql)).rows;
    } finally {
      await client.end();
    }
  }
  const users = userRows.map((r) => ({ id: r.id, upn: r.upn, displayName: r.display_name, state: r.state === 'inactive' ? 'inactive' as const : 'active' as const }));
  const audit = auditRows.map((r) => {
    const newValue = JSON.parse(r.new_value) as StoredAudit['newValue'] & { Id: string };
    return { seq: Number(r.seq), operationType: r.operation_type, userId: newValue.Id, newValue };
  });
  return { users, audit, ...(integrity !== undefined ? { integrity } : {}) };
}

test(`kill -9 at random moments under concurrent load loses no acknowledged change and no audit record (${TEST_ENGINE}, seed ${String(SEED)})`, async (ctx) => {
  const dir = await mkdtemp(join(tmpdir(), 'partnerkit-crash-'));
  dirs.push(dir);
  const dataDir = join(dir, 'data');
  const args = ['--port', '0', ...(await storeArgs(dataDir)), '--demo', '--log-level', 'fatal'];
  const rand = random(SEED);
  const tracked = new Map<string, Tracked>();
  let serial = 0;
  let totalAcked = 0;
  /** Each worker's last acknowledged create: its MS-RequestId, body and answer. */
  const lastCreates = new Map<number, { requestId: string; body: unknown; status: number; text: string }>();
  /** Sends every remembered create again with its MS-RequestId: each must be replayed as it was answered. */
  const assertCreatesReplayed = async (baseUrl: string, auth: string, when: string): Promise<void> => {
    for (const c of lastCreates.values()) {
      const res = await fetch(`${baseUrl}${usersPath}`, {
        method: 'POST', headers: { authorization: auth, 'MS-RequestId': c.requestId, 'content-type': 'application/json' }, body: JSON.stringify(c.body),
      });
      assert.deepEqual({ status: res.status, text: await res.text() }, { status: c.status, text: c.text }, `${when}: the create of ${c.requestId} is replayed`);
    }
  };

  for (let round = 1; round <= ROUNDS; round++) {
    const p = await spawnServer(args);
    running.push(p);
    const health = await fetch(`${p.baseUrl}/healthz`);
    assert.equal(health.status, 200, `round ${String(round)}: healthy after the restart`);
    const auth = `Bearer ${await demoAgentToken(p.baseUrl)}`;
    await assertCreatesReplayed(p.baseUrl, auth, `round ${String(round)}, after the restart`);
    let killed = false;

    const call = async (
      method: string, path: string, body?: unknown, requestId = randomUUID(),
    ): Promise<{ status: number; text: string; json: Record<string, unknown> } | undefined> => {
      try {
        const res = await fetch(`${p.baseUrl}${path}`, {
          method,
          headers: { authorization: auth, 'MS-RequestId': requestId, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
      } catch (err) {
        if (killed) return undefined; // the answer died with the process: unacknowledged
        throw err;
      }
    };
    const expect2xx = (r: { status: number; json: unknown }, what: string): void => {
      assert.ok(r.status >= 200 && r.status < 300, `round ${String(round)}: ${what} answered ${String(r.status)} ${JSON.stringify(r.json)}`);
    };

    const worker = async (w: number, next: () => number): Promise<void> => {
      while (!killed) {
        const mine = [...tracked.values()].filter((t) => t.owner === w);
        const active = mine.filter((t) => t.acked.state === 'active');
        const inactive = mine.filter((t) => t.acked.state === 'inactive');
        const dice = next();
        const name = `R${String(round)} W${String(w)} N${String(++serial)}`;
        if (mine.length < 2 || (dice < 0.2 && mine.length < 6)) {
          const upn = `crash-${randomUUID().slice(0, 12)}@fabrikam.example`;
          const body = { userPrincipalName: upn, displayName: name, passwordProfile: { password: 'Correct-Horse-42!' } };
          const requestId = randomUUID();
          const r = await call('POST', usersPath, body, requestId);
          if (!r) return;
          expect2xx(r, `POST ${upn}`);
          lastCreates.set(w, { requestId, body, status: r.status, text: r.text });
          const id = String(r.json.id).toLowerCase();
          tracked.set(id, { id, owner: w, acked: { displayName: name, state: 'active' }, pending: undefined, ackedNames: [name] });
        } else if (inactive.length > 0 && (dice < 0.3 || active.length === 0)) {
          const t = inactive[Math.floor(next() * inactive.length)] ?? inactive[0]!;
          t.pending = { displayName: name, state: 'active' };
          const r = await call('PATCH', `${usersPath}/${t.id}`, { state: 'active', displayName: name });
          if (!r) return;
          expect2xx(r, `restore ${t.id}`);
          t.acked = t.pending;
          t.pending = undefined;
          t.ackedNames.push(name);
        } else if (dice < 0.4 && active.length > 1) {
          const t = active[Math.floor(next() * active.length)] ?? active[0]!;
          t.pending = { displayName: t.acked.displayName, state: 'inactive' };
          const r = await call('DELETE', `${usersPath}/${t.id}`);
          if (!r) return;
          expect2xx(r, `DELETE ${t.id}`);
          t.acked = t.pending;
          t.pending = undefined;
        } else {
          const t = active[Math.floor(next() * active.length)] ?? active[0]!;
          t.pending = { displayName: name, state: 'active' };
          const r = await call('PATCH', `${usersPath}/${t.id}`, { displayName: name });
          if (!r) return;
          expect2xx(r, `PATCH ${t.id}`);
          t.acked = t.pending;
          t.pending = undefined;
          t.ackedNames.push(name);
        }
        totalAcked++;
      }
    };

    const delay = 100 + Math.floor(rand() * 700);
    const ackedBefore = totalAcked;
    const workers = Array.from({ length: WORKERS }, (_, w) => {
      const own = random(SEED * 1000 + round * 100 + w);
      return worker(w, own);
    });
    // The clock starts once the load runs: every worker has its users (creates hash a password: the slow part).
    const warm = Date.now() + 10_000;
    while ([...new Set([...tracked.values()].map((t) => t.owner))].length < WORKERS || totalAcked === ackedBefore) {
      assert.ok(Date.now() < warm, `round ${String(round)}: the load did not start`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, delay));
    killed = true;
    p.proc.kill('SIGKILL');
    assert.equal((await p.exited).signal, 'SIGKILL');
    await Promise.all(workers);

    // ---- the store after the crash ----
    const { users, audit, integrity } = await readStore(dataDir);
    const inFlight = [...tracked.values()].filter((t) => t.pending !== undefined).length;
    ctx.diagnostic(`round ${String(round)}: kill -9 after ${String(delay)} ms, ${String(totalAcked - ackedBefore)} changes acknowledged, ${String(inFlight)} in flight on known users; ${String(users.length)} test users and ${String(audit.length)} audit records stored`);
    if (TEST_ENGINE === 'sqlite') assert.equal(integrity, 'ok', `round ${String(round)}: PRAGMA integrity_check`);
    const stored = new Map(users.map((u) => [u.id, u]));
    const byUser = new Map<string, StoredAudit[]>();
    for (const a of audit) {
      if (!a.newValue.UserPrincipalName?.startsWith('crash-')) continue;
      assert.ok(stored.has(a.userId), `round ${String(round)}: audit record ${String(a.seq)} (${a.operationType}) names ${a.userId}, which is not stored`);
      byUser.set(a.userId, [...(byUser.get(a.userId) ?? []), a]);
    }
    for (const u of users) {
      const chain = byUser.get(u.id) ?? [];
      assert.equal(chain[0]?.operationType, 'create_customer_user', `round ${String(round)}: ${u.id} has the audit record of its creation`);
      const last = chain.at(-1)?.newValue;
      assert.deepEqual(
        { displayName: last?.DisplayName, state: last?.State, upn: last?.UserPrincipalName },
        { displayName: u.displayName, state: u.state, upn: u.upn },
        `round ${String(round)}: the last audit record of ${u.id} is the user as stored`,
      );
    }
    for (const t of tracked.values()) {
      const u = stored.get(t.id);
      assert.ok(u, `round ${String(round)}: acknowledged user ${t.id} is stored`);
      const now: UserState = { displayName: u.displayName, state: u.state };
      const allowed = [t.acked, ...(t.pending ? [t.pending] : [])];
      assert.ok(
        allowed.some((s) => s.displayName === now.displayName && s.state === now.state),
        `round ${String(round)}: ${t.id} is ${JSON.stringify(now)}, acknowledged ${JSON.stringify(t.acked)}, in flight ${JSON.stringify(t.pending)}`,
      );
      const names = new Set((byUser.get(t.id) ?? []).map((a) => a.newValue.DisplayName));
      for (const n of t.ackedNames) assert.ok(names.has(n), `round ${String(round)}: an audit record of ${t.id} → ${n}`);
      // What is stored is the truth the next round starts from.
      t.acked = now;
      t.pending = undefined;
    }
  }
  assert.ok(totalAcked > WORKERS * ROUNDS, `the load got answers (${String(totalAcked)})`);

  // A last start on what the last crash left: healthy, serving, and it stops cleanly.
  const p = await spawnServer(args);
  running.push(p);
  assert.equal((await fetch(`${p.baseUrl}/healthz`)).status, 200);
  const auth = `Bearer ${await demoAgentToken(p.baseUrl)}`;
  await assertCreatesReplayed(p.baseUrl, auth, 'after the last crash');
  assert.equal(lastCreates.size, WORKERS, 'every worker created a user');
  const one = [...tracked.values()].find((t) => t.acked.state === 'active');
  assert.ok(one);
  const r = await fetch(`${p.baseUrl}${usersPath}/${one.id}`, { headers: { authorization: auth } });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { displayName: string }).displayName, one.acked.displayName);
  p.proc.kill('SIGTERM');
  assert.equal((await p.exited).code, 0);
});
