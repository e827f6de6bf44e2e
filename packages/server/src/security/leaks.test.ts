/**
 * Nothing leaks: no answer (body or header) and no log line at trace level holds a stack trace, a source position,
 * a file path, SQL or a store error code, or a secret (the demo password and client secret, every access and refresh
 * token the test obtained, every password it sent, the private signing key), for a broad set of requests: every
 * error kind, successes, the token endpoint, and provoked failures (a table dropped under the service, its store
 * closed). And every answer carries the security headers of a JSON API (see http/security-headers.ts), over HTTP and
 * over TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { logSafeError } from '../http/errors.js';
import { SQLITE_FILE } from '../store/sqlite.js';
import { DEMO, startTestService, type TestService } from '../testing/harness.js';
import { F, findLeak, HttpClient, parseRaw, PC_SCOPE, rawExchange, type Answer, type Req } from './kit.test.js';

/** A log sink for a service started at trace level. */
function logSink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { stream, lines };
}

/** Secrets a test obtained or sent; answers that legitimately hold one (the token grant that issued it) say so. */
class Secrets {
  readonly values = new Set<string>([DEMO.password, DEMO.clientSecret]);
  add(...v: (string | undefined)[]): void {
    for (const s of v) {
      if (s === undefined || s.length < 8) continue;
      this.values.add(s);
      // A JWT's signature alone is a secret too.
      const sig = s.split('.')[2];
      if (sig !== undefined && sig.length >= 16) this.values.add(sig);
    }
  }
  /** The secrets, less those `own` holds (a token answer holds the tokens it issues). */
  except(own: readonly string[]): string[] {
    return [...this.values].filter((s) => !own.some((o) => o === s || o.split('.')[2] === s));
  }
}

