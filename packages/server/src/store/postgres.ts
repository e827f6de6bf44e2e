/**
 * Opens the PostgreSQL store: a node-postgres pool behind Kysely's PostgresDialect, migrations applied under an
 * advisory lock so several instances may start at once on one database. The same query code as SQLite.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, type LogEvent, type PostgresCursor, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult } from 'kysely';
import type { Database } from './schema.js';
import { FIXED_POSTGRES_SQL, Store } from './store.js';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database?…` */
  url: string;
  /** Connections in the pool. */
  poolSize: number;
  /** How long opening a connection may take before the database counts as unreachable. Default 2000. */
  connectionTimeoutMs?: number;
  /**
   * How long a query waits for a free connection of the pool (all busy under load) before it fails with 503.
   * Default 10000.
   */
  acquireTimeoutMs?: number;
  /** Called with the SQL text of each statement the store ran (tests watch what reaches the database). */
  onQuery?: (sql: string) => void;
}

/**
 * Key of the session advisory lock held while one instance migrates, creates the signing key and loads seed
 * data (the bytes of "PKstart"); every instance on the database takes the same one.
 */
export const STARTUP_LOCK_KEY = 0x504b7374617274;

/**
 * int8 (bigint, bigserial, count(*)) as a JS number, so the store's code keeps `number`: its values (sequence
 * numbers, epoch milliseconds, counts) stay far below 2^53. Set on the pool's own type overrides, not on
 * node-postgres globally.
 */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, 'text', (v: string) => Number(v));

/** Errors of idle connections (the database restarted, a network cut) reach this; they never crash the process. */
export type ConnectionErrorListener = (err: Error) => void;

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the database';
  }
}

/** Names of the prepared statements, by text (the same name on every connection). */
const statementNames = new Map<string, string>();
/** Texts whose prepared statement went stale (a migration changed a table under it): run unprepared from then on. */
const stale = new Set<string>();

/** SQLSTATE 0A000 with this message: a prepared `select *` whose table gained or lost a column since. */
const isStalePlan = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '0A000' &&
  /cached plan must not change result type/i.test(String((err as { message?: unknown }).message));

/**
 * The pool as Kysely sees it, with the store's fixed statements (FIXED_POSTGRES_SQL) run as named prepared
 * statements: node-postgres parses each once per connection, and the server keeps its plan, instead of parsing
 * and planning it on every call (the common PATCH sends four of them). Any other query is sent as before. A
 * statement whose table changed shape under it (another instance migrated) is run unprepared from then on.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  const prepared = (client: pg.PoolClient): PostgresPoolClient => {
    function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query<R>(q: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
      if (typeof q !== 'string') return client.query(q as unknown as pg.Submittable) as unknown as PostgresCursor<R>;
      const values = parameters === undefined ? [] : [...parameters];
      if (values.length === 0 || !FIXED_POSTGRES_SQL.has(q) || stale.has(q)) {
        return client.query(q, values) as unknown as Promise<PostgresQueryResult<R>>;
      }
      let name = statementNames.get(q);
      if (name === undefined) {
        name = `pk_${String(statementNames.size + 1)}`;
        statementNames.set(q, name);
      }
      return (client.query({ name, text: q, values }) as unknown as Promise<PostgresQueryResult<R>>).catch((err: unknown) => {
        if (!isStalePlan(err)) throw err;
        stale.add(q);
        return client.query(q, values) as unknown as Promise<PostgresQueryResult<R>>;
      });
    }
    return { query, release: (destroy?: boolean) => { client.release(destroy); } };
  };
  return {
    connect: async () => prepared(await pool.connect()),
    end: () => pool.end(),
  };
}

export async function openPostgresStore(opts: PostgresOptions): Promise<Store> {
  const connectionTimeoutMillis = opts.connectionTimeoutMs ?? 2000;
  let listener: ConnectionErrorListener = (err) => {
    process.stderr.write(`partnerkit: database connection error: ${err.message}\n`);
  };
  // pg-pool's connectionTimeoutMillis bounds both the wait for a free connection and the opening of a new one;
  // the pool's bounds the wait (load), each client's own bounds the opening (an unreachable database fails fast).
  // A connection lost while checked out (between the queries of a transaction) emits 'error' with no listener
  // of the pool's attached, which would crash the process: each client has its own. The query that uses it next
  // fails ("not queryable": 503), and the pool drops it when it is released.
  class Client extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis });
      this.on('error', () => undefined);
    }
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    connectionTimeoutMillis: opts.acquireTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'partnerkit',
    types,
    Client,
  });
  pool.on('error', (err) => listener(err));

  /** Runs `fn` holding the startup lock, on a connection of its own (so a pool of one still serves `fn`). */
  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis, application_name: 'partnerkit-startup', types });
    client.on('error', (err) => listener(err));
    await client.connect();
    try {
      await client.query('select pg_advisory_lock($1)', [STARTUP_LOCK_KEY]);
      try {
        return await fn();
      } finally {
        await client.query('select pg_advisory_unlock($1)', [STARTUP_LOCK_KEY]).catch(() => undefined);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  const onQuery = opts.onQuery;
  const kysely = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: preparingPool(pool) }),
    ...(onQuery === undefined ? {} : { log: (e: LogEvent) => { if (e.level === 'query') onQuery(e.query.sql); } }),
  });
  const store = new Store(kysely, 'postgres', {
    exclusive,
    onConnectionError: (l) => {
      listener = l;
    },
  });
  try {
    await exclusive(() => store.migrate());
  } catch (err) {
    await store.close().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot open the PostgreSQL store at ${describeUrl(opts.url)}: ${reason}`, { cause: err });
  }
  return store;
}
