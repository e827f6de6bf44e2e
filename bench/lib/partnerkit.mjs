/* global fetch, AbortSignal, URLSearchParams */
// PartnerKit as a benchmark target: the built server started as a child process on 127.0.0.1, its data sets
// (the demo data set grown to N users of one customer, on SQLite or PostgreSQL) and its token.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SERVER_CORE, startPinned, waitForOutput, waitHealthy, tail } from './proc.mjs';
import { bulkUserRow, PG_BULK_INSERT, USER_COLUMNS } from './users.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SERVER_DIST = join(ROOT, 'packages/server/dist');
export const SERVER_MAIN = join(SERVER_DIST, 'bundle', 'main.js');
/**
 * The environment the server runs with, as `npm start` and docs/configuration.md ("Memory") run it: glibc's malloc
 * gives freed memory back to the system instead of keeping it after scrypt's 16 MiB buffers (see that section).
 */
export const SERVER_ENV = { MALLOC_TRIM_THRESHOLD_: '131072' };
export const SQLITE_FILE = 'partnerkit.sqlite';
/** Data sets of at least this many users are built once and cached under bench/.cache/. */
export const CACHE_MIN_USERS = 100_000;
/** Bump when the way data sets are built changes, so cached ones are rebuilt. */
const DATA_FORMAT = 'users-v1';

/** When the built server was last written: the newest modification time of a .js file under its dist/. */
export function serverBuiltAt() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  try {
    walk(SERVER_DIST);
  } catch {
    return undefined;
  }
  return newest > 0 ? new Date(newest).toISOString() : undefined;
}

/** The demo data set's sign-in details and ids, from the built server (so they cannot drift). */
export async function demo() {
  const mod = await import(new URL(`file://${join(SERVER_DIST, 'seed/demo.js')}`).href);
  return mod.DEMO;
}

/**
 * Starts the built server pinned to the server core and waits for GET /healthz 200.
 * Returns { handle, baseUrl, startMs } where startMs runs from spawn to the first 200 of /healthz. `env`: more
 * environment variables for the server.
 */
