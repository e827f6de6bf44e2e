/**
 * What the database drivers' errors mean to the rest of the service, so dialect knowledge stays in `store/`:
 * an unreachable database (the service answers 503 and recovers by itself once it is back), and a unique
 * constraint that another writer won first.
 */

/** Node socket errors of a connection that cannot be made or was lost. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN',
]);

/**
 * PostgreSQL SQLSTATEs of a server that is going away or not ready: admin_shutdown, crash_shutdown,
 * cannot_connect_now, too_many_connections. Class 08 (connection exceptions) is matched by prefix.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/** node-postgres and pg-pool errors that carry no code. */
const DRIVER_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
  'Query read timeout',
];

/**
 * SQLite result codes (better-sqlite3 names them, extended codes included) of a database that cannot be written
 * now: a full disk, a read-only file or directory, an I/O error, a file that cannot be opened, or a lock still held
 * after `busy_timeout`. The change is rolled back whole; reads still work; writes work again once it is fixed.
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(?:FULL|READONLY|IOERR|CANTOPEN|BUSY)(?:_|$)/;

const codeOf = (err: object): string | undefined => ('code' in err && typeof err.code === 'string' ? err.code : undefined);

/**
 * True when `err` says the database cannot be reached or written (now): a connection refused, lost or timed out;
 * on SQLite, a full disk, a read-only data directory, an I/O error.
 */
export function isStoreUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const code = codeOf(err);
  if (code !== undefined && (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (code !== undefined && SQLITE_UNAVAILABLE.test(code)) return true;
  const message = err instanceof Error ? err.message : '';
  if (DRIVER_MESSAGES.some((m) => message.startsWith(m))) return true;
  // A connection attempt to several addresses fails with an AggregateError of each attempt's error.
  if (err instanceof AggregateError) return err.errors.some((e) => isStoreUnavailable(e, depth + 1));
  if ('cause' in err && err.cause !== err) return isStoreUnavailable(err.cause, depth + 1);
  return false;
}

/** True when `err` is a unique-constraint violation (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY). */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = codeOf(err);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * True when the database answered `err` (PostgreSQL: a SQLSTATE and a severity): the statement failed as a whole.
 * Not for an error of the connection (`EPIPE`, say, whose code would pass for a SQLSTATE), after which whether the
 * statement ran is unknown.
 */
export function isDatabaseError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = codeOf(err);
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err && typeof err.severity === 'string';
}

/** True when `err` is PostgreSQL's division_by_zero (22012). */
export function isDivisionByZero(err: unknown): boolean {
  return typeof err === 'object' && err !== null && codeOf(err) === '22012';
}
