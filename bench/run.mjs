#!/usr/bin/env node
/* global fetch, AbortSignal */
// PartnerKit benchmark harness (`npm run bench` at the repository root). See docs/performance.md.
//
// Starts each target on 127.0.0.1 pinned to core 0, drives it with wrk pinned to core 1, runs a fixed plan,
// stops everything it started and writes bench/results/latest.{md,json} (or latest-partial.* for --quick and
// --only runs) plus a timestamped copy. Loopback only; every loop and every process is bounded in time.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(BENCH, '..');
const RESULTS = join(BENCH, 'results');
const CACHE = join(BENCH, '.cache');

const USAGE = `Usage: npm run bench -- [--quick] [--only TARGET[,TARGET…]] [--pg-url URL]

  --quick        a smoke check: 1 run of 3 s after a 1 s warm-up, data sets of 1 k and 50 k users (~2 min)
  --only NAMES   run only these targets (a name or a prefix: node-http, sqlite-baseline, pg-baseline,
                 pk-sqlite, pk-sqlite-10k, pk-sqlite-1m, pk-pg, wiremock, prism); comma-separated or repeated
  --pg-url URL   an admin connection to the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres);
                 scratch databases are created on it and dropped afterwards. Loopback only.
  -h, --help     this help

Full runs write bench/results/latest.md and latest.json; --quick and --only runs write latest-partial.*;
every run also writes a timestamped copy. Not run by CI.
`;

// ---- flags ----------------------------------------------------------------------------------------------------
function parseFlags(argv) {
  const f = { quick: false, only: [], pgUrl: 'postgres://postgres@127.0.0.1:5432/postgres', help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (name === '--quick') f.quick = true;
    else if (name === '--only') f.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean));
    else if (name === '--pg-url') f.pgUrl = value();
    else if (name === '-h' || name === '--help') f.help = true;
    else throw new Error(`unknown option ${a}\n\n${USAGE}`);
  }
  return f;
}

