/** Opens the embedded SQLite store: WAL mode, the chosen `synchronous` level, migrations applied. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import type { Database } from './schema.js';
import { Store } from './store.js';

export interface SqliteOptions {
  /** Data directory, or `:memory:`. */
  dataDir: string;
  synchronous: 'normal' | 'full';
}

export const SQLITE_FILE = 'partnerkit.sqlite';

/** Most statements kept prepared; the store's queries take a few dozen shapes. */
const STATEMENT_CACHE_SIZE = 512;

/**
 * Kysely's SQLite driver prepares every query anew, which costs as much as running it; this keeps prepared
 * statements by SQL text and reuses them (the driver runs one query at a time on the one connection, and steps
 * every statement to its end with `.all()` or `.run()`, so a statement is never in use twice at once).
 */
export function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      cache.clear();
      database.close();
    },
    prepare: (sql: string) => {
      let stmt = cache.get(sql);
      if (stmt === undefined) {
        stmt = database.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

export async function openSqliteStore(opts: SqliteOptions): Promise<Store> {
  let file = ':memory:';
  if (opts.dataDir !== ':memory:') {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    file = join(opts.dataDir, SQLITE_FILE);
  }
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  const store = new Store(kysely, 'sqlite');
  await store.migrate();
  return store;
}
