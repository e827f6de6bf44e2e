/**
 * Shared by the security suites (fuzz, tokens, leaks); holds no tests. Named `.test.ts`, like
 * identity/fixture.test.ts, so that it is never published with the package.
 *
 * - `HttpClient`: sends requests exactly as given (raw path, no URL normalisation: `%2e%2e` reaches the server as
 *   sent), with a time bound on every answer; `rawExchange` writes bytes no HTTP client would send.
 * - `checkAnswer`: the oracle every answer must satisfy (status below 500, the context headers, a well-formed
 *   Partner Center error or OAuth error, or a well-formed success of the route that answered).
 * - `StoreWatch`: a fingerprint of everything the store holds, to prove that a refused request changed nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { DEMO, DEMO_IDS, type TestService } from '../testing/harness.js';
import { SQLITE_FILE } from '../store/sqlite.js';

// ---- configuration ---------------------------------------------------------------------------------------------

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, not ${raw}`);
  return n;
}

/** The fast-check seed of every fuzz property (the same seed reproduces the same cases in the same order). */
export const FUZZ_SEED = envInt('PARTNERKIT_FUZZ_SEED', 20_260_401);
/** The total number of fuzz cases (HTTP requests) over every property. */
export const FUZZ_RUNS = envInt('PARTNERKIT_FUZZ_RUNS', 4000);
/** Longest wait for one answer: anything slower is a hang. */
export const ANSWER_TIMEOUT_MS = envInt('PARTNERKIT_FUZZ_TIMEOUT_MS', 10_000);

export const F = DEMO_IDS.fabrikam;
export const C = DEMO_IDS.contoso;
export const PC_SCOPE = 'https://api.partnercenter.microsoft.com';

// ---- HTTP ------------------------------------------------------------------------------------------------------

