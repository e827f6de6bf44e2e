/**
 * Kysely driver for the embedded SQLite store, with group commit.
 *
 * better-sqlite3 runs every statement synchronously on one connection. Committing each request's transaction on
 * its own costs a WAL write (and its pages) per request; here the transactions of many requests share one
 * `BEGIN … COMMIT` on the writer connection:
 *
 * - Transactions take turns. Each runs inside its own `SAVEPOINT` of the open batch; when it ends, its savepoint
 *   is released (kept) or rolled back (undone, alone), and the next waiting transaction takes its turn.
 * - When no transaction is waiting (checked once pending I/O has run, so requests that arrived meanwhile join),
 *   or the batch is full, the batch commits. Only then does each kept transaction's `commit` resolve: no caller
 *   hears of a change before it is durable, and an error of the `COMMIT` fails every transaction of the batch.
 * - A write outside a transaction is a one-statement transaction of the batch (SQLite undoes a failed statement
 *   alone), answered after the commit too.
 * - Reads outside a transaction run on a second, read-only connection, which sees committed data only: nothing
 *   is read that a failed commit could still undo. An in-memory database has no second connection, so there
 *   every statement takes its turn and is answered after the commit.
 * - If SQLite rolls the whole batch back by itself (it may on a full disk or an I/O error), every transaction of
 *   the batch fails with that error.
 */
import type BetterSqlite3 from 'better-sqlite3';
import {
  type CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import { endOfTurn } from '../turn.js';
import type { Checkpointer } from './checkpointer.js';

/** Most statements kept prepared per connection; the store's queries take a few dozen shapes. */
const STATEMENT_CACHE_SIZE = 512;
/** Most transactions in one batch: bounds how long the first of them waits for its commit. */
export const MAX_BATCH = 256;

/** Prepared statements by SQL text (preparing costs about as much as running a simple statement). */
class Statements {
  private readonly cache = new Map<string, BetterSqlite3.Statement>();
  constructor(readonly db: BetterSqlite3.Database) {}
  get(sql: string): BetterSqlite3.Statement {
    let stmt = this.cache.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (this.cache.size >= STATEMENT_CACHE_SIZE) this.cache.clear();
      this.cache.set(sql, stmt);
    }
    return stmt;
  }
}

/** Runs a statement to its end (`.all()` or `.run()`: an unfinished statement would stop WAL checkpoints). */
function run(stmt: BetterSqlite3.Statement, parameters: readonly unknown[]): QueryResult<unknown> {
  if (stmt.reader) return { rows: stmt.all(...parameters) };
  const { changes, lastInsertRowid } = stmt.run(...parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The writer connection's turns and batches. */
class GroupCommit {
  private holder = false;
  private readonly queue: (() => void)[] = [];
  private batchOpen = false;
  /** Transactions of the open batch that ended and wait for its commit. */
  private kept: Waiter[] = [];
  private commitScheduled = false;
  /** Set when SQLite rolled the open batch back by itself: the error every transaction of it fails with. */
  aborted: Error | undefined = undefined;
  /** Called when a batch is lost (its commit failed, or SQLite rolled it back by itself). */
  onLost: (() => void) | undefined = undefined;
  /** Figures for tests and benchmarks. */
  readonly stats = { batches: 0, transactions: 0, largestBatch: 0 };

  constructor(
    readonly statements: Statements,
    private readonly maxBatch: number,
    private readonly checkpointer: Checkpointer | undefined,
  ) {}

  private get db(): BetterSqlite3.Database {
    return this.statements.db;
  }

  /** Waits for this caller's turn on the writer, and opens a batch if none is open. */
  async takeTurn(): Promise<void> {
    if (this.holder) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.holder = true;
    }
    if (!this.batchOpen) {
      // While the checkpointer brings the WAL to its start, no batch opens (the caller holds the turn meanwhile).
      const pause = this.checkpointer?.pause;
      if (pause !== undefined) await pause;
      try {
        this.db.exec('BEGIN IMMEDIATE');
        this.aborted = undefined;
      } catch (err) {
        this.passTurn();
        throw err;
      }
      this.batchOpen = true;
    }
  }

  /**
   * Ends the turn. `keep`: the caller's work stays in the batch and the returned promise settles with the batch's
   * commit; otherwise it was undone (or never written) and the promise resolves at once.
   */
  endTurn(keep: boolean): Promise<void> {
    let done: Promise<void> = Promise.resolve();
    if (keep && this.batchOpen) {
      done = new Promise<void>((resolve, reject) => this.kept.push({ resolve, reject }));
      this.stats.transactions++;
    }
    if (this.kept.length >= this.maxBatch) this.commit();
    this.passTurn();
    return done;
  }

  private passTurn(): void {
    const next = this.queue.shift();
    if (next) {
      next();
      return;
    }
    this.holder = false;
    if (this.batchOpen && !this.commitScheduled) {
      this.commitScheduled = true;
      // At the end of the loop's turn (after pending I/O callbacks): requests read meanwhile join this batch.
      void endOfTurn().then(() => {
        this.commitScheduled = false;
        if (!this.holder) this.commit();
      });
    }
  }

  /** Commits the open batch and settles its transactions. */
  private commit(): void {
    if (!this.batchOpen) return;
    const kept = this.kept;
    this.kept = [];
    this.batchOpen = false;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // The connection is unusable; the next BEGIN says so.
        }
      }
      this.onLost?.();
      for (const w of kept) w.reject(err);
      return;
    }
    this.stats.batches++;
    if (kept.length > this.stats.largestBatch) this.stats.largestBatch = kept.length;
    this.checkpointer?.committed();
    for (const w of kept) w.resolve();
  }

  /**
   * After a statement failed: if SQLite rolled the whole batch back by itself, the batch's kept transactions
   * fail with the same error.
   */
  checkBatch(err: unknown): void {
    if (!this.batchOpen || this.db.inTransaction) return;
    this.batchOpen = false;
    this.aborted = err instanceof Error ? err : new Error('the database rolled the transaction back');
    const kept = this.kept;
    this.kept = [];
    this.onLost?.();
    for (const w of kept) w.reject(err);
  }

  /** True while the batch this transaction joined is still open (false once SQLite rolled it back). */
  get open(): boolean {
    return this.batchOpen;
  }

  /** Commits what is pending (at close). */
  flush(): void {
    if (!this.holder) this.commit();
  }
}

