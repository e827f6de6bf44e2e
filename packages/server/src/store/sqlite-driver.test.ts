/**
 * Group commit on the SQLite store's driver: transactions share commits, each is answered only once its batch has
 * committed, a failed one is undone alone, a failed commit fails every transaction of its batch, and reads
 * outside transactions see committed data only.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, sql, type Migration } from 'kysely';
import { suiteTempDir } from '../testing/harness.js';
import { GroupCommitDialect, GroupCommitDriver } from './sqlite-driver.js';

interface TestDb {
  items: { id: number; owner: number | null };
  owners: { id: number };
}

const dir = suiteTempDir('pk-gc-');

let n = 0;
/** A fresh database file with its own writer and reader connections (or in memory: writer only). */
async function open(opts: { memory?: boolean; maxBatch?: number } = {}): Promise<{
  db: Kysely<TestDb>;
  driver: GroupCommitDriver;
  /** An independent connection to the same file, for looking at what has committed. */
  peek: (query: string) => unknown[];
  close: () => Promise<void>;
}> {
  const file = opts.memory ? ':memory:' : join(dir(), `t${String(++n)}.sqlite`);
  const writer = new BetterSqlite3(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('foreign_keys = ON');
  const reader = opts.memory ? undefined : new BetterSqlite3(file, { readonly: true });
  const driver = new GroupCommitDriver({ writer, ...(reader ? { reader } : {}), ...(opts.maxBatch ? { maxBatch: opts.maxBatch } : {}) });
  const db = new Kysely<TestDb>({ dialect: new GroupCommitDialect(driver) });
  await sql`create table owners (id integer primary key)`.execute(db);
  // Checked at COMMIT: a transaction can leave the batch unable to commit.
  await sql`create table items (id integer primary key, owner integer references owners (id) deferrable initially deferred)`.execute(db);
  const other = opts.memory ? undefined : new BetterSqlite3(file, { readonly: true });
  return {
    db,
    driver,
    peek: (query) => (other ? other.prepare(query).all() : []),
    close: async () => {
      other?.close();
      await db.destroy();
    },
  };
}

/** Starts a transaction that inserts item `id` and then holds its turn until `release` is called. */
async function holdTransaction(db: Kysely<TestDb>, id: number): Promise<{ release: () => void; writing: Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let written!: () => void;
  const wrote = new Promise<void>((resolve) => {
    written = resolve;
  });
  const writing = db.transaction().execute(async (tx) => {
    await tx.insertInto('items').values({ id, owner: null }).execute();
    written();
    await held;
  });
  await wrote;
  return { release, writing };
}

test('concurrent transactions share commits, and every one of them is committed when it is answered', async () => {
  const t = await open();
  try {
    const before = { ...t.driver.stats };
    const committedWhenAnswered: boolean[] = [];
    await Promise.all(Array.from({ length: 200 }, (_, i) => t.db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: i, owner: null }).execute();
      await tx.updateTable('items').set({ owner: null }).where('id', '=', i).execute();
    }).then(() => {
      // Another connection sees the row as soon as its transaction is answered.
      committedWhenAnswered.push(t.peek(`select id from items where id = ${String(i)}`).length === 1);
    })));
    assert.equal(committedWhenAnswered.length, 200);
    assert.ok(committedWhenAnswered.every(Boolean));
    const batches = t.driver.stats.batches - before.batches;
    assert.equal(t.driver.stats.transactions - before.transactions, 200);
    assert.ok(batches >= 1 && batches < 200, `200 transactions in ${String(batches)} commits`);
  } finally {
    await t.close();
  }
});

test('a batch holds at most maxBatch transactions', async () => {
  const t = await open({ maxBatch: 8 });
  try {
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.db.insertInto('items').values({ id: i, owner: null }).execute()));
    assert.ok(t.driver.stats.largestBatch <= 8, `largest batch ${String(t.driver.stats.largestBatch)}`);
    assert.deepEqual(t.peek('select count(*) as n from items'), [{ n: 50 }]);
  } finally {
    await t.close();
  }
});

test('a transaction that fails is undone alone; the others of its batch commit', async () => {
  const t = await open();
  try {
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => t.db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: i, owner: null }).execute();
      if (i % 3 === 0) throw new Error(`refused ${String(i)}`);
    })));
    assert.equal(results.filter((r) => r.status === 'rejected').length, 10);
    const ids = (await t.db.selectFrom('items').select('id').orderBy('id').execute()).map((r) => r.id);
    assert.deepEqual(ids, Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0));
  } finally {
    await t.close();
  }
});

test('a failed statement outside a transaction is undone alone and reported at once', async () => {
  const t = await open();
  try {
    const results = await Promise.allSettled([1, 2, 2, 3].map((id) => t.db.insertInto('items').values({ id, owner: null }).execute()));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(t.peek('select id from items order by id'), [{ id: 1 }, { id: 2 }, { id: 3 }]);
  } finally {
    await t.close();
  }
});

