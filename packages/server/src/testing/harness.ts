/**
 * Test harness: the real service on an ephemeral port over real HTTP, on a temporary data directory, with the
 * demo data set and/or a seed, plus helpers to get tokens and to call the API. Also starts the built
 * `partnerkit-server` executable as a child process for crash and signal tests.
 *
 * Engines: the service tests run on SQLite, and again on PostgreSQL when `PARTNERKIT_TEST_ENGINE=postgres`
 * (`scripts/run-tests.mjs` does both). On PostgreSQL each test process (one test file) creates a fresh database
 * `pk_test_<run>_<random>` on `PARTNERKIT_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres) and
 * drops it when it is done; each service or store in it gets a fresh schema of its own, dropped when it closes,
 * except that a service started on a given `dataDir` gets the schema of that directory, so a restart on the same
 * directory finds its data.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { SignJWT, type JWTPayload } from 'jose';
import { PartnerCenterAudience } from '@partnerkit/contract';
import { defaultConfig, type Config } from '../config.js';
import type { Actor } from '../actor.js';
import { DEMO, DEMO_IDS } from '../seed/demo.js';
import type { SeedFile } from '../seed/format.js';
import { startService, type RunningService, type StartOptions } from '../service.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteStore, SQLITE_FILE } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import type { AuditRecordRow, UserRecord } from '../store/records.js';

export { DEMO, DEMO_IDS } from '../seed/demo.js';

// ---- engines and test databases ------------------------------------------------------------------------------

export type TestEngine = 'sqlite' | 'postgres';
/** The engine of this test run: `PARTNERKIT_TEST_ENGINE=postgres` selects PostgreSQL; SQLite otherwise. */
export const TEST_ENGINE: TestEngine = process.env.PARTNERKIT_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';
/** A database of the PostgreSQL server the tests use, to connect to for creating and dropping test databases. */
export const TEST_POSTGRES_URL = process.env.PARTNERKIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  /** The URL of the test database (for `--database-url`). */
  url: string;
  /** Drops it, closing whatever connections are still open on it. */
  drop(): Promise<void>;
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const where = new URL(url);
    throw new Error(
      `PostgreSQL is not reachable at ${where.host} (${err instanceof Error ? err.message : String(err)}). ` +
        'The PostgreSQL test run needs it: start it (e.g. pg_ctlcluster --skip-systemctl-redirect <version> main start) ' +
        'or point PARTNERKIT_TEST_POSTGRES_URL at one.',
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

function withPath(url: string, database: string, schema?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (schema !== undefined) u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/**
 * Test databases are named `pk_test_<run>_<random>`: `scripts/run-tests.mjs` sets the run (`PARTNERKIT_TEST_RUN_ID`)
 * and drops whatever a crashed test process of its run left behind, never another run's.
 */
const TEST_RUN_ID = /^[a-z0-9]{1,16}$/.test(process.env.PARTNERKIT_TEST_RUN_ID ?? '') ? (process.env.PARTNERKIT_TEST_RUN_ID ?? '') : 'local';

/** Creates a fresh database on the test server (`CREATE DATABASE`), for a test that needs one of its own. */
export async function createTestDatabase(name = `pk_test_${TEST_RUN_ID}_${randomBytes(8).toString('hex')}`): Promise<TestDatabase> {
  await admin(TEST_POSTGRES_URL, async (client) => {
    await client.query(`create database ${quoteIdent(name)}`);
  });
  return {
    name,
    url: withPath(TEST_POSTGRES_URL, name),
    drop: () => admin(TEST_POSTGRES_URL, async (client) => {
      await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    }),
  };
}

/**
 * The database of this test process: created on first use, dropped when the process is done. Creating a
 * database costs a few hundred milliseconds, so the stores and services of one test file each get a fresh
 * schema in it instead (their URL sets `search_path`), which is as empty as a new database.
 */
let processDatabase: Promise<TestDatabase> | undefined;
function testProcessDatabase(): Promise<TestDatabase> {
  processDatabase ??= createTestDatabase().then((db) => {
    process.once('beforeExit', () => {
      void db.drop().catch(() => undefined);
    });
    return db;
  });
  return processDatabase;
}

/** A fresh, empty store location on the test server: a new schema in this process's test database. */
export async function createTestSchema(name = `pk_s_${randomBytes(8).toString('hex')}`): Promise<TestDatabase> {
  const db = await testProcessDatabase();
  await admin(db.url, async (client) => {
    await client.query(`create schema if not exists ${quoteIdent(name)}`);
  });
  return {
    name,
    url: withPath(TEST_POSTGRES_URL, db.name, name),
    drop: () => admin(db.url, async (client) => {
      await client.query(`drop schema if exists ${quoteIdent(name)} cascade`);
    }),
  };
}

/**
 * The PostgreSQL store standing for data directory `dir`: the same one for every start on `dir` (a restart finds
 * its data). Kept until the test process is done.
 */
export async function databaseForDir(dir: string): Promise<TestDatabase> {
  return createTestSchema(`pk_d_${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 24)}`);
}

/**
 * Flags that put a spawned `partnerkit-server` on the test engine's store for data directory `dir`:
 * `--data-dir dir` on SQLite, plus `--database-url <the store of dir>` on PostgreSQL.
 */
export async function storeArgs(dir: string, engine: TestEngine = TEST_ENGINE): Promise<string[]> {
  if (engine === 'sqlite') return ['--data-dir', dir];
  return ['--data-dir', dir, '--database-url', (await databaseForDir(dir)).url];
}

/**
 * An empty store on the test engine: SQLite in a temporary data directory (a file, as the service runs it: a
 * writer and a reader connection), or a fresh PostgreSQL schema; removed on close. `onQuery` (PostgreSQL) is
 * called with the SQL of each statement the store runs; `maxReplayKeys` (SQLite) is `StoreEngine.maxReplayKeys`.
 */
export async function openTestStore(
  engine: TestEngine = TEST_ENGINE,
  opts: { onQuery?: (sql: string) => void; maxReplayKeys?: number } = {},
): Promise<Store> {
  let remove: () => Promise<void>;
  let store: Store;
  if (engine === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'pk-store-'));
    remove = () => rm(dir, { recursive: true, force: true });
    try {
      store = await openSqliteStore({
        dataDir: dir, synchronous: 'normal', ...(opts.maxReplayKeys === undefined ? {} : { maxReplayKeys: opts.maxReplayKeys }),
      });
    } catch (err) {
      await remove();
      throw err;
    }
  } else {
    const db = await createTestSchema();
    remove = () => db.drop();
    try {
      store = await openPostgresStore({ url: db.url, poolSize: 5, ...(opts.onQuery === undefined ? {} : { onQuery: opts.onQuery }) });
    } catch (err) {
      await remove();
      throw err;
    }
  }
  const close = store.close.bind(store);
  store.close = async () => {
    try {
      await close();
    } finally {
      await remove();
    }
  };
  return store;
}

