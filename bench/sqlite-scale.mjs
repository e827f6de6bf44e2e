#!/usr/bin/env node
// What a random user's PATCH costs SQLite at 10 k users and at 1 M: better-sqlite3 alone (no server, no HTTP), on
// copies of the benchmark's data sets, each PATCH of a random bulk user, in batches of the size the server's group
// commit makes at 50 connections (42), with a PASSIVE checkpoint every 50 batches, 2,100 PATCHes (the server's
// checkpoint thread runs one every 100 ms, every 500–700 PATCHes at its pace: on the small store fewer of the pages
// a checkpoint copies repeat there than here). It splits the time by step: the user's read, its update,
// the audit record, the replay record, the batch's COMMIT and the checkpoint, each in µs per PATCH, and gives
// the checkpoint's CPU time apart from its wall time (most of the rest of a checkpoint is waiting for the disk).
// Rounds interleave the two sizes (the host's speed moves). Bounded by count; stops by itself.
//
//   node bench/sqlite-scale.mjs [--rounds 3] [--batches 1500] [--cache-kib 2000] [--mmap-mib 0]
//   npm run sqlite-scale --prefix bench
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numericOptions } from './lib/options.mjs';
import { demo, prepareSqliteDataset, ROOT, SQLITE_FILE } from './lib/partnerkit.mjs';
import { median } from './lib/report.mjs';
import { interleavedRounds, newSteps, openWriterCopy, patchStatements } from './lib/sqlite-patch.mjs';
import { bulkId } from './lib/users.mjs';

const { rounds, batches, 'cache-kib': cacheKiB, 'mmap-mib': mmapMiB } = numericOptions('sqlite-scale', {
  rounds: [1, 20, 3], batches: [100, 20_000, 1500], 'cache-kib': [100, 1_048_576, 2000], 'mmap-mib': [0, 4096, 0],
});
const BATCH = 42;
const WARM_BATCHES = 300;
const SIZES = [10_000, 1_000_000];

const work = mkdtempSync(join(tmpdir(), 'pk-sqlite-scale-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const d = await demo();
const sources = {};
for (const users of SIZES) {
  const dir = join(work, `source-${String(users)}`);
  // The 1 M set is built once and cached under bench/.cache (as `npm run bench` does); 10 k is built here.
  await prepareSqliteDataset({ dir, users, cacheRoot: join(ROOT, 'bench', '.cache'), log: console.log });
  sources[users] = join(dir, SQLITE_FILE);
}

const us = (ns) => Number(ns) / (batches * BATCH) / 1000;

function once(users) {
  const db = openWriterCopy(sources[users], join(work, `run-${String(users)}.sqlite`));
  try {
    db.pragma(`cache_size = -${String(cacheKiB)}`);
    db.pragma(`mmap_size = ${String(mmapMiB * 2 ** 20)}`);
    const patch = patchStatements(db, { partnerId: d.tenantId, customerId: d.customerId, value: 'v'.repeat(430) });
    const countries = ['US', 'GB', 'DE', 'FR', 'JP'];
    const steps = newSteps();
    let commit = 0n;
    let checkpoint = 0n;
    let checkpointCpuUs = 0;
    let n = 0;
    for (let b = 0; b < WARM_BATCHES + batches; b++) {
      const timed = b >= WARM_BATCHES;
      db.exec('BEGIN IMMEDIATE');
      for (let i = 0; i < BATCH; i++, n++) {
        patch(bulkId(1 + Math.floor(Math.random() * users)), countries[n % countries.length], timed ? steps : undefined);
      }
      const t0 = process.hrtime.bigint();
      db.exec('COMMIT');
      const t1 = process.hrtime.bigint();
      if (timed) commit += t1 - t0;
      if (b % 50 === 49) {
        const cpu = process.cpuUsage();
        db.pragma('wal_checkpoint(PASSIVE)');
        if (timed) {
          checkpoint += process.hrtime.bigint() - t1;
          const c = process.cpuUsage(cpu);
          checkpointCpuUs += c.user + c.system;
        }
      }
    }
    const r = { read: us(steps.read), update: us(steps.update), audit: us(steps.audit), replay: us(steps.replay), commit: us(commit), checkpoint: us(checkpoint) };
    r.total = Object.values(r).reduce((a, x) => a + x, 0);
    r.checkpointCpu = checkpointCpuUs / (batches * BATCH);
    return r;
  } finally {
    db.close();
  }
}

const COLUMNS = ['read', 'update', 'audit', 'replay', 'commit', 'checkpoint', 'total', 'checkpointCpu'];
const results = interleavedRounds(SIZES.length, rounds, (i) => once(SIZES[i]), (r, round) => {
  round.forEach((m, i) => console.log(`round ${String(r + 1)}, ${SIZES[i].toLocaleString('en-US')} users: ${COLUMNS.map((c) => `${c} ${m[c].toFixed(1)}`).join(', ')} µs`));
});
console.log(`\nµs of SQLite per PATCH of a random user (batches of ${String(BATCH)}, ${String(batches * BATCH)} PATCHes timed after ${String(WARM_BATCHES * BATCH)}; page cache ${String(cacheKiB)} KiB, mmap ${String(mmapMiB)} MiB; medians of ${String(rounds)} rounds):\n`);
console.log(`| users | ${COLUMNS.map((c) => (c === 'checkpointCpu' ? 'checkpoint (CPU)' : c)).join(' | ')} |`);
console.log(`|---:|${COLUMNS.map(() => '---:').join('|')}|`);
SIZES.forEach((users, i) => console.log(`| ${users.toLocaleString('en-US')} | ${COLUMNS.map((c) => median(results[i].map((m) => m[c])).toFixed(1)).join(' | ')} |`));
