/**
 * The Store port and its one Kysely implementation (SQLite and PostgreSQL share the query code).
 * `StoreTx` holds the queries; `Store` adds transactions and lifecycle.
 */
import { CompiledQuery, Kysely, Migrator, sql, type QueryResult, type Selectable, type Transaction } from 'kysely';
import { PartnerKitError } from '../errors.js';
import { endOfTurn } from '../turn.js';
import type { Database, UsersTable } from './schema.js';
import { isDatabaseError, isDivisionByZero, isUniqueViolation } from './errors.js';
import { ReferenceCache } from './reference-cache.js';
import { MAX_REPLAY_SEQ, ReplayKeys, replayKeyHash } from './replay-keys.js';
import type { SqlRunner } from './sqlite-driver.js';
import { KeptUsers, RecentReads } from './kept-users.js';
import { StaticMigrations, type Dialect } from './migrations.js';
import type {
  ApplicationRecord,
  AuditQuery,
  AuditRecordRow,
  CustomerDomainRecord,
  CustomerFilter,
  CustomerRecord,
  GdapGrant,
  GdapRelationshipRecord,
  IdempotencyRecord,
  PartnerRecord,
  PartnerUserRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  UserPageItem,
  UserPageQuery,
  UserRecord,
} from './records.js';

type Executor = Kysely<Database> | Transaction<Database>;
/** A replay record's row; `seq` only on SQLite (migration 005). */
type IdempotencyRow = Selectable<Database['idempotency']> & { seq?: number };
/** A replay record's key and `seq`, as a purge answers them. */
type ReplayKeyRow = { seq: number; partner_id: string; request_id: string };

export type { Dialect } from './migrations.js';

const upnInUse = (): PartnerKitError =>
  new PartnerKitError('userPrincipalNameInUse', 'The userPrincipalName is already in use by another user of this customer.', {
    data: [{ property: 'userPrincipalName' }],
  });

/**
 * No stored text holds U+0000 (PostgreSQL cannot store or even compare it: the query fails), so a lookup by a
 * request's text that holds one finds nothing, on every engine, without a query.
 */
const holdsNul = (text: string): boolean => text.includes('\u0000');

/** Escapes LIKE's wildcards (with `\` as the escape character). */
const likeEscape = (v: string): string => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * PostgreSQL texts of the store's fixed statements (each `FixedSql`, and the statements `combineWrites` makes of
 * them): a bounded set, which the PostgreSQL store prepares once per connection (postgres.ts) instead of having
 * the server parse and plan them on every call.
 */
export const FIXED_POSTGRES_SQL = new Set<string>();
/** Most texts kept in FIXED_POSTGRES_SQL; more are run unprepared. */
const MAX_FIXED_SQL = 1000;
function registerFixed(text: string): void {
  if (FIXED_POSTGRES_SQL.size < MAX_FIXED_SQL) FIXED_POSTGRES_SQL.add(text);
}

/**
 * A statement of a hot path, run as fixed SQL text instead of being built and compiled by Kysely on every call
 * (which cost more than running it). Written with `?` placeholders; PostgreSQL's `$n` are derived once.
 */
class FixedSql {
  readonly sqlite: string;
  readonly postgres: string;
  /** The same write for many rows at once, when held back on PostgreSQL (see `BatchForm`). */
  readonly batch: BatchForm | undefined;
  /** `sqliteOnly`: a statement PostgreSQL never runs (not among the texts it prepares). */
  constructor(text: string, opts: { sqliteOnly?: boolean; batch?: BatchForm } = {}) {
    this.sqlite = text;
    let n = 0;
    this.postgres = text.replace(/\?/g, () => `$${String(++n)}`);
    this.batch = opts.batch;
    if (opts.sqliteOnly !== true) registerFixed(this.postgres);
  }
}

/**
 * A held write's form for many rows in one clause, whatever their number (PostgreSQL): each parameter becomes an
 * array of the rows' values (`types[i]`, cast in `text`), and one more array (the last parameter) numbers the rows.
 * `text` uses `$1…$n` for the arrays and `$n+1` for the numbers. An update answers the numbers of the rows it wrote
 * (`returnsOrd`: `returning v.ord`), so each row's own count is known; an insert without a conflict clause writes
 * every row or fails, so each of its rows counts 1 when it succeeds.
 */
interface BatchForm {
  readonly text: string;
  readonly types: readonly string[];
  readonly returnsOrd: boolean;
}

/**
 * A batch form whose rows are `unnest($1::t1[], …, $n::tn[], $n+1::int[]) as v(c1, …, cn, ord)`, columns given as
 * [name, type] in the order of the single write's parameters; `text` makes the statement from that clause.
 */
function batchForm(columns: readonly (readonly [string, string])[], text: (rows: string) => string, returnsOrd: boolean): BatchForm {
  const types = columns.map(([, t]) => t);
  const arrays = types.map((t, i) => `$${String(i + 1)}::${t}[]`);
  const rows = `unnest(${arrays.join(', ')}, $${String(types.length + 1)}::int[]) as v(${[...columns.map(([c]) => c), 'ord'].join(', ')})`;
  return { text: text(rows), types, returnsOrd };
}

/** The users columns a change writes (all but `id` and `seq`), in a fixed order. */
const USER_WRITE_COLUMNS = [
  'customer_id', 'upn', 'upn_lower', 'display_name', 'display_name_lower', 'first_name', 'last_name', 'usage_location',
  'immutable_id', 'phone_number', 'password_hash', 'force_change_password', 'state', 'soft_deletion_time',
  'user_domain_type', 'last_directory_sync_time',
] as const satisfies readonly (keyof Omit<UsersTable, 'seq' | 'id'>)[];

const AUDIT_COLUMNS = [
  'id', 'partner_id', 'customer_id', 'customer_name', 'caller_upn', 'application_id', 'resource_type', 'old_value',
  'new_value', 'operation_type', 'correlation_id', 'operation_date', 'operation_status', 'customized_data',
] as const;

const IDEMPOTENCY_COLUMNS = ['partner_id', 'request_id', 'fingerprint', 'status', 'headers', 'body', 'created_at', 'claim_id'] as const;

/** A fixed statement only the SQLite store runs. */
const sqliteSql = (text: string): FixedSql => new FixedSql(text, { sqliteOnly: true });

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** A replay record's insert, as it is or with an `on conflict` clause appended. */
const INSERT_IDEMPOTENCY = `insert into idempotency (${IDEMPOTENCY_COLUMNS.join(', ')}) values (${placeholders(IDEMPOTENCY_COLUMNS.length)})`;

const SQL = {
  customer: new FixedSql('select * from customers where id = ?'),
  gdapGrants: new FixedSql(
    'select r.id as rid, r.status, r.end_date_time, r.roles as rroles, a.roles as aroles from gdap_relationships as r ' +
    'inner join gdap_assignments as a on a.relationship_id = r.id inner join group_members as m on m.group_id = a.group_id ' +
    'where r.partner_id = ? and r.customer_id = ? and m.user_id = ?',
  ),
  user: new FixedSql('select * from users where id = ? and customer_id = ?'),
  userForUpdate: new FixedSql('select * from users where id = ? and customer_id = ? for update'),
  /** PostgreSQL: the user and its row version (`xmin`: the transaction that wrote this version of the row). */
  userWithVersion: new FixedSql('select *, xmin::text as row_version from users where id = ? and customer_id = ?'),
  /** PostgreSQL: users and their row versions by id, several at once (`?` is an array of lower-case ids). */
  usersWithVersionByIds: new FixedSql('select *, xmin::text as row_version from users where id = any(?::text[])'),
  /** Users by id, several at once (PostgreSQL: `?` is an array of lower-case ids). */
  usersByIds: new FixedSql('select * from users where id = any(?::text[])'),
  insertAudit: new FixedSql(`insert into audit_records (${AUDIT_COLUMNS.join(', ')}) values (${placeholders(AUDIT_COLUMNS.length)})`, {
    batch: batchForm(
      AUDIT_COLUMNS.map((c) => [c, 'text'] as const),
      (rows) => `insert into audit_records (${AUDIT_COLUMNS.join(', ')}) select ${AUDIT_COLUMNS.join(', ')} from ${rows}`,
      false,
    ),
  }),
  getIdempotency: new FixedSql('select * from idempotency where partner_id = ? and request_id = ?'),
  claimIdempotency: new FixedSql(`${INSERT_IDEMPOTENCY} on conflict (partner_id, request_id) do nothing`),
  completeIdempotency: new FixedSql(
    'update idempotency set status = ?, headers = ?, body = ?, created_at = ? where partner_id = ? and request_id = ? and claim_id = ? and status = ?',
    {
      batch: batchForm(
        [['status', 'int'], ['headers', 'text'], ['body', 'text'], ['created_at', 'bigint'], ['partner_id', 'text'], ['request_id', 'text'],
          ['claim_id', 'text'], ['pending', 'int']],
        (rows) => 'update idempotency as i set status = v.status, headers = v.headers, body = v.body, created_at = v.created_at ' +
          `from ${rows} where i.partner_id = v.partner_id and i.request_id = v.request_id and i.claim_id = v.claim_id ` +
          'and i.status = v.pending returning v.ord',
        true,
      ),
    },
  ),
  saveIdempotency: new FixedSql(
    `${INSERT_IDEMPOTENCY} ` +
    'on conflict (partner_id, request_id) do update set fingerprint = excluded.fingerprint, status = excluded.status, ' +
    'headers = excluded.headers, body = excluded.body, created_at = excluded.created_at, claim_id = excluded.claim_id',
  ),
  /** Claims of several requests at once (PostgreSQL: one row per array element); answers the claims that won. */
  claimIdempotencies: new FixedSql(
    `insert into idempotency (${IDEMPOTENCY_COLUMNS.join(', ')}) ` +
    'select * from unnest(?::text[], ?::text[], ?::text[], ?::integer[], ?::text[], ?::text[], ?::bigint[], ?::text[]) ' +
    'on conflict (partner_id, request_id) do nothing returning claim_id',
  ),
  releaseIdempotency: new FixedSql('delete from idempotency where partner_id = ? and request_id = ? and claim_id = ? and status = ?'),
  // SQLite, replay records found by key in memory (see `Store.openReplayRecords`):
  idempotencyBySeq: sqliteSql('select * from idempotency where seq = ?'),
  insertIdempotency: sqliteSql(INSERT_IDEMPOTENCY),
  replaceIdempotency: sqliteSql(
    'update idempotency set fingerprint = ?, status = ?, headers = ?, body = ?, created_at = ?, claim_id = ? where seq = ?',
  ),
  /** The oldest records created before `?`, at most `?` of them, removed; answers their keys. */
  purgeIdempotencyKept: sqliteSql(
    'delete from idempotency where seq in (select seq from idempotency where created_at < ? order by created_at limit ?) ' +
    'returning seq, partner_id, request_id',
  ),
  /**
   * The pages `purgeIdempotencyKept` reads, with the same parameters: the records' rows and their keys in the index
   * `idempotency_created` (a column outside the index, so the row is read).
   */
  warmIdempotencyPurge: sqliteSql('select sum(status) as s from idempotency where seq in (select seq from idempotency where created_at < ? order by created_at limit ?)'),
  /** The oldest records with a `seq` below `?`, at most `?` of them, removed; answers their keys. */
  purgeForgotten: sqliteSql(
    'delete from idempotency where seq in (select seq from idempotency where seq < ? order by seq limit ?) returning seq, partner_id, request_id',
  ),
  /**
   * The pages `purgeForgotten` reads, with the same parameters: the rows, and the stretch of the index
   * `idempotency_created` that holds their keys.
   */
  warmForgottenPurge: sqliteSql(
    'with r as (select created_at from idempotency where seq < ? order by seq limit ?) select count(*) as s from idempotency ' +
    'indexed by idempotency_created where created_at between (select min(created_at) from r) and (select max(created_at) from r)',
  ),
  deleteIdempotencyBySeq: sqliteSql('delete from idempotency where seq = ?'),
  /** Whether the replay table has the unique index on its key. */
  idempotencyKeyed: sqliteSql("select count(*) as n from sqlite_master where type = 'index' and name = 'idempotency_key'"),
  /** Of the records of one key (a forgotten one, written again), all but the newest removed. */
  dedupeIdempotency: sqliteSql('delete from idempotency where seq not in (select max(seq) from idempotency group by partner_id, request_id)'),
  idempotencyCount: sqliteSql('select count(*) as n from idempotency'),
  /** Keys after the given one, in the order of the index `idempotency_created`, which holds them (migration 005). */
  idempotencyKeys: sqliteSql(
    'select seq, created_at, partner_id, request_id from idempotency where (created_at, partner_id, request_id) > (?, ?, ?) ' +
    'order by created_at, partner_id, request_id limit ?',
  ),
  keyIdempotency: sqliteSql('create unique index if not exists idempotency_key on idempotency (partner_id, request_id)'),
  unkeyIdempotency: sqliteSql('drop index if exists idempotency_key'),
};