const SAVEPOINT = 'pk_tx';

/** One acquisition by Kysely: a single query, or a transaction (between `beginTransaction` and its end). */
class Connection implements DatabaseConnection {
  inTransaction = false;
  /** The transaction's savepoint was opened (and is not yet released or rolled back). */
  savepoint = false;

  constructor(
    private readonly writer: GroupCommit,
    private readonly reader: Statements | undefined,
  ) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return this.execute<R>(compiled.sql, compiled.parameters);
  }

  /** Runs SQL text on this connection: in its transaction, or outside any (a read at once, a write in its turn). */
  execute<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    try {
      if (this.inTransaction) return Promise.resolve(this.onWriter<R>(sql, parameters));
      if (this.reader) {
        const stmt = this.writer.statements.get(sql);
        if (stmt.readonly) return Promise.resolve(run(this.reader.get(sql), parameters) as QueryResult<R>);
      }
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.writeOutside<R>(sql, parameters);
  }

  /** A write (or, in memory, any statement) outside a transaction: a one-statement transaction of the batch. */
  private async writeOutside<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    await this.writer.takeTurn();
    let result: QueryResult<R>;
    try {
      result = this.onWriter<R>(sql, parameters);
    } catch (err) {
      await this.writer.endTurn(false);
      throw err;
    }
    await this.writer.endTurn(true);
    return result;
  }

  /** Runs a statement on the writer, during this connection's turn. */
  onWriter<R>(sql: string, parameters: readonly unknown[]): QueryResult<R> {
    // The batch this transaction ran in is gone: nothing more of it may run (it would commit on its own).
    if (this.savepoint && !this.writer.open) throw this.writer.aborted ?? new Error('the database rolled the transaction back');
    try {
      return run(this.writer.statements.get(sql), parameters) as QueryResult<R>;
    } catch (err) {
      this.writer.checkBatch(err);
      throw err;
    }
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the SQLite store does not stream queries');
  }
}

function own(connection: DatabaseConnection): Connection {
  if (!(connection instanceof Connection)) throw new Error('not a connection of this driver');
  return connection;
}

export interface GroupCommitDriverOptions {
  /** The connection that writes (and reads inside transactions). */
  writer: BetterSqlite3.Database;
  /** A read-only connection to the same file for reads outside transactions; none for an in-memory database. */
  reader?: BetterSqlite3.Database;
  maxBatch?: number;
  /** Runs the checkpoints off the main thread (a file database); without it, SQLite's own run after commits. */
  checkpointer?: Checkpointer;
  /** Called once both connections are closed (the data directory's lock is given back). */
  onDestroy?: () => void;
}

export type SqlRunner = (sql: string, parameters: readonly unknown[]) => Promise<QueryResult<unknown>>;

/** A transaction run by `GroupCommitDriver.transaction`: both refuse to run once it has ended. */
export interface DirectTransaction {
  /** Runs SQL text in the transaction. */
  run: SqlRunner;
  /** The transaction's connection, for queries Kysely builds (see `Store.transaction`). */
  connection: DatabaseConnection;
  /**
   * Sets what runs when the transaction is kept in its batch (its savepoint released, before any other transaction
   * takes its turn): from then on the writer connection has its changes, until the batch commits or is lost (see
   * `GroupCommitDriver.onBatchLost`).
   */
  onKept: (fn: () => void) => void;
}