export async function startPartnerKit({ dataDir, databaseUrl, demo: withDemo = true, logLevel = 'warn', timeoutMs = 60_000, env = {} }) {
  const args = [SERVER_MAIN, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', logLevel];
  if (withDemo) args.push('--demo');
  if (databaseUrl !== undefined) args.push('--database-url', databaseUrl);
  const t0 = performance.now();
  const handle = startPinned(SERVER_CORE, process.execPath, args, { env: { ...SERVER_ENV, ...env } });
  try {
    const m = await waitForOutput(handle, /PartnerKit listening on (\S+)/, timeoutMs);
    const baseUrl = m[1];
    await waitHealthy(`${baseUrl}/healthz`, handle, timeoutMs);
    return { handle, baseUrl, startMs: performance.now() - t0 };
  } catch (err) {
    await handle.stop(2000);
    throw err;
  }
}

/** An App+User token of the demo agent, by the password grant of the service's own token endpoint. */
export async function fetchToken(baseUrl, d) {
  const res = await fetch(`${baseUrl}/${d.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password', client_id: d.clientId, client_secret: d.clientSecret, username: d.username, password: d.password,
      scope: 'https://api.partnercenter.microsoft.com/user_impersonation offline_access',
    }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.json();
  if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** What identifies a data set's build: the store's migrations, the demo data set, the row generator. */
function datasetKey(users) {
  const h = createHash('sha256');
  for (const f of ['store/migrations.js', 'seed/demo.js']) {
    const p = join(SERVER_DIST, f);
    h.update(existsSync(p) ? readFileSync(p) : '');
  }
  h.update(readFileSync(new URL('./users.mjs', import.meta.url)));
  h.update(`${DATA_FORMAT}:${users}`);
  return h.digest('hex').slice(0, 12);
}

function checkColumns(columns) {
  const names = new Set(columns.map((c) => c.name));
  const missing = USER_COLUMNS.filter((c) => !names.has(c));
  const extraRequired = columns.filter((c) => c.notnull && c.dflt_value === null && !c.pk && !USER_COLUMNS.includes(c.name));
  if (missing.length > 0 || extraRequired.length > 0) {
    throw new Error(`the users table changed (missing ${missing.join(',') || '-'}, new required ${extraRequired.map((c) => c.name).join(',') || '-'}): update bench/lib/users.mjs`);
  }
}

/** Adds bulk users 1..users to the demo customer of a stopped server's SQLite file: one transaction, one prepared statement. */
function growSqlite(file, users, d) {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    checkColumns(db.prepare('pragma table_info(users)').all());
    const hash = db.prepare('select password_hash from users where id = ?').pluck().all(d.userId)[0] ?? null;
    const insert = db.prepare(`insert into users (${USER_COLUMNS.join(', ')}) values (${USER_COLUMNS.map(() => '?').join(', ')})`);
    db.transaction(() => {
      for (let i = 1; i <= users; i++) insert.run(Object.values(bulkUserRow(i, d.customerId, hash)));
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Makes a fresh SQLite data set in `buildDir`: the server's own schema and demo data set, then the bulk users. */
async function buildSqlite(buildDir, users, d) {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  const t0 = performance.now();
  const s = await startPartnerKit({ dataDir: buildDir });
  const demoStartMs = s.startMs;
  const r = await s.handle.stop();
  if (r.code !== 0) throw new Error(`the server did not stop cleanly (${JSON.stringify(r)}):\n${tail(s.handle.output())}`);
  const t1 = performance.now();
  growSqlite(join(buildDir, SQLITE_FILE), users, d);
  const t2 = performance.now();
  return { buildMs: t2 - t0, insertMs: t2 - t1, demoStartMs };
}

/**
 * A SQLite data directory with the demo data set and `users` bulk users of the demo customer, in `dir`.
 * Large ones are built once and cached under `cacheRoot` (keyed by the server's migrations), then copied.
 */
export async function prepareSqliteDataset({ dir, users, cacheRoot, log }) {
  const d = await demo();
  if (users < CACHE_MIN_USERS) {
    const b = await buildSqlite(dir, users, d);
    return { users, cached: false, ...b, bytes: statSync(join(dir, SQLITE_FILE)).size };
  }
  const key = datasetKey(users);
  const cacheDir = join(cacheRoot, `sqlite-${users}-${key}`);
  let meta;
  if (existsSync(join(cacheDir, 'meta.json'))) {
    meta = { ...JSON.parse(readFileSync(join(cacheDir, 'meta.json'), 'utf8')), cached: true };
  } else {
    mkdirSync(cacheRoot, { recursive: true });
    // Older builds of this size (another schema) are of no use any more: they are large, so remove them.
    for (const old of readdirSync(cacheRoot)) {
      if (old.startsWith(`sqlite-${users}-`)) rmSync(join(cacheRoot, old), { recursive: true, force: true });
    }
    log(`  building the ${users.toLocaleString('en-US')}-user SQLite data set once (cached in ${cacheDir})…`);
    const tmp = `${cacheDir}.tmp`;
    const b = await buildSqlite(tmp, users, d);
    meta = { users, key, ...b, builtAt: new Date().toISOString() };
    writeFileSync(join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    renameSync(tmp, cacheDir);
    meta = { ...meta, cached: false };
    log(`  built in ${(b.buildMs / 1000).toFixed(1)} s (bulk insert ${(b.insertMs / 1000).toFixed(1)} s)`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const t0 = performance.now();
  for (const f of readdirSync(cacheDir)) {
    if (f !== 'meta.json') copyFileSync(join(cacheDir, f), join(dir, f));
  }
  return { ...meta, copyMs: performance.now() - t0, bytes: statSync(join(dir, SQLITE_FILE)).size };
}

/** Size of the WAL file of a SQLite data directory (0 when absent). */
export function walBytes(dir) {
  try {
    return statSync(join(dir, `${SQLITE_FILE}-wal`)).size;
  } catch {
    return 0;
  }
}

// ---- PostgreSQL ---------------------------------------------------------------------------------------------

/** A URL naming another database on the same server. */
export function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function pgQuery(url, text, values) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

export async function createDatabase(adminUrl, name) {
  await pgQuery(adminUrl, `create database "${name}"`);
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl, name) {
  await pgQuery(adminUrl, `drop database if exists "${name}" with (force)`);
}

/** Adds bulk users 1..users to the demo customer of a PartnerKit PostgreSQL store, in batches of 100 k rows. */
export async function growPostgres(url, users, d) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const cols = await client.query(
      `select column_name as name, is_nullable = 'NO' as notnull, column_default as dflt_value, false as pk
       from information_schema.columns where table_name = 'users' and table_schema = current_schema()`,
    );
    checkColumns(cols.rows.filter((c) => c.name !== 'seq'));
    const hash = (await client.query('select password_hash from users where id = $1', [d.userId])).rows[0]?.password_hash ?? null;
    for (let from = 1; from <= users; from += 100_000) {
      await client.query(PG_BULK_INSERT, [d.customerId, hash, from, Math.min(users, from + 99_999)]);
    }
    await client.query('analyze users');
  } finally {
    await client.end();
  }
}

/**
 * How many audit records a PartnerKit store holds: read from the SQLite file (read-only, beside the running server)
 * or the PostgreSQL database. The bench counts them around the PATCH runs, to show that every PATCH changed the
 * user (a PATCH that changes nothing writes no audit record).
 */
export async function countAuditRecords({ sqliteFile, databaseUrl }) {
  const q = 'select count(*) as n from audit_records';
  if (sqliteFile) {
    const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
    try {
      return Number(db.prepare(q).get().n);
    } finally {
      db.close();
    }
  }
  return Number((await pgQuery(databaseUrl, q)).rows[0].n);
}
