#!/usr/bin/env node
// How far PartnerKit's seed PATCH on SQLite is from a lean design with the same writes: the bare node:http ceiling
// (servers/node-http.mjs), the lean bound (servers/lean-patch.mjs: PartnerKit's SQLite writes and about its request
// work, as one function on bare node:http) and PartnerKit itself (the built server, demo data set), each pinned to the
// server core and driven by wrk on the other as `npm run bench` does, in interleaved rounds (each round starts with
// another target). Prints each run and the medians of the rounds' ratios. Loopback only; bounded by count; stops by
// itself and stops what it started.
//
//   node bench/lean-patch.mjs [--rounds 3] [--seconds 10]
//   npm run lean-patch --prefix bench
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { numericOptions } from './lib/options.mjs';
import { demo, fetchToken, prepareSqliteDataset, SQLITE_FILE, startPartnerKit } from './lib/partnerkit.mjs';
import { cpuSecondsOf, cpuSnapshot, installExitHandlers, runCleanups, startScript } from './lib/proc.mjs';
import { median } from './lib/report.mjs';
import { runWrk } from './lib/wrk.mjs';

const { rounds, seconds } = numericOptions('lean-patch', { rounds: [1, 10, 3], seconds: [3, 30, 10] });
const WARM_UP_S = 3;
const CONNECTIONS = 50;
const SERVERS = fileURLToPath(new URL('./servers/', import.meta.url));

installExitHandlers(console.error);
const work = mkdtempSync(join(tmpdir(), 'pk-lean-patch-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const d = await demo();
const source = join(work, 'source');
await prepareSqliteDataset({ dir: source, users: 0, cacheRoot: join(work, 'cache'), log: console.log });

const leanFile = join(work, 'lean.sqlite');
const leanFastifyFile = join(work, 'lean-fastify.sqlite');
copyFileSync(join(source, SQLITE_FILE), leanFile);
copyFileSync(join(source, SQLITE_FILE), leanFastifyFile);
const leanToken = randomBytes(32).toString('base64url');
const pkDir = join(work, 'pk');
rmSync(pkDir, { recursive: true, force: true });
const pk = await startPartnerKit({ dataDir: pkDir });
const targets = [
  { name: 'node-http', ...(await startScript(join(SERVERS, 'node-http.mjs'), ['--port', '0'])), token: '' },
  { name: 'lean', ...(await startScript(join(SERVERS, 'lean-patch.mjs'), ['--port', '0', '--db', leanFile, '--token', leanToken, '--partner', d.tenantId])), token: leanToken },
  {
    name: 'lean+fastify',
    ...(await startScript(join(SERVERS, 'lean-patch.mjs'), ['--port', '0', '--db', leanFastifyFile, '--token', leanToken, '--partner', d.tenantId, '--fastify', '1'])),
    token: leanToken,
  },
  { name: 'partnerkit', ...pk, token: await fetchToken(pk.baseUrl, d) },
];

async function measure(t) {
  const env = { BENCH_TOKEN: t.token, BENCH_CUSTOMER: d.customerId, BENCH_SEED_USER: d.userId, BENCH_USERS: '0' };
  const warm = await runWrk({ baseUrl: t.baseUrl, workload: 'patch', seconds: WARM_UP_S, connections: CONNECTIONS, env });
  t.requests = (t.requests ?? 0) + warm.requests;
  const cpu0 = cpuSnapshot();
  const r = await runWrk({ baseUrl: t.baseUrl, workload: 'patch', seconds, connections: CONNECTIONS, env });
  // The target's own CPU (all its threads: PartnerKit's and the lean server's checkpoint threads too).
  const cpuS = cpuSecondsOf(cpu0, cpuSnapshot(), (pid) => pid === t.handle.pid, 'own');
  const failed = r.non2xx + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  if (failed > 0) throw new Error(`${t.name}: ${String(failed)} requests failed or were refused`);
  t.requests += r.requests;
  return { rps: r.rps, perCpuS: cpuS > 0 ? r.requests / cpuS : NaN, p99: r.latency.p99 };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const results = targets.map(() => []);
try {
  console.log(`seed PATCH, wrk -t1 -c${String(CONNECTIONS)} -d${String(seconds)}s after ${String(WARM_UP_S)} s of warm-up; ${String(rounds)} interleaved rounds`);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const i = (k + round) % targets.length;
      const m = await measure(targets[i]);
      results[i].push(m);
      console.log(`  round ${String(round + 1)}  ${targets[i].name.padEnd(12)} ${fmt(m.rps).padStart(7)} req/s  ${fmt(m.perCpuS).padStart(7)} req/CPU-s  p99 ${m.p99.toFixed(2)} ms`);
    }
  }
} finally {
  for (const t of targets) await t.handle.stop(5000);
  await runCleanups();
}

// The lean bounds must have written what PartnerKit writes: an audit record (the country changes at almost every
// PATCH) and a replay record per PATCH.
for (const [i, file] of [[1, leanFile], [2, leanFastifyFile]]) {
  const written = new Database(file, { readonly: true });
  const count = (table) => Number(written.prepare(`select count(*) as n from ${table}`).get().n);
  const [audits, replays] = [count('audit_records'), count('idempotency')];
  written.close();
  const { name, requests } = targets[i];
  console.log(`${name}: ${fmt(requests)} PATCHes answered, ${fmt(audits)} audit records and ${fmt(replays)} replay records in its file`);
  if (replays < requests || audits < 0.9 * requests) throw new Error(`${name} did not write a replay record and an audit record per PATCH`);
}

const [ceiling, lean, leanFastify, partnerkit] = results;
const ratio = (a, b, key) => median(a.map((x, r) => x[key] / b[r][key]));
console.log('medians of the rounds\' ratios (req/s; req/CPU-s):');
console.log(`  lean against the ceiling         ${pct(ratio(lean, ceiling, 'rps'))}; ${pct(ratio(lean, ceiling, 'perCpuS'))}`);
console.log(`  lean+fastify against the ceiling ${pct(ratio(leanFastify, ceiling, 'rps'))}; ${pct(ratio(leanFastify, ceiling, 'perCpuS'))}`);
console.log(`  PartnerKit against the ceiling   ${pct(ratio(partnerkit, ceiling, 'rps'))}; ${pct(ratio(partnerkit, ceiling, 'perCpuS'))}`);
console.log(`  lean+fastify against lean        ${pct(ratio(leanFastify, lean, 'rps'))}; ${pct(ratio(leanFastify, lean, 'perCpuS'))}`);
console.log(`  PartnerKit against lean+fastify  ${pct(ratio(partnerkit, leanFastify, 'rps'))}; ${pct(ratio(partnerkit, leanFastify, 'perCpuS'))}`);
console.log(`  PartnerKit against lean          ${pct(ratio(partnerkit, lean, 'rps'))}; ${pct(ratio(partnerkit, lean, 'perCpuS'))}`);
