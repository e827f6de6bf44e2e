/**
 * Checkpoints of the SQLite store run on a worker thread, and the WAL stays bounded under sustained writes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { suiteTempDir } from '../testing/harness.js';
import { Checkpointer, type CheckpointerOptions } from './checkpointer.js';
import { GroupCommitDialect, GroupCommitDriver } from './sqlite-driver.js';

interface TestDb {
  rows: { id: number; padding: string };
}

const dir = suiteTempDir('pk-ckpt-');

let n = 0;
async function open(opts: CheckpointerOptions): Promise<{ db: Kysely<TestDb>; file: string; checkpointer: Checkpointer; writer: BetterSqlite3.Database }> {
  const file = join(dir(), `c${String(++n)}.sqlite`);
  const writer = new BetterSqlite3(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('synchronous = NORMAL');
  const reader = new BetterSqlite3(file, { readonly: true });
  const checkpointer = new Checkpointer(writer, opts);
  const db = new Kysely<TestDb>({ dialect: new GroupCommitDialect(new GroupCommitDriver({ writer, reader, checkpointer })) });
  await sql`create table rows (id integer primary key, padding text not null)`.execute(db);
  return { db, file, checkpointer, writer };
}

/**
 * `batches` rounds of `perBatch` concurrent one-row transactions of about 1 KiB each, ids from `after` + 1; `each`
 * runs after every round. Answers the last id.
 */
async function write(db: Kysely<TestDb>, batches: number, perBatch: number, each: () => void = () => undefined, after = 0): Promise<number> {
  let id = after;
  for (let b = 0; b < batches; b++) {
    await Promise.all(Array.from({ length: perBatch }, () => {
      const row = { id: ++id, padding: `${String(id)}:${'x'.repeat(1000)}` };
      return db.transaction().execute((tx) => tx.insertInto('rows').values(row).execute());
    }));
    each();
  }
  return id;
}

/** The rows a copy of the database file holds without its WAL: those the checkpoints copied into it. */
function rowsInFileAlone(file: string): number {
  const copy = join(dir(), `copy${String(n)}.sqlite`);
  copyFileSync(file, copy);
  const alone = new BetterSqlite3(copy, { readonly: true });
  try {
    return (alone.prepare('select count(*) as c from rows').get() as { c: number }).c;
  } finally {
    alone.close();
  }
}

async function settled(checkpointer: Checkpointer): Promise<void> {
  for (let waited = 0; checkpointer.busy; waited += 10) {
    if (waited > 20_000) throw new Error('the checkpoint worker did not finish');
    await sleep(10);
  }
}

test('the worker copies committed batches into the database file while the writer does not checkpoint', async () => {
  // A WAL limit the writes stay far below: the writer's own (automatic) checkpoint, at twice it, never runs.
  const t = await open({ restartFrames: 1_000_000, intervalMs: 5, mainThreadFrames: 0 });
  try {
    assert.equal(t.writer.pragma('wal_autocheckpoint', { simple: true }), 2_000_000);
    const written = await write(t.db, 40, 25);
    await settled(t.checkpointer);
    assert.ok(t.checkpointer.stats.checkpoints > 0);
    assert.equal(t.checkpointer.stats.onWriter, 0);
    assert.equal(t.checkpointer.stats.failures, 0);
    // The database file alone, without its WAL, holds every row: the worker copied them.
    assert.equal(rowsInFileAlone(t.file), written);
  } finally {
    await t.db.destroy();
  }
});

test('small WALs are checkpointed by the writer itself; the first checkpoint that finds more than mainThreadFrames starts the worker', async () => {
  const t = await open({ restartFrames: 1_000_000, intervalMs: 1, mainThreadFrames: 40 });
  try {
    // A few small commits: each checkpoint finds a few frames, and runs on the writer.
    const first = await write(t.db, 3, 2);
    await sleep(20);
    await settled(t.checkpointer);
    assert.equal(t.checkpointer.started, false);
    assert.ok(t.checkpointer.stats.checkpoints > 0);
    assert.equal(t.checkpointer.stats.onWriter, t.checkpointer.stats.checkpoints);
    assert.ok(t.checkpointer.stats.largestLog <= 40, `${String(t.checkpointer.stats.largestLog)} frames`);
    // The database file alone holds the rows: the writer's checkpoints copied them.
    assert.equal(rowsInFileAlone(t.file), first);
    // One batch of some 200 KiB: the next checkpoint finds more than 40 frames and starts the worker, which does the
    // checkpoints after it.
    const second = await write(t.db, 1, 200, undefined, first);
    await settled(t.checkpointer);
    assert.ok(t.checkpointer.stats.largestLog > 40, `${String(t.checkpointer.stats.largestLog)} frames`);
    assert.equal(t.checkpointer.started, true);
    const before = { ...t.checkpointer.stats };
    await write(t.db, 5, 5, undefined, second);
    await settled(t.checkpointer);
    assert.ok(t.checkpointer.stats.checkpoints > before.checkpoints);
    assert.equal(t.checkpointer.stats.onWriter, before.onWriter);
    assert.equal(t.checkpointer.stats.failures, 0);
    assert.deepEqual(t.writer.prepare('select count(*) as c from rows').get(), { c: second + 25 });
  } finally {
    await t.db.destroy();
  }
});

