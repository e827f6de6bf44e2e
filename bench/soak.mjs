#!/usr/bin/env node
/* global fetch, AbortSignal, setTimeout, clearTimeout, setInterval, clearInterval */
// Soak: the built server on loopback (SQLite in a scratch data directory, or PostgreSQL with --database-url), a
// mixed 80/20 read/write load from this process for a bounded time, RSS sampled every second. Reports requests,
// errors (must be 0), latency percentiles, RSS start/peak/end and its trend (least-squares slope over the second
// half), and writes bench/results/soak-latest.json and .md. Stops by itself; kills what it started.
//
//   node bench/soak.mjs [--duration 180] [--concurrency 16] [--database-url postgres://…] [--label text]
//   npm run soak -- --duration 60
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fetchToken, SERVER_ENV } from './lib/partnerkit.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SERVER_MAIN = join(ROOT, 'packages/server/dist/main.js');
const RESULTS = join(ROOT, 'bench/results');

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '180' },
    concurrency: { type: 'string', default: '16' },
    'database-url': { type: 'string' },
    label: { type: 'string', default: '' },
  },
});
const durationS = Number(opts.duration);
const concurrency = Number(opts.concurrency);
if (!(durationS > 0 && durationS <= 24 * 3600) || !(concurrency >= 1 && concurrency <= 512)) {
  console.error('soak: --duration must be 1..86400 seconds and --concurrency 1..512');
  process.exit(2);
}
const databaseUrl = opts['database-url'];

const { DEMO, DEMO_IDS } = await import(new URL(`file://${join(ROOT, 'packages/server/dist/seed/demo.js')}`).href);
const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;

// ---- the server ------------------------------------------------------------------------------------------------
const dataDir = mkdtempSync(join(tmpdir(), 'partnerkit-soak-'));
const args = [SERVER_MAIN, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--demo', '--log-level', 'warn'];
if (databaseUrl !== undefined) args.push('--database-url', databaseUrl);
const server = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...SERVER_ENV } });
let output = '';
server.stdout.on('data', (d) => (output += d.toString()));
server.stderr.on('data', (d) => (output += d.toString()));
const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

const baseUrl = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`the server did not start within 60 s:\n${output}`)), 60_000);
  const check = () => {
    const m = /PartnerKit listening on (\S+)/.exec(output);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  };
  server.stdout.on('data', check);
  void exited.then(() => reject(new Error(`the server exited before listening:\n${output}`)));
});
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(baseUrl)) throw new Error(`not on loopback: ${baseUrl}`);

/** RSS of the server process in bytes (Linux /proc). */
function rss() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const getToken = () => fetchToken(baseUrl, DEMO);
let token = await getToken();

// ---- the load --------------------------------------------------------------------------------------------------
const latencies = { read: [], write: [] };
const counts = new Map();
let errors = 0;
const errorSamples = [];
let seq = 0;

async function request(kind, name, method, path, body, expect) {
  const headers = { authorization: `Bearer ${token}` };
  if (kind === 'write') headers['MS-RequestId'] = randomUUID();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const t0 = performance.now();
  let status = 0;
  let text;
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30_000),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    text = err instanceof Error ? err.message : String(err);
  }
  latencies[kind].push(performance.now() - t0);
  counts.set(name, (counts.get(name) ?? 0) + 1);
  if (status !== expect) {
    errors++;
    if (errorSamples.length < 10) errorSamples.push({ name, status, text: text.slice(0, 300) });
    return undefined;
  }
  return text === '' ? undefined : JSON.parse(text);
}

/**
 * Users read and PATCHed (made before the clock starts, never deleted), and users created during the soak, which
 * only DELETE touches (so no read races a delete; deleting keeps the table from growing without bound).
 */
const pool = [];
const churn = [];
async function create(into) {
  const upn = `soak-${randomUUID().slice(0, 12)}@fabrikam.example`;
  const u = await request('write', 'POST user', 'POST', usersPath, { userPrincipalName: upn, displayName: `Soak ${++seq}`, passwordProfile: { password: 'Correct-Horse-42!' } }, 201);
  if (u) into.push(u.id);
}
for (let i = 0; i < 40; i++) await create(pool);
latencies.read.length = 0;
latencies.write.length = 0;
counts.clear();

const pick = (list) => list[Math.floor(Math.random() * list.length)];
async function one() {
  const r = Math.random();
  if (r < 0.35) return request('read', 'GET user', 'GET', `${usersPath}/${pick(pool)}`, undefined, 200);
  if (r < 0.6) return request('read', 'GET users page', 'GET', `${usersPath}?size=20`, undefined, 200);
  if (r < 0.7) return request('read', 'GET customer', 'GET', `/v1/customers/${F.customerId}`, undefined, 200);
  if (r < 0.8) return request('read', 'GET audit page', 'GET', `/v1/auditrecords?startDate=${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}&size=20`, undefined, 200);
  if (r < 0.94) return request('write', 'PATCH user', 'PATCH', `${usersPath}/${pick(pool)}`, { displayName: `Soak ${++seq}`, usageLocation: pick(['US', 'GB', 'DE', 'FR']) }, 200);
  if (r < 0.97 || churn.length === 0) return create(churn);
  const id = churn.splice(Math.floor(Math.random() * churn.length), 1)[0];
  return request('write', 'DELETE user', 'DELETE', `${usersPath}/${id}`, undefined, 204);
}