/** Every audit record of the demo partner in `store`, oldest first (with its position). */
/**
 * Store tests' data, written straight to `store`: a partner of `domain`, its customers `customerIds` (delegated
 * access allowed), and `count` active users of the first customer, in order; returns the users.
 */
export async function seedStoreUsers(
  store: Store,
  { partnerId, customerIds, domain, count }: { partnerId: string; customerIds: readonly string[]; domain: string; count: number },
): Promise<UserRecord[]> {
  await store.insertPartner({ tenantId: partnerId, name: domain.split('.')[0] ?? domain, domain });
  for (const id of customerIds) {
    await store.insertCustomer({
      id, partnerId, commerceId: id, companyName: `Customer ${id.slice(-2)}`, domain: `c${id.slice(-2)}.${domain}`,
      relationshipToPartner: 'reseller', allowDelegatedAccess: true,
    });
  }
  const customerId = customerIds[0] ?? '';
  const users: UserRecord[] = Array.from({ length: count }, (_, n) => {
    const id = randomUUID();
    return userRecord({ id, customerId, upn: `user${String(n)}.${id.slice(0, 8)}@${domain}`, displayName: `User ${String(n)}`, usageLocation: 'US' });
  });
  for (const u of users) await store.insertUser(u);
  return users;
}

/**
 * A user record for writing straight into a store: an active, managed user with no password and every optional field
 * empty, a new id, and what `over` sets.
 */
export function userRecord(over: Partial<UserRecord> & Pick<UserRecord, 'customerId'>): UserRecord {
  const id = over.id ?? randomUUID();
  return {
    id, upn: `user.${id.slice(0, 8)}@example.test`, displayName: 'User', firstName: null, lastName: null, usageLocation: null,
    immutableId: null, phoneNumber: null, passwordHash: null, forceChangePassword: false, state: 'active', softDeletionTime: null,
    userDomainType: 'none', lastDirectorySyncTime: null,
    ...over,
  };
}

