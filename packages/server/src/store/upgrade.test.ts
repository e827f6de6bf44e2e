/**
 * A store of the first released schema (migration 001 only) with data in it: the current service starts on it,
 * applies the later migrations and serves the old data. On the test engine (SQLite data directory, or the
 * PostgreSQL schema standing for that directory).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Dialect as KyselyDialect, type MigrationProvider } from 'kysely';
import { databaseForDir, DEMO, DEMO_IDS, startTestService, TEST_ENGINE } from '../testing/harness.js';
import { fingerprint } from '../http/idempotency.js';
import { DEMO_SEED } from '../seed/demo.js';
import { loadSeed } from '../seed/load.js';
import { StaticMigrations } from './migrations.js';
import type { Database } from './schema.js';
import { SQLITE_FILE } from './sqlite.js';
import { Store } from './store.js';

const F = DEMO_IDS.fabrikam;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Only the first released migration, as a data directory made by that version holds. */
const firstRelease: MigrationProvider = {
  async getMigrations() {
    const all = await new StaticMigrations(TEST_ENGINE).getMigrations();
    const first = all['001_initial'];
    assert.ok(first);
    return { '001_initial': first };
  },
};

async function oldStore(dataDir: string): Promise<{ kysely: Kysely<Database>; schema: string | undefined }> {
  let dialect: KyselyDialect;
  let schema: string | undefined;
  if (TEST_ENGINE === 'sqlite') {
    mkdirSync(dataDir, { recursive: true });
    const db = new BetterSqlite3(join(dataDir, SQLITE_FILE));
    db.pragma('journal_mode = WAL');
    dialect = new SqliteDialect({ database: db });
  } else {
    const target = await databaseForDir(dataDir);
    schema = target.name;
    dialect = new PostgresDialect({ pool: new pg.Pool({ connectionString: target.url, max: 2 }) });
  }
  return { kysely: new Kysely<Database>({ dialect }), schema };
}