export interface Req {
  method: string;
  /** Sent as is: path and query, percent-encoding untouched. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
  ms: number;
}

/** Node's HTTP client over one keep-alive agent, with a bound on every answer. */
export class HttpClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
  }

  send(req: Req, timeoutMs: number = ANSWER_TIMEOUT_MS): Promise<Answer> {
    const started = performance.now();
    const headers: Record<string, string> = { ...req.headers };
    // Node's client frames no body of a DELETE (nor of GET, HEAD, OPTIONS) by itself: the body would reach the server
    // as a second, malformed request on the connection.
    if (req.body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    return new Promise((resolve, reject) => {
      const r = request(
        { host: this.host, port: this.port, method: req.method, path: req.path, headers, agent: this.agent, signal: AbortSignal.timeout(timeoutMs) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text === '' ? undefined : JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
          });
        },
      );
      r.on('error', (err) => {
        reject(err.name === 'AbortError' || err.name === 'TimeoutError' ? new Error(`no answer within ${String(timeoutMs)} ms (a hang): ${describe(req)}`) : err);
      });
      r.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface RawAnswer {
  /** 0 when the server closed the connection without an answer. */
  status: number;
  headers: Map<string, string>;
  text: string;
  /** Answers that followed the first on the connection (to the rest of a pipelined byte stream). */
  more: RawAnswer[];
}

export interface RawOptions {
  timeoutMs?: number;
  /**
   * Quiet time after which the client half-closes its side (so that a request waiting for more body ends). Node drops
   * a request whose client half-closed before it was answered, so a handler slower than this ends in a close:
   * expectations of an answer use a long one (requests with `Connection: close` are answered and closed first).
   */
  halfCloseAfterMs?: number;
}

/** Writes `bytes` on a new connection and reads everything until the server closes it. */
export function rawExchange(baseUrl: string, bytes: Buffer, opts: RawOptions = {}): Promise<RawAnswer> {
  const timeoutMs = opts.timeoutMs ?? ANSWER_TIMEOUT_MS;
  const quietMs = opts.halfCloseAfterMs ?? 150;
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let fin: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(fin);
      fin = setTimeout(() => socket.end(), quietMs);
    };
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(bytes);
      arm();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw exchange: no answer or close within ${String(timeoutMs)} ms (a hang)`));
    }, timeoutMs);
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      arm();
    });
    // A reset after the answer (the server destroys the socket while we still write) is a close like any other.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(fin);
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1')));
    });
  });
}

/** Parses the answers in `data` (latin-1): one after the other, each body as long as its Content-Length says. */
export function parseRaw(data: string): RawAnswer {
  const answers: RawAnswer[] = [];
  let rest = data;
  while (rest !== '') {
    const split = rest.indexOf('\r\n\r\n');
    const head = split === -1 ? rest : rest.slice(0, split);
    const after = split === -1 ? '' : rest.slice(split + 4);
    const [statusLine = '', ...lines] = head.split('\r\n');
    const headers = new Map<string, string>();
    for (const l of lines) {
      const i = l.indexOf(':');
      if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const status = Number(statusLine.split(' ')[1] ?? 0);
    // An interim answer (100 Continue) has no body and precedes the real one.
    if (status >= 100 && status < 200) {
      rest = after;
      continue;
    }
    const length = Number(headers.get('content-length') ?? after.length);
    rest = after.slice(length);
    // Whatever follows that is not another answer belongs to this one (and makes its body fail the checks).
    const body = rest.startsWith('HTTP/') ? after.slice(0, length) : after;
    if (!rest.startsWith('HTTP/')) rest = '';
    answers.push({ status, headers, text: Buffer.from(body, 'latin1').toString('utf8'), more: [] });
  }
  const [first, ...more] = answers;
  return first ? { ...first, more } : { status: 0, headers: new Map(), text: '', more: [] };
}

/** A short description of a request for failure messages (bodies cut to 300 characters). */
export function describe(req: Req): string {
  const body = req.body === undefined ? '' : ` body(${String(req.body.length)})=${JSON.stringify(req.body.toString().slice(0, 300))}`;
  const headers = Object.entries(req.headers ?? {})
    .map(([k, v]) => `${k}: ${k === 'authorization' ? v.slice(0, 20) + '…' : v.slice(0, 120)}`)
    .join('; ');
  return `${req.method} ${req.path.slice(0, 300)} [${headers}]${body}`;
}

// ---- what an answer must be ------------------------------------------------------------------------------------

/** (status → codes) a Partner Center error body may carry. */
export const FAULT_CODES: Readonly<Record<number, readonly number[]>> = {
  400: [800002, 3000],
  401: [800001, 400, 900421],
  403: [900329, 20002, 900150],
  404: [60002, 1000],
  405: [1000],
  408: [800002],
  409: [60009, 800004],
  413: [800002],
  415: [800002],
  431: [800002],
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OAUTH_ERRORS = new Set(['invalid_request', 'invalid_grant', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_tenant']);

type RouteKind =
  | 'users' | 'user' | 'userRoles' | 'customers' | 'customer' | 'roles' | 'members' | 'audit' | 'health'
  | 'token' | 'keys' | 'discovery';

const ROUTES: [RouteKind, RegExp][] = [
  ['users', /^\/v1\/customers\/[^/]+\/users\/?$/i],
  ['user', /^\/v1\/customers\/[^/]+\/users\/[^/]+\/?$/i],
  ['userRoles', /^\/v1\/customers\/[^/]+\/users\/[^/]+\/directoryroles\/?$/i],
  ['customers', /^\/v1\/customers\/?$/i],
  ['customer', /^\/v1\/customers\/[^/]+\/?$/i],
  ['roles', /^\/v1\/customers\/[^/]+\/directoryroles\/?$/i],
  ['members', /^\/v1\/customers\/[^/]+\/directoryroles\/[^/]+\/usermembers\/?$/i],
  ['audit', /^\/v1\/auditrecords\/?$/i],
  ['health', /^\/healthz\/?$/i],
  ['token', /^\/[^/]*\/oauth2\/v2\.0\/token\/?$/i],
  ['keys', /^\/[^/]*\/discovery\/v2\.0\/keys\/?$/i],
  ['discovery', /^\/[^/]*\/v2\.0\/\.well-known\/openid-configuration\/?$/i],
];

export function routeOf(path: string): RouteKind | undefined {
  const p = path.split(/[?#]/)[0] ?? '';
  return ROUTES.find(([, re]) => re.test(p))?.[0];
}

const isIdentity = (kind: RouteKind | undefined): boolean => kind === 'token' || kind === 'keys' || kind === 'discovery';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A Partner Center error body: exactly code, description, data and source, with a code that fits the status. */
export function assertFault(status: number, body: unknown, what: string): void {
  assert.ok(isObj(body), `${what}: the error body is not a JSON object`);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'data', 'description', 'source'], `${what}: error body members`);
  assert.equal(typeof body.code, 'number', what);
  assert.equal(typeof body.description, 'string', what);
  const description = body.description as string;
  assert.ok(description.length > 0 && description.length <= 1024, `${what}: description length`);
  assert.ok(Array.isArray(body.data), what);
  assert.equal(body.source, 'PartnerFD', what);
  const allowed = FAULT_CODES[status];
  assert.ok(allowed?.includes(body.code as number), `${what}: code ${String(body.code)} with status ${String(status)}`);
}

/** An OAuth 2.0 / Entra error body. */
export function assertOAuthFault(status: number, body: unknown, what: string): void {
  assert.ok(status === 400 || status === 401, `${what}: OAuth error status ${String(status)}`);
  assert.ok(isObj(body), `${what}: OAuth error is not an object`);
  assert.ok(typeof body.error === 'string' && OAUTH_ERRORS.has(body.error), `${what}: error ${String(body.error)}`);
  assert.match(String(body.error_description), /^AADSTS\d+: /, what);
  assert.ok(Array.isArray(body.error_codes) && body.error_codes.length === 1 && typeof body.error_codes[0] === 'number', what);
  assert.match(String(body.correlation_id), GUID, what);
  assert.match(String(body.trace_id), GUID, what);
}

function assertUser(u: unknown, what: string): void {
  assert.ok(isObj(u), `${what}: user`);
  assert.match(String(u.id), GUID, `${what}: user id`);
  assert.equal(typeof u.userPrincipalName, 'string', what);
  assert.equal(typeof u.displayName, 'string', what);
  assert.ok(u.state === 'active' || u.state === 'inactive', `${what}: state`);
  assert.deepEqual(u.attributes, { objectType: 'CustomerUser' }, what);
  assert.ok(!('passwordProfile' in u) || !isObj(u.passwordProfile) || !('password' in u.passwordProfile), `${what}: a password in a user`);
}

function assertCollection(body: unknown, what: string, item: (v: unknown, w: string) => void): void {
  assert.ok(isObj(body), `${what}: collection`);
  assert.ok(Array.isArray(body.items), `${what}: items`);
  assert.equal(body.totalCount, body.items.length, `${what}: totalCount`);
  assert.deepEqual(body.attributes, { objectType: 'Collection' }, what);
  for (const v of body.items) item(v, what);
}

/** The body of a success of the route `kind`. */
export function assertSuccess(kind: RouteKind | undefined, status: number, body: unknown, text: string, what: string): void {
  assert.ok(kind !== undefined, `${what}: a success (${String(status)}) from no known route`);
  if (status === 204) {
    assert.equal(kind, 'user', `${what}: 204 from ${kind}`);
    assert.equal(text, '', `${what}: 204 with a body`);
    return;
  }
  assert.ok(status === 200 || (status === 201 && kind === 'users'), `${what}: status ${String(status)} from ${kind}`);
  switch (kind) {
    case 'user':
      assertUser(body, what);
      return;
    case 'users':
      if (status === 201) assertUser(body, what);
      else assertCollection(body, what, assertUser);
      return;
    case 'customers':
      assertCollection(body, what, (c, w) => assert.ok(isObj(c) && GUID.test(String(c.id)) && isObj(c.companyProfile), `${w}: customer item`));
      return;
    case 'customer':
      assert.ok(isObj(body) && GUID.test(String(body.id)) && isObj(body.companyProfile) && body.companyProfile.tenantId === body.id, `${what}: customer`);
      return;
    case 'roles':
    case 'userRoles':
      assertCollection(body, what, (r, w) => assert.ok(isObj(r) && GUID.test(String(r.id)) && typeof r.name === 'string', `${w}: role`));
      return;
    case 'members':
      assertCollection(body, what, (m, w) => assert.ok(isObj(m) && GUID.test(String(m.id)) && typeof m.roleId === 'string', `${w}: member`));
      return;
    case 'audit':
      assertCollection(body, what, (a, w) => assert.ok(isObj(a) && typeof a.id === 'string' && typeof a.operationType === 'string', `${w}: audit record`));
      return;
    case 'health':
      assert.deepEqual(body, { status: 'ok' }, what);
      return;
    case 'token':
      assert.ok(isObj(body) && body.token_type === 'Bearer' && typeof body.access_token === 'string' && typeof body.expires_in === 'number', `${what}: token answer`);
      return;
    case 'keys':
      assert.ok(isObj(body) && Array.isArray(body.keys), `${what}: JWKS`);
      for (const k of body.keys) {
        assert.ok(isObj(k), what);
        for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(priv in k), `${what}: the JWKS holds a private member`);
      }
      return;
    case 'discovery':
      assert.ok(isObj(body) && typeof body.issuer === 'string' && typeof body.jwks_uri === 'string', `${what}: discovery`);
      return;
  }
}

/** Headers every answer carries. */
export function assertCommonHeaders(get: (name: string) => string | undefined, what: string): void {
  assert.ok((get('ms-requestid') ?? '') !== '', `${what}: no MS-RequestId`);
  assert.ok((get('ms-correlationid') ?? '') !== '', `${what}: no MS-CorrelationId`);
  assert.equal(get('x-content-type-options'), 'nosniff', `${what}: X-Content-Type-Options`);
}

const headerOf = (h: IncomingHttpHeaders) => (name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/**
 * The oracle: below 500, the context headers, and a body that is a Partner Center error (an OAuth error on the
 * identity endpoint), or a well-formed success of the route that answered. HEAD answers have no body to check.
 */
export function checkAnswer(req: Req, a: Answer): void {
  const what = `${String(a.status)} for ${describe(req)}\n  answer: ${a.text.slice(0, 300)}`;
  assert.ok(a.status >= 200 && a.status < 500, `status ${what}`);
  assert.notEqual(a.status, 429, `throttled without throttling: ${what}`);
  const get = headerOf(a.headers);
  assertCommonHeaders(get, what);
  if (req.method === 'HEAD') return;
  const kind = routeOf(req.path);
  if (a.status === 204) {
    assertSuccess(kind, a.status, a.json, a.text, what);
    return;
  }
  assert.equal(get('content-type'), 'application/json; charset=utf-8', `content type ${what}`);
  if (a.status >= 400) {
    if (isIdentity(kind) && isObj(a.json) && 'error' in a.json) assertOAuthFault(a.status, a.json, what);
    else assertFault(a.status, a.json, what);
    return;
  }
  assertSuccess(kind, a.status, a.json, a.text, what);
}

/**
 * A raw exchange: a clean close with no answer, or well-formed answers with the context headers (errors in the Partner
 * Center shape). Bytes after a request are a second request: a malformed one gets its own 400 after the first answer.
 */
export function checkRawAnswer(bytes: Buffer, a: RawAnswer): void {
  checkOneRawAnswer(bytes, a);
  for (const m of a.more) checkOneRawAnswer(bytes, m);
}

function checkOneRawAnswer(bytes: Buffer, a: RawAnswer): void {
  const what = `${String(a.status)} for raw ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}\n  answer: ${a.text.slice(0, 300)}`;
  if (a.status === 0) return;
  assert.ok(a.status >= 200 && a.status < 500, `status ${what}`);
  assertCommonHeaders((n) => a.headers.get(n), what);
  if (a.status >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(a.text);
    } catch {
      assert.fail(`not JSON: ${what}`);
    }
    assertFault(a.status, body, what);
  }
}

// ---- the store -------------------------------------------------------------------------------------------------

/**
 * A fingerprint of the store: through the store API (users of both demo customers, active and deleted; the
 * partner's audit count), and every row of every table read beside the service (replay records, refresh tokens,
 * keys, throttle counters included): from the SQLite file, or from the PostgreSQL schema of the service.
 */
export class StoreWatch {
  private constructor(
    private readonly svc: TestService,
    private readonly sqlite: BetterSqlite3.Database | undefined,
    private readonly postgres: pg.Client | undefined,
    private readonly tables: readonly string[],
  ) {}

  static async open(svc: TestService): Promise<StoreWatch> {
    if (svc.databaseUrl !== undefined) {
      const client = new pg.Client({ connectionString: svc.databaseUrl });
      client.on('error', () => undefined);
      await client.connect();
      const r = await client.query<{ name: string }>(
        "select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1",
      );
      return new StoreWatch(svc, undefined, client, r.rows.map((row) => row.name));
    }
    const file = join(svc.dataDir, SQLITE_FILE);
    if (!existsSync(file)) return new StoreWatch(svc, undefined, undefined, []);
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    const tables = db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").pluck().all() as string[];
    return new StoreWatch(svc, db, undefined, tables);
  }

  /** Which tables the fingerprint reads beside the store API. */
  get tableCount(): number {
    return this.tables.length;
  }

  async fingerprint(): Promise<string> {
    const hash = createHash('sha256');
    for (const customerId of [F.customerId, C.customerId]) {
      for (const state of ['active', 'inactive'] as const) {
        const rows = await this.svc.store.listUsers({
          customerId, state, sort: 'creation', descending: false, after: undefined, limit: 100_000, purgeBefore: '',
        });
        hash.update(JSON.stringify(rows));
      }
    }
    hash.update(String(await this.svc.store.countAudit(DEMO.tenantId)));
    for (const t of this.tables) {
      hash.update(`\n${t}\n`);
      if (this.sqlite) {
        for (const row of this.sqlite.prepare(`select * from "${t}"`).raw().iterate()) hash.update(JSON.stringify(row));
      } else if (this.postgres) {
        const r = await this.postgres.query<{ row: string }>(`select t::text as row from "${t}" t order by 1`);
        for (const row of r.rows) hash.update(row.row);
      }
    }
    return hash.digest('base64url');
  }

  async close(): Promise<void> {
    this.sqlite?.close();
    await this.postgres?.end();
  }
}

// ---- leaks -----------------------------------------------------------------------------------------------------

/** What must never appear in an answer or a log line: stack frames, file paths, SQL and store errors. */
export const LEAK_PATTERNS: readonly [string, RegExp][] = [
  ['stack frame', /\n\s+at \S/],
  ['stack frame', /\bat [\w$.<>]+ \((?:file:|node:|\/)/],
  ['source position', /\.[cm]?[jt]s:\d+/],
  ['file URL', /file:\/\//],
  ['absolute path', /\/(?:work|tmp|home|root|usr|var|opt|srv)\//],
  ['node_modules', /node_modules/],
  ['SQLite error code', /SQLITE_/],
  ['SQL text', /\bselect\s+[\w*"]+(?:\s*,\s*[\w*"]+)*\s+from\b|\binsert\s+into\b|\bdelete\s+from\b/i],
  ['SQL error', /syntax error|no such (?:table|column)/i],
  ['select', /select /i],
];

/** Names the first leak pattern `text` matches, or the secret it contains. */
export function findLeak(text: string, secrets: readonly string[]): string | undefined {
  for (const [name, re] of LEAK_PATTERNS) {
    const m = re.exec(text);
    if (m) return `${name}: …${text.slice(Math.max(0, m.index - 60), m.index + 80)}…`;
  }
  for (const s of secrets) if (s.length >= 8 && text.includes(s)) return `a secret (${s.slice(0, 4)}…)`;
  return undefined;
}