let flags;
try {
  flags = parseFlags(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const pgHost = (() => {
  try {
    return new URL(flags.pgUrl).hostname;
  } catch {
    return '';
  }
})();
if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(pgHost)) {
  console.error(`--pg-url must name a PostgreSQL on this machine's loopback (127.0.0.1, localhost or ::1), got "${flags.pgUrl}"`);
  process.exit(2);
}

const log = (s) => process.stdout.write(`${s}\n`);

// ---- bootstrap: the bench package's own dependencies, wrk, a built server ------------------------------------
function sh(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', timeout: opts.timeoutMs ?? 600_000, cwd: opts.cwd ?? ROOT });
  return r.status === 0;
}

function bootstrap() {
  if (process.platform !== 'linux') throw new Error('the benchmark needs Linux (taskset, /proc)');
  if (spawnSync('taskset', ['--version']).status !== 0) throw new Error('taskset (util-linux) is missing');
  const needed = ['wiremock', '@stoplight/prism-cli', 'pg', 'better-sqlite3'];
  if (!needed.every((m) => existsSync(join(BENCH, 'node_modules', m, 'package.json')))) {
    if (!sh('npm', ['ci', '--prefix', 'bench', '--no-audit', '--no-fund'])) throw new Error('npm ci --prefix bench failed');
  }
  if (spawnSync('wrk', ['--version']).error) {
    const apt = process.getuid?.() === 0 ? ['apt-get'] : ['sudo', 'apt-get'];
    if (!sh(apt[0], [...apt.slice(1), 'install', '-y', 'wrk'])) {
      sh(apt[0], [...apt.slice(1), 'update']);
      if (!sh(apt[0], [...apt.slice(1), 'install', '-y', 'wrk'])) throw new Error('could not install wrk (apt-get install -y wrk)');
    }
  }
  if (!existsSync(join(ROOT, 'packages/server/dist/bundle/main.js'))) {
    if (!sh('npm', ['run', 'build'])) throw new Error('the server is not built and `npm run build` failed');
  }
}

try {
  bootstrap();
} catch (err) {
  console.error(`bench: ${err.message}`);
  process.exit(1);
}

// Only now: modules that need the bench package's dependencies.
const proc = await import('./lib/proc.mjs');
const { runWrk } = await import('./lib/wrk.mjs');
const pk = await import('./lib/partnerkit.mjs');
const { machineNotes, versions, sqliteVersionOf } = await import('./lib/env.mjs');
const { ceilingFor, evaluateGoals, median, toMarkdown } = await import('./lib/report.mjs');
const { BULK_ID_PREFIX, bulkId } = await import('./lib/users.mjs');
const { SERVER_CORE, startPinned, startScript, waitHealthy, freePort, memoryOf, onCleanup, cpuSnapshot, foreignCpuSeconds, cpuSecondsOf, isPostgresFor, diskReadBytes } = proc;

proc.installExitHandlers(log);

// ---- the plan ---------------------------------------------------------------------------------------------------
const loadavg = () => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : undefined);
const label = (n) => (n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`);
const PLAN = flags.quick
  ? { warmupSeconds: 1, runs: 1, seconds: 3, connections: 50, threads: 1, smallUsers: 1_000, largeUsers: 50_000, startupRepeats: 1, budgetSeconds: 240, quietLoadPct: 25, quietWaitSeconds: 3, quietWaitTotalSeconds: 15 }
  : { warmupSeconds: 3, runs: 3, seconds: 10, connections: 50, threads: 1, smallUsers: 10_000, largeUsers: 1_000_000, startupRepeats: 3, budgetSeconds: 1500, quietLoadPct: 25, quietWaitSeconds: 20, quietWaitTotalSeconds: 60 };
Object.assign(PLAN, { serverCore: SERVER_CORE, loadgenCore: proc.LOADGEN_CORE, smallLabel: label(PLAN.smallUsers), largeLabel: label(PLAN.largeUsers), tool: 'wrk' });

const DEMO = await pk.demo();
const gitHead = () => {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const commitAtStart = gitHead();
const scratch = mkdtempSync(join(tmpdir(), 'pk-bench-'));
onCleanup(() => rmSync(scratch, { recursive: true, force: true }));
const runId = `${process.pid}_${Date.now().toString(36)}`;

class Skip extends Error {}

const results = {
  schema: 1,
  date: new Date().toISOString(),
  mode: flags.quick ? 'quick' : flags.only.length ? 'partial' : 'full',
  only: flags.only.length ? flags.only : null,
  plan: PLAN,
  machine: { ...machineNotes(), loadavgBefore: loadavg() },
  versions: {},
  durationSeconds: 0,
  ceiling: {},
  ceilingCpu: {},
  rows: [],
  targets: {},
  startup: [],
  datasets: {},
  goals: [],
  notes: [
    'Ratios: PATCH workloads against the node:http PATCH ceiling, GET workloads against its GET ceiling, the 80/20 mix against 1 / (0.8/GET + 0.2/PATCH).',
    'PostgreSQL is the machine\'s own server (not pinned: its backends run on either core, beside the target or the load generator).',
    'Every PATCH carries a fresh MS-RequestId (built per request in wrk\'s Lua), so PartnerKit stores a replay record per request, as it would for real clients.',
    'RSS is the largest VmRSS sampled every 250 ms during the measured runs (the process and its descendants); the targets table adds VmHWM, the peak since start.',
    'The seed PATCH and the PATCH of a random user at the large SQLite store are compared with the small one in interleaved pairs (both servers up, one run on each in turn while the other is stopped, after both targets\' rows), since the host\'s speed drifts more within minutes than the two differ; the rows themselves are measured minutes apart.',
    'The ratio goals (the seed PATCH on SQLite against the ceiling, WireMock and Prism; GET against the ceiling; the seed PATCH on PostgreSQL against the bare pg baseline) are judged on interleaved rounds run after the PartnerKit target\'s rows, with the other targets started again and each stopped while another is measured; the rows\' ratios are shown beside them.',
    'Before each workload the harness waits (bounded) while processes outside the benchmark use more than a quarter of a core; "other load" shows what they used during the measured runs anyway. For PostgreSQL rows, the server\'s auxiliary processes and the backends of the benchmark\'s own databases count as the benchmark\'s.',
  ],
};
if (results.machine.nproc < 2) results.notes.push(`only ${results.machine.nproc} core: the server and the load generator share it`);

const userPath = (id) => `/v1/customers/${DEMO.customerId}/users/${id}`;
const BODY = '{"usageLocation":"US","attributes":{"objectType":"CustomerUser"}}';

/** One request like the workload's, with fetch: checks the target answers 200 before it is loaded. */
async function probe(baseUrl, workload, env) {
  const users = Number(env.BENCH_USERS ?? 0);
  const some = users > 0 ? bulkId(Math.min(users, 7)) : DEMO.userId;
  const headers = { accept: 'application/json' };
  if (env.BENCH_TOKEN) headers.authorization = `Bearer ${env.BENCH_TOKEN}`;
  let method = 'GET';
  let path = userPath(some);
  if (workload === 'patch' || workload === 'patch-random' || workload === 'mixed') {
    method = 'PATCH';
    path = userPath(workload === 'patch' ? DEMO.userId : some);
    headers['content-type'] = 'application/json';
    headers['ms-requestid'] = randomUUID();
  } else if (workload === 'page') {
    path = `/v1/customers/${DEMO.customerId}/users?size=100`;
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: method === 'PATCH' ? BODY : undefined, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`probe ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`);
  if (workload === 'page') {
    const n = JSON.parse(text).items?.length;
    if (n !== 100) throw new Error(`probe page answered ${String(n)} items, not 100`);
  }
}

// ---- targets ----------------------------------------------------------------------------------------------------
/** Waits for a peer (no health route) to answer 200 on the user route. */
async function startPeer(cmd, args, port, timeoutMs = 90_000) {
  const t0 = performance.now();
  const handle = startPinned(SERVER_CORE, cmd, args, { cwd: BENCH });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(`${baseUrl}${userPath(DEMO.userId)}`, handle, timeoutMs);
  } catch (err) {
    await handle.stop(2000);
    throw err;
  }
  return { handle, baseUrl, startMs: performance.now() - t0 };
}

let pgState;
/** Whether the local PostgreSQL answers; its version. Asked once. */
async function pgAvailable() {
  if (pgState) return pgState;
  try {
    const r = await pk.pgQuery(flags.pgUrl, 'show server_version');
    pgState = { ok: true, version: r.rows[0].server_version };
  } catch (err) {
    pgState = { ok: false, why: `PostgreSQL at ${new URL(flags.pgUrl).host} is not reachable: ${err.message}` };
  }
  return pgState;
}

async function scratchDatabase(tag) {
  const pgs = await pgAvailable();
  if (!pgs.ok) throw new Skip(pgs.why);
  const name = `pkbench_${tag}_${runId}`;
  const url = await pk.createDatabase(flags.pgUrl, name);
  onCleanup(() => pk.dropDatabase(flags.pgUrl, name));
  return { name, url, drop: () => pk.dropDatabase(flags.pgUrl, name).catch(() => undefined) };
}

const bulkEnv = (users) => ({ BENCH_CUSTOMER: DEMO.customerId, BENCH_SEED_USER: DEMO.userId, BENCH_USERS: String(users), BENCH_ID_PREFIX: BULK_ID_PREFIX });

/** Measures start to healthy on `repeats` fresh empty SQLite stores (no demo data). */
async function measureEmptySqliteStart() {
  const ms = [];
  for (let i = 0; i < PLAN.startupRepeats; i++) {
    const dir = join(scratch, `empty-${i}`);
    const s = await pk.startPartnerKit({ dataDir: dir, demo: false });
    ms.push(s.startMs);
    await s.handle.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  results.startup.push({ target: 'pk-sqlite', store: 'empty', ms, medianMs: median(ms) });
}

function partnerKitSqlite(users) {
  const size = label(users);
  return {
    name: `pk-sqlite-${size}`,
    users,
    workloads: ['patch', 'get', 'page', 'mixed', 'patch-random'],
    async start() {
      const notes = [];
      if (users === PLAN.smallUsers) await measureEmptySqliteStart();
      const dir = join(scratch, `pk-sqlite-${size}`);
      const ds = await pk.prepareSqliteDataset({ dir, users, cacheRoot: CACHE, log });
      results.datasets[`sqlite-${size}`] = ds;
      if (!ds.cached) results.startup.push({ target: 'pk-sqlite', store: `empty + --demo (building the ${size} set)`, ms: [ds.demoStartMs], medianMs: ds.demoStartMs });
      let s;
      if (users === PLAN.largeUsers) {
        // Start to healthy on the large store, several times; the last start is the one measured under load.
        const ms = [];
        for (let i = 0; i < PLAN.startupRepeats; i++) {
          if (s) await s.handle.stop();
          s = await pk.startPartnerKit({ dataDir: dir });
          ms.push(s.startMs);
        }
        results.startup.push({ target: 'pk-sqlite', store: size, ms, medianMs: median(ms), note: 'data file just copied (in the page cache)' });
      } else {
        s = await pk.startPartnerKit({ dataDir: dir });
      }
      const token = await pk.fetchToken(s.baseUrl, DEMO);
      notes.push(`${(ds.bytes / 2 ** 20).toFixed(0)} MiB data file`);
      const sqliteFile = join(dir, pk.SQLITE_FILE);
      return { ...s, walFile: `${sqliteFile}-wal`, env: { BENCH_TOKEN: token, ...bulkEnv(users) }, notes, countAudit: () => pk.countAuditRecords({ sqliteFile }) };
    },
  };
}

function partnerKitPostgres(users) {
  const size = label(users);
  return {
    name: `pk-pg-${size}`,
    users,
    usesPostgres: true,
    workloads: users === PLAN.smallUsers ? ['patch', 'get', 'page', 'mixed', 'patch-random'] : ['patch'],
    async start() {
      const db = await scratchDatabase(`pk${size}`);
      const dataDir = join(scratch, `pk-pg-${size}`);
      let s;
      try {
        const t0 = performance.now();
        try {
          s = await pk.startPartnerKit({ dataDir, databaseUrl: db.url });
        } catch (err) {
          const why = /could not start: (.*)/.exec(err.message)?.[1] ?? err.message.split('\n').slice(0, 3).join(' ');
          throw new Skip(`the built server refused --database-url: ${why}`);
        }
        results.startup.push({ target: 'pk-pg', store: `empty + --demo (${size} run)`, ms: [s.startMs], medianMs: s.startMs });
        await s.handle.stop();
        const t1 = performance.now();
        await pk.growPostgres(db.url, users, DEMO);
        const t2 = performance.now();
        results.datasets[`pg-${size}`] = { users, buildMs: t2 - t0, insertMs: t2 - t1, cached: false };
        s = await pk.startPartnerKit({ dataDir, databaseUrl: db.url });
        results.startup.push({ target: 'pk-pg', store: size, ms: [s.startMs], medianMs: s.startMs });
        const token = await pk.fetchToken(s.baseUrl, DEMO);
        const poolLine = spawnSync(process.execPath, [pk.SERVER_MAIN, '--help'], { encoding: 'utf8', timeout: 10_000 }).stdout?.split('\n').find((l) => /pool/i.test(l));
        const notes = poolLine ? [`server: ${poolLine.trim().replace(/\s+/g, ' ')}`] : [];
        const handle = s.handle;
        return {
          ...s, env: { BENCH_TOKEN: token, ...bulkEnv(users) }, notes,
          countAudit: () => pk.countAuditRecords({ databaseUrl: db.url }),
          stop: async () => { await handle.stop(); await db.drop(); },
        };
      } catch (err) {
        if (s) await s.handle.stop();
        await db.drop();
        throw err;
      }
    },
  };
}

const TARGETS = [
  {
    name: 'node-http',
    workloads: ['patch', 'get'],
    start: async () => ({ ...(await startScript(join(BENCH, 'servers', 'node-http.mjs'), ['--port', '0'])), env: bulkEnv(0), notes: ['the ceiling: a fixed CustomerUser JSON'] }),
  },
  {
    name: 'sqlite-baseline',
    users: PLAN.smallUsers,
    workloads: ['patch', 'get'],
    async start() {
      const file = join(scratch, 'baseline.sqlite');
      const s = await startScript(join(BENCH, 'servers', 'sqlite-baseline.mjs'), ['--port', '0', '--db', file, '--users', String(PLAN.smallUsers), '--customer', DEMO.customerId, '--seed-user', DEMO.userId]);
      return { ...s, walFile: `${file}-wal`, env: bulkEnv(PLAN.smallUsers), notes: ['UPDATE … RETURNING * stepped with .all()'] };
    },
  },
  {
    name: 'pg-baseline',
    users: PLAN.smallUsers,
    usesPostgres: true,
    // patch-random: the same comparison without one hot row (every seed PATCH waits for the previous one's lock).
    workloads: ['patch', 'patch-random'],
    async start() {
      const db = await scratchDatabase('base');
      try {
        const s = await startScript(join(BENCH, 'servers', 'pg-baseline.mjs'), ['--port', '0', '--url', db.url, '--pool', '10', '--users', String(PLAN.smallUsers), '--customer', DEMO.customerId, '--seed-user', DEMO.userId]);
        const handle = s.handle;
        return {
          ...s, env: bulkEnv(PLAN.smallUsers), notes: ['node-postgres pool of 10, prepared statements'],
          stop: async () => { await handle.stop(); await db.drop(); },
        };
      } catch (err) {
        await db.drop();
        throw err;
      }
    },
  },
  {
    name: 'wiremock',
    workloads: ['patch', 'get'],
    async start() {
      const port = await freePort();
      const jarDir = join(BENCH, 'node_modules/wiremock/build');
      const jar = readdirSync(jarDir).find((f) => f.endsWith('.jar'));
      if (jar === undefined) throw new Error(`no WireMock jar in ${jarDir}`);
      const s = await startPeer('java', ['-jar', join(jarDir, jar), '--port', String(port), '--bind-address', '127.0.0.1', '--root-dir', join(BENCH, 'peers/wiremock'),
        '--no-request-journal', '--disable-request-logging', '--disable-banner'], port);
      return { ...s, env: bulkEnv(0), notes: ['stub mapping, no request journal, JVM defaults'] };
    },
  },
  {
    name: 'prism',
    workloads: ['patch', 'get'],
    async start() {
      const port = await freePort();
      const cli = join(BENCH, 'node_modules/@stoplight/prism-cli/dist/index.js');
      const s = await startPeer(process.execPath, [cli, 'mock', '-h', '127.0.0.1', '-p', String(port), '-v', 'error', join(BENCH, 'peers/openapi.yaml')], port);
      return { ...s, env: bulkEnv(0), notes: ['prism mock of bench/peers/openapi.yaml, -v error'] };
    },
  },
  partnerKitSqlite(PLAN.smallUsers),
  partnerKitSqlite(PLAN.largeUsers),
  partnerKitPostgres(PLAN.smallUsers),
  partnerKitPostgres(PLAN.largeUsers),
];

const selected = TARGETS.filter((t) => flags.only.length === 0 || flags.only.some((o) => t.name === o || t.name.startsWith(o)));
if (selected.length === 0) {
  console.error(`--only ${flags.only.join(',')} matches no target; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

// ---- measuring ----------------------------------------------------------------------------------------------------
const started = performance.now();
const overBudget = () => (performance.now() - started) / 1000 > PLAN.budgetSeconds;

/** Samples the target's memory and WAL size every 250 ms, and counts the CPU other processes use meanwhile. */
function sampler(pid, walFile, usesPostgres) {
  const s = { rss: 0, wal: 0, otherCpuPct: 0 };
  const t0 = performance.now();
  const cpu0 = cpuSnapshot();
  const read0 = diskReadBytes(pid);
  const tick = () => {
    s.rss = Math.max(s.rss, memoryOf(pid).rss);
    if (walFile) {
      try {
        s.wal = Math.max(s.wal, statSync(walFile).size);
      } catch {
        // no WAL yet
      }
    }
  };
  tick();
  const timer = setInterval(tick, 250);
  const served = (p, info) => p === pid || info.ppid === pid || (usesPostgres && isPostgresFor(info, 'pkbench_'));
  const ours = (p, info) => p === process.pid || served(p, info);
  return {
    stop() {
      clearInterval(timer);
      tick();
      const seconds = (performance.now() - t0) / 1000;
      const cpu1 = cpuSnapshot();
      s.otherCpuPct = (foreignCpuSeconds(cpu0, cpu1, ours) / seconds) * 100;
      // The CPU the target itself used (with its database's processes): what each request costs it.
      s.targetCpuSeconds = cpuSecondsOf(cpu0, cpu1, served, 'own');
      s.targetCpuPct = (s.targetCpuSeconds / seconds) * 100;
      // What the target read from the disk: on a SQLite store, its pages that the page cache no longer held.
      const read1 = diskReadBytes(pid);
      if (walFile && read0 !== undefined && read1 !== undefined) s.diskReadBytes = read1 - read0;
      return s;
    },
  };
}

/** CPU used by processes outside the benchmark over `ms`, in % of one core. */
async function otherLoad(pid, usesPostgres, ms = 1000) {
  const ours = (p, info) => p === process.pid || p === pid || info.ppid === pid || (usesPostgres && isPostgresFor(info, 'pkbench_'));
  const before = cpuSnapshot();
  const t0 = performance.now();
  await sleep(ms);
  return (foreignCpuSeconds(before, cpuSnapshot(), ours) / ((performance.now() - t0) / 1000)) * 100;
}

let quietWaitedMs = 0;
/**
 * Other sessions may share this machine: before a workload, waits (bounded: at most PLAN.quietWaitSeconds per
 * workload and PLAN.quietWaitTotalSeconds per run) while other processes use more than PLAN.quietLoadPct of a core.
 */
async function waitForQuiet(running, usesPostgres) {
  const t0 = performance.now();
  let load = await otherLoad(running.handle.pid, usesPostgres);
  while (load > PLAN.quietLoadPct && performance.now() - t0 < PLAN.quietWaitSeconds * 1000 && quietWaitedMs + (performance.now() - t0) < PLAN.quietWaitTotalSeconds * 1000) {
    load = await otherLoad(running.handle.pid, usesPostgres);
  }
  const waited = performance.now() - t0;
  quietWaitedMs += waited;
  return { waitedS: waited / 1000, loadPct: load };
}

async function measure(target, running, workload) {
  const row = { target: target.name, workload, users: target.users, notes: [] };
  try {
    await probe(running.baseUrl, workload, running.env);
    const quiet = await waitForQuiet(running, target.usesPostgres === true);
    row.quietWaitS = quiet.waitedS;
    if (quiet.waitedS > 1.5) row.notes.push(`waited ${quiet.waitedS.toFixed(0)} s for other load to settle (then ${quiet.loadPct.toFixed(0)} %)`);
    const wrkArgs = { baseUrl: running.baseUrl, workload, connections: PLAN.connections, threads: PLAN.threads, env: running.env };
    const warm = await runWrk({ ...wrkArgs, seconds: PLAN.warmupSeconds });
    if (warm.non2xx > 0) row.notes.push(`warm-up: ${warm.non2xx} answers ≥ 400`);
    const runs = [];
    let rss = 0;
    let wal;
    let other = 0;
    // PATCH workloads on PartnerKit: count the audit records the measured runs wrote, to show each PATCH changed
    // the user (one that changes nothing writes none).
    const countAudit = workload !== 'get' && workload !== 'page' ? running.countAudit : undefined;
    const auditBefore = countAudit ? await countAudit() : 0;
    for (let i = 0; i < PLAN.runs; i++) {
      const smp = sampler(running.handle.pid, running.walFile, target.usesPostgres === true);
      const r = await runWrk({ ...wrkArgs, seconds: PLAN.seconds });
      const s = smp.stop();
      rss = Math.max(rss, s.rss);
      other = Math.max(other, s.otherCpuPct);
      r.otherCpuPct = s.otherCpuPct;
      r.targetCpuPct = s.targetCpuPct;
      r.reqPerCpuSecond = s.targetCpuSeconds > 0 ? r.requests / s.targetCpuSeconds : undefined;
      if (running.walFile) wal = Math.max(wal ?? 0, s.wal);
      r.diskReadBytes = s.diskReadBytes;
      runs.push(r);
      if (!running.handle.running) throw new Error(`the target exited during the run:\n${proc.tail(running.handle.output())}`);
    }
    Object.assign(row, {
      rps: median(runs.map((r) => r.rps)),
      p50Ms: median(runs.map((r) => r.latency.p50)),
      p99Ms: median(runs.map((r) => r.latency.p99)),
      p999Ms: median(runs.map((r) => r.latency.p999)),
      maxMs: Math.max(...runs.map((r) => r.latency.max)),
      reqPerCpuSecond: median(runs.map((r) => r.reqPerCpuSecond)),
      targetCpuPct: median(runs.map((r) => r.targetCpuPct)),
      runs: runs.map((r) => ({
        rps: r.rps, requests: r.requests, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors, non2xx: r.non2xx,
        otherCpuPct: r.otherCpuPct, targetCpuPct: r.targetCpuPct, reqPerCpuSecond: r.reqPerCpuSecond, diskReadBytes: r.diskReadBytes,
      })),
      errors: runs.reduce((acc, r) => { for (const [k, v] of Object.entries(r.errors)) acc[k] = (acc[k] ?? 0) + v; return acc; }, {}),
      non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
      rssMaxBytes: rss,
      otherCpuPct: other,
    });
    if (countAudit) {
      const requests = runs.reduce((a, r) => a + r.requests, 0);
      row.auditRecords = (await countAudit()) - auditBefore;
      row.auditPerRequest = requests > 0 ? row.auditRecords / requests : 0;
      row.notes.push(`${row.auditPerRequest.toFixed(2)} audit records per request${workload === 'mixed' ? ' (a fifth are PATCHes)' : ''}`);
    }
    if (running.walFile) {
      if (runs.every((r) => r.diskReadBytes !== undefined)) row.diskReadBytes = runs.reduce((a, r) => a + r.diskReadBytes, 0);
      row.walMaxBytes = wal;
      try {
        row.walAfterBytes = statSync(running.walFile).size;
      } catch {
        row.walAfterBytes = 0;
      }
    }
  } catch (err) {
    row.notes.push(`failed: ${err.message.split('\n')[0]}`);
  }
  return row;
}

/** Stops a started target (its own `stop`, or its process). */
const stopTarget = (running) => (running.stop ?? (() => running.handle.stop()))();

/**
 * One workload on several running targets, run after run in turn (the one measured has the server core; the others
 * are stopped), `PLAN.runs` rounds after a warm-up of each: figures compared with each other were measured within the
 * same minute, while the host's speed drifts by tens of per cent within minutes (see docs/performance.md, "Noise").
 * Returns { workload, targets: [names], rounds: [{ [name]: { rps, reqPerCpuSecond, p99Ms, non2xx } }] }.
 */
async function interleave(parts, workload, warmupSeconds = PLAN.warmupSeconds) {
  // The others are stopped meanwhile (SIGSTOP), so that what an idle server does by itself is not measured as part
  // of the one loaded (since the night of 2026-12-07: PartnerKit deletes old replay rows while at rest).
  const wrkFor = (p, seconds) => proc.withStopped(parts.filter((o) => o !== p).map((o) => o.running.handle.pid), () =>
    runWrk({ baseUrl: p.running.baseUrl, workload, connections: PLAN.connections, threads: PLAN.threads, env: p.running.env, seconds }));
  for (const p of parts) await wrkFor(p, warmupSeconds);
  const rounds = [];
  for (let i = 0; i < PLAN.runs; i++) {
    const round = {};
    for (const p of parts) {
      const smp = sampler(p.running.handle.pid, p.running.walFile, p.target.usesPostgres === true);
      const r = await wrkFor(p, PLAN.seconds);
      const m = smp.stop();
      round[p.target.name] = { rps: r.rps, reqPerCpuSecond: m.targetCpuSeconds > 0 ? r.requests / m.targetCpuSeconds : undefined, p99Ms: r.latency.p99, non2xx: r.non2xx, diskReadBytes: m.diskReadBytes };
    }
    rounds.push(round);
  }
  return { workload, targets: parts.map((p) => p.target.name), rounds };
}

/**
 * A PATCH workload on the small and the large SQLite store, in interleaved pairs (both servers up), so the large
 * store's figure is compared with the small one's measured next to it.
 */
async function scalePairs(small, large, workload) {
  const r = await interleave([small, large], workload);
  return { workload, small: small.target.name, large: large.target.name, pairs: r.rounds.map((x) => ({ small: x[small.target.name], large: x[large.target.name] })) };
}

/**
 * The ratio goals, measured in interleaved rounds with a PartnerKit target while it runs: the seed PATCH and GET on
 * the small SQLite store against the ceiling, WireMock and Prism (`SQLITE_ROUNDS`), and the seed PATCH on the
 * small PostgreSQL store against the bare pg baseline (`PG_ROUNDS`). The other targets are started again for them,
 * each warmed up for as long as a measured run (WireMock's JIT is still speeding up after a short warm-up). Their
 * rows were measured minutes earlier, and on this host the ceiling alone measured 26,000–68,000 req/s on one day;
 * the pg baseline's seed PATCH 1,909 and 3,547 req/s in two full runs a day apart.
 */
const SQLITE_ROUNDS = [['patch', ['node-http', 'wiremock', 'prism']], ['get', ['node-http']]];
const PG_ROUNDS = [['patch', ['pg-baseline']]];

async function goalRounds(pk, plan) {
  const names = [...new Set(plan.flatMap(([, n]) => n))];
  const wanted = names.map((n) => selected.find((t) => t.name === n)).filter((t) => t !== undefined);
  if (wanted.length === 0) return [];
  const peers = [];
  const out = [];
  try {
    for (const target of wanted) {
      try {
        peers.push({ target, running: await target.start() });
      } catch (err) {
        log(`  ${target.name} did not start for the rounds: ${err.message.split('\n')[0]}`);
      }
    }
    for (const [workload, others] of plan) {
      const parts = [...peers.filter((p) => others.includes(p.target.name)), pk];
      if (parts.length < 2 || overBudget()) continue;
      log(`  interleaved rounds, ${workload}: ${parts.map((p) => p.target.name).join(', ')}, ${PLAN.runs} rounds`);
      const r = await interleave(parts, workload, PLAN.seconds);
      out.push(r);
      for (const round of r.rounds) log(`    ${parts.map((p) => `${p.target.name} ${Math.round(round[p.target.name].rps)}`).join(' · ')} req/s`);
    }
  } finally {
    for (const p of peers) await stopTarget(p.running);
  }
  return out;
}

/** ", 12.3 MiB read from disk" when the run measured it. */
const readNote = (r) => (r.diskReadBytes !== undefined ? `, ${(r.diskReadBytes / 2 ** 20).toFixed(1)} MiB read from disk` : '');
const fmtRow = (r) => Number.isFinite(r.rps)
  ? `  ${r.workload.padEnd(13)} ${Math.round(r.rps).toString().padStart(7)} req/s  ${Math.round(r.reqPerCpuSecond ?? 0).toString().padStart(7)} req/CPU-s  p99 ${r.p99Ms.toFixed(2).padStart(7)} ms  RSS ${(r.rssMaxBytes / 2 ** 20).toFixed(0)} MiB  server CPU ${(r.targetCpuPct ?? 0).toFixed(0)} %  other load ${r.otherCpuPct.toFixed(0)} %${r.walMaxBytes !== undefined ? `  WAL max ${(r.walMaxBytes / 2 ** 20).toFixed(1)} MiB` : ''}${r.diskReadBytes !== undefined ? `  disk read ${(r.diskReadBytes / 2 ** 20).toFixed(1)} MiB` : ''}${r.non2xx ? `  ${r.non2xx} non-2xx` : ''}`
  : `  ${r.workload.padEnd(13)} ${r.notes.join('; ')}`;

log(`PartnerKit benchmark: ${results.mode} plan, ${selected.length} target(s); servers on core ${PLAN.serverCore}, wrk on core ${PLAN.loadgenCore}`);
const smallSqlite = `pk-sqlite-${PLAN.smallLabel}`;
const largeSqlite = `pk-sqlite-${PLAN.largeLabel}`;
const smallPg = `pk-pg-${PLAN.smallLabel}`;
/** The small SQLite target, kept running for the pairs with the large one (see `scalePairs`). */
let keptSmall;
const pairsWanted = selected.some((t) => t.name === smallSqlite) && selected.some((t) => t.name === largeSqlite);
results.scalePairs = [];
results.goalRounds = [];
for (const target of selected) {
  if (keptSmall && target.name !== largeSqlite) {
    await stopTarget(keptSmall.running);
    keptSmall = undefined;
  }
  if (overBudget()) {
    results.targets[target.name] = { status: 'skipped', note: `time budget of ${PLAN.budgetSeconds} s used up` };
    continue;
  }
  log(`\n${target.name}`);
  // The small store waits, stopped, for its pairs with the large one: meanwhile it takes nothing from it.
  const resumeSmall = keptSmall ? proc.stopProcesses([keptSmall.running.handle.pid]) : () => {};
  let running;
  try {
    running = await target.start();
  } catch (err) {
    const status = err instanceof Skip ? 'skipped' : 'failed';
    results.targets[target.name] = { status, note: err.message.split('\n').slice(0, 3).join(' ') };
    log(`  ${status}: ${err.message.split('\n').slice(0, 6).join('\n  ')}`);
    for (const w of target.workloads) results.rows.push({ target: target.name, workload: w, users: target.users, notes: [`${status}: ${err.message.split('\n')[0]}`] });
    resumeSmall();
    continue;
  }
  const info = { status: 'ok', startMs: running.startMs, note: running.notes.join('; ') };
  if (target.name.startsWith('pk-')) {
    info.serverBuiltAt = pk.serverBuiltAt();
    info.note = [info.note, `server built ${info.serverBuiltAt ?? '?'}`].filter(Boolean).join('; ');
  }
  results.targets[target.name] = info;
  try {
    for (const w of target.workloads) {
      if (overBudget()) {
        results.rows.push({ target: target.name, workload: w, users: target.users, notes: ['skipped: time budget used up'] });
        continue;
      }
      const row = await measure(target, running, w);
      if (target.name === 'node-http' && Number.isFinite(row.rps)) {
        results.ceiling[w] = row.rps;
        results.ceilingCpu[w] = row.reqPerCpuSecond;
      }
      results.rows.push(row);
      log(fmtRow(row));
    }
    info.hwmBytes = memoryOf(running.handle.pid).hwm;
    if (target.name === smallSqlite && !overBudget()) results.goalRounds.push(...await goalRounds({ target, running }, SQLITE_ROUNDS));
    if (target.name === smallPg && !overBudget()) results.goalRounds.push(...await goalRounds({ target, running }, PG_ROUNDS));
    resumeSmall();
    for (const w of ['patch', 'patch-random']) {
      if (target.name !== largeSqlite || !keptSmall || overBudget()) break;
      log(`  interleaved with ${smallSqlite}: ${w === 'patch' ? 'seed PATCH' : 'PATCH of a random user'}, ${PLAN.runs} pairs`);
      const sp = await scalePairs(keptSmall, { target, running }, w);
      results.scalePairs.push(sp);
      for (const p of sp.pairs) log(`    ${smallSqlite} ${Math.round(p.small.rps)} req/s → ${largeSqlite} ${Math.round(p.large.rps)} req/s (${((100 * p.large.rps) / p.small.rps).toFixed(1)} %)${readNote(p.large)}`);
    }
  } finally {
    resumeSmall();
    if (target.name === smallSqlite && pairsWanted) {
      keptSmall = { target, running };
    } else {
      await stopTarget(running);
    }
    if (target.name === largeSqlite && keptSmall) {
      await stopTarget(keptSmall.running);
      keptSmall = undefined;
    }
  }
}
if (keptSmall) await stopTarget(keptSmall.running);
for (const r of results.rows) {
  const c = ceilingFor(r.workload, results.ceiling);
  if (Number.isFinite(r.rps) && c) r.ratio = r.rps / c;
  const cc = ceilingFor(r.workload, results.ceilingCpu);
  if (Number.isFinite(r.reqPerCpuSecond) && cc) r.cpuRatio = r.reqPerCpuSecond / cc;
}

// ---- results ------------------------------------------------------------------------------------------------------
const pgs = selected.some((t) => t.name.includes('pg')) ? await pgAvailable() : undefined;
results.versions = versions({ root: ROOT, sqliteOf: sqliteVersionOf });
results.versions.commitAtStart = commitAtStart;
if (commitAtStart !== results.versions.commit) {
  results.notes.push(`HEAD moved during the run (${commitAtStart ?? '?'} at the start, ${results.versions.commit ?? '?'} at the end): see each PartnerKit target's "server built" time.`);
}
if (pgs?.ok) results.versions.postgres = pgs.version;
results.durationSeconds = (performance.now() - started) / 1000;
results.machine.loadavgAfter = loadavg();
results.quietWaitSeconds = Math.round(quietWaitedMs / 100) / 10;
results.goals = evaluateGoals(results);

mkdirSync(RESULTS, { recursive: true });
const stamp = results.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
const suffix = results.mode === 'full' ? '' : `-${results.mode}`;
const md = toMarkdown(results);
const json = `${JSON.stringify(results, null, 2)}\n`;
const latest = results.mode === 'full' ? 'latest' : 'latest-partial';
for (const base of [latest, `${stamp}${suffix}`]) {
  writeFileSync(join(RESULTS, `${base}.md`), md);
  writeFileSync(join(RESULTS, `${base}.json`), json);
}
await proc.runCleanups();
log(`\n${md}`);
log(`Wrote bench/results/${latest}.md, ${latest}.json and ${stamp}${suffix}.* in ${Math.round(results.durationSeconds)} s.`);
process.exit(0);