const ended = (): Promise<never> => Promise.reject(new Error('the transaction has ended'));

export class GroupCommitDriver implements Driver {
  private readonly group: GroupCommit;
  private readonly reader: Statements | undefined;

  constructor(private readonly opts: GroupCommitDriverOptions) {
    this.group = new GroupCommit(new Statements(opts.writer), opts.maxBatch ?? MAX_BATCH, opts.checkpointer);
    this.reader = opts.reader ? new Statements(opts.reader) : undefined;
  }

  get stats(): Readonly<{ batches: number; transactions: number; largestBatch: number }> {
    return this.group.stats;
  }

  async init(): Promise<void> {
    // Both connections are open already.
  }

  /** Runs SQL text outside any transaction, as a query through Kysely would, without Kysely's plumbing. */
  execute: SqlRunner = (sql, parameters) => new Connection(this.group, this.reader).execute(sql, parameters);

  /**
   * Runs `fn` as one transaction of the batch, as Kysely's `transaction().execute()` does with this driver (begin;
   * `fn`; commit, or roll back when `fn` or the commit fails), without Kysely's connection plumbing: its async
   * steps cost more than a statement here (the store's transactions use this; migrations and tests go through Kysely).
   */
  async transaction<T>(fn: (tx: DirectTransaction) => Promise<T>): Promise<T> {
    const c = new Connection(this.group, this.reader);
    await this.beginTransaction(c);
    let kept: (() => void) | undefined;
    const tx: DirectTransaction = {
      onKept: (f) => {
        kept = f;
      },
      run: (sql, parameters) => (c.inTransaction ? c.execute(sql, parameters) : ended()),
      connection: {
        executeQuery: <R>(compiled: CompiledQuery): Promise<QueryResult<R>> => (c.inTransaction ? c.executeQuery<R>(compiled) : ended()),
        streamQuery: <R>(): AsyncIterableIterator<QueryResult<R>> => c.streamQuery<R>(),
      },
    };
    try {
      const result = await fn(tx);
      await this.commitTransaction(c, kept);
      return result;
    } catch (err) {
      await this.rollbackTransaction(c);
      throw err;
    }
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(new Connection(this.group, this.reader));
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = own(connection);
    await this.group.takeTurn();
    c.inTransaction = true;
    try {
      c.onWriter(`SAVEPOINT ${SAVEPOINT}`, []);
    } catch (err) {
      c.inTransaction = false;
      await this.group.endTurn(false);
      throw err;
    }
    c.savepoint = true;
  }

  /**
   * Sets what runs when a batch is lost (its `COMMIT` failed, or SQLite rolled it back by itself): every transaction
   * kept in it is undone, and fails.
   */
  onBatchLost(fn: () => void): void {
    this.group.onLost = fn;
  }

  /** Ends the transaction's turn, its work kept in the batch (`kept` runs then); settles with the batch's commit. */
  async commitTransaction(connection: DatabaseConnection, kept?: () => void): Promise<void> {
    const c = own(connection);
    if (!this.group.open) {
      // SQLite rolled the batch back during this transaction: nothing of it remains.
      c.savepoint = false;
      c.inTransaction = false;
      await this.group.endTurn(false);
      throw this.group.aborted ?? new Error('the database rolled the transaction back');
    }
    c.onWriter(`RELEASE ${SAVEPOINT}`, []);
    c.savepoint = false;
    c.inTransaction = false;
    kept?.();
    await this.group.endTurn(true);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = own(connection);
    if (!c.inTransaction) return; // ended already (its batch failed to commit)
    c.inTransaction = false;
    try {
      if (c.savepoint && this.group.open) {
        c.onWriter(`ROLLBACK TO ${SAVEPOINT}`, []);
        c.onWriter(`RELEASE ${SAVEPOINT}`, []);
      }
    } finally {
      c.savepoint = false;
      await this.group.endTurn(false);
    }
  }

  async releaseConnection(): Promise<void> {
    // Connections are per acquisition; nothing to give back.
  }

  async destroy(): Promise<void> {
    this.group.flush();
    try {
      // The writer closes last: as the last connection, it checkpoints what is left and removes the WAL.
      await this.opts.checkpointer?.close();
      this.opts.reader?.close();
      this.opts.writer.close();
    } finally {
      this.opts.onDestroy?.();
    }
  }
}

/**
 * SQLite's schema changes are transactional; Kysely's adapter says otherwise, so its migrator would run a migration's
 * statements one by one, and a crash in the middle of one (a table renamed, not yet rebuilt) would leave a schema
 * no version expects. Said here, the pending migrations run in one transaction, recorded with them.
 */
class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class GroupCommitDialect implements Dialect {
  constructor(readonly driver: GroupCommitDriver) {}
  createDriver(): Driver {
    return this.driver;
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