const affected = (r: QueryResult<unknown>): number => Number(r.numAffectedRows ?? 0);

type UserWriteColumn = (typeof USER_WRITE_COLUMNS)[number];

/**
 * `update users set … where id = ?` for one set of columns (one bit each in `mask`, in USER_WRITE_COLUMNS' order),
 * made once per set: a change writes only the columns it changes, so SQLite rewrites only the index entries of
 * those (setting an indexed column, even to its own value, rewrites its entry: about 3× the cost for the usual
 * one-column PATCH, measured on a copy of the demo store).
 */
const updateUserSql = new Map<number, FixedSql>();
function updateUserStatement(mask: number, versioned: boolean): FixedSql {
  // A mask is never 0 (nothing to write is not sent): the versioned statements are kept under its negative.
  const key = versioned ? -mask : mask;
  let q = updateUserSql.get(key);
  if (q === undefined) {
    const set = USER_WRITE_COLUMNS.filter((_, i) => (mask & (1 << i)) !== 0).map((c) => `${c} = ?`);
    // PostgreSQL only when versioned: the row is written only if it is still the version read (see `OptimisticTx`).
    q = new FixedSql(`update users set ${set.join(', ')} where id = ?${versioned ? ' and xmin = ?::xid' : ''}`);
    updateUserSql.set(key, q);
  }
  return q;
}

/**
 * Sends writes (`send` answers how many rows each wrote), raising the first error a write has its own error for
 * (else the database's), then each write's row-count check.
 */
async function settle(writes: readonly Omit<HeldWrite, 'text' | 'parameters'>[], send: () => Promise<number[]>): Promise<void> {
  let counts: number[];
  try {
    counts = await send();
  } catch (err) {
    for (const w of writes) {
      const mapped = w.mapError?.(err);
      if (mapped) throw mapped;
    }
    throw err;
  }
  writes.forEach((w, i) => w.check?.(counts[i] ?? 0));
}

/**
 * Held writes as one statement of data-modifying `WITH` clauses. Two or more writes of one batch form share one
 * clause (their rows as arrays); any other write has a clause of its own; clauses come in the order of their first
 * write. So a joined transaction's forty PATCHes make a statement of three clauses, not of some eighty, which
 * PostgreSQL parsed and planned in 4 of the statement's 6.5 ms (docs/performance.md). `batched`: the statement has
 * an array clause; it is then never prepared, since PostgreSQL's generic plan for it (chosen after five runs of a
 * prepared statement) is the slow one, and an unprepared statement is planned for its own arrays each time.
 * `counts` reads each write's row count from the statement's one row. `exact`: the statement fails (division by
 * zero, SQLSTATE 22012) unless every write wrote one row, so that nothing of it stays (see `OptimisticTx`).
 */
function combinedStatement(writes: readonly HeldWrite[], exact = false): {
  text: string;
  parameters: unknown[];
  batched: boolean;
  counts: (row: Record<string, unknown>) => number[];
} {
  const perForm = new Map<BatchForm, number>();
  for (const w of writes) if (w.batch !== undefined) perForm.set(w.batch, (perForm.get(w.batch) ?? 0) + 1);
  const parameters: unknown[] = [];
  const clauses: string[] = [];
  /** Per write: its clause, and for a write sent in an array clause its row number (its index in `writes`). */
  const where: { clause: number; ord: number | undefined }[] = [];
  const batches = new Map<BatchForm, { clause: number; rows: number[] }>();
  writes.forEach((w, i) => {
    if (w.batch !== undefined && (perForm.get(w.batch) ?? 0) >= 2) {
      let b = batches.get(w.batch);
      if (b === undefined) {
        b = { clause: clauses.length, rows: [] };
        batches.set(w.batch, b);
        clauses.push('');
      }
      b.rows.push(i);
      where.push({ clause: b.clause, ord: i });
      return;
    }
    const offset = parameters.length;
    parameters.push(...w.parameters);
    where.push({ clause: clauses.length, ord: undefined });
    clauses.push(`${renumber(w.text, offset)} returning 1`);
  });
  const answers = clauses.map((_, k) => `(select count(*) from w${String(k)}) as n${String(k)}`);
  const sizes = new Map<number, number>();
  for (const [form, b] of batches) {
    const offset = parameters.length;
    for (let c = 0; c < form.types.length; c++) parameters.push(b.rows.map((i) => writes[i]?.parameters[c] ?? null));
    parameters.push(b.rows);
    clauses[b.clause] = form.returnsOrd ? renumber(form.text, offset) : `${renumber(form.text, offset)} returning 1`;
    if (form.returnsOrd) answers[b.clause] = `(select array_agg(ord) from w${String(b.clause)}) as n${String(b.clause)}`;
    else sizes.set(b.clause, b.rows.length);
  }
  if (exact) {
    const expected = new Map<number, number>();
    for (const { clause } of where) expected.set(clause, (expected.get(clause) ?? 0) + 1);
    for (const [k, n] of expected) {
      parameters.push(n);
      answers.push(`1 / ((select count(*) from w${String(k)}) = $${String(parameters.length)}::int)::int as g${String(k)}`);
    }
  }
  const text = `with ${clauses.map((c, k) => `w${String(k)} as (${c})`).join(', ')} select ${answers.join(', ')}`;
  const counts = (row: Record<string, unknown>): number[] => where.map(({ clause, ord }) => {
    const v = row[`n${String(clause)}`];
    if (ord === undefined) return Number(v ?? 0);
    if (Array.isArray(v)) return v.filter((o) => Number(o) === ord).length;
    if (v === null) return 0; // an update batch that wrote no row
    // An insert batch writes every row or fails.
    return Number(v ?? 0) === sizes.get(clause) ? 1 : 0;
  });
  return { text, parameters, batched: batches.size > 0, counts };
}

/** A statement's `$n` parameters moved up by `offset`. */
const renumber = (text: string, offset: number): string => text.replace(/\$(\d+)/g, (_, n: string) => `$${String(Number(n) + offset)}`);

/** A write a transaction holds back to send with others as one statement (see `StoreTx.combineWrites`). */
interface HeldWrite {
  /** PostgreSQL text, parameters `$1…`, without RETURNING. */
  text: string;
  parameters: readonly unknown[];
  /** Its form for many rows, sent in one clause with the other held writes of that form. */
  batch?: BatchForm | undefined;
  /** Checks how many rows it wrote; may throw (the transaction then rolls back). */
  check?: (rows: number) => void;
  /** The error to throw instead of the database's, when it has one for it. */
  mapError?: (err: unknown) => Error | undefined;
}

function toUser(r: Selectable<UsersTable>): UserRecord {
  return {
    id: r.id,
    customerId: r.customer_id,
    upn: r.upn,
    displayName: r.display_name,
    firstName: r.first_name,
    lastName: r.last_name,
    usageLocation: r.usage_location,
    immutableId: r.immutable_id,
    phoneNumber: r.phone_number,
    passwordHash: r.password_hash,
    forceChangePassword: r.force_change_password === 1,
    state: r.state === 'inactive' ? 'inactive' : 'active',
    softDeletionTime: r.soft_deletion_time,
    userDomainType: r.user_domain_type === 'federated' ? 'federated' : r.user_domain_type === 'managed' ? 'managed' : 'none',
    lastDirectorySyncTime: r.last_directory_sync_time,
  };
}

function userColumns(u: UserRecord): Omit<UsersTable, 'seq'> {
  return {
    id: u.id,
    customer_id: u.customerId,
    upn: u.upn,
    upn_lower: u.upn.toLowerCase(),
    display_name: u.displayName,
    display_name_lower: u.displayName.toLowerCase(),
    first_name: u.firstName,
    last_name: u.lastName,
    usage_location: u.usageLocation,
    immutable_id: u.immutableId,
    phone_number: u.phoneNumber,
    password_hash: u.passwordHash,
    force_change_password: u.forceChangePassword ? 1 : 0,
    state: u.state,
    soft_deletion_time: u.softDeletionTime,
    user_domain_type: u.userDomainType,
    last_directory_sync_time: u.lastDirectorySyncTime,
  };
}

