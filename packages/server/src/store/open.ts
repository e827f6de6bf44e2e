/** Opens the store the configuration names: PostgreSQL when a database URL is given, else SQLite in the data directory. */
import type { Config } from '../config.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type StoreConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'databasePoolSize' | 'sqliteSynchronous'>;

export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.databaseUrl !== undefined) {
    // Loaded only here: node-postgres takes some 40 ms of a start to load, which SQLite does without.
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore({ url: config.databaseUrl, poolSize: config.databasePoolSize });
  }
  return openSqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
}
