#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/**/*.test.js) with node's test runner, then the server's test
// files a second time on PostgreSQL (PARTNERKIT_TEST_ENGINE=postgres): the service tests run on both engines.
// Files named *.postgres.test.js run only in the PostgreSQL pass. When PostgreSQL cannot be reached, the
// PostgreSQL pass fails (it is never skipped).
// `npm test` builds first (tsc -b and the server's bundle), so dist mirrors src. Extra arguments are passed to `node --test`; other
// arguments select the test files whose path contains one of them.
// PARTNERKIT_TEST_ENGINES=sqlite (or postgres) runs one pass only; PARTNERKIT_TEST_POSTGRES_URL names the server
// (default postgres://postgres@127.0.0.1:5432/postgres, where the tests create and drop their databases).
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

const root = new URL('..', import.meta.url).pathname;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
for (const pkg of readdirSync(join(root, 'packages'))) {
  const dist = join(root, 'packages', pkg, 'dist');
  if (existsSync(dist)) walk(dist);
}
const filter = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const selected = (filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files).sort();
if (selected.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}

const engines = (process.env.PARTNERKIT_TEST_ENGINES ?? 'sqlite,postgres').split(',').map((e) => e.trim()).filter(Boolean);
for (const e of engines) {
  if (e !== 'sqlite' && e !== 'postgres') {
    console.error(`PARTNERKIT_TEST_ENGINES: unknown engine "${e}" (sqlite, postgres)`);
    process.exit(2);
  }
}
const serverDist = join(root, 'packages', 'server', 'dist') + sep;
const postgresOnly = (f) => f.endsWith('.postgres.test.js');
const passes = [];
if (engines.includes('sqlite')) passes.push({ engine: 'sqlite', files: selected.filter((f) => !postgresOnly(f)) });
if (engines.includes('postgres')) passes.push({ engine: 'postgres', files: selected.filter((f) => f.startsWith(serverDist)) });

/** Whether a TCP connection to the PostgreSQL server opens within 3 s. */
function reachable(url) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 5432) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Drops the test databases of this run that a crashed test process left behind (each process drops its own). */
async function dropLeftovers(url, runId) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query("select datname from pg_database where datname like $1", [`pk_test_${runId}\\_%`]);
    for (const { datname } of rows) await client.query(`drop database if exists "${datname}" with (force)`);
    if (rows.length > 0) console.log(`# dropped ${rows.length} test database(s) left behind: ${rows.map((r) => r.datname).join(', ')}`);
  } catch (err) {
    console.error(`could not drop leftover test databases: ${err.message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const runId = randomBytes(4).toString('hex');
let failed = false;
for (const pass of passes) {
  if (pass.files.length === 0) continue;
  const env = { ...process.env, PARTNERKIT_TEST_ENGINE: pass.engine, PARTNERKIT_TEST_RUN_ID: runId };
  if (pass.engine === 'postgres') {
    const url = process.env.PARTNERKIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    if (!(await reachable(url))) {
      const u = new URL(url);
      console.error(
        `\nFAIL: PostgreSQL is not reachable at ${u.hostname}:${u.port || 5432}; the PostgreSQL test pass cannot run.\n` +
          'Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start), point PARTNERKIT_TEST_POSTGRES_URL at one,\n' +
          'or run only the SQLite pass with PARTNERKIT_TEST_ENGINES=sqlite.\n',
      );
      failed = true;
      continue;
    }
    console.log(`\n# PostgreSQL pass: ${pass.files.length} server test files on ${new URL(url).host}\n`);
  }
  const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=2', ...flags, ...pass.files], { stdio: 'inherit', env });
  if (r.status !== 0) failed = true;
  if (pass.engine === 'postgres') await dropLeftovers(process.env.PARTNERKIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', runId);
}
process.exit(failed ? 1 : 0);
