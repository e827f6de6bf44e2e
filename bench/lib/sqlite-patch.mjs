// The SQLite statements of one changing PATCH, as the server runs them in its group commit (store.ts,
// sqlite-driver.ts): a savepoint, the user's read and its one-column update, the audit record, the replay record,
// the release. For the SQLite-only benchmarks (sqlite-writes.mjs, sqlite-scale.mjs); no server, no HTTP.
import { randomUUID } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * A fresh copy of the database file `source` at `file` (any WAL of an earlier copy removed), opened as the server's
 * writer, except that checkpoints are left to the caller (the server runs them apart).
 */
export function openWriterCopy(source, file) {
  for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
  copyFileSync(source, file);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

/**
 * Runs `measure(i)` for each of `count` variants in each of `rounds` rounds, each round starting with the next
 * variant, so none is always first (or last) while the host's speed moves. Returns each variant's results in round
 * order; `onRound(r, results of that round by variant)` sees each round as it ends.
 */
export function interleavedRounds(count, rounds, measure, onRound = () => undefined) {
  const all = Array.from({ length: count }, () => []);
  for (let r = 0; r < rounds; r++) {
    const round = new Array(count);
    for (let k = 0; k < count; k++) {
      const i = (k + r) % count;
      round[i] = measure(i);
      all[i].push(round[i]);
    }
    onRound(r, round);
  }
  return all;
}

/**
 * The prepared statements of one changing PATCH of a user's usage location: the user's read (`all`: stepped to its
 * end) and update, the audit record's and the replay record's inserts (14 and 8 values, in the order of the server's
 * columns), the savepoint each PATCH runs in and its release.
 */
export function prepareWrites(db) {
  return {
    read: db.prepare('select * from users where id = ? and customer_id = ?'),
    update: db.prepare('update users set usage_location = ? where id = ?'),
    audit: db.prepare(`insert into audit_records (id, partner_id, customer_id, customer_name, caller_upn, application_id, resource_type,
    old_value, new_value, operation_type, correlation_id, operation_date, operation_status, customized_data) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`),
    // The server inserts a new id's record (it finds a key's record in memory: store/replay-keys.ts).
    replay: db.prepare(`insert into idempotency (partner_id, request_id, fingerprint, status, headers, body, created_at, claim_id)
    values (?,?,?,?,?,?,?,?)`),
    savepoint: db.prepare('savepoint pk_tx'),
    release: db.prepare('release pk_tx'),
    rollback: db.prepare('rollback to pk_tx'),
  };
}

/** Nanoseconds spent in each step of the PATCHes run with it (see `patchStatements`). */
export const newSteps = () => ({ read: 0n, update: 0n, audit: 0n, replay: 0n });

/**
 * Prepares the statements on `db` and returns `patch(userId, country, steps?)`, which runs them for one PATCH
 * inside an open batch; `steps` (from `newSteps`), when given, gets each step's time added. `value` stands for the
 * audit record's old and new values and the replay answer (the server writes about 430 characters for each).
 */
export function patchStatements(db, { partnerId, customerId, value }) {
  const { read, update, audit, replay, savepoint, release } = prepareWrites(db);
  const headers = JSON.stringify({ 'content-type': 'application/json; charset=utf-8' });
  const now = process.hrtime.bigint;
  let ticks = 639_320_000_000_000_000n;
  return (userId, country, steps) => {
    savepoint.run();
    const t0 = now();
    read.all(userId, customerId);
    const t1 = now();
    update.run(country, userId);
    const t2 = now();
    ticks += 1n;
    audit.run(`${partnerId}_${customerId}_${userId}_updatecustomeruser_${String(ticks)}`, partnerId, customerId, 'Fabrikam',
      'agent@example', randomUUID(), 'customerUser', value, value, 'updateCustomerUser', randomUUID(), new Date().toISOString(), 'succeeded',
      '[{"key":"UsageLocation","value":"US"}]');
    const t3 = now();
    replay.run(partnerId, randomUUID(), 'f'.repeat(43), 200, headers, value, Date.now(), randomUUID());
    const t4 = now();
    release.run();
    if (steps !== undefined) {
      steps.read += t1 - t0;
      steps.update += t2 - t1;
      steps.audit += t3 - t2;
      steps.replay += t4 - t3;
    }
  };
}