test('under sustained writes the WAL starts over and its file stays bounded', async () => {
  const restartFrames = 64;
  const t = await open({ restartFrames, intervalMs: 1 });
  const wal = `${t.file}-wal`;
  let largest = 0;
  try {
    const pageSize = Number(t.writer.pragma('page_size', { simple: true }));
    // About 10 MiB written, in batches of about 25 KiB.
    await write(t.db, 400, 25, () => {
      if (existsSync(wal)) largest = Math.max(largest, statSync(wal).size);
    });
    await settled(t.checkpointer);
    assert.ok(t.checkpointer.stats.checkpoints > 0);
    // The WAL file reaches the limit and one batch past it, a few times over if a restart must wait: never the
    // 10 MiB written.
    const bound = 4 * restartFrames * (pageSize + 24);
    assert.ok(largest <= bound, `WAL file reached ${String(largest)} bytes (bound ${String(bound)})`);
    assert.deepEqual(t.writer.prepare('select count(*) as c from rows').get(), { c: 10_000 });
  } finally {
    await t.db.destroy();
  }
  // The last connection to close removes the WAL.
  assert.equal(existsSync(wal), false);
});

/** The WAL header's checkpoint sequence number: it changes each time the WAL starts over. */
function walSequence(wal: string): number | undefined {
  if (!existsSync(wal)) return undefined;
  const header = readFileSync(wal).subarray(0, 32);
  return header.length < 32 ? undefined : header.readUInt32BE(12);
}

test('under steady writes the WAL starts over in pauses of the writes, once the worker has copied all of it', async () => {
  const restartFrames = 64;
  const t = await open({ restartFrames, intervalMs: 1, mainThreadFrames: 0 });
  const wal = `${t.file}-wal`;
  let restarts = 0;
  let last: number | undefined;
  const watch = setInterval(() => {
    const now = walSequence(wal);
    if (last !== undefined && now !== undefined && now !== last) restarts++;
    last = now ?? last;
  }, 1);
  try {
    // 25 writers, each one row after another with no gap: a batch is open nearly all the time, so the whole WAL is
    // copied with no batch open only when the writes are paused for it.
    let id = 0;
    await Promise.all(Array.from({ length: 25 }, async () => {
      for (let i = 0; i < 300; i++) {
        const row = { id: ++id, padding: `${String(id)}:${'x'.repeat(1000)}` };
        await t.db.transaction().execute((tx) => tx.insertInto('rows').values(row).execute());
      }
    }));
    await settled(t.checkpointer);
    const { pauses, restartsReady, failures, longestPauseMs } = t.checkpointer.stats;
    assert.equal(failures, 0);
    assert.ok(pauses > 0, 'the writes were paused for restarts');
    // A pause ends ready unless its last checkpoint found a reader in the way or took longer than MAX_PAUSE_MS.
    assert.ok(restartsReady > 0 && restartsReady * 2 >= pauses, `${String(restartsReady)} of ${String(pauses)} pauses ended with the whole WAL copied (longest ${longestPauseMs.toFixed(1)} ms)`);
    // Each pause lets the next batch start the WAL over (all but maybe the last, after which nothing is written).
    // Were the batches not held back, a batch would commit between the last checkpoint and the next one's start,
    // and most pauses would end with no restart.
    assert.ok(restarts >= pauses - 1, `${String(restarts)} restarts seen for ${String(pauses)} pauses`);
    assert.deepEqual(t.writer.prepare('select count(*) as c from rows').get(), { c: 7_500 });
  } finally {
    clearInterval(watch);
    await t.db.destroy();
  }
});