const samples = [];
const t0 = performance.now();
const sampleTimer = setInterval(() => samples.push({ t: (performance.now() - t0) / 1000, rss: rss() }), 1000);
samples.push({ t: 0, rss: rss() });
const tokenTimer = setInterval(() => {
  getToken().then((t) => (token = t), () => undefined);
}, 30 * 60_000);
const endAt = t0 + durationS * 1000;
console.log(`soak: ${durationS} s, ${concurrency} concurrent, ${databaseUrl ? 'PostgreSQL' : 'SQLite'}, server pid ${server.pid} on ${baseUrl}`);
const progress = setInterval(() => {
  const n = latencies.read.length + latencies.write.length;
  const last = samples.at(-1);
  console.log(`  ${Math.round((performance.now() - t0) / 1000)} s: ${n} requests, ${errors} errors, RSS ${(last.rss / 2 ** 20).toFixed(1)} MiB`);
}, 30_000);
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < endAt) await one();
}));
const elapsedS = (performance.now() - t0) / 1000;
samples.push({ t: elapsedS, rss: rss() });
clearInterval(sampleTimer);
clearInterval(tokenTimer);
clearInterval(progress);

// ---- stop what was started -------------------------------------------------------------------------------------
server.kill('SIGTERM');
const stopTimer = setTimeout(() => server.kill('SIGKILL'), 10_000);
const exit = await exited;
clearTimeout(stopTimer);

// ---- report ----------------------------------------------------------------------------------------------------
function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
function summary(list) {
  const s = Float64Array.from(list).sort();
  return { count: s.length, p50: round(pct(s, 50)), p90: round(pct(s, 90)), p99: round(pct(s, 99)), max: round(s[s.length - 1] ?? NaN) };
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
/** Least-squares slope of RSS (MiB) over time (minutes). */
function slope(points) {
  const n = points.length;
  if (n < 2) return NaN;
  const xs = points.map((p) => p.t / 60);
  const ys = points.map((p) => p.rss / 2 ** 20);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}
const mib = (b) => round(b / 2 ** 20, 1);
const secondHalf = samples.filter((s) => s.t >= elapsedS / 2);
const all = [...latencies.read, ...latencies.write];
const result = {
  date: new Date().toISOString(),
  label: opts.label,
  engine: databaseUrl ? 'postgres' : 'sqlite',
  node: process.version,
  durationS: round(elapsedS, 1),
  concurrency,
  requests: all.length,
  requestsPerSecond: round(all.length / elapsedS, 1),
  errors,
  errorSamples,
  byOperation: Object.fromEntries([...counts].sort()),
  latencyMs: { all: summary(all), read: summary(latencies.read), write: summary(latencies.write) },
  rssMiB: {
    start: mib(samples[0].rss),
    peak: mib(Math.max(...samples.map((s) => s.rss))),
    end: mib(samples.at(-1).rss),
    secondHalfSlopePerMinute: round(slope(secondHalf), 3),
    samples: samples.length,
  },
  serverExit: exit,
  command: `node bench/soak.mjs --duration ${durationS} --concurrency ${concurrency}${databaseUrl ? ' --database-url …' : ''}`,
};
const l = result.latencyMs;
const md = `# Soak (${result.engine}), ${result.date}

\`${result.command}\` — Node ${result.node}, ${result.durationS} s, ${concurrency} concurrent requests on loopback, 80 % reads / 20 % writes.

| | requests | p50 ms | p90 ms | p99 ms | max ms |
|---|---|---|---|---|---|
| all | ${l.all.count} | ${l.all.p50} | ${l.all.p90} | ${l.all.p99} | ${l.all.max} |
| reads | ${l.read.count} | ${l.read.p50} | ${l.read.p90} | ${l.read.p99} | ${l.read.max} |
| writes | ${l.write.count} | ${l.write.p50} | ${l.write.p90} | ${l.write.p99} | ${l.write.max} |

Throughput ${result.requestsPerSecond} requests/s; **errors: ${errors}**.

RSS of the server: start ${result.rssMiB.start} MiB, peak ${result.rssMiB.peak} MiB, end ${result.rssMiB.end} MiB; trend over the second half
${result.rssMiB.secondHalfSlopePerMinute} MiB/min (least squares over ${secondHalf.length} one-second samples). Server exit after SIGTERM: ${JSON.stringify(exit)}.

Operations: ${Object.entries(result.byOperation).map(([k, v]) => `${k} ${v}`).join(', ')}.
`;
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'soak-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(RESULTS, 'soak-latest.md'), md);
console.log(`\n${md}`);
if (errorSamples.length > 0) console.log('errors:', errorSamples);
cleanup();
process.exit(errors === 0 && exit.code === 0 ? 0 : 1);
