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
    // Reads outside transactions go to a second, read-only connection, which sees committed data only (see
    // sqlite-driver.ts); an in-memory database cannot have one.
    reader = file === ':memory:' ? undefined : new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    reader?.pragma('busy_timeout = 5000');
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