export function demoAuditRecords(store: Store): Promise<{ record: AuditRecordRow; seq: number }[]> {
  return store.listAudit({ partnerId: DEMO.tenantId, from: '2000-01-01', to: '3000-01-01', afterSeq: undefined, limit: 100_000 });
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
  /** Give up (throw) when the answer has not arrived within this many milliseconds. */
  timeoutMs?: number;
}

export interface CallResult<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

export interface TokenOptions {
  username?: string;
  password?: string;
  clientId?: string;
  clientSecret?: string;
  tenant?: string;
  scope?: string;
}

export interface TestService {
  baseUrl: string;
  dataDir: string;
  engine: TestEngine;
  /** The PostgreSQL database the service runs on (undefined on SQLite). */
  databaseUrl: string | undefined;
  store: Store;
  service: RunningService;
  /** App+User token by the password grant (default: the demo agent). */
  userToken(opts?: TokenOptions): Promise<string>;
  /** App-only token by the client-credentials grant. */
  appToken(opts?: TokenOptions): Promise<string>;
  /** Signs any claims with the service's own key (for tokens the issuer would never mint). */
  signToken(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  call<T = unknown>(method: string, path: string, opts?: CallOptions): Promise<CallResult<T>>;
  close(): Promise<void>;
}

export interface StartTestOptions {
  demo?: boolean;
  seed?: SeedFile | Record<string, unknown>;
  config?: Partial<Config>;
  now?: () => number;
  /** Keep the data directory after close (to restart on it); on PostgreSQL, the schema standing for that directory. */
  dataDir?: string;
  /** The engine (default: `TEST_ENGINE`). */
  engine?: TestEngine;
  /** A pino/Fastify logger configuration (default: silent). */
  logger?: StartOptions['logger'];
  /**
   * The token endpoint's smart lockout (identity/lockout.ts): off unless given (tests send wrong passwords on
   * purpose, and the security suites check that a refusal writes nothing); `{ delayStepMs: 0 }` turns it on
   * without delays.
   */
  lockout?: StartOptions['lockout'];
}

/** mulberry32: a small seeded generator of numbers in [0, 1), so a failing random schedule can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A temporary directory made before the tests of the suite it is called in and removed after them: its path. */
export function suiteTempDir(prefix: string): () => string {
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined) throw new Error('suiteTempDir: used before the suite started');
    return dir;
  };
}

/**
 * Starts a service (and signs the demo agent in) before the tests of the suite it is called in, and closes it after
 * them: `set` receives both once started.
 */
export function withSuiteService(set: (started: TestService, token: string) => void, opts: StartTestOptions = {}): void {
  let started: TestService | undefined;
  before(async () => {
    started = await startTestService(opts);
    set(started, await started.userToken());
  });
  after(async () => {
    await started?.close();
  });
}