function assertNoLeak(a: { status: number; headers: Record<string, unknown>; text: string }, secrets: readonly string[], what: string): void {
  const headers = Object.entries(a.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('\n');
  const leak = findLeak(`${headers}\n\n${a.text}`, secrets);
  assert.equal(leak, undefined, `${what} (${String(a.status)}) leaks ${String(leak)}`);
}

function assertLogsClean(lines: readonly string[], secrets: readonly string[], what: string): void {
  assert.ok(lines.length > 0, `${what}: nothing was logged`);
  for (const l of lines) {
    assert.doesNotThrow(() => JSON.parse(l), `${what}: not a JSON log line: ${l.slice(0, 200)}`);
    const leak = findLeak(l, secrets);
    assert.equal(leak, undefined, `${what}: a log line leaks ${String(leak)}:\n${l.slice(0, 600)}`);
  }
}

const JSON_TYPE = 'application/json';
const usersPath = `/v1/customers/${F.customerId}/users`;
const userPath = (id: string): string => `${usersPath}/${id}`;
const form = (v: Record<string, string>): string => new URLSearchParams(v).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

// ---- a running service, every kind of answer -------------------------------------------------------------------

describe('answers and log lines of a running service', () => {
  const log = logSink();
  const secrets = new Secrets();
  let svc: TestService;
  let http: HttpClient;
  /** Every answer, with the secrets it may hold itself. */
  const answers: { what: string; a: Answer; own: string[] }[] = [];

  const send = async (what: string, req: Req): Promise<Answer> => {
    const a = await http.send(req);
    const body = a.json as { access_token?: string; refresh_token?: string } | undefined;
    answers.push({ what, a, own: [body?.access_token, body?.refresh_token].filter((x): x is string => typeof x === 'string') });
    return a;
  };

  before(async () => {
    svc = await startTestService({ logger: { level: 'trace', stream: log.stream } });
    http = new HttpClient(svc.baseUrl);
    // The private members of every signing key, as the store keeps them.
    for (const k of await svc.store.listSigningKeys()) {
      const jwk = JSON.parse(k.privateJwk) as Record<string, string | undefined>;
      secrets.add(jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi);
    }
    assert.ok(secrets.values.size >= 8, 'the private key members are known');
  });
  after(async () => {
    http.close();
    await svc.close();
  });

  test('every error kind, successes and token grants: no stack, path, SQL or secret in any answer', async () => {
    const grant = (v: Record<string, string>): Promise<Answer> => send(`token ${v.grant_type ?? ''}`, { method: 'POST', path: `/${DEMO.tenantId}/oauth2/v2.0/token`, headers: FORM, body: form(v) });
    const userGrant = { grant_type: 'password', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: DEMO.username, password: DEMO.password, scope: `${PC_SCOPE}/user_impersonation offline_access` };
    const issued = (await grant(userGrant)).json as { access_token: string; refresh_token: string };
    const rotated = (await grant({ grant_type: 'refresh_token', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, refresh_token: issued.refresh_token })).json as { access_token: string; refresh_token: string };
    const app = (await grant({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, scope: `${PC_SCOPE}/.default` })).json as { access_token: string };
    const reader = (await grant({ ...userGrant, username: DEMO.readerUsername })).json as { access_token: string; refresh_token: string };
    const noMfa = (await grant({ ...userGrant, username: DEMO.noMfaUsername })).json as { access_token: string; refresh_token: string };
    secrets.add(issued.access_token, issued.refresh_token, rotated.access_token, rotated.refresh_token, app.access_token, reader.access_token, reader.refresh_token, noMfa.access_token, noMfa.refresh_token);
    const token = rotated.access_token;
    const auth = (t: string = token): Record<string, string> => ({ authorization: `Bearer ${t}` });
    const jsonAuth = (t: string = token): Record<string, string> => ({ ...auth(t), 'content-type': JSON_TYPE });

    // Token endpoint refusals, with secrets in the requests.
    const wrongPassword = `Wrong-${randomUUID()}`;
    const wrongSecret = `secret~${randomUUID()}`;
    secrets.add(wrongPassword, wrongSecret);
    await grant({ ...userGrant, password: wrongPassword });
    await grant({ ...userGrant, client_secret: wrongSecret });
    await grant({ grant_type: 'refresh_token', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, refresh_token: issued.refresh_token });
    await grant({ grant_type: 'refresh_token', client_id: DEMO.clientId, refresh_token: `${issued.refresh_token.slice(0, 20)}!` });
    await grant({ ...userGrant, scope: 'https://graph.microsoft.com/.default' });
    await grant({ grant_type: 'jwt-bearer', assertion: issued.access_token });
    await send('token, JSON body', { method: 'POST', path: `/${DEMO.tenantId}/oauth2/v2.0/token`, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(userGrant) });
    await send('token, unknown tenant', { method: 'POST', path: '/nowhere.example/oauth2/v2.0/token', headers: FORM, body: form(userGrant) });
    await send('discovery', { method: 'GET', path: `/${DEMO.tenantId}/v2.0/.well-known/openid-configuration` });
    await send('JWKS', { method: 'GET', path: `/${DEMO.tenantId}/discovery/v2.0/keys` });

    // Successes that carry passwords in their bodies.
    const createPassword = `Create-${randomUUID()}-Aa1!`;
    const resetPassword = `Reset-${randomUUID()}-Aa1!`;
    const weakPassword = `weak${randomUUID().slice(0, 8)}`;
    secrets.add(createPassword, resetPassword, weakPassword);
    const created = await send('create', { method: 'POST', path: usersPath, headers: { ...jsonAuth(), 'ms-requestid': `leak-${randomUUID()}` }, body: JSON.stringify({ userPrincipalName: `leak.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Leak Test', passwordProfile: { password: createPassword, forceChangePassword: true } }) });
    assert.equal(created.status, 201, created.text);
    const id = (created.json as { id: string }).id;
    const resetRequestId = `leak-${randomUUID()}`;
    const reset = { method: 'PATCH', path: userPath(id), headers: { ...jsonAuth(), 'ms-requestid': resetRequestId }, body: JSON.stringify({ passwordProfile: { password: resetPassword } }) };
    assert.equal((await send('reset', reset)).status, 200);
    await send('reset replayed', reset);
    await send('reset, same id, other body', { ...reset, body: JSON.stringify({ passwordProfile: { password: createPassword } }) });
    await send('weak password', { method: 'PATCH', path: userPath(id), headers: jsonAuth(), body: JSON.stringify({ passwordProfile: { password: weakPassword } }) });
    await send('password in a create that fails', { method: 'POST', path: usersPath, headers: jsonAuth(), body: JSON.stringify({ userPrincipalName: 'x@unknown.example', displayName: 'x', passwordProfile: { password: createPassword } }) });
    await send('get', { method: 'GET', path: userPath(id), headers: auth() });
    await send('list', { method: 'GET', path: `${usersPath}?size=2`, headers: auth() });
    await send('roles', { method: 'GET', path: `/v1/customers/${F.customerId}/directoryroles`, headers: auth() });
    await send('audit', { method: 'GET', path: '/v1/auditrecords', headers: auth(app.access_token) });
    await send('customers', { method: 'GET', path: '/v1/customers', headers: auth(app.access_token) });
    await send('delete', { method: 'DELETE', path: userPath(id), headers: auth() });
    await send('healthz', { method: 'GET', path: '/healthz' });

    // Every Partner Center error kind.
    await send('400 800002 bad JSON', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: '{"displayName":' });
    await send('400 800002 wrong type', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: '{"displayName":5}' });
    await send('400 800002 deep', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: '['.repeat(100) });
    await send('400 800002 token', { method: 'GET', path: usersPath, headers: { ...auth(), 'ms-continuationtoken': 'eyJ2IjoxLCJrIjoiYXVkaXQiLCJmcm9tIjoxZTQwMH0' } });
    await send('400 800002 request id', { method: 'GET', path: usersPath, headers: { ...auth(), 'ms-requestid': 'two words' } });
    await send('400 800002 bad URL', { method: 'GET', path: `${usersPath}/%zz`, headers: auth() });
    await send('400 3000', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: '{"usageLocation":"XX"}' });
    await send('400 3000 filter', { method: 'GET', path: '/v1/auditrecords?filter=%7B', headers: auth() });
    await send('401 800001', { method: 'GET', path: usersPath });
    await send('401 400', { method: 'GET', path: usersPath, headers: auth(`${token}x`) });
    await send('401 900421', { method: 'GET', path: usersPath, headers: auth(noMfa.access_token) });
    await send('403 900329', { method: 'GET', path: usersPath, headers: auth(app.access_token) });
    await send('403 20002', { method: 'GET', path: `/v1/customers/${randomUUID()}/users`, headers: auth() });
    await send('403 900150', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(reader.access_token), body: '{"displayName":"x"}' });
    await send('404 60002', { method: 'GET', path: userPath(randomUUID()), headers: auth() });
    await send('404 1000', { method: 'GET', path: '/v1/nothing', headers: auth() });
    await send('404 1000 long segment', { method: 'GET', path: userPath('a'.repeat(300)), headers: auth() });
    await send('405 1000', { method: 'PUT', path: userPath(F.users.tomas), headers: jsonAuth(), body: '{}' });
    await send('409 60009', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: '{"userPrincipalName":"aiko.tanaka@fabrikam.example"}' });
    await send('413', { method: 'PATCH', path: userPath(F.users.tomas), headers: jsonAuth(), body: 'x'.repeat(1024 * 1024 + 1) });
    await send('415', { method: 'PATCH', path: userPath(F.users.tomas), headers: { ...auth(), 'content-type': 'text/plain' }, body: '{}' });
    await send('431', { method: 'GET', path: '/healthz', headers: { 'x-pad': 'p'.repeat(20_000) } });

    const kinds = new Set(answers.map(({ a }) => a.status));
    for (const s of [200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 431]) assert.ok(kinds.has(s), `no ${String(s)} answer was provoked`);
    for (const { what, a, own } of answers) assertNoLeak(a, secrets.except(own), what);

    // Answers the HTTP parser gives, on raw connections.
    for (const bytes of ['GET /healthz HTTP/1.1\r\nHost: x\r\nMS-RequestId: a\x01b\r\n\r\n', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`, 'NOT HTTP\r\n\r\n']) {
      const raw = await rawExchange(svc.baseUrl, Buffer.from(bytes, 'latin1'), { halfCloseAfterMs: 5000 });
      assertNoLeak({ status: raw.status, headers: Object.fromEntries(raw.headers), text: raw.text }, [...secrets.values], `raw ${JSON.stringify(bytes.slice(0, 30))}`);
    }
  });

  test('no log line at trace level holds a stack, path, SQL or secret; request lines carry the correlation id', () => {
    assertLogsClean(log.lines, [...secrets.values], 'running service');
    const parsed = log.lines.map((l) => JSON.parse(l) as { level: number; msg?: string; correlationId?: string });
    assert.ok(parsed.some((l) => l.level === 10 || l.level === 20) || parsed.length > 50, 'trace logging is on');
    assert.ok(parsed.filter((l) => l.msg === 'incoming request').every((l) => typeof l.correlationId === 'string'));
  });
});

// ---- provoked failures -----------------------------------------------------------------------------------------

describe('provoked failures: a table dropped under the service, then its store closed', () => {
  const log = logSink();
  let svc: TestService;
  let http: HttpClient;
  let token: string;
  let appToken: string;

  before(async () => {
    svc = await startTestService({ logger: { level: 'trace', stream: log.stream } });
    http = new HttpClient(svc.baseUrl);
    [token, appToken] = await Promise.all([svc.userToken(), svc.appToken()]);
  });
  after(async () => {
    http.close();
    await svc.close().catch(() => undefined);
  });

  async function dropTable(name: string): Promise<void> {
    if (svc.databaseUrl !== undefined) {
      const client = new pg.Client({ connectionString: svc.databaseUrl });
      await client.connect();
      try {
        await client.query(`drop table ${name} cascade`);
      } finally {
        await client.end();
      }
      return;
    }
    const db = new BetterSqlite3(join(svc.dataDir, SQLITE_FILE));
    try {
      db.exec(`drop table ${name}`);
    } finally {
      db.close();
    }
  }

  test('500 800003 with a generic description, and clean log lines, whatever failed inside', async () => {
    const secrets = [DEMO.password, DEMO.clientSecret, token, appToken, token.split('.')[2] ?? token];
    await dropTable('audit_records');
    const audit = await http.send({ method: 'GET', path: '/v1/auditrecords', headers: { authorization: `Bearer ${appToken}` } });
    assert.equal(audit.status, 500, audit.text);
    assert.deepEqual(audit.json, { code: 800003, description: 'Unexpected service error.', data: [], source: 'PartnerFD' });
    assertNoLeak(audit, secrets, 'a dropped table');
    // A change whose audit record cannot be written fails as a whole.
    const patch = await http.send({ method: 'PATCH', path: userPath(F.users.tomas), headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE }, body: '{"displayName":"Never"}' });
    assert.equal(patch.status, 500, patch.text);
    assertNoLeak(patch, secrets, 'a change without its audit table');
    const failedLines = log.lines.filter((l) => l.includes('"level":50'));
    assert.ok(failedLines.length >= 2, 'the failures were logged');
    for (const l of failedLines) assert.match(l, /"stack":"\[withheld\]","fingerprint":"[\w-]{16}"/);

    await svc.store.close();
    const closed: [string, Req][] = [
      ['list users', { method: 'GET', path: usersPath, headers: { authorization: `Bearer ${token}` } }],
      ['create', { method: 'POST', path: usersPath, headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE, 'ms-requestid': randomUUID() }, body: JSON.stringify({ displayName: 'x', userPrincipalName: 'x@fabrikam.example', passwordProfile: { password: 'Closed-Store-Passw0rd!' } }) }],
      ['customers', { method: 'GET', path: '/v1/customers', headers: { authorization: `Bearer ${appToken}` } }],
      ['token', { method: 'POST', path: `/${DEMO.tenantId}/oauth2/v2.0/token`, headers: FORM, body: form({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, scope: `${PC_SCOPE}/.default` }) }],
      ['healthz', { method: 'GET', path: '/healthz' }],
    ];
    for (const [what, req] of closed) {
      const a = await http.send(req);
      assert.ok(a.status === 500 || a.status === 503, `${what}: ${String(a.status)} ${a.text}`);
      assertNoLeak(a, [...secrets, 'Closed-Store-Passw0rd!'], `${what} with the store closed`);
    }
    assertLogsClean(log.lines, [...secrets, 'Closed-Store-Passw0rd!'], 'provoked failures');
  });

  test('the error serializer: no stack, no path, no SQL, whatever the error says', () => {
    const cases: Error[] = [
      Object.assign(new Error('near "selec": syntax error'), { code: 'SQLITE_ERROR' }),
      new Error('SQLITE_BUSY: database is locked'),
      new Error('select "id" from "users" where "id" = $1 - invalid input syntax for type uuid'),
      new Error("ENOENT: no such file or directory, open '/work/main/.partnerkit/keys.json'"),
      new Error('Cannot find module file:///opt/app/node_modules/x/index.js'),
      new Error('at C:\\Users\\runner\\work\\a.ts:10:5 failed'),
    ];
    for (const err of cases) {
      const out = logSafeError(err);
      assert.equal(out.stack, '[withheld]');
      assert.match(out.fingerprint, /^[\w-]{16}$/);
      const text = JSON.stringify(out);
      assert.equal(findLeak(text, []), undefined, `${err.message} → ${text}`);
      assert.doesNotMatch(text, /[A-Za-z]:\\|\/main\//);
    }
    assert.deepEqual(logSafeError('a string'), { type: 'string', message: 'a thrown value that is not an Error', stack: '[withheld]', fingerprint: '' });
  });
});

// ---- security headers ------------------------------------------------------------------------------------------

const CSP = "default-src 'none'; frame-ancestors 'none'";

function assertSecurityHeaders(get: (name: string) => string | undefined, what: string, opts: { tls: boolean; cache?: string }): void {
  assert.equal(get('x-content-type-options'), 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal(get('content-security-policy'), CSP, `${what}: Content-Security-Policy`);
  assert.equal(get('x-frame-options'), 'DENY', `${what}: X-Frame-Options`);
  assert.equal(get('referrer-policy'), 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(get('cache-control'), opts.cache ?? 'no-store', `${what}: Cache-Control`);
  assert.equal(get('x-powered-by'), undefined, `${what}: X-Powered-By`);
  assert.equal(get('server'), undefined, `${what}: Server`);
  if (opts.tls) assert.equal(get('strict-transport-security'), 'max-age=31536000', `${what}: Strict-Transport-Security`);
  else assert.equal(get('strict-transport-security'), undefined, `${what}: HSTS over plain HTTP`);
}

const headerGetter = (h: Record<string, string | string[] | undefined>) => (name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

describe('security headers', () => {
  let svc: TestService;
  let http: HttpClient;

  before(async () => {
    svc = await startTestService();
    http = new HttpClient(svc.baseUrl);
  });
  after(async () => {
    http.close();
    await svc.close();
  });

  test('on every kind of answer over HTTP: successes, errors, the identity endpoint, replays, parser errors', async () => {
    const token = await svc.userToken();
    const auth = { authorization: `Bearer ${token}` };
    const json = { ...auth, 'content-type': JSON_TYPE };
    const requestId = randomUUID();
    const cases: [string, Req, string?][] = [
      ['GET user', { method: 'GET', path: userPath(F.users.tomas), headers: auth }],
      ['list', { method: 'GET', path: usersPath, headers: auth }],
      ['create', { method: 'POST', path: usersPath, headers: json, body: JSON.stringify({ userPrincipalName: `h.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'H', passwordProfile: { password: 'Headers-Passw0rd!' } }) }],
      ['PATCH', { method: 'PATCH', path: userPath(F.users.tomas), headers: { ...json, 'ms-requestid': requestId }, body: '{"usageLocation":"ES"}' }],
      ['PATCH replayed', { method: 'PATCH', path: userPath(F.users.tomas), headers: { ...json, 'ms-requestid': requestId }, body: '{"usageLocation":"ES"}' }],
      ['400', { method: 'PATCH', path: userPath(F.users.tomas), headers: json, body: '{' }],
      ['401', { method: 'GET', path: usersPath }],
      ['403', { method: 'GET', path: `/v1/customers/${randomUUID()}`, headers: auth }],
      ['404 route', { method: 'GET', path: '/nothing' }],
      ['404 long segment', { method: 'GET', path: userPath('a'.repeat(300)), headers: auth }],
      ['400 malformed URL', { method: 'GET', path: '/v1/customers/%zz', headers: auth }],
      ['405', { method: 'DELETE', path: usersPath, headers: auth }],
      ['413', { method: 'PATCH', path: userPath(F.users.tomas), headers: json, body: 'x'.repeat(1024 * 1024 + 1) }],
      ['415', { method: 'PATCH', path: userPath(F.users.tomas), headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' }],
      ['431', { method: 'GET', path: '/healthz', headers: { 'x-pad': 'p'.repeat(20_000) } }],
      ['healthz', { method: 'GET', path: '/healthz' }],
      ['HEAD healthz', { method: 'HEAD', path: '/healthz' }],
      ['token', { method: 'POST', path: `/${DEMO.tenantId}/oauth2/v2.0/token`, headers: FORM, body: form({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, scope: `${PC_SCOPE}/.default` }) }],
      ['token refused', { method: 'POST', path: `/${DEMO.tenantId}/oauth2/v2.0/token`, headers: FORM, body: 'grant_type=password' }],
      ['discovery', { method: 'GET', path: `/${DEMO.tenantId}/v2.0/.well-known/openid-configuration` }, 'max-age=3600, private'],
      ['JWKS', { method: 'GET', path: `/${DEMO.tenantId}/discovery/v2.0/keys` }, 'max-age=3600, private'],
    ];
    const created: string[] = [];
    for (const [what, req, cache] of cases) {
      const a = await http.send(req);
      if (what === 'create') created.push((a.json as { id: string }).id);
      assertSecurityHeaders(headerGetter(a.headers), `${what} (${String(a.status)})`, { tls: false, ...(cache !== undefined ? { cache } : {}) });
    }
    const del = await http.send({ method: 'DELETE', path: userPath(created[0] ?? ''), headers: auth });
    assert.equal(del.status, 204);
    assertSecurityHeaders(headerGetter(del.headers), 'DELETE 204', { tls: false });
    for (const bytes of ['GET /healthz HTTP/1.1\r\nHost: x\r\nMS-RequestId: a\x01b\r\n\r\n', 'NOT HTTP\r\n\r\n']) {
      const raw = await rawExchange(svc.baseUrl, Buffer.from(bytes, 'latin1'), { halfCloseAfterMs: 5000 });
      assert.equal(raw.status, 400);
      assertSecurityHeaders((n) => raw.headers.get(n), `parser error ${JSON.stringify(bytes.slice(0, 20))}`, { tls: false });
    }
  });

  test('over TLS, Strict-Transport-Security too, on answers and on parser errors', async (t) => {
    let dir: string | undefined;
    try {
      dir = await mkdtemp(join(tmpdir(), 'partnerkit-tls-'));
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      } catch {
        t.skip('openssl is not available to make a test certificate');
        return;
      }
      const tls = await startTestService({ config: { tlsCert: cert, tlsKey: key } });
      try {
        const u = new URL(tls.baseUrl);
        assert.equal(u.protocol, 'https:');
        const get = (path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> =>
          new Promise((resolve, reject) => {
            const req = httpsRequest({ host: u.hostname, port: u.port, path, rejectUnauthorized: false }, (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
            });
            req.on('error', reject);
            req.end();
          });
        for (const [path, status] of [['/healthz', 200], [usersPath, 401], ['/nothing', 404], ['/v1/customers/%zz', 400]] as const) {
          const a = await get(path);
          assert.equal(a.status, status, path);
          assertSecurityHeaders(headerGetter(a.headers), `TLS ${path}`, { tls: true });
        }
        const raw = await new Promise<string>((resolve, reject) => {
          let data = '';
          const socket = tlsConnect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
            socket.end(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`);
          });
          socket.on('data', (b: Buffer) => (data += b.toString('latin1')));
          socket.on('error', reject);
          socket.on('close', () => resolve(data));
        });
        const parsed = parseRaw(raw);
        assert.equal(parsed.status, 431);
        assertSecurityHeaders((n) => parsed.headers.get(n), 'TLS 431', { tls: true });
      } finally {
        await tls.close();
      }
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  });
});
