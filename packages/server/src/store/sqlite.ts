/** Opens the embedded SQLite store: WAL mode, the chosen `synchronous` level, group commit, migrations applied. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SingleConnectionProvider, Transaction } from 'kysely';
import { Checkpointer } from './checkpointer.js';
import { lockDataDir } from './dir-lock.js';
import { GroupCommitDialect, GroupCommitDriver } from './sqlite-driver.js';
import type { Database } from './schema.js';
import { Store } from './store.js';

export interface SqliteOptions {
  /** Data directory, or `:memory:`. */
  dataDir: string;
  synchronous: 'normal' | 'full';
  /** Most users kept for reads (see `Store.getUser`; default `MAX_KEPT_USERS`). */
  maxKeptUsers?: number;
  /** Most replay records found by key in memory (see `Store.openReplayRecords`; default `MAX_REPLAY_KEYS`). */
  maxReplayKeys?: number;
  /** How long replay records must pause before forgotten rows are deleted (see `StoreEngine.replayIdleMs`). */
  replayIdleMs?: number;
}

export const SQLITE_FILE = 'partnerkit.sqlite';

/**
 * KiB of pages each connection keeps (better-sqlite3's default is 16,000). Pages it does not keep are read again
 * from the operating system's cache, which costs a random user's PATCH nothing measurable: SQLite's µs per PATCH
 * were the same with 4 MiB and 16 MB, on 10 k users and on 1 M (`npm run sqlite-scale --prefix bench --
 * --cache-kib N`). On 1 M random users the caches fill: the benchmark's largest RSS there fell from 198 to 181 MiB
 * (medians of 4; docs/configuration.md, "SQLite's page caches").
 */
export const PAGE_CACHE_KIB = 4096;

export async function openSqliteStore(opts: SqliteOptions): Promise<Store> {
  let file = ':memory:';
  let unlock = (): void => undefined;
  if (opts.dataDir !== ':memory:') {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    file = join(opts.dataDir, SQLITE_FILE);
    unlock = lockDataDir(opts.dataDir);
  }
  let writer: BetterSqlite3.Database | undefined;
  let reader: BetterSqlite3.Database | undefined;
  let checkpointer: Checkpointer | undefined;
  try {
    writer = new BetterSqlite3(file);
    writer.pragma('journal_mode = WAL');
    writer.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    writer.pragma('foreign_keys = ON');
    writer.pragma('busy_timeout = 5000');
    // An in-memory database's pages are its storage, and it keeps them all whatever the setting.
    if (file !== ':memory:') writer.pragma(`cache_size = -${String(PAGE_CACHE_KIB)}`);
    // Reads outside transactions go to a second, read-only connection, which sees committed data only (see
    // sqlite-driver.ts); an in-memory database cannot have one.
    reader = file === ':memory:' ? undefined : new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    reader?.pragma('busy_timeout = 5000');
    reader?.pragma(`cache_size = -${String(PAGE_CACHE_KIB)}`);
    checkpointer = file === ':memory:' ? undefined : new Checkpointer(writer);
  } catch (err) {
    await checkpointer?.close();
    reader?.close();
    writer?.close();
    unlock();
    throw err;
  }
  const driver = new GroupCommitDriver({ writer, ...(reader ? { reader } : {}), ...(checkpointer ? { checkpointer } : {}), onDestroy: unlock });
  const dialect = new GroupCommitDialect(driver);
  const kysely = new Kysely<Database>({ dialect });
  const store = new Store(kysely, 'sqlite', {
    direct: {
      outside: driver.execute,
      transaction: (fn) => driver.transaction((tx) => fn({
        run: tx.run,
        onKept: tx.onKept,
        // Kysely-built queries of the transaction (few store methods make them), on its connection.
        db: () => new Transaction<Database>({ config: { dialect }, dialect, driver, executor: kysely.getExecutor().withConnectionProvider(new SingleConnectionProvider(tx.connection)) }),
      })),
      onBatchLost: (f) => driver.onBatchLost(f),
    },
    warm: async (text, parameters) => {
      await checkpointer?.warm(text, parameters);
    },
    ...(opts.maxKeptUsers !== undefined ? { maxKeptUsers: opts.maxKeptUsers } : {}),
    ...(opts.maxReplayKeys !== undefined ? { maxReplayKeys: opts.maxReplayKeys } : {}),
    ...(opts.replayIdleMs !== undefined ? { replayIdleMs: opts.replayIdleMs } : {}),
  });
  try {
    await store.migrate();
    await store.openReplayRecords();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