test('a restart that a reader holds back does not pause the writes again at once', async () => {
  const t = await open({ restartFrames: 64, intervalMs: 1, mainThreadFrames: 0 });
  // A read transaction that uses the WAL: the WAL cannot start over while it lasts. (One that began with the whole
  // WAL copied reads the database file alone, and does not hold the WAL back.) So a row is written first by a
  // connection of its own, which the checkpointer does not hear of, and the reader's snapshot takes it in.
  const holder = new BetterSqlite3(t.file, { readonly: true });
  const other = new BetterSqlite3(t.file);
  try {
    await write(t.db, 4, 25);
    await settled(t.checkpointer);
    other.pragma('wal_autocheckpoint = 0');
    other.prepare('insert into rows (id, padding) values (?, ?)').run(100_000, 'x');
    holder.exec('BEGIN');
    holder.prepare('select count(*) from rows').get();
    const started = performance.now();
    let id = 1000;
    while (performance.now() - started < 600) {
      await Promise.all(Array.from({ length: 25 }, () => {
        const row = { id: ++id, padding: `${String(id)}:${'x'.repeat(1000)}` };
        return t.db.transaction().execute((tx) => tx.insertInto('rows').values(row).execute());
      }));
    }
    // While the reader held the WAL back (0.6 s): the first pause, and no other before PAUSE_SPACING_MS (1 s) has
    // passed. (Once the reader lets go, another may come, as it should.)
    const pauses = t.checkpointer.stats.pauses;
    holder.exec('COMMIT');
    await settled(t.checkpointer);
    assert.equal(pauses, 1, `${String(pauses)} pauses`);
  } finally {
    holder.close();
    other.close();
    await t.db.destroy();
  }
});

test("a worker that cannot start leaves the checkpoints to the writer, at SQLite's default threshold", async () => {
  const t = await open({ restartFrames: 1_000_000, mainThreadFrames: 0, workerUrl: new URL('./no-such-checkpoint-worker.js', import.meta.url) });
  try {
    for (let waited = 0; t.checkpointer.busy || t.writer.pragma('wal_autocheckpoint', { simple: true }) !== 1000; waited += 10) {
      if (waited > 10_000) assert.fail(`wal_autocheckpoint is ${String(t.writer.pragma('wal_autocheckpoint', { simple: true }))}`);
      await sleep(10);
    }
    // The store goes on: writes commit, and closing does not wait for the worker that never ran.
    assert.equal(await write(t.db, 2, 5), 10);
  } finally {
    await t.db.destroy();
  }
});

test('reads asked of the worker run on its connection, off the writer: only read-only ones, in turn with its checkpoints', async () => {
  const t = await open({ restartFrames: 1_000_000, intervalMs: 1, mainThreadFrames: 0 });
  try {
    // A range with an upper bound: the batches committed while the read runs (ids past `written`) do not change
    // what it finds, whichever of them it sees.
    const count = 'select id from rows where id > ? and id <= ?';
    // No worker yet: nothing runs, and the caller goes on at once.
    assert.equal(t.checkpointer.started, false);
    assert.equal(await t.checkpointer.warm(count, [0, Number.MAX_SAFE_INTEGER]), undefined);
    const written = await write(t.db, 10, 20);
    await settled(t.checkpointer);
    assert.equal(t.checkpointer.started, true);
    const checkpoints = t.checkpointer.stats.checkpoints;

    // The worker runs the read with the parameters given, while batches commit and it checkpoints them.
    const [warmed] = await Promise.all([t.checkpointer.warm(count, [written - 50, written]), write(t.db, 5, 10, undefined, written)]);
    assert.equal(warmed, 50);
    await settled(t.checkpointer);
    assert.ok(t.checkpointer.stats.checkpoints > checkpoints, 'checkpoint reports still reach the checkpointer');
    assert.equal(t.checkpointer.stats.failures, 0);

    // A statement that writes is refused there (the writer alone writes), and so is one that fails: neither stops the caller.
    assert.equal(await t.checkpointer.warm('delete from rows', []), undefined);
    assert.equal(await t.checkpointer.warm('select * from no_such_table', []), undefined);
    assert.deepEqual(t.writer.prepare('select count(*) as c from rows').get(), { c: written + 50 });
    // A read still under way when the store closes settles too.
    const pending = t.checkpointer.warm(count, [0, Number.MAX_SAFE_INTEGER]);
    await t.db.destroy();
    const rows = await pending;
    assert.ok(rows === undefined || rows === written + 50, String(rows));
  } finally {
    await t.db.destroy();
  }
});
