#!/usr/bin/env node
// Where the seed PATCH's latency tail falls in time. Starts PartnerKit (the built server, demo data set, SQLite)
// pinned to the server core, drives it from the other core with a closed-loop generator of its own
// (lib/closed-loop.mjs, which records every answer's time and latency, where wrk gives percentiles only), and reads
// the WAL file's header every 2 ms to see when the WAL starts over (its checkpoint sequence number changes); the
// server logs its garbage collections (lib/gc-log.mjs, preloaded). For each run it prints the percentiles, the worst
// 100-ms windows, the pauses with no answer at all (and the collections that began in them), the longest
// collections, and the WAL's restarts. The first run starts right after the server: it shows the warm-up.
// Loopback only; bounded by count; stops by itself and stops what it started.
//
//   node bench/tail.mjs [--runs 3] [--seconds 10] [--connections 50]
//   npm run tail --prefix bench
import { Buffer } from 'node:buffer';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearInterval, setInterval } from 'node:timers';
import { numericOptions } from './lib/options.mjs';
import { demo, fetchToken, SQLITE_FILE, startPartnerKit } from './lib/partnerkit.mjs';
import { installExitHandlers, LOADGEN_CORE, runCleanups, startPinned, tail } from './lib/proc.mjs';

const { runs, seconds, connections } = numericOptions('tail', { runs: [1, 10, 3], seconds: [1, 30, 10], connections: [1, 200, 50] });
const GENERATOR = fileURLToPath(new URL('./lib/closed-loop.mjs', import.meta.url));
const GC_LOG = fileURLToPath(new URL('./lib/gc-log.mjs', import.meta.url));
/** Answers slower than this with none in between count as a pause. */
const PAUSE_MS = 20;
const WINDOW_MS = 100;

installExitHandlers(console.error);
const work = mkdtempSync(join(tmpdir(), 'pk-tail-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const d = await demo();
const dataDir = join(work, 'data');
const gcFile = join(work, 'gc.txt');
const pk = await startPartnerKit({ dataDir, env: { NODE_OPTIONS: `--import ${GC_LOG}`, PK_BENCH_GC_FILE: gcFile } });
/** The server's garbage collections so far: { at (epoch ms), ms, kind }. */
const collections = () => {
  if (!existsSync(gcFile)) return [];
  return readFileSync(gcFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [at, pause, kind] = l.split(' ');
    return { at: Number(at), ms: Number(pause), kind };
  });
};
const token = await fetchToken(pk.baseUrl, d);

// The WAL's checkpoint sequence number (header bytes 12–15) changes each time the WAL starts over.
const restarts = [];
const header = Buffer.alloc(32);
let walFd;
let lastSequence;
const watcher = setInterval(() => {
  try {
    walFd ??= openSync(join(dataDir, `${SQLITE_FILE}-wal`), 'r');
  } catch {
    return;
  }
  if (readSync(walFd, header, 0, 32, 0) < 32) return;
  const sequence = header.readUInt32BE(12);
  if (lastSequence !== undefined && sequence !== lastSequence) restarts.push(Date.now());
  lastSequence = sequence;
}, 2);

const at = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const ms = (x) => x.toFixed(1);

console.log(`seed PATCH, ${String(connections)} connections, ${String(runs)} runs of ${String(seconds)} s, the first right after the start`);
try {
  for (let run = 1; run <= runs; run++) {
    const file = join(work, `run-${String(run)}.json`);
    const g = startPinned(LOADGEN_CORE, process.execPath, [GENERATOR, pk.baseUrl, token, d.customerId, d.userId, String(seconds), String(connections), file]);
    const { code } = await g.exited;
    if (code !== 0) throw new Error(`the generator failed (exit ${String(code)}):\n${tail(g.output())}`);
    const r = JSON.parse(readFileSync(file, 'utf8'));
    const failed = r.answers.filter((a) => a[2] >= 400).length;
    if (failed > 0) throw new Error(`${String(failed)} answers had a status of 400 or more`);
    const latencies = r.answers.map((a) => a[1]).sort((a, b) => a - b);
    console.log(`run ${String(run)}: ${String(r.answers.length)} answers, ${(r.answers.length / seconds).toFixed(0)} req/s; ` +
      `p50 ${ms(at(latencies, 0.5))}, p99 ${ms(at(latencies, 0.99))}, p99.9 ${ms(at(latencies, 0.999))}, max ${ms(latencies[latencies.length - 1])} ms`);
    const windows = new Map();
    for (const [t, latency] of r.answers) {
      const w = Math.floor(t / WINDOW_MS) * WINDOW_MS;
      windows.set(w, Math.max(windows.get(w) ?? 0, latency));
    }
    const worst = [...windows].sort((a, b) => b[1] - a[1]).slice(0, 6);
    console.log(`  worst ${String(WINDOW_MS)}-ms windows (from ms: largest latency): ${worst.map(([w, l]) => `${String(w)}: ${ms(l)}`).join(', ')}`);
    // The run's collections, in ms since its start.
    const gcs = collections().map((c) => ({ ...c, at: c.at - r.epoch })).filter((c) => c.at >= 0 && c.at <= seconds * 1000);
    const times = r.answers.map((a) => a[0]).sort((a, b) => a - b);
    const pauses = [];
    let withGc = 0;
    for (let i = 1; i < times.length; i++) {
      const from = times[i - 1];
      const to = times[i];
      if (to - from <= PAUSE_MS) continue;
      const inside = gcs.filter((c) => c.at >= from && c.at < to);
      if (inside.length > 0) withGc++;
      pauses.push(`${ms(from)}+${ms(to - from)}${inside.map((c) => ` [${c.kind} gc ${ms(c.ms)}]`).join('')}`);
    }
    console.log(`  pauses of more than ${String(PAUSE_MS)} ms with no answer (at ms + length [collections that began in it]): ${pauses.join(' ') || 'none'}`);
    console.log(`  ${String(withGc)} of ${String(pauses.length)} pauses had a collection begin in them; the run's ${String(gcs.length)} collections took ` +
      `${ms(gcs.reduce((s, c) => s + c.ms, 0))} ms, the longest ${gcs.sort((a, b) => b.ms - a.ms).slice(0, 4).map((c) => `${ms(c.ms)} (${c.kind}, at ${ms(c.at)})`).join(', ') || '-'}`);
    const own = restarts.filter((t) => t >= r.epoch && t <= r.epoch + seconds * 1000).map((t) => String(t - r.epoch));
    console.log(`  the WAL started over at ms: ${own.join(' ') || 'never'}`);
  }
} finally {
  clearInterval(watcher);
  if (walFd !== undefined) closeSync(walFd);
  await pk.handle.stop(10_000);
  await runCleanups();
}
