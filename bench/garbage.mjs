#!/usr/bin/env node
// What the seed PATCH leaves to the old generation. Starts PartnerKit (the built server, demo data set, SQLite)
// pinned to the server core with lib/gc-profile.mjs preloaded, drives it from the other core with
// lib/closed-loop.mjs (a warm-up, then the measured run), and reports the main thread's collections during the
// measured run: scavenges and full collections and their time, and the bytes the scavenges promoted to the old
// generation, per PATCH (what V8's GC profiler shows of the old generation's spaces before and after each).
// With `--sites N`, V8's sampling heap profiler runs too and the N functions whose allocations most often
// outlived the young generation are listed (it slows the server down; its req/s are not comparable).
// Loopback only; bounded by count; stops by itself and stops what it started.
//
//   node bench/garbage.mjs [--seconds 10] [--warmup 5] [--connections 50] [--sites 0]
//   npm run garbage --prefix bench
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { numericOptions } from './lib/options.mjs';
import { demo, fetchToken, startPartnerKit } from './lib/partnerkit.mjs';
import { installExitHandlers, LOADGEN_CORE, runCleanups, startPinned, tail } from './lib/proc.mjs';

const { seconds, warmup, connections, sites } = numericOptions('garbage', {
  seconds: [1, 30, 10], warmup: [0, 30, 5], connections: [1, 200, 50], sites: [0, 50, 0],
});
const GENERATOR = fileURLToPath(new URL('./lib/closed-loop.mjs', import.meta.url));
const GC_PROFILE = fileURLToPath(new URL('./lib/gc-profile.mjs', import.meta.url));
/** The heap spaces of the young generation; every other space is the old generation's. */
const YOUNG = new Set(['new_space', 'new_large_object_space']);

installExitHandlers(console.error);
const work = mkdtempSync(join(tmpdir(), 'pk-garbage-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const d = await demo();
const profileFile = join(work, 'gc.json');
const pk = await startPartnerKit({
  dataDir: join(work, 'data'),
  env: { NODE_OPTIONS: `--import ${GC_PROFILE}`, PK_BENCH_GC_PROFILE: profileFile, PK_BENCH_HEAP_SITES: sites > 0 ? '1' : '0' },
});

/** Runs the generator for `s` seconds; the number of answers. */
async function drive(s) {
  const file = join(work, `answers-${String(s)}.json`);
  const g = startPinned(LOADGEN_CORE, process.execPath, [GENERATOR, pk.baseUrl, token, d.customerId, d.userId, String(s), String(connections), file]);
  const { code } = await g.exited;
  if (code !== 0) throw new Error(`the generator failed (exit ${String(code)}):\n${tail(g.output())}`);
  const answers = JSON.parse(readFileSync(file, 'utf8')).answers;
  const failed = answers.filter((a) => a[2] >= 400).length;
  if (failed > 0) throw new Error(`${String(failed)} answers had a status of 400 or more`);
  return answers.length;
}

const oldBytes = (spaces) => spaces.filter((s) => !YOUNG.has(s.spaceName)).reduce((n, s) => n + s.spaceUsedSize, 0);
const kb = (b) => (b / 1024).toFixed(1);
const token = await fetchToken(pk.baseUrl, d);
try {
  if (warmup > 0) await drive(warmup);
  process.kill(pk.handle.pid, 'SIGUSR2');
  await sleep(200);
  const answers = await drive(seconds);
  process.kill(pk.handle.pid, 'SIGUSR2');
  for (let i = 0; i < 300 && !existsSync(profileFile); i++) await sleep(100);
  await sleep(300); // the file is written in one call; give it time to finish
  const { gc, heap } = JSON.parse(readFileSync(profileFile, 'utf8'));
  const stats = gc.statistics;
  let promoted = 0;
  const perScavenge = [];
  for (const s of stats.filter((x) => x.gcType === 'Scavenge')) {
    const bytes = oldBytes(s.afterGC.heapSpaceStatistics) - oldBytes(s.beforeGC.heapSpaceStatistics);
    promoted += bytes;
    perScavenge.push(bytes);
  }
  const kinds = new Map();
  for (const s of stats) {
    const k = kinds.get(s.gcType) ?? { n: 0, us: 0 };
    k.n++;
    k.us += s.cost;
    kinds.set(s.gcType, k);
  }
  perScavenge.sort((a, b) => a - b);
  const median = perScavenge[Math.floor(perScavenge.length / 2)] ?? 0;
  console.log(`seed PATCH, ${String(connections)} connections, ${String(warmup)} s of warm-up, then ${String(seconds)} s measured` +
    `${sites > 0 ? ' (with the sampling heap profiler: slower)' : ''}`);
  console.log(`${String(answers)} answers, ${(answers / seconds).toFixed(0)} req/s`);
  console.log(`the main thread's collections: ${[...kinds].map(([k, v]) => `${String(v.n)} ${k} (${(v.us / 1000).toFixed(1)} ms)`).join(', ')}`);
  console.log(`promoted by scavenges: ${kb(promoted)} KiB, ${(promoted / answers).toFixed(0)} bytes per PATCH (median ${kb(median)} KiB a scavenge)`);
  if (heap !== null) {
    // Each function's sampled bytes that outlived the young generation (samples are dropped when a scavenge frees
    // their object; those a full collection frees, or that are still alive, stay).
    const bySite = new Map();
    let total = 0;
    const walk = (node) => {
      // The profilers' own allocations (node:inspector, node:v8) are left out.
      if (node.selfSize > 0 && node.callFrame.url !== 'node:inspector' && node.callFrame.url !== 'node:v8') {
        const f = node.callFrame;
        const where = f.url === '' ? '(V8)' : `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${String(f.lineNumber + 1)}`;
        const key = `${f.functionName || '(anonymous)'} ${where}`;
        bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
        total += node.selfSize;
      }
      for (const c of node.children) walk(c);
    };
    walk(heap.head);
    console.log(`sampled allocations that outlived the young generation: ${(total / answers).toFixed(0)} bytes per PATCH; the first ${String(sites)}:`);
    for (const [key, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, sites)) {
      console.log(`  ${(bytes / answers).toFixed(0).padStart(6)} B/PATCH ${(100 * bytes / total).toFixed(1).padStart(5)} %  ${key}`);
    }
  }
} finally {
  await pk.handle.stop(10_000);
  await runCleanups();
}