const parseRoles = (json: string): string[] => {
  const v: unknown = JSON.parse(json);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

export class StoreTx {
  /** Set when this transaction wrote customers or GDAP data: the reference cache is emptied again after its commit. */
  touchedReferences = false;
  /**
   * The ids of the users this executor wrote (lower case): once they are committed, the store moves its users
   * version on (see `Store.usersVersion`) and drops them from its kept users.
   */
  readonly touchedUserIds = new Set<string>();

  /** The executor of Kysely-built queries, or the function that makes it when first asked for. */
  private executor: Executor | (() => Executor);
  protected get db(): Executor {
    if (typeof this.executor === 'function') this.executor = this.executor();
    return this.executor;
  }

  /**
   * `db`: the executor of Kysely-built queries, or a function that makes it (called once, when first needed).
   * `references`: the store's cache of customers and GDAP grants; `read` when this executor reads through it (the
   * store outside transactions), else it only empties it on writes.
   */
  constructor(
    db: Executor | (() => Executor),
    readonly dialect: Dialect,
    protected readonly references?: { cache: ReferenceCache; read: boolean },
    /** Runs fixed SQL without Kysely (SQLite: see `StoreEngine.direct`); through Kysely when absent. */
    private readonly direct?: SqlRunner,
    /** Where replay records are found by key, on a store one process owns (see `Store.openReplayRecords`). */
    protected replayKeys?: ReplayKeys,
    /** The users as SQLite's writer connection has them (see `KeptUsers`); none on PostgreSQL. */
    protected readonly writerUsers?: KeptUsers,
  ) {
    this.executor = db;
  }

  /** The states this transaction wrote its users in, where it knows them (by id, lower case; see `KeptUsers`). */
  readonly userStates = new Map<string, UserRecord>();

  /** Replay records this executor inserted, found by key in memory once they have committed (see `replayWritten`). */
  readonly insertedReplays: { hash: number; seq: number }[] = [];

  /** Runs a write of customers or GDAP data, emptying the reference cache before and after it. */
  private async changingReferences<T>(write: () => Promise<T>): Promise<T> {
    this.touchedReferences = true;
    this.writesSent++;
    this.references?.cache.clear();
    try {
      return await write();
    } finally {
      this.references?.cache.clear();
    }
  }

  protected async run<R>(q: FixedSql, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    if (this.direct) return this.direct(q[this.dialect], parameters) as Promise<QueryResult<R>>;
    if (this.held.length > 0) await this.sendHeldWrites();
    return this.db.executeQuery<R>(CompiledQuery.raw(q[this.dialect], [...parameters]));
  }

  /** Writes held back by `combineWrites`, in order. */
  protected held: HeldWrite[] = [];
  protected holding = false;
  /** Counts the writes this executor sent to the database (not those it holds back). */
  protected writesSent = 0;
  /** Whether the statements made of held writes join the prepared ones (their shapes are few, except when joined). */
  protected readonly prepareCombined: boolean = true;
  /** Whether held writes leave as one statement that fails unless each wrote its row (see `combinedStatement`). */
  protected readonly exactWrites: boolean = false;

  /** The row versions (by user id, lower case) that a change of the user must still find (see `OptimisticTx`). */
  protected readonly userVersions = new Map<string, string>();

  /**
   * Runs `fn`, whose writes depend on nothing they return but errors: on PostgreSQL, the fixed-SQL writes it makes
   * (a user's change, audit records, the replay record) are held back and sent together as one statement when it
   * ends (data-modifying `WITH` clauses), so they cost one round trip instead of one each. They commit or fail
   * together, as in any transaction; a write's errors and its row-count check are raised when it is sent. A
   * fixed-SQL read inside `fn` sends the held writes first; a Kysely-built query would not, so `fn` makes none.
   * Only a transaction's executor holds writes (the store's own serves concurrent requests at once, which must not
   * share one list). SQLite runs every statement at once (each is a call, not a round trip).
   */
  async combineWrites<T>(fn: () => Promise<T>): Promise<T> {
    const inTransaction = this.references?.read === false;
    if (this.dialect !== 'postgres' || !inTransaction) return fn();
    this.holding = true;
    try {
      const result = await fn();
      await this.sendHeldWrites();
      return result;
    } finally {
      this.holding = false;
      this.held = [];
    }
  }

  /** Runs a write now, or holds it back inside `combineWrites`. */
  private async write(q: FixedSql, parameters: readonly unknown[], w: Omit<HeldWrite, 'text' | 'parameters'> = {}): Promise<void> {
    if (this.holding) {
      this.held.push({ text: q.postgres, parameters, batch: q.batch, ...w });
      return;
    }
    this.writesSent++;
    await settle([w], async () => [affected(await this.run(q, parameters))]);
  }

  protected async sendHeldWrites(): Promise<void> {
    const writes = this.held;
    this.held = [];
    if (writes.length === 0) return;
    this.writesSent++;
    await settle(writes, async () => {
      if (writes.length === 1 && !this.exactWrites) {
        const [w] = writes as [HeldWrite];
        return [affected(await this.db.executeQuery(CompiledQuery.raw(w.text, [...w.parameters])))];
      }
      const { text, parameters, batched, counts } = combinedStatement(writes, this.exactWrites);
      if (this.prepareCombined && !batched) registerFixed(text);
      const row = (await this.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, parameters))).rows[0] ?? {};
      return counts(row);
    });
  }

  // ---- partners, applications, partner users -------------------------------------------------------------
  async findPartner(tenantOrDomain: string): Promise<PartnerRecord | undefined> {
    if (holdsNul(tenantOrDomain)) return undefined;
    const key = tenantOrDomain.toLowerCase();
    const r = await this.db
      .selectFrom('partners')
      .selectAll()
      .where((eb) => eb.or([eb('tenant_id', '=', key), eb('domain', '=', key)]))
      .executeTakeFirst();
    return r && { tenantId: r.tenant_id, name: r.name, domain: r.domain };
  }
  async insertPartner(p: PartnerRecord): Promise<boolean> {
    const r = await this.db
      .insertInto('partners')
      .values({ tenant_id: p.tenantId.toLowerCase(), name: p.name, domain: p.domain.toLowerCase() })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async findApplication(clientId: string): Promise<ApplicationRecord | undefined> {
    if (holdsNul(clientId)) return undefined;
    const r = await this.db.selectFrom('applications').selectAll().where('client_id', '=', clientId.toLowerCase()).executeTakeFirst();
    return r && { clientId: r.client_id, partnerId: r.partner_id, displayName: r.display_name, secretHash: r.secret_hash };
  }
  async insertApplication(a: ApplicationRecord): Promise<void> {
    await this.db
      .insertInto('applications')
      .values({ client_id: a.clientId.toLowerCase(), partner_id: a.partnerId, display_name: a.displayName, secret_hash: a.secretHash })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertGroup(g: { id: string; partnerId: string; displayName: string }): Promise<boolean> {
    const r = await this.db
      .insertInto('partner_groups')
      .values({ id: g.id.toLowerCase(), partner_id: g.partnerId, display_name: g.displayName })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async findPartnerUserByUpn(upn: string): Promise<PartnerUserRecord | undefined> {
    if (holdsNul(upn)) return undefined;
    const r = await this.db.selectFrom('partner_users').selectAll().where('upn_lower', '=', upn.toLowerCase()).executeTakeFirst();
    return r && { id: r.id, partnerId: r.partner_id, upn: r.upn, displayName: r.display_name, passwordHash: r.password_hash, mfa: r.mfa === 1 };
  }
  async findPartnerUser(id: string): Promise<PartnerUserRecord | undefined> {
    const r = await this.db.selectFrom('partner_users').selectAll().where('id', '=', id.toLowerCase()).executeTakeFirst();
    return r && { id: r.id, partnerId: r.partner_id, upn: r.upn, displayName: r.display_name, passwordHash: r.password_hash, mfa: r.mfa === 1 };
  }
  async insertPartnerUser(u: PartnerUserRecord): Promise<void> {
    await this.db
      .insertInto('partner_users')
      .values({
        id: u.id.toLowerCase(), partner_id: u.partnerId, upn: u.upn, upn_lower: u.upn.toLowerCase(),
        display_name: u.displayName, password_hash: u.passwordHash, mfa: u.mfa ? 1 : 0,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  insertGroupMember(groupId: string, userId: string): Promise<void> {
    return this.changingReferences(async () => {
      await this.db
        .insertInto('group_members')
        .values({ group_id: groupId.toLowerCase(), user_id: userId.toLowerCase() })
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
  }

  // ---- refresh tokens ------------------------------------------------------------------------------------
  async insertRefreshToken(t: RefreshTokenRecord): Promise<void> {
    await this.db
      .insertInto('refresh_tokens')
      .values({
        token_hash: t.tokenHash, partner_id: t.partnerId, user_id: t.userId, client_id: t.clientId,
        scope: t.scope, expires_at: t.expiresAt, used_at: t.usedAt,
      })
      .execute();
  }
  /** Marks a refresh token used, once: returns it only to the first caller. */
  async redeemRefreshToken(tokenHash: string, now: number): Promise<RefreshTokenRecord | undefined> {
    const r = await this.db
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return r && {
      tokenHash: r.token_hash, partnerId: r.partner_id, userId: r.user_id, clientId: r.client_id,
      scope: r.scope, expiresAt: r.expires_at, usedAt: r.used_at,
    };
  }

  // ---- customers -----------------------------------------------------------------------------------------
  getCustomer(customerId: string): Promise<CustomerRecord | undefined> {
    const id = customerId.toLowerCase();
    if (this.references?.read) return this.references.cache.get(`customer\n${id}`, () => this.loadCustomer(id));
    return this.loadCustomer(id);
  }
  private async loadCustomer(id: string): Promise<CustomerRecord | undefined> {
    const r = (await this.run<Selectable<Database['customers']>>(SQL.customer, [id])).rows[0];
    return r && Object.freeze({
      id: r.id, partnerId: r.partner_id, commerceId: r.commerce_id, companyName: r.company_name, domain: r.domain,
      relationshipToPartner: r.relationship_to_partner, allowDelegatedAccess: r.allow_delegated_access === 1,
    });
  }
  async listCustomers(
    partnerId: string,
    afterSeq: number | undefined,
    limit: number,
    filter?: CustomerFilter,
  ): Promise<{ customer: CustomerRecord; seq: number }[]> {
    let q = this.db.selectFrom('customers').selectAll().where('partner_id', '=', partnerId).orderBy('seq').limit(limit);
    if (afterSeq !== undefined) q = q.where('seq', '>', afterSeq);
    if (filter) {
      const column = filter.field === 'companyName' ? sql.ref('company_name') : sql.ref('domain');
      const value = filter.value.toLowerCase();
      q = filter.operator === 'equals'
        ? q.where(sql<boolean>`lower(${column}) = ${value}`)
        : q.where(sql<boolean>`lower(${column}) like ${`${likeEscape(value)}%`} escape '\\'`);
    }
    const rows = await q.execute();
    return rows.map((r) => ({
      seq: r.seq,
      customer: {
        id: r.id, partnerId: r.partner_id, commerceId: r.commerce_id, companyName: r.company_name, domain: r.domain,
        relationshipToPartner: r.relationship_to_partner, allowDelegatedAccess: r.allow_delegated_access === 1,
      },
    }));
  }
  insertCustomer(c: CustomerRecord): Promise<void> {
    return this.changingReferences(async () => {
      await this.db
        .insertInto('customers')
        .values({
          id: c.id.toLowerCase(), partner_id: c.partnerId, commerce_id: c.commerceId, company_name: c.companyName,
          domain: c.domain.toLowerCase(), relationship_to_partner: c.relationshipToPartner,
          allow_delegated_access: c.allowDelegatedAccess ? 1 : 0,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
  }
  async customerDomains(customerId: string): Promise<CustomerDomainRecord[]> {
    const rows = await this.db.selectFrom('customer_domains').selectAll().where('customer_id', '=', customerId).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, federated: r.federated === 1 }));
  }
  async insertCustomerDomain(customerId: string, d: CustomerDomainRecord): Promise<void> {
    await this.db
      .insertInto('customer_domains')
      .values({ customer_id: customerId.toLowerCase(), name: d.name.toLowerCase(), federated: d.federated ? 1 : 0 })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  // ---- GDAP ----------------------------------------------------------------------------------------------
  /** Every access assignment on the customer's relationships with the partner whose group holds the partner user. */
  gdapGrants(partnerId: string, customerId: string, partnerUserId: string): Promise<readonly GdapGrant[]> {
    if (this.references?.read) {
      return this.references.cache.get(`grants\n${partnerId}\n${customerId}\n${partnerUserId}`, () => this.loadGrants(partnerId, customerId, partnerUserId));
    }
    return this.loadGrants(partnerId, customerId, partnerUserId);
  }
  private async loadGrants(partnerId: string, customerId: string, partnerUserId: string): Promise<readonly GdapGrant[]> {
    const { rows } = await this.run<{ rid: string; status: string; end_date_time: string | null; rroles: string; aroles: string }>(
      SQL.gdapGrants, [partnerId, customerId, partnerUserId],
    );
    return Object.freeze(rows.map((r) => Object.freeze({
      relationshipId: r.rid, status: r.status, endDateTime: r.end_date_time,
      relationshipRoles: parseRoles(r.rroles), assignmentRoles: parseRoles(r.aroles),
    })));
  }
  insertRelationship(rel: GdapRelationshipRecord): Promise<boolean> {
    return this.changingReferences(async () => {
      const r = await this.db
        .insertInto('gdap_relationships')
        .values({
          id: rel.id.toLowerCase(), partner_id: rel.partnerId, customer_id: rel.customerId.toLowerCase(), display_name: rel.displayName,
          status: rel.status, end_date_time: rel.endDateTime, roles: JSON.stringify(rel.roles),
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    });
  }
  insertAssignment(a: { id: string; relationshipId: string; groupId: string; roles: string[] }): Promise<boolean> {
    return this.changingReferences(async () => {
      const r = await this.db
        .insertInto('gdap_assignments')
        .values({ id: a.id, relationship_id: a.relationshipId.toLowerCase(), group_id: a.groupId.toLowerCase(), roles: JSON.stringify(a.roles) })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    });
  }

  // ---- customer users ------------------------------------------------------------------------------------
  async getUser(customerId: string, userId: string): Promise<UserRecord | undefined> {
    const r = (await this.run<Selectable<UsersTable>>(SQL.user, [userId.toLowerCase(), customerId])).rows[0];
    return r && toUser(r);
  }
  /**
   * The user, locked until the transaction ends (`SELECT … FOR UPDATE` on PostgreSQL), for a change that writes it:
   * a concurrent change of the same user waits, then reads this one's result. SQLite needs no lock: its
   * transactions run one at a time on its writer connection.
   */
  async getUserForUpdate(customerId: string, userId: string): Promise<UserRecord | undefined> {
    const id = userId.toLowerCase();
    // SQLite, in a transaction: the writer's users, unless this transaction wrote the user (it is then read back).
    const writer = this.references?.read === false && !this.touchedUserIds.has(id) ? this.writerUsers : undefined;
    const known = writer?.get(id);
    if (known !== undefined) return known.customerId === customerId ? known : undefined;
    const q = this.dialect === 'postgres' ? SQL.userForUpdate : SQL.user;
    const r = (await this.run<Selectable<UsersTable>>(q, [id, customerId])).rows[0];
    if (r === undefined) return undefined;
    const user = toUser(r);
    if (writer !== undefined) writer.set(id, user);
    return user;
  }
  async findUserByUpn(customerId: string, upn: string): Promise<UserRecord | undefined> {
    const r = await this.db
      .selectFrom('users')
      .selectAll()
      .where('customer_id', '=', customerId)
      .where('upn_lower', '=', upn.toLowerCase())
      .executeTakeFirst();
    return r && toUser(r);
  }
  /**
   * Called when this executor has written the user `userId` (lower case). A transaction notes it: its writes count
   * when it commits (Store.transaction). The store's own writes have committed by then: it moves its users version
   * on and forgets what it kept of the user.
   */
  protected userWritten(userId: string): void {
    this.touchedUserIds.add(userId);
  }
  private async changingUsers<T>(userId: string, write: () => Promise<T>): Promise<T> {
    const id = userId.toLowerCase();
    this.writerUsers?.delete(id);
    this.userStates.delete(id);
    if (!this.holding) this.writesSent++;
    try {
      return await write();
    } finally {
      this.userWritten(id);
    }
  }

  /** Inserts the user, unless its id is taken (false). The store may keep `u` (frozen): do not change it afterwards. */
  insertUser(u: UserRecord): Promise<boolean> {
    return this.changingUsers(u.id, async () => {
      const r = await this.db.insertInto('users').values(userColumns(u)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
      const inserted = Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
      if (inserted) this.wroteUser(u);
      return inserted;
    });
  }
  /** The user is now as `u` says, in this transaction (the writer's users take it once the transaction is kept; see `KeptUsers`). */
  private wroteUser(u: UserRecord): void {
    if (this.writerUsers !== undefined) this.userStates.set(u.id.toLowerCase(), u);
  }
  /**
   * Writes the user's columns: those that differ from `before` (the user as read in this transaction), or all of
   * them. A UPN that another transaction took meanwhile (checked before, committed since) violates the unique
   * index: that is 409 60009, as if the check had seen it. The store may keep `u` (frozen): do not change it afterwards.
   */
  updateUser(u: UserRecord, before?: UserRecord): Promise<void> {
    const cols = userColumns(u);
    const old = before && userColumns(before);
    let mask = 0;
    USER_WRITE_COLUMNS.forEach((c: UserWriteColumn, i) => {
      if (old === undefined || cols[c] !== old[c]) mask |= 1 << i;
    });
    if (mask === 0) return Promise.resolve();
    const values = USER_WRITE_COLUMNS.filter((_, i) => (mask & (1 << i)) !== 0).map((c) => cols[c]);
    const version = this.userVersions.get(u.id.toLowerCase());
    const parameters = version === undefined ? [...values, cols.id] : [...values, cols.id, version];
    return this.changingUsers(u.id, () =>
      this.write(updateUserStatement(mask, version !== undefined), parameters, {
        mapError: (err) => (isUniqueViolation(err) ? upnInUse() : undefined),
        check: (rows) => {
          if (rows > 0) this.wroteUser(u);
        },
      }),
    );
  }
  purgeUser(userId: string): Promise<void> {
    return this.changingUsers(userId, async () => {
      await this.db.deleteFrom('user_roles').where('user_id', '=', userId).execute();
      await this.db.deleteFrom('users').where('id', '=', userId).execute();
    });
  }
  /** Purges users soft-deleted before `before`; returns how many. */
  async purgeExpiredUsers(before: string): Promise<number> {
    const expired = await this.db
      .selectFrom('users')
      .select('id')
      .where('state', '=', 'inactive')
      .where('soft_deletion_time', '<', before)
      .execute();
    for (const { id } of expired) await this.purgeUser(id);
    return expired.length;
  }
  async listUsers(q: UserPageQuery): Promise<UserPageItem[]> {
    const keyColumn = q.sort === 'displayName' ? 'display_name_lower' : q.sort === 'userPrincipalName' ? 'upn_lower' : 'seq';
    const dir = q.descending ? 'desc' : 'asc';
    let query = this.db
      .selectFrom('users')
      .selectAll()
      .where('customer_id', '=', q.customerId)
      .where('state', '=', q.state);
    if (q.state === 'inactive') query = query.where('soft_deletion_time', '>=', q.purgeBefore);
    if (q.after) {
      const after = q.after;
      const op = q.descending ? '<' : '>';
      if (keyColumn === 'seq') {
        query = query.where('seq', op, after.seq);
      } else {
        query = query.where((eb) =>
          eb.or([eb(keyColumn, op, after.key), eb.and([eb(keyColumn, '=', after.key), eb('seq', op, after.seq)])]),
        );
      }
    }
    if (keyColumn !== 'seq') query = query.orderBy(keyColumn, dir);
    const rows = await query.orderBy('seq', dir).limit(q.limit).execute();
    return rows.map((r) => ({
      user: toUser(r),
      seq: r.seq,
      key: keyColumn === 'display_name_lower' ? r.display_name_lower : keyColumn === 'upn_lower' ? r.upn_lower : String(r.seq),
    }));
  }
  async userRoleIds(userId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('user_roles').select('role_id').where('user_id', '=', userId).orderBy('role_id').execute();
    return rows.map((r) => r.role_id);
  }
  async customerRoleIds(customerId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('user_roles').select('role_id').distinct().where('customer_id', '=', customerId).orderBy('role_id').execute();
    return rows.map((r) => r.role_id);
  }
  async roleMembers(customerId: string, roleId: string): Promise<UserRecord[]> {
    const rows = await this.db
      .selectFrom('user_roles as ur')
      .innerJoin('users as u', 'u.id', 'ur.user_id')
      .selectAll('u')
      .where('ur.customer_id', '=', customerId)
      .where('ur.role_id', '=', roleId)
      .where('u.state', '=', 'active')
      .orderBy('u.seq')
      .execute();
    return rows.map(toUser);
  }
  async addUserRole(customerId: string, userId: string, roleId: string): Promise<boolean> {
    const r = await this.db
      .insertInto('user_roles')
      .values({ customer_id: customerId, user_id: userId.toLowerCase(), role_id: roleId.toLowerCase() })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async removeUserRole(userId: string, roleId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('user_roles').where('user_id', '=', userId).where('role_id', '=', roleId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- audit ---------------------------------------------------------------------------------------------
  async insertAudit(a: AuditRecordRow): Promise<void> {
    await this.write(SQL.insertAudit, [
      a.id, a.partnerId, a.customerId, a.customerName, a.callerUpn, a.applicationId, a.resourceType, a.oldValue, a.newValue,
      a.operationType, a.correlationId, a.operationDate, a.operationStatus, JSON.stringify(a.customizedData),
    ] satisfies unknown[] & { length: typeof AUDIT_COLUMNS.length });
  }
  async listAudit(q: AuditQuery): Promise<{ record: AuditRecordRow; seq: number }[]> {
    let query = this.db
      .selectFrom('audit_records')
      .selectAll()
      .where('partner_id', '=', q.partnerId)
      .where('operation_date', '>=', q.from)
      .where('operation_date', '<', q.to);
    if (q.customerId !== undefined) query = query.where('customer_id', '=', q.customerId);
    if (q.resourceType !== undefined) query = query.where('resource_type', '=', q.resourceType);
    if (q.companyNameContains !== undefined) {
      const needle = likeEscape(q.companyNameContains.toLowerCase());
      query = query.where(sql<boolean>`lower(customer_name) like ${`%${needle}%`} escape '\\'`);
    }
    if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq);
    const rows = await query.orderBy('seq').limit(q.limit).execute();
    return rows.map((r) => ({
      seq: r.seq,
      record: {
        id: r.id, partnerId: r.partner_id, customerId: r.customer_id, customerName: r.customer_name, callerUpn: r.caller_upn,
        applicationId: r.application_id, resourceType: r.resource_type, oldValue: r.old_value, newValue: r.new_value,
        operationType: r.operation_type, correlationId: r.correlation_id, operationDate: r.operation_date,
        operationStatus: r.operation_status, customizedData: JSON.parse(r.customized_data) as AuditRecordRow['customizedData'],
      },
    }));
  }
  async countAudit(partnerId: string): Promise<number> {
    const r = await this.db.selectFrom('audit_records').select((eb) => eb.fn.countAll<number | string>().as('n')).where('partner_id', '=', partnerId).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // ---- idempotency ---------------------------------------------------------------------------------------
  async getIdempotency(partnerId: string, requestId: string): Promise<IdempotencyRecord | undefined> {
    const r = this.replayKeys
      ? await this.replayRowByKey(this.replayKeys, partnerId, requestId)
      : (await this.run<IdempotencyRow>(SQL.getIdempotency, [partnerId, requestId])).rows[0];
    return r && {
      partnerId: r.partner_id, requestId: r.request_id, fingerprint: r.fingerprint, status: r.status,
      headers: JSON.parse(r.headers) as Record<string, string>, body: r.body, createdAt: r.created_at, claimId: r.claim_id ?? null,
    };
  }
  /** The replay record of a key, found by `keys` (rows of other keys with the same hash are read and passed over). */
  protected async replayRowByKey(keys: ReplayKeys, partnerId: string, requestId: string): Promise<IdempotencyRow | undefined> {
    for (const seq of keys.find(replayKeyHash(partnerId, requestId))) {
      const r = (await this.run<IdempotencyRow>(SQL.idempotencyBySeq, [seq])).rows[0];
      if (r !== undefined && r.partner_id === partnerId && r.request_id === requestId) return r;
    }
    return undefined;
  }
  /**
   * Claims a request id: inserts a pending record (status 0) unless the id has a record already. True when this
   * claim inserted it: the caller owns the id until it completes or releases it.
   */
  async claimIdempotency(c: IdempotencyClaim): Promise<boolean> {
    const r = await this.run(SQL.claimIdempotency, [c.partnerId, c.requestId, c.fingerprint, IDEMPOTENCY_PENDING, '{}', '', c.createdAt, c.claimId]);
    return affected(r) > 0;
  }
  /**
   * Takes over a record (an expired answer, or a pending claim whose owner died) as a new pending claim, only
   * if it is still exactly the record `seen`: of two instances taking over at once, one wins.
   */
  async takeOverIdempotency(seen: IdempotencyRecord, c: IdempotencyClaim): Promise<boolean> {
    const r = await this.db
      .updateTable('idempotency')
      .set({ fingerprint: c.fingerprint, status: IDEMPOTENCY_PENDING, headers: '{}', body: '', created_at: c.createdAt, claim_id: c.claimId })
      .where('partner_id', '=', seen.partnerId)
      .where('request_id', '=', seen.requestId)
      .where('created_at', '=', seen.createdAt)
      .where('status', '=', seen.status)
      .where('claim_id', seen.claimId === null ? 'is' : '=', seen.claimId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  /**
   * Turns this claim's pending record into the final answer; when the claim is no longer held, the transaction
   * fails with `lost()` (at once, or when its writes are sent: see `combineWrites`).
   */
  async completeIdempotency(
    claimId: string,
    i: Pick<IdempotencyRecord, 'partnerId' | 'requestId' | 'status' | 'headers' | 'body' | 'createdAt'>,
    lost: () => Error,
  ): Promise<void> {
    await this.write(SQL.completeIdempotency, [
      i.status, JSON.stringify(i.headers), i.body, i.createdAt, i.partnerId, i.requestId, claimId, IDEMPOTENCY_PENDING,
    ], {
      check: (rows) => {
        if (rows === 0) throw lost();
      },
    });
  }
  /** Writes an answer, replacing any record of its id (for a store one process owns: see http/idempotency.ts). */
  async saveIdempotency(i: Omit<IdempotencyRecord, 'claimId'> & { claimId: string }): Promise<void> {
    const values = [
      i.partnerId, i.requestId, i.fingerprint, i.status, JSON.stringify(i.headers), i.body, i.createdAt, i.claimId,
    ] satisfies unknown[] & { length: typeof IDEMPOTENCY_COLUMNS.length };
    if (!this.replayKeys) {
      await this.run(SQL.saveIdempotency, values);
      return;
    }
    const stored = await this.replayRowByKey(this.replayKeys, i.partnerId, i.requestId);
    if (stored?.seq !== undefined) {
      await this.run(SQL.replaceIdempotency, [...values.slice(2), stored.seq]);
      return;
    }
    const r = await this.run(SQL.insertIdempotency, values);
    this.replayWritten(replayKeyHash(i.partnerId, i.requestId), Number(r.insertId));
  }
  /**
   * Notes a replay record this executor inserted. In a transaction it is found by key once the transaction has
   * committed (`Store.transaction`); outside one, the write has committed when it returns (`Store` overrides this).
   */
  protected replayWritten(hash: number, seq: number): void {
    this.insertedReplays.push({ hash, seq });
  }
  /** Removes this claim's record if it is still pending (the operation failed or recorded nothing). */
  async releaseIdempotency(partnerId: string, requestId: string, claimId: string): Promise<void> {
    await this.run(SQL.releaseIdempotency, [partnerId, requestId, claimId, IDEMPOTENCY_PENDING]);
  }
  async purgeIdempotency(before: number): Promise<void> {
    await this.db.deleteFrom('idempotency').where('created_at', '<', before).execute();
  }

  // ---- signing keys --------------------------------------------------------------------------------------
  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
    return rows.map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createdAt: r.created_at, retiredAt: r.retired_at }));
  }
  /** Inserts a key unless one with its kid exists; true when inserted. */
  async insertSigningKey(k: SigningKeyRecord): Promise<boolean> {
    const r = await this.db
      .insertInto('signing_keys')
      .values({ kid: k.kid, private_jwk: k.privateJwk, public_jwk: k.publicJwk, created_at: k.createdAt, retired_at: k.retiredAt })
      .onConflict((oc) => oc.column('kid').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  /** Retires every active key but `keepKid`, at `at`. */
  async retireSigningKeys(keepKid: string, at: number): Promise<void> {
    await this.db.updateTable('signing_keys').set({ retired_at: at }).where('retired_at', 'is', null).where('kid', '<>', keepKid).execute();
  }

  // ---- throttling ----------------------------------------------------------------------------------------
  /**
   * Counts one request of `key` in its fixed window, in one statement (atomic on both engines): the window
   * starts at the first request and a new one starts at the first request after it ends. Returns the
   * window's start and the count including this request.
   */
  async hitThrottle(key: string, now: number, windowMs: number): Promise<{ windowStart: number; count: number }> {
    const ended = now - windowMs;
    const r = await this.db
      .insertInto('throttle_windows')
      .values({ key, window_start: now, count: 1 })
      .onConflict((oc) => oc.column('key').doUpdateSet({
        window_start: sql<number>`case when throttle_windows.window_start <= ${ended} then excluded.window_start else throttle_windows.window_start end`,
        count: sql<number>`case when throttle_windows.window_start <= ${ended} then 1 else throttle_windows.count + 1 end`,
      }))
      .returning(['window_start', 'count'])
      .executeTakeFirstOrThrow();
    return { windowStart: r.window_start, count: r.count };
  }
  /** Removes the windows that started before `before` (ended ones). */
  async purgeThrottle(before: number): Promise<void> {
    await this.db.deleteFrom('throttle_windows').where('window_start', '<', before).execute();
  }

  // ---- sign-in lockout -----------------------------------------------------------------------------------
  /** The lockout rows of `keys` that exist: when each is locked until (0: never locked). */
  async signinLocks(keys: readonly string[]): Promise<{ key: string; lockedUntil: number }[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.selectFrom('signin_failures').select(['key', 'locked_until']).where('key', 'in', keys).execute();
    return rows.map((r) => ({ key: r.key, lockedUntil: r.locked_until }));
  }
  /**
   * Counts one failed sign-in of `key` in its fixed window (atomic on both engines, like `hitThrottle`); returns
   * the count including this one, and how many times the key was locked so far.
   */
  async recordSigninFailure(key: string, now: number, windowMs: number): Promise<{ count: number; lockouts: number }> {
    const ended = now - windowMs;
    const r = await this.db
      .insertInto('signin_failures')
      .values({ key, window_start: now, count: 1, locked_until: 0, lockouts: 0, updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({
        window_start: sql<number>`case when signin_failures.window_start <= ${ended} then excluded.window_start else signin_failures.window_start end`,
        count: sql<number>`case when signin_failures.window_start <= ${ended} then 1 else signin_failures.count + 1 end`,
        updated_at: sql<number>`excluded.updated_at`,
      }))
      .returning(['count', 'lockouts'])
      .executeTakeFirstOrThrow();
    return { count: r.count, lockouts: r.lockouts };
  }
  /**
   * Locks `key` until `until` if its count reached `threshold`, and starts its count again; of concurrent
   * failures that all reached it, one locks. True when this call locked.
   */
  async lockSignin(key: string, threshold: number, until: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('signin_failures')
      .set((eb) => ({ locked_until: until, lockouts: eb('lockouts', '+', 1), count: 0, window_start: now, updated_at: now }))
      .where('key', '=', key)
      .where('count', '>=', threshold)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  /** Forgets the failures of `key` (a successful sign-in). */
  async clearSigninFailures(key: string): Promise<void> {
    await this.db.deleteFrom('signin_failures').where('key', '=', key).execute();
  }
  /** Removes the rows untouched since `before` whose lock (if any) has ended by `now`. */
  async purgeSigninFailures(before: number, now: number): Promise<void> {
    await this.db.deleteFrom('signin_failures').where('updated_at', '<', before).where('locked_until', '<', now).execute();
  }
}

/** Status of an idempotency record whose request is still running. */
export const IDEMPOTENCY_PENDING = 0;

export interface IdempotencyClaim {
  partnerId: string;
  requestId: string;
  fingerprint: string;
  claimId: string;
  createdAt: number;
}

export interface StoreEngine {
  /**
   * Runs `fn` while holding the store-wide startup lock (PostgreSQL: a session advisory lock), so instances
   * starting at once migrate, create the signing key and load seed data one after the other.
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Sets where errors of idle connections are reported. */
  onConnectionError?: (listener: (err: Error) => void) => void;
  /** Most users kept for reads outside transactions on a store one process owns (default `MAX_KEPT_USERS`). */
  maxKeptUsers?: number;
  /**
   * Most replay records a store one process owns finds by key in memory (default `MAX_REPLAY_KEYS`; past it the
   * oldest are forgotten early; 0: none in memory, every record is found through SQLite's index on the key).
   */
  maxReplayKeys?: number;
  /** How long no replay record must be written before a chunk of forgotten rows is deleted (default `REPLAY_IDLE_MS`). */
  replayIdleMs?: number;
  /**
   * SQLite: runs a read-only statement off the main thread (the checkpoint thread), so that the pages it reads are in
   * the system's page cache when the writer reads them next; settles when it is over.
   */
  warm?: (sql: string, parameters: unknown[]) => Promise<void>;
  /**
   * Runs fixed SQL and transactions straight on the driver (SQLite, where a statement runs synchronously and
   * Kysely's connection plumbing costs more than the statement): `outside` transactions; `transaction(fn)` runs
   * `fn` as a transaction with its runner and, made when first asked for, a Kysely executor on its connection.
   */
  direct?: {
    outside: SqlRunner;
    /** `onKept` sets what runs once the transaction is kept in its batch (see `DirectTransaction.onKept`). */
    transaction: <T>(fn: (tx: { run: SqlRunner; db: () => Transaction<Database>; onKept: (fn: () => void) => void }) => Promise<T>) => Promise<T>;
    /** Sets what runs when a batch of transactions is lost (its commit failed, or SQLite rolled it back). */
    onBatchLost: (fn: () => void) => void;
  };
}

/** Most changes that share one joined transaction (see `Store.changeTogether`): bounds the first one's wait. */
const MAX_JOINED = 64;

/** What a joined transaction's state was before one of its changes ran: that change is undone to it if it fails. */
interface JoinedMark {
  held: HeldWrite[];
  users: Map<string, LockedUser>;
  writesSent: number;
}

interface LockedUser {
  /** As the database has it in this transaction: read under the row lock, or as written since. */
  stored: UserRecord;
  /** As the changes so far left it. */
  now: UserRecord;
  /** The held write that takes it from `stored` to `now`, if they differ. */
  write: HeldWrite | undefined;
}

/**
 * The transaction that changes of one user share on PostgreSQL (`Store.changeTogether`). The changes run one after
 * another; the user is read under its row lock once, and each change then finds it as the ones before left it.
 * Every change's writes (the user, its audit records, its replay record) are held back and leave together, as one
 * statement, at the end: the user's changes as one update from what was read to what the last change left.
 */
class JoinedTx extends StoreTx {
  private users = new Map<string, LockedUser>();

  override async combineWrites<T>(fn: () => Promise<T>): Promise<T> {
    this.holding = true;
    try {
      return await fn();
    } finally {
      this.holding = false;
    }
  }

  override async getUserForUpdate(customerId: string, userId: string): Promise<UserRecord | undefined> {
    const locked = this.users.get(userId.toLowerCase());
    if (locked !== undefined) return locked.now.customerId === customerId ? locked.now : undefined;
    const read = await this.readUser(customerId, userId);
    if (read !== undefined) this.users.set(read.id.toLowerCase(), { stored: read, now: read, write: undefined });
    return read;
  }

  /** Reads the user under its row lock. */
  protected readUser(customerId: string, userId: string): Promise<UserRecord | undefined> {
    return super.getUserForUpdate(customerId, userId);
  }

  override async updateUser(u: UserRecord, before?: UserRecord): Promise<void> {
    const id = u.id.toLowerCase();
    const locked = this.users.get(id);
    if (!this.holding || locked === undefined) {
      this.users.delete(id);
      return super.updateUser(u, before);
    }
    // One update from the user as stored: the held write of the changes before this one gives way to it.
    if (locked.write !== undefined) {
      const earlier = locked.write;
      this.held = this.held.filter((w) => w !== earlier);
    }
    const count = this.held.length;
    await super.updateUser(u, locked.stored);
    this.users.set(id, { stored: locked.stored, now: u, write: this.held.length > count ? this.held[this.held.length - 1] : undefined });
  }

  protected override async sendHeldWrites(): Promise<void> {
    // Once sent, the users' held updates are what the database has: later updates start from there.
    for (const [id, l] of this.users) if (l.write !== undefined) this.users.set(id, { stored: l.now, now: l.now, write: undefined });
    await super.sendHeldWrites();
  }

  mark(): JoinedMark {
    return { held: this.held.slice(), users: new Map(this.users), writesSent: this.writesSent };
  }

  /**
   * Undoes what the change begun at `mark` held back, when it failed; false when it cannot be undone (it sent a
   * write, or its error may come from the database, whose transaction may be unusable now).
   */
  undo(mark: JoinedMark, err: unknown): boolean {
    if (this.writesSent !== mark.writesSent || !(err instanceof PartnerKitError)) return false;
    this.held = mark.held;
    this.users = mark.users;
    return true;
  }

  /** Sends what the changes held back. */
  send(): Promise<void> {
    return this.sendHeldWrites();
  }
}

/** A user as read, with its row version (PostgreSQL's `xmin`). */
interface VersionedUser {
  user: UserRecord;
  version: string;
}

/** An optimistic change met something it cannot do without the row lock: the changes run again with it. */
class NeedsLock extends Error {}

/**
 * Changes of one user, when no other change of it is under way in this process (`Store.changeTogether`), on
 * PostgreSQL: without a transaction. The user is read with its row version but no lock (with the turn's other such
 * reads), and every write is held back and leaves as one statement in autocommit, which writes the user only if its
 * row is still the version read and fails as a whole unless each write wrote its row (a lost replay claim, say).
 * One round trip of its own instead of the locked path's four (`BEGIN`, the read, the writes, `COMMIT`). A change
 * that cannot be made so (a write before the end, a purge, a user updated meanwhile) leaves nothing behind, and the
 * changes run again on the locked path. Its statements run on any pooled connection: it holds none of its own.
 */
class OptimisticTx extends JoinedTx {
  protected override readonly exactWrites = true;
  private sending = false;

  constructor(
    db: Executor,
    dialect: Dialect,
    references: { cache: ReferenceCache; read: boolean },
    /** Reads a user with its row version (the store's reads of one turn, sent together). */
    private readonly readVersioned: (customerId: string, userId: string) => Promise<VersionedUser | undefined>,
  ) {
    super(db, dialect, references);
  }

  override async combineWrites<T>(fn: () => Promise<T>): Promise<T> {
    this.holding = true;
    return fn();
  }

  protected override async readUser(customerId: string, userId: string): Promise<UserRecord | undefined> {
    // Held writes would have to leave first (see `sendHeldWrites`).
    if (this.held.length > 0) throw new NeedsLock();
    const read = await this.readVersioned(customerId, userId);
    if (read === undefined) return undefined;
    this.userVersions.set(read.user.id.toLowerCase(), read.version);
    return read.user;
  }

  override updateUser(u: UserRecord, before?: UserRecord): Promise<void> {
    // Only a user read here has a version to hold the write to.
    if (!this.userVersions.has(u.id.toLowerCase())) return Promise.reject(new NeedsLock());
    return super.updateUser(u, before);
  }

  override purgeUser(): Promise<void> {
    return Promise.reject(new NeedsLock());
  }

  override insertUser(): Promise<boolean> {
    return Promise.reject(new NeedsLock());
  }

  protected override async sendHeldWrites(): Promise<void> {
    // Held writes sent before the end (a read among them) would stay whatever follows.
    if (!this.sending) throw new NeedsLock();
    await super.sendHeldWrites();
  }

  override send(): Promise<void> {
    this.sending = true;
    return super.sendHeldWrites();
  }
}

/** What one change of a group came to. */
type JoinedOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface JoinedChange {
  run: (tx: StoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Changes of one key that share a transaction; closed once its writes are on their way. */
interface JoinedGroup {
  changes: JoinedChange[];
  closed: boolean;
}

/** A joined transaction gave up: each of its changes runs again in a transaction of its own. */
class JoinedAborted extends Error {}

/**
 * Requests of one kind made while the event loop runs one turn, sent together at its end (`endOfTurn`: requests read
 * meanwhile join): `send` answers each item, in order, or fails them all.
 */
class TurnBatch<I, R> {
  private items: { item: I; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly send: (items: I[]) => Promise<R[]>) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.items.push({ item, resolve, reject }) === 1) void endOfTurn().then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.items;
    this.items = [];
    try {
      const results = await this.send(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as R));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}

/**
 * Most users a store that one process owns keeps for reads outside transactions: a kept user takes about 450
 * bytes of heap (keyed by its own id, see `KeptUsers.set`), so 16,384 take about 7 MiB. Enough for a customer of
 * 10,000 users to be read from memory: GETs of random users of the benchmark's 10 k store +19 % against 8,192. On
 * 1 M users nearly every read misses; a user is kept only from its second read on (`RecentReads`), so such reads
 * do not churn the kept users (docs/performance.md, "Before and after"). Keeping each answer too was tried before
 * and took the largest RSS under load on 1 M users past 200 MiB.
 */
export const MAX_KEPT_USERS = 16_384;

/**
 * Most replay records a store one process owns finds by key in memory: 11–21 bytes each while they grow, at most
 * 8 MiB in all (2^20 slots, which hold up to 786,432 keys; docs/configuration.md, "Memory"). Past it, the oldest
 * are forgotten before their 24 hours are up: no longer found, their rows are left for the purge
 * (`Store.purgeForgotten`).
 */
export const MAX_REPLAY_KEYS = 750_000;
/**
 * How many replay records below the limit forgetting aims at, and how far past it they may go before a whole pass
 * over the table forgets them at once.
 */
const REPLAY_TRIM = 4096;
/**
 * Slots of the table in memory looked at per record written past the limit (`ReplayKeys.forgetSome`): a whole pass
 * over its 2^20 slots took 4–5 ms on the AMD host of docs/performance.md, which every request in flight waited for
 * each 4,096 records; 256 slots take well under a µs, and a round over them all takes 4,096 records.
 */
const REPLAY_SWEEP_SLOTS = 256;
/**
 * Rows of forgotten replay records deleted by one statement. Deleting a record changes its row's page (some 650
 * bytes a record with the seed PATCH's answer) and its key's in the purge's index, on the main thread, and the
 * oldest pages have often left the system's page cache (they are read ahead on the checkpoint thread first): a
 * smaller statement holds the requests of its turn up for less time.
 */
const REPLAY_PURGE_CHUNK = 1024;
/**
 * While no replay record has been written for this long, one chunk of forgotten rows is deleted, and then one more
 * each time again: 1.6–2.0 % of a core measured, so a server at rest does not take much from another beside it
 * (docs/design.md, "Replay records found by key in memory").
 */
const REPLAY_IDLE_MS = 1000;

export class Store extends StoreTx {
  private readonly cache: ReferenceCache;
  private users = 0;
  /**
   * Users read outside transactions, by id (lower case), on a store one process owns: every change of a user in
   * this process drops it once committed, so what is kept is what is committed. The oldest kept goes first.
   */
  private readonly keptUsers: KeptUsers;
  /** The ids read lately outside transactions: a user is kept on its second read (see `RecentReads`; made on first use, by a store that keeps users). */
  private recentReads: RecentReads | undefined;

  constructor(
    private readonly kysely: Kysely<Database>,
    dialect: Dialect,
    private readonly engine: StoreEngine = {},
    cache: ReferenceCache = new ReferenceCache(),
  ) {
    // The writer's users, where transactions run on the writer directly (SQLite): see `KeptUsers`.
    const writerUsers = engine.direct ? new KeptUsers() : undefined;
    super(kysely, dialect, { cache, read: true }, engine.direct?.outside, undefined, writerUsers);
    engine.direct?.onBatchLost(() => writerUsers?.clear());
    this.cache = cache;
    this.keptUsers = new KeptUsers(engine.maxKeptUsers ?? MAX_KEPT_USERS);
    this.userReads = new TurnBatch((keys) => this.readUsers(keys));
    this.versionedReads = new TurnBatch((keys) => this.readUsersWithVersion(keys));
    this.claims = new TurnBatch((claims) => this.sendClaims(claims));
  }

  /**
   * True when several processes may use the store at once (PostgreSQL); SQLite's data directory belongs to one
   * process (sqlite.ts locks it).
   */
  get sharedByProcesses(): boolean {
    return this.dialect === 'postgres';
  }

  /**
   * A number that changes whenever a change of users has committed, on a store one process owns (undefined on a
   * shared one: another instance's changes would not move it). Read it before reading users: what was read may
   * be kept as long as the number stays the same.
   */
  usersVersion(): number | undefined {
    return this.sharedByProcesses ? undefined : this.users;
  }

  protected override userWritten(userId: string): void {
    this.users++;
    this.keptUsers.delete(userId);
  }

  /**
   * The user, as `StoreTx.getUser`; on a store one process owns, what is read is kept (frozen: callers share it and
   * must not change it) and later reads of the user find it there, until a change of the user commits.
   */
  override async getUser(customerId: string, userId: string): Promise<UserRecord | undefined> {
    if (this.sharedByProcesses) return this.userReads.add({ customerId, userId });
    const id = userId.toLowerCase();
    const kept = this.keptUsers.get(id);
    if (kept !== undefined && kept.customerId === customerId) return kept;
    // A change of the user that commits while this read is under way moves the version on (and drops the user,
    // maybe before this read's result is kept): what was read is kept only if the version has not moved.
    const version = this.users;
    const user = await super.getUser(customerId, userId);
    // Kept from its second read on (see `RecentReads`).
    if (user === undefined || version !== this.users || !(this.recentReads ??= new RecentReads()).again(id)) return user;
    this.keptUsers.set(id, user);
    return user;
  }

  /** Runs `fn` in one transaction: everything it writes commits together or not at all. */
  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    let tx: StoreTx | undefined;
    let committed = false;
    try {
      const direct = this.engine.direct;
      const result = direct
        ? await direct.transaction((d) => {
          const t = new StoreTx(d.db, this.dialect, { cache: this.cache, read: false }, d.run, this.replayKeys, this.writerUsers);
          d.onKept(() => this.keepWriterUsers(t));
          tx = t;
          return fn(t);
        })
        : await this.kysely.transaction().execute((trx) => {
          tx = new StoreTx(trx, this.dialect, { cache: this.cache, read: false }, undefined, this.replayKeys);
          return fn(tx);
        });
      committed = true;
      return result;
    } finally {
      // What a read cached while the transaction ran may be older than what it committed.
      if (tx?.touchedReferences) this.cache.clear();
      if (tx !== undefined && tx.touchedUserIds.size > 0) {
        this.users++;
        for (const id of tx.touchedUserIds) this.keptUsers.delete(id);
      }
      if (committed && tx !== undefined) for (const r of tx.insertedReplays) this.replayWritten(r.hash, r.seq);
    }
  }

  /** A transaction was kept in its batch: the writer has the users it wrote as it wrote them (see `KeptUsers`). */
  private keepWriterUsers(tx: StoreTx): void {
    const writer = this.writerUsers;
    if (writer === undefined) return;
    for (const id of tx.touchedUserIds) {
      const u = tx.userStates.get(id);
      if (u !== undefined) writer.set(id, u);
      else writer.delete(id);
    }
  }

  // ---- replay records found by key in memory (a store one process owns) ------------------------------------

  /**
   * SQLite: from now on, replay records are found by key in memory (store/replay-keys.ts), built here from the
   * table, and the table's unique index on the key, if it has one, is dropped: without it a new record is appended
   * in order instead of landing on an index page of its own (migration 005). Of a table with more records than
   * `StoreEngine.maxReplayKeys`, the newest are found and the rest forgotten, their rows left for the purge. With a
   * limit of 0 the key is indexed instead, and records are found through the index, as on PostgreSQL. Runs before
   * the store serves anything, so no record is written meanwhile.
   */
  async openReplayRecords(): Promise<void> {
    if (this.sharedByProcesses) return;
    const max = this.engine.maxReplayKeys ?? MAX_REPLAY_KEYS;
    if (max <= 0) {
      await this.keyReplayRecords();
      return;
    }
    // More records than memory keeps (forgotten ones whose rows wait for the purge, or a lower limit): the oldest
    // by creation are passed over.
    const count = (await this.run<{ n: number }>(SQL.idempotencyCount, [])).rows[0]?.n ?? 0;
    let skip = Math.max(0, count - max);
    /** When the oldest record found was created: the ones passed over were created before (or then). */
    let firstHeld: number | undefined;
    const keys = new ReplayKeys();
    const chunk = 10_000;
    type KeyRow = { seq: number; created_at: number; partner_id: string; request_id: string };
    for (let after: unknown[] = [Number.MIN_SAFE_INTEGER, '', '']; ;) {
      const rows = (await this.run<KeyRow>(SQL.idempotencyKeys, [...after, chunk])).rows;
      for (const r of rows) {
        if (r.seq > MAX_REPLAY_SEQ) {
          await this.keyReplayRecords();
          return;
        }
        if (skip > 0) {
          skip--;
          continue;
        }
        const hash = replayKeyHash(r.partner_id, r.request_id);
        // A key written again after it was forgotten has two records: the older (read first) goes.
        const held = keys.has(hash) ? await this.replayRowByKey(keys, r.partner_id, r.request_id) : undefined;
        if (held?.seq !== undefined) {
          keys.remove(hash, held.seq);
          await this.run(SQL.deleteIdempotencyBySeq, [held.seq]);
        }
        keys.add(hash, r.seq);
        firstHeld ??= r.created_at;
      }
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < chunk) break;
      after = [last.created_at, last.partner_id, last.request_id];
    }
    await this.run(SQL.unkeyIdempotency, []);
    this.replayKeys = keys;
    if (firstHeld !== undefined && count > max) {
      this.forgottenBefore = firstHeld;
      this.purging ??= this.purgeForgotten(keys, max);
    }
  }

  /**
   * SQLite indexes the replay records' key, unique, unless it has already; of a key written again after it was
   * forgotten, only the newest record is kept.
   */
  private async keyReplayRecords(): Promise<void> {
    if (((await this.run<{ n: number }>(SQL.idempotencyKeyed, [])).rows[0]?.n ?? 0) > 0) return;
    await this.run(SQL.dedupeIdempotency, []);
    await this.run(SQL.keyIdempotency, []);
  }

  /** How replay records are found by key: `memory` (with the records held), `index` (SQLite's or PostgreSQL's). */
  replayKeyStats(): { foundBy: 'memory' | 'index'; records?: number; bytes?: number } {
    return this.replayKeys ? { foundBy: 'memory', records: this.replayKeys.size, bytes: this.replayKeys.bytes } : { foundBy: 'index' };
  }

  /**
   * A replay record has committed: it is found by key from now on. Past the limit, the oldest records are forgotten
   * (`REPLAY_SWEEP_SLOTS` of the table looked at per record) and their rows purged later (`purgeForgotten`); with a
   * `seq` past what the table holds, the key is indexed.
   */
  protected override replayWritten(hash: number, seq: number): void {
    const keys = this.replayKeys;
    if (!keys) return;
    if (seq > MAX_REPLAY_SEQ) {
      this.indexReplayKeys();
      return;
    }
    keys.add(hash, seq);
    this.replayWrites++;
    const max = this.engine.maxReplayKeys ?? MAX_REPLAY_KEYS;
    if (keys.size <= max) return;
    // Every record held has a `seq` of at most `newest`, so at most `max - trim` of them are at or above the floor:
    // the rest are forgotten, a share of the table at a time, or all at once when that falls behind.
    const trim = Math.min(REPLAY_TRIM, Math.floor(max / 16));
    const floor = keys.newest + 1 - max + trim;
    if (keys.size > max + trim) keys.forgetBelow(floor);
    else keys.forgetSome(floor, REPLAY_SWEEP_SLOTS);
    this.forgottenBelow = Math.max(this.forgottenBelow, floor);
    this.purging ??= this.purgeForgotten(keys, max);
    if (this.forgottenBelow - this.purgedBelow > max) this.wakePurge?.();
  }

  /** Replay records written so far: `purgeForgotten` waits for a pause in them. */
  private replayWrites = 0;
  /** Rows with a `seq` below this are of forgotten records (memory holds none of them, or is about to drop them). */
  private forgottenBelow = 0;
  /** The rows below this `seq` are purged already. */
  private purgedBelow = 0;
  /** Rows created before this are of records passed over when the store opened (0: none, or purged). */
  private forgottenBefore = 0;
  private purging: Promise<void> | undefined;
  /** Ends the purge's wait for a pause at once (too many forgotten rows, or the store closing). */
  private wakePurge: (() => void) | undefined;
  private closing = false;

  /**
   * Deletes the rows of forgotten records (those passed over at open, then those with a `seq` below
   * `forgottenBelow`), a chunk at a time: one each time no replay record has been written for `REPLAY_IDLE_MS`, and
   * one after the other while more of them wait than the limit itself (the bound on the disk). Under load the
   * deletes wait: each reads pages of the oldest rows back and writes them again, which cost up to 45 % of the seed
   * PATCH's throughput when they ran with every change (docs/performance.md).
   */
  private async purgeForgotten(keys: ReplayKeys, max: number): Promise<void> {
    try {
      while (!this.closing && (this.forgottenBefore > 0 || this.purgedBelow < this.forgottenBelow)) {
        if (this.forgottenBelow - this.purgedBelow <= max) {
          const seen = this.replayWrites;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.engine.replayIdleMs ?? REPLAY_IDLE_MS);
            timer.unref();
            this.wakePurge = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wakePurge = undefined;
          if (seen !== this.replayWrites) continue;
        }
        if (this.forgottenBefore > 0) {
          if ((await this.purgeCreatedBefore(keys, this.forgottenBefore)) < REPLAY_PURGE_CHUNK) this.forgottenBefore = 0;
        } else {
          this.purgedBelow = await this.purgeSeqsBelow(keys, this.forgottenBelow);
        }
      }
    } catch {
      // A failed purge (the store closing, a full disk) is tried again when the next record is forgotten.
    } finally {
      this.purging = undefined;
    }
  }

  /** Deletes the forgotten rows with a `seq` below `below`, a chunk (`purgeChunk`); answers the `seq` below which none is left. */
  private async purgeSeqsBelow(keys: ReplayKeys, below: number): Promise<number> {
    const rows = await this.purgeChunk(keys, SQL.warmForgottenPurge, SQL.purgeForgotten, below);
    return rows.length < REPLAY_PURGE_CHUNK ? below : Math.max(...rows.map((r) => r.seq)) + 1;
  }

  /** Deletes rows created before `before`, a chunk (`purgeChunk`); answers how many it deleted. */
  private async purgeCreatedBefore(keys: ReplayKeys, before: number): Promise<number> {
    return (await this.purgeChunk(keys, SQL.warmIdempotencyPurge, SQL.purgeIdempotencyKept, before)).length;
  }

  /**
   * Runs `purge` (a delete of the oldest rows past `bound`, at most `REPLAY_PURGE_CHUNK`, outside transactions, that
   * answers their keys) and removes them from `keys` if held. The oldest rows' pages have often left the system's
   * page cache by then: `warm`, the same rows' read, runs first off the main thread, so that the delete, which
   * blocks it, finds them in memory.
   */
  private async purgeChunk(keys: ReplayKeys, warm: FixedSql, purge: FixedSql, bound: number): Promise<ReplayKeyRow[]> {
    await this.engine.warm?.(warm.sqlite, [bound, REPLAY_PURGE_CHUNK]);
    const rows = (await this.run<ReplayKeyRow>(purge, [bound, REPLAY_PURGE_CHUNK])).rows;
    for (const r of rows) keys.remove(replayKeyHash(r.partner_id, r.request_id), r.seq);
    return rows;
  }

  private indexing: Promise<void> | undefined;
  /**
   * A replay record's `seq` past what the table in memory holds (after some four billion records): SQLite indexes
   * their key (a unique index; the table holds one record per key, since every insert looked its key up first) and
   * they are found through it until the store is opened again. Until the index has committed, records go on being
   * found, and added, in memory; a record a transaction begun before inserts is covered by the index too.
   */
  private indexReplayKeys(): void {
    this.indexing ??= this.keyReplayRecords().then(
      () => {
        this.replayKeys = undefined;
      },
      () => {
        this.indexing = undefined; // tried again at the next record
      },
    );
  }

  /** Removes replay records created before `before` (outside transactions). */
  override async purgeIdempotency(before: number): Promise<void> {
    const keys = this.replayKeys;
    if (!keys) return super.purgeIdempotency(before);
    // Each delete has committed when it returns; its records are then no longer found.
    while ((await this.purgeCreatedBefore(keys, before)) === REPLAY_PURGE_CHUNK);
  }

  /** Reads of users outside transactions on PostgreSQL, sent together (see `getUser`). */
  private readonly userReads: TurnBatch<{ customerId: string; userId: string }, UserRecord | undefined>;

  /** PostgreSQL: the users asked for in one turn, read with one statement. */
  private async readUsers(keys: { customerId: string; userId: string }[]): Promise<(UserRecord | undefined)[]> {
    return (await this.rowsByKeys<Selectable<UsersTable>>(SQL.user, SQL.usersByIds, keys)).map((r) => r && toUser(r));
  }

  /**
   * Each key's user row (its customer's): one key by `one` (its id and customer), several by `many` with the keys'
   * ids as one array parameter (PostgreSQL).
   */
  private async rowsByKeys<R extends Selectable<UsersTable>>(one: FixedSql, many: FixedSql, keys: readonly { customerId: string; userId: string }[]): Promise<(R | undefined)[]> {
    if (keys.length === 1) {
      const [k] = keys as [(typeof keys)[number]];
      return [(await this.run<R>(one, [k.userId.toLowerCase(), k.customerId])).rows[0]];
    }
    const ids = [...new Set(keys.map((k) => k.userId.toLowerCase()))];
    const byId = new Map((await this.run<R>(many, [ids])).rows.map((r) => [r.id, r]));
    return keys.map((k) => {
      const r = byId.get(k.userId.toLowerCase());
      return r !== undefined && r.customer_id === k.customerId ? r : undefined;
    });
  }

  /** Reads of users with their row versions for changes without a transaction (`OptimisticTx`), sent together. */
  private readonly versionedReads: TurnBatch<{ customerId: string; userId: string }, VersionedUser | undefined>;

  /** PostgreSQL: the users asked for in one turn with their row versions, read with one statement. */
  private async readUsersWithVersion(keys: { customerId: string; userId: string }[]): Promise<(VersionedUser | undefined)[]> {
    type Row = Selectable<UsersTable> & { row_version: string };
    const versioned = (r: Row | undefined): VersionedUser | undefined => r && { user: toUser(r), version: r.row_version };
    return (await this.rowsByKeys<Row>(SQL.userWithVersion, SQL.usersWithVersionByIds, keys)).map(versioned);
  }

  /** Claims of request ids outside transactions on PostgreSQL, sent together (see `claimIdempotency`). */
  private readonly claims: TurnBatch<IdempotencyClaim, boolean>;

  /**
   * As `StoreTx.claimIdempotency`; on PostgreSQL, the claims made while the event loop runs one turn are sent
   * together, as one statement and one commit.
   */
  override claimIdempotency(c: IdempotencyClaim): Promise<boolean> {
    return this.sharedByProcesses ? this.claims.add(c) : super.claimIdempotency(c);
  }

  private async sendClaims(claims: IdempotencyClaim[]): Promise<boolean[]> {
    if (claims.length === 1) return [await super.claimIdempotency(claims[0] as IdempotencyClaim)];
    const column = (f: (c: IdempotencyClaim) => unknown): unknown[] => claims.map(f);
    const r = await this.run<{ claim_id: string }>(SQL.claimIdempotencies, [
      column((c) => c.partnerId), column((c) => c.requestId), column((c) => c.fingerprint), column(() => IDEMPOTENCY_PENDING),
      column(() => '{}'), column(() => ''), column((c) => c.createdAt), column((c) => c.claimId),
    ]);
    const won = new Set(r.rows.map((row) => row.claim_id));
    return claims.map((c) => won.has(c.claimId));
  }

  /** Changes waiting to share a transaction, by key (see `changeTogether`). */
  private readonly joining = new Map<string, JoinedGroup>();
  /** How many groups of changes of each key are under way (open or sending). */
  private readonly underWay = new Map<string, number>();

  /**
   * Runs `fn` in a transaction, as `transaction` does; on PostgreSQL, changes of one user (`key`) that arrive while
   * another change of the user is under way share one transaction with it. Concurrent changes of a user would take
   * the user's row lock one after another, each for several round trips; joined, they take it once. They run in
   * turn, each seeing the user as the ones before left it, and commit together; each answer comes after the
   * commit. A change that fails on a rule of its own (an error of this service, before any of its writes was sent)
   * is undone alone and fails alone; if anything else goes wrong before the commit (a write's error, such as a
   * UPN another user took meanwhile, or a lost replay claim), the joined transaction rolls back and each change
   * runs again in its own. When no other change of the user is under way in this process, the changes run without
   * a transaction (`OptimisticTx`: the user read with its row version, the writes in one statement that stays only
   * if the row is still that version), and on the locked path as above if that cannot be. `fn` must be able to run
   * again, and must make its writes inside `combineWrites` (except for purges, which go the locked path); on
   * SQLite, whose transactions share commits already (sqlite-driver.ts), it runs alone.
   */
  changeTogether<T>(key: string, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (!this.sharedByProcesses) return this.transaction(fn);
    return new Promise<T>((resolve, reject) => {
      const change: JoinedChange = { run: fn, resolve: (v) => resolve(v as T), reject };
      const open = this.joining.get(key);
      if (open !== undefined && !open.closed && open.changes.length < MAX_JOINED) {
        open.changes.push(change);
        return;
      }
      const group: JoinedGroup = { changes: [change], closed: false };
      this.joining.set(key, group);
      void this.runJoined(key, group);
    });
  }

  private async runJoined(key: string, group: JoinedGroup): Promise<void> {
    const before = this.underWay.get(key) ?? 0;
    this.underWay.set(key, before + 1);
    try {
      // Optimistic when no other change of the user is under way here: one that is would most likely change the
      // user between the read and the write; the locked path waits for it instead.
      if (before === 0 && await this.runOptimistic(key, group)) return;
      await this.runLocked(key, group);
    } finally {
      const n = (this.underWay.get(key) ?? 1) - 1;
      if (n === 0) this.underWay.delete(key);
      else this.underWay.set(key, n);
    }
  }

  private closeGroup(key: string, group: JoinedGroup): void {
    group.closed = true;
    if (this.joining.get(key) === group) this.joining.delete(key);
  }

  /**
   * Runs the group's changes in turn on `tx` (the group may grow meanwhile). A change that fails on a rule of its
   * own is undone alone; any other failure ends the run: `NeedsLock` as it is, the rest as `JoinedAborted`.
   */
  private static async runEach(tx: JoinedTx, group: JoinedGroup): Promise<JoinedOutcome[]> {
    const outcomes: JoinedOutcome[] = [];
    for (let i = 0; i < group.changes.length; i++) {
      const change = group.changes[i] as JoinedChange;
      const mark = tx.mark();
      try {
        outcomes.push({ ok: true, value: await change.run(tx) });
      } catch (error) {
        if (error instanceof NeedsLock) throw error;
        if (!tx.undo(mark, error)) throw new JoinedAborted();
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }

  /**
   * The group could not be kept: after `JoinedAborted` each change runs again in a transaction of its own; after
   * any other error (the transaction could not begin or commit, the connection failed) each fails with it, as its
   * own transaction would.
   */
  private failGroup(key: string, group: JoinedGroup, tx: StoreTx | undefined, err: unknown): void {
    this.closeGroup(key, group);
    if (tx?.touchedReferences) this.cache.clear();
    if (err instanceof JoinedAborted) {
      for (const c of group.changes) this.transaction(c.run).then(c.resolve, c.reject);
    } else {
      for (const c of group.changes) c.reject(err);
    }
  }

  /** The group was kept: each change gets its outcome. */
  private keepGroup(group: JoinedGroup, tx: StoreTx, outcomes: readonly JoinedOutcome[]): void {
    if (tx.touchedReferences) this.cache.clear();
    group.changes.forEach((c, i) => {
      const o = outcomes[i];
      if (o?.ok === true) c.resolve(o.value);
      else c.reject(o?.error);
    });
  }

  /** Runs the group without a transaction (`OptimisticTx`); false when it could not, having written nothing. */
  private async runOptimistic(key: string, group: JoinedGroup): Promise<boolean> {
    // No transaction, so no connection of its own: each statement takes one from the pool for its time (a
    // connection held while the group waits for its turn's read would be one that read cannot have).
    const tx = new OptimisticTx(this.kysely, this.dialect, { cache: this.cache, read: false }, (customerId, userId) => this.versionedReads.add({ customerId, userId }));
    let outcomes: JoinedOutcome[];
    try {
      outcomes = await Store.runEach(tx, group);
      this.closeGroup(key, group);
      try {
        await tx.send();
      } catch (err) {
        // The statement failed as a whole (an error of the database's or one of ours for it): nothing of it stayed.
        // Without either, the connection failed, and whether it stayed is unknown: that error is the answer.
        // An exact statement that found a write writing no row divides by zero (see `combinedStatement`).
        if (isDivisionByZero(err)) throw new NeedsLock();
        if (err instanceof PartnerKitError || isDatabaseError(err)) throw new JoinedAborted();
        throw err;
      }
    } catch (err) {
      if (err instanceof NeedsLock) {
        if (tx.touchedReferences) this.cache.clear();
        return false;
      }
      this.failGroup(key, group, tx, err);
      return true;
    }
    this.keepGroup(group, tx, outcomes);
    return true;
  }

  private async runLocked(key: string, group: JoinedGroup): Promise<void> {
    let tx: JoinedTx | undefined;
    let outcomes: JoinedOutcome[] = [];
    try {
      await this.kysely.transaction().execute(async (trx) => {
        const t = new JoinedTx(trx, this.dialect, { cache: this.cache, read: false });
        tx = t;
        outcomes = await Store.runEach(t, group);
        this.closeGroup(key, group);
        try {
          await t.send();
        } catch {
          throw new JoinedAborted();
        }
      });
    } catch (err) {
      this.failGroup(key, group, tx, err);
      return;
    }
    if (tx !== undefined) this.keepGroup(group, tx, outcomes);
  }

  /** Runs `fn` holding the startup lock (see `StoreEngine.exclusive`); SQLite has one process and needs none. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.engine.exclusive ? this.engine.exclusive(fn) : fn();
  }

  /** Reports errors of idle database connections to `listener` (a logger); they never crash the process. */
  onConnectionError(listener: (err: Error) => void): void {
    this.engine.onConnectionError?.(listener);
  }

  async migrate(): Promise<void> {
    // PostgreSQL: Kysely looks for its bookkeeping tables in every schema unless told which; name the one the
    // store's tables go to (the first of the connection's search_path), so another schema's do not count.
    let migrationTableSchema: string | undefined;
    if (this.dialect === 'postgres') {
      const r = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(this.kysely);
      migrationTableSchema = r.rows[0]?.schema ?? undefined;
    }
    const migrator = new Migrator({
      db: this.kysely,
      provider: new StaticMigrations(this.dialect),
      ...(migrationTableSchema !== undefined ? { migrationTableSchema } : {}),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error');
      throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : 'unknown error'}`);
    }
  }

  /** True when the store holds no partner yet. */
  async isEmpty(): Promise<boolean> {
    const r = await this.kysely.selectFrom('partners').select('tenant_id').limit(1).executeTakeFirst();
    return r === undefined;
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.kysely);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakePurge?.();
    await this.purging;
    await this.kysely.destroy();
  }
}