test('when the commit fails, every transaction of the batch fails and nothing of the batch remains', async () => {
  const t = await open();
  try {
    await t.db.insertInto('owners').values({ id: 1 }).execute();
    // Ten transactions in one batch; one leaves a foreign key broken, which only the COMMIT checks.
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => t.db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: i, owner: i === 4 ? 99 : 1 }).execute();
    })));
    assert.ok(results.every((r) => r.status === 'rejected'), JSON.stringify(results.map((r) => r.status)));
    assert.deepEqual(t.peek('select count(*) as n from items'), [{ n: 0 }]);
    // The store goes on: the next batch commits.
    await t.db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 100, owner: 1 }).execute();
    });
    assert.deepEqual(t.peek('select id from items'), [{ id: 100 }]);
  } finally {
    await t.close();
  }
});

test('a read outside a transaction does not see what the open batch has not committed', async () => {
  const t = await open();
  try {
    const { release, writing } = await holdTransaction(t.db, 7);
    // The transaction holds its turn: its row is written but not committed.
    assert.deepEqual(await t.db.selectFrom('items').selectAll().execute(), []);
    release();
    await writing;
    assert.deepEqual(await t.db.selectFrom('items').selectAll().execute(), [{ id: 7, owner: null }]);
  } finally {
    await t.close();
  }
});

test('in memory (no reader connection), a read waits for the open batch and is answered after its commit', async () => {
  const t = await open({ memory: true });
  try {
    const { release, writing } = await holdTransaction(t.db, 1);
    let answered = false;
    const reading = t.db.selectFrom('items').selectAll().execute().then((rows) => {
      answered = true;
      return rows;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(answered, false, 'a read was answered while the batch was open');
    release();
    await writing;
    assert.deepEqual(await reading, [{ id: 1, owner: null }]);
    await assert.rejects(t.db.transaction().execute(async (tx) => {
      await tx.insertInto('items').values({ id: 2, owner: null }).execute();
      throw new Error('refused');
    }), /refused/);
    assert.deepEqual(await t.db.selectFrom('items').select('id').execute(), [{ id: 1 }]);
  } finally {
    await t.close();
  }
});

test("the driver's own transactions (the store's): they share commits, a failed one is undone alone, and nothing runs in one once it has ended", async () => {
  const t = await open();
  try {
    const { driver } = t;
    const insert = 'insert into items (id, owner) values (?, null)';
    const leaked: { run?: (sql: string, p: readonly unknown[]) => Promise<unknown>; query?: () => Promise<unknown> } = {};
    const batchesBefore = driver.stats.batches;
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((id) => driver.transaction(async (tx) => {
      await tx.run(insert, [id]);
      // Also through the connection, as a Kysely-built query of the transaction runs.
      await tx.connection.executeQuery(CompiledQuery.raw(insert, [id + 100]));
      if (id === 1) {
        leaked.run = tx.run;
        leaked.query = () => tx.connection.executeQuery(CompiledQuery.raw(insert, [999]));
      }
      if (id === 3) throw new Error('refused');
      return id;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.equal(driver.stats.batches - batchesBefore, 1, 'the four shared one commit');
    const ids = (): unknown[] => t.peek('select id from items order by id').map((r) => (r as { id: number }).id);
    assert.deepEqual(ids(), [1, 2, 4, 101, 102, 104]);
    // A statement of a transaction that has ended is refused, not run on its own or in another transaction.
    await assert.rejects(leaked.run?.(insert, [998]) ?? Promise.resolve(), /the transaction has ended/);
    await assert.rejects(leaked.query?.() ?? Promise.resolve(), /the transaction has ended/);
    await driver.transaction(async (tx) => {
      await assert.rejects(leaked.run?.(insert, [997]) ?? Promise.resolve(), /the transaction has ended/);
      await tx.run(insert, [5]);
    });
    assert.deepEqual(ids(), [1, 2, 4, 5, 101, 102, 104]);
  } finally {
    await t.close();
  }
});

test('migrations run in one transaction: one that fails leaves the schema as it was, with nothing recorded', async () => {
  const { db, peek, close } = await open();
  try {
    const migrations: Record<string, Migration> = {
      '001_renames': {
        async up(k: Kysely<unknown>): Promise<void> {
          await sql`alter table owners rename to owners_old`.execute(k);
        },
      },
      '002_fails_halfway': {
        async up(k: Kysely<unknown>): Promise<void> {
          await sql`create table owners (id integer primary key, name text)`.execute(k);
          await sql`insert into no_such_table values (1)`.execute(k);
        },
      },
    };
    const migrator = new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
    const { error, results } = await migrator.migrateToLatest();
    assert.ok(error instanceof Error && /no_such_table/.test(error.message));
    assert.equal(results?.find((r) => r.status === 'Error')?.migrationName, '002_fails_halfway');
    const tables = (peek(`select name from sqlite_master where type = 'table' and name like 'owners%' order by name`) as { name: string }[]).map((r) => r.name);
    assert.deepEqual(tables, ['owners']);
    assert.deepEqual(peek(`select name from pragma_table_info('owners')`), [{ name: 'id' }]);
    assert.deepEqual(peek('select name from kysely_migration'), []);
  } finally {
    await close();
  }
});
