#!/usr/bin/env node
// What each part of the SQLite schema costs a PATCH's writes: better-sqlite3 alone (no server, no HTTP), on the
// schema the server's migrations build, with the statements of one changing PATCH in a batch of the size the
// server's group commit makes at 50 connections (42): a savepoint, the user read and its one-column update, the
// audit record, the replay record, the release; one COMMIT per batch. The replay and audit tables are first grown
// (untimed) to about what 30 s of PATCHes leave. Each variant adds one index (one the schema had before), so its
// ratio against the schema as built, measured in the same round, tells what that index costs. Rounds interleave the variants (the
// host's speed moves; each round starts with another variant). Bounded by count; stops by itself.
//
//   node bench/sqlite-writes.mjs [--rounds 3] [--grow 2400] [--batches 1000]
//   npm run sqlite-writes --prefix bench
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numericOptions } from './lib/options.mjs';
import { demo, prepareSqliteDataset, SQLITE_FILE } from './lib/partnerkit.mjs';
import { median } from './lib/report.mjs';
import { interleavedRounds, openWriterCopy, patchStatements } from './lib/sqlite-patch.mjs';

const { rounds, grow, batches } = numericOptions('sqlite-writes', { rounds: [1, 20, 3], grow: [0, 20_000, 2400], batches: [10, 20_000, 1000] });
const BATCH = 42;

/** Variants of the schema the migrations build: the statement that makes each (one index more). */
const VARIANTS = {
  'as built': undefined,
  'with the replay key index (before migration 005; past the in-memory limit)':
    'create unique index "idempotency_key" on "idempotency" ("partner_id", "request_id")',
  'with a unique index on the audit id (before migration 004)': 'create unique index "audit_records_id" on "audit_records" ("id")',
};

const work = mkdtempSync(join(tmpdir(), 'pk-sqlite-writes-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const source = join(work, 'source');
await prepareSqliteDataset({ dir: source, users: 0, cacheRoot: join(work, 'cache'), log: console.log });
const d = await demo();

function once(name) {
  // Checkpoints run between timed batches, as the server's worker runs them apart.
  const db = openWriterCopy(join(source, SQLITE_FILE), join(work, `${name.replace(/\W+/g, '-')}.sqlite`));
  try {
    if (VARIANTS[name]) db.exec(VARIANTS[name]);
    const user = db.prepare('select * from users where customer_id = ? order by seq limit 1').get(d.customerId);
    // Sizes as the server writes them for the seed PATCH: audit values about 430 characters, the answer about 410.
    const value = JSON.stringify({ ...user, password_hash: undefined, links: { self: { uri: `/customers/${user.customer_id}/users/${user.id}`, method: 'GET', headers: [] } } });
    const patch = patchStatements(db, { partnerId: d.tenantId, customerId: user.customer_id, value });
    const countries = ['US', 'GB', 'DE', 'FR'];
    let n = 0;
    const batch = () => {
      db.exec('BEGIN IMMEDIATE');
      for (let i = 0; i < BATCH; i++, n++) patch(user.id, countries[n % countries.length]);
      db.exec('COMMIT');
    };
    for (let i = 0; i < grow; i++) {
      batch();
      if (i % 50 === 49) db.pragma('wal_checkpoint(PASSIVE)');
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    let ns = 0;
    for (let i = 0; i < batches; i++) {
      const t0 = process.hrtime.bigint();
      batch();
      ns += Number(process.hrtime.bigint() - t0);
      if (i % 50 === 49) db.pragma('wal_checkpoint(PASSIVE)');
    }
    return ns / (batches * BATCH) / 1000;
  } finally {
    db.close();
  }
}

const names = Object.keys(VARIANTS);
const ratios = names.map(() => []);
const perRound = interleavedRounds(names.length, rounds, (i) => once(names[i]), (r, us) => {
  names.forEach((name, i) => ratios[i].push(us[i] / us[0]));
  console.log(`round ${String(r + 1)}: ${names.map((name, i) => `${name} ${us[i].toFixed(1)} µs`).join(', ')}`);
});
console.log(`\nµs of SQLite per PATCH (batches of ${String(BATCH)}; ${String(grow * BATCH)} records grown first, then ${String(batches * BATCH)} timed):\n`);
console.log('| schema | µs per PATCH (median) | × as built (median of rounds) |');
console.log('|---|---:|---:|');
names.forEach((name, i) => console.log(`| ${name} | ${median(perRound[i]).toFixed(1)} | ${median(ratios[i]).toFixed(2)} |`));