test(`a store of the first released schema is migrated on start and its data served (${TEST_ENGINE})`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'partnerkit-upgrade-'));
  dirs.push(dir);
  const dataDir = join(dir, 'data');

  // ---- the old version's store: schema 001, the demo data, an audit record ----
  const { kysely, schema } = await oldStore(dataDir);
  const auditId = randomUUID();
  /** A newer audit record of the old version, removed again. */
  const removed = { id: randomUUID(), seq: 0 };
  const operationDate = new Date(Date.now() - 3_600_000).toISOString();
  /** A PATCH the old version answered (its replay record is written below), repeated on the new version. */
  const oldCall = {
    requestId: randomUUID(),
    path: `/v1/customers/${F.customerId}/users/${F.users.noah}`,
    body: { displayName: 'Answered By The Old Version' },
    answer: '{"displayName":"Answered By The Old Version","from":"the old version"}',
  };
  try {
    const migrator = new Migrator({ db: kysely, provider: firstRelease, ...(schema !== undefined ? { migrationTableSchema: schema } : {}) });
    const { error } = await migrator.migrateToLatest();
    assert.equal(error, undefined);
    const old = new Store(kysely, TEST_ENGINE);
    await loadSeed(old, DEMO_SEED);
    await old.insertAudit({
      id: auditId, partnerId: DEMO.tenantId, customerId: F.customerId, customerName: 'Fabrikam', callerUpn: DEMO.username,
      applicationId: DEMO.clientId, resourceType: 'customer_user', oldValue: null, newValue: '{"DisplayName":"From The Old Version"}',
      operationType: 'update_customer_user', correlationId: randomUUID(), operationDate, operationStatus: 'succeeded',
      customizedData: [{ key: 'CustomerUserId', value: F.users.noah }],
    });
    await old.updateUser({ ...(await old.getUser(F.customerId, F.users.noah))!, displayName: 'From The Old Version' });
    // A newer record removed again: the counter stands past the last record kept, and must not give its seq twice.
    await old.insertAudit({
      id: removed.id, partnerId: DEMO.tenantId, customerId: F.customerId, customerName: 'Fabrikam', callerUpn: DEMO.username,
      applicationId: DEMO.clientId, resourceType: 'customer_user', oldValue: null, newValue: null,
      operationType: 'update_customer_user', correlationId: randomUUID(), operationDate, operationStatus: 'succeeded', customizedData: [],
    });
    // The old version's replay record of that PATCH (schema 001: keyed by its primary key, no claim).
    await sql`insert into idempotency (partner_id, request_id, fingerprint, status, headers, body, created_at)
      values (${DEMO.tenantId}, ${oldCall.requestId}, ${fingerprint('PATCH', oldCall.path, oldCall.body)}, 200,
      '{"content-type":"application/json; charset=utf-8"}', ${oldCall.answer}, ${Date.now()})`.execute(kysely);
    removed.seq = Number((await sql<{ seq: number | string }>`select seq from audit_records where id = ${removed.id}`.execute(kysely)).rows[0]?.seq);
    await sql`delete from audit_records where id = ${removed.id}`.execute(kysely);
    const tables = TEST_ENGINE === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(kysely)
      : await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(kysely);
    const names = tables.rows.map((r) => r.name);
    assert.ok(names.includes('users') && !names.includes('signing_keys') && !names.includes('signin_failures'), 'the old store has schema 001 only');
  } finally {
    await kysely.destroy();
  }

  // ---- the current version on it ----
  const s = await startTestService({ dataDir, demo: false });
  try {
    const token = await s.userToken();
    const user = await s.call<{ displayName: string }>('GET', `/v1/customers/${F.customerId}/users/${F.users.noah}`, { token });
    assert.equal(user.status, 200);
    assert.equal(user.json.displayName, 'From The Old Version');
    const audit = await s.call<{ items: { id: string }[] }>('GET', `/v1/auditrecords?startDate=${operationDate.slice(0, 10)}`, { token });
    assert.equal(audit.status, 200);
    assert.ok(audit.json.items.some((a) => a.id === auditId), 'the old audit record is listed');
    // The new tables work: a change (replay record, audit), a refresh token, the signing key.
    const patch = await s.call<{ displayName: string }>('PATCH', `/v1/customers/${F.customerId}/users/${F.users.noah}`, {
      token, body: { displayName: 'From The New Version' }, headers: { 'MS-RequestId': randomUUID() },
    });
    assert.equal(patch.status, 200, patch.text);
    // The PATCH the old version answered, sent again with its MS-RequestId, is replayed: the old answer, not run again.
    const repeat = await s.call('PATCH', oldCall.path, { token, body: oldCall.body, headers: { 'MS-RequestId': oldCall.requestId } });
    assert.deepEqual([repeat.status, repeat.text], [200, oldCall.answer]);
  } finally {
    await s.close();
  }
  const after = await oldStore(dataDir);
  try {
    const migrations = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(after.kysely);
    assert.deepEqual(migrations.rows.map((r) => r.name), Object.keys(await new StaticMigrations(TEST_ENGINE).getMigrations()));
    // The old audit record kept its place: the new version's record comes after it.
    const audit = await sql<{ id: string; seq: number | string }>`select id, seq from audit_records order by seq`.execute(after.kysely);
    const oldAt = audit.rows.findIndex((r) => r.id === auditId);
    assert.ok(oldAt >= 0 && audit.rows.length > oldAt + 1, 'the old record is kept and the new one follows it');
    assert.ok(audit.rows.every((r) => r.id !== removed.id));
    assert.ok(Number(audit.rows.at(-1)?.seq) > removed.seq, `the new record's seq ${String(audit.rows.at(-1)?.seq)} comes after the removed ${String(removed.seq)}`);
    if (TEST_ENGINE === 'sqlite') {
      // Migration 004: no unique index on the audit id any more.
      const unique = await sql<{ name: string }>`select name from pragma_index_list('audit_records') where "unique" = 1`.execute(after.kysely);
      assert.deepEqual(unique.rows, []);
      // Migration 005: replay records have no index on their key (the store finds them by key in memory).
      const indexes = await sql<{ name: string }>`select name from pragma_index_list('idempotency')`.execute(after.kysely);
      assert.deepEqual(indexes.rows.map((r) => r.name), ['idempotency_created']);
    }
  } finally {
    await after.kysely.destroy();
  }
});