export async function startTestService(opts: StartTestOptions = {}): Promise<TestService> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'partnerkit-test-')));
  let seedFile: string | undefined;
  if (opts.seed) {
    seedFile = join(dataDir, `seed-${randomUUID()}.json`);
    await writeFile(seedFile, JSON.stringify(opts.seed));
  }
  const engine = opts.engine ?? TEST_ENGINE;
  let ownDatabase: TestDatabase | undefined;
  let url = opts.config?.databaseUrl;
  if (engine === 'postgres' && url === undefined) {
    if (ownDir) {
      ownDatabase = await createTestSchema();
      url = ownDatabase.url;
    } else {
      url = (await databaseForDir(dataDir)).url;
    }
  }
  const config: Config = {
    ...defaultConfig,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    demo: opts.demo ?? true,
    logLevel: 'silent',
    seedFile,
    ...opts.config,
    databaseUrl: url,
  };
  let service: RunningService;
  try {
    service = await startService(config, {
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      lockout: opts.lockout ?? false,
    });
  } catch (err) {
    await ownDatabase?.drop();
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const baseUrl = service.baseUrl;

  const token = (form: Record<string, string>, tenant: string): Promise<string> => tokenRequest(baseUrl, form, tenant);

  return {
    baseUrl,
    dataDir,
    engine,
    databaseUrl: url,
    store: service.store,
    service,
    call: (method, path, o) => httpCall(baseUrl, method, path, o),
    userToken: (t = {}) =>
      token(
        {
          grant_type: 'password',
          client_id: t.clientId ?? DEMO.clientId,
          client_secret: t.clientSecret ?? DEMO.clientSecret,
          username: t.username ?? DEMO.username,
          password: t.password ?? DEMO.password,
          scope: t.scope ?? `${PartnerCenterAudience}/user_impersonation offline_access`,
        },
        t.tenant ?? DEMO.tenantId,
      ),
    appToken: (t = {}) =>
      token(
        {
          grant_type: 'client_credentials',
          client_id: t.clientId ?? DEMO.clientId,
          client_secret: t.clientSecret ?? DEMO.clientSecret,
          scope: t.scope ?? `${PartnerCenterAudience}/.default`,
        },
        t.tenant ?? DEMO.tenantId,
      ),
    signToken: (claims, header = {}) => {
      const key = service.keys.signing();
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
    },
    async close() {
      try {
        await service.close();
      } finally {
        await ownDatabase?.drop();
        if (ownDir) await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Sends one request to a service at `baseUrl` (an in-process one, a child process) and reads the whole answer;
 * a body is sent as JSON unless `rawBody` is given. With `timeoutMs`, an answer that takes longer throws.
 */
export async function httpCall<T = unknown>(baseUrl: string, method: string, path: string, o: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  let body: string | Buffer | undefined;
  if (o.rawBody !== undefined) body = o.rawBody;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, {
    method, headers, ...(body !== undefined ? { body } : {}), ...(o.timeoutMs !== undefined ? { signal: AbortSignal.timeout(o.timeoutMs) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: json as T };
}

/** Posts a token request to a service's token endpoint and returns the access token (throws on any failure). */
export async function tokenRequest(baseUrl: string, form: Record<string, string>, tenant: string = DEMO.tenantId): Promise<string> {
  const res = await fetch(`${baseUrl}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await res.json()) as { access_token?: string; error_description?: string };
  if (res.status !== 200 || body.access_token === undefined) throw new Error(`token request failed: ${String(res.status)} ${body.error_description ?? ''}`);
  return body.access_token;
}

/** An App+User token of the demo agent from any running service (a child process, another instance). */
export const demoAgentToken = (baseUrl: string): Promise<string> =>
  tokenRequest(baseUrl, {
    grant_type: 'password', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: DEMO.username, password: DEMO.password,
    scope: `${PartnerCenterAudience}/user_impersonation`,
  });

/** The demo agent as the domain services see a caller (for tests that build records the way a request would). */
export const demoAgentActor = (correlationId: string = randomUUID()): Actor => ({
  partnerId: DEMO.tenantId, applicationId: DEMO.clientId, userId: DEMO_IDS.partnerUsers.agent, upn: DEMO.username, correlationId,
});

/** Partner Center's error body. */
export interface FaultBody {
  code: number;
  description: string;
  data: unknown[];
  source: string;
}

/** Asserts a Partner Center error answer; when `property` is given, one `data` entry must name it. */
export function assertFault(res: CallResult, status: number, code: number, property?: string): FaultBody {
  assert.equal(res.status, status, `status: ${res.text}`);
  const body = res.json as FaultBody;
  assert.equal(body.code, code, `code: ${res.text}`);
  assert.equal(body.source, 'PartnerFD');
  assert.equal(typeof body.description, 'string');
  assert.ok(Array.isArray(body.data));
  if (property !== undefined) {
    const named = body.data.some((d) => typeof d === 'object' && d !== null && (d as { property?: unknown }).property === property);
    assert.ok(named, `data names ${property}: ${res.text}`);
  }
  return body;
}

/** `PRAGMA integrity_check` of the SQLite store in `dataDir`, opened read-only (`ok` when intact). */
export function sqliteIntegrity(dataDir: string): string {
  const db = new BetterSqlite3(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** The built executable (run `npm run build` first; `npm test` does). */
export const SERVER_MAIN = fileURLToPath(new URL('../bundle/main.js', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  baseUrl: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `partnerkit-server` with `args` and waits for its "PartnerKit listening on" line. */
export async function spawnServer(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [SERVER_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${String(timeoutMs)} ms:\n${out}`)), timeoutMs);
    const onData = (): void => {
      const m = /PartnerKit listening on (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${String(code)} before listening:\n${out}`));
    });
  });
  return { proc, baseUrl, output: () => out, exited };
}
