/**
 * Wire manners (contract section 2, Partner Center spec 1.5–1.7): routes, methods, media types, body size, the
 * error body, and the context headers every response carries, errors included. Runs the real service over HTTP.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { auditRow } from '../audit/records.js';
import { DEMO_IDS, demoAgentActor, startTestService, type CallResult, type TestService, withSuiteService } from '../testing/harness.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const JSON_UTF8 = 'application/json; charset=utf-8';
const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
const userPath = (id: string): string => `${usersPath}/${id}`;

/** The headers every response carries; `sent` are the ids the request carried (echoed), if any. */
function assertContextHeaders(r: { headers: Headers }, sent: { requestId?: string; correlationId?: string } = {}): void {
  const requestId = r.headers.get('ms-requestid');
  const correlationId = r.headers.get('ms-correlationid');
  if (sent.requestId !== undefined) assert.equal(requestId, sent.requestId, 'MS-RequestId is echoed');
  else assert.match(requestId ?? '', UUID, 'MS-RequestId is generated');
  if (sent.correlationId !== undefined) assert.equal(correlationId, sent.correlationId, 'MS-CorrelationId is echoed');
  else assert.match(correlationId ?? '', UUID, 'MS-CorrelationId is generated');
  assert.match(r.headers.get('ms-cv') ?? '', /^[A-Za-z0-9+/.]+\.0$/, 'MS-CV');
  assert.ok((r.headers.get('ms-serverid') ?? '') !== '', 'MS-ServerId');
}

/** An ApiFault with exactly the four properties, the given status and code, as JSON in UTF-8. */
function assertFault(r: CallResult, status: number, code: number): { description: string; data: unknown[] } {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get('content-type'), JSON_UTF8);
  const body = JSON.parse(r.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'data', 'description', 'source']);
  assert.equal(body.code, code);
  assert.equal(typeof body.description, 'string');
  assert.ok((body.description as string).length > 0 && (body.description as string).length <= 1024);
  assert.ok(Array.isArray(body.data));
  assert.equal(body.source, 'PartnerFD');
  return { description: body.description as string, data: body.data as unknown[] };
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends bytes as they are (header values no HTTP client would send) and reads the whole answer. */
function rawHttp(baseUrl: string, text: string): Promise<RawResponse> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => socket.end(Buffer.from(text, 'latin1')));
    let data = '';
    socket.on('data', (b: Buffer) => (data += b.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines) {
        const i = l.indexOf(':');
        headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** A response of `rawHttp` as a CallResult, for the shared assertions. */
const asCall = (r: RawResponse): CallResult => ({
  status: r.status, headers: new Headers([...r.headers]), text: r.body, json: JSON.parse(r.body) as unknown,
});

let s: TestService;
let token: string;

withSuiteService((started, t) => {
  s = started;
  token = t;
});

/** A fresh Fabrikam user (so tests that change or delete one do not disturb the others). */
async function newUser(name: string): Promise<string> {
  const r = await s.call<{ id: string }>('POST', usersPath, {
    token,
    body: {
      userPrincipalName: `${name}.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: name,
      passwordProfile: { password: 'Correct-Horse-42!', forceChangePassword: false },
    },
  });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function displayNameOf(id: string): Promise<string> {
  const r = await s.call<{ displayName: string }>('GET', userPath(id), { token });
  assert.equal(r.status, 200, r.text);
  return r.json.displayName;
}

describe('routes and methods', () => {
  test('an unknown route answers 404 code 1000, with or without a token', async () => {
    assertFault(await s.call('GET', '/no/such/thing'), 404, 1000);
    assertFault(await s.call('GET', '/v1/nothing-here', { token }), 404, 1000);
    assertFault(await s.call('GET', `${userPath(F.users.ordinary)}/nothing`, { token }), 404, 1000);
  });

  test('a known route with a method it does not have answers 405 code 1000', async () => {
    const put = assertFault(await s.call('PUT', userPath(F.users.ordinary), { token, body: { displayName: 'x' } }), 405, 1000);
    assert.match(put.description, /PUT/);
    assertFault(await s.call('DELETE', usersPath, { token }), 405, 1000);
    assertFault(await s.call('POST', '/healthz'), 405, 1000);
    // with a trailing slash too
    assertFault(await s.call('DELETE', `${usersPath}/`, { token }), 405, 1000);
  });

  test('a trailing slash on the users collection and on a user works', async () => {
    const list = await s.call<{ totalCount: number; items: unknown[] }>('GET', `${usersPath}/`, { token });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.items.length > 0);
    const one = await s.call<{ id: string }>('GET', `${userPath(F.users.ordinary)}/`, { token });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.id, F.users.ordinary);
  });

  test('GET /healthz answers 200 {"status":"ok"} without a token', async () => {
    const r = await s.call('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"status":"ok"}');
    assert.equal(r.headers.get('content-type'), JSON_UTF8);
    assertContextHeaders(r);
  });

  test('a malformed URL answers 400 800002 in the Partner Center shape, with the context headers', async () => {
    const sent = { requestId: randomUUID(), correlationId: randomUUID() };
    const r = await s.call('GET', `/v1/customers/%zz/users`, { token, headers: { 'MS-RequestId': sent.requestId, 'MS-CorrelationId': sent.correlationId } });
    assertFault(r, 400, 800002);
    assertContextHeaders(r, sent);
  });

  test('an over-long path segment answers 404 1000 with the context headers, without echoing the path', async () => {
    const long = 'a'.repeat(300);
    const r = await s.call('GET', userPath(long), { token });
    assertFault(r, 404, 1000);
    assertContextHeaders(r);
    assert.ok(!r.text.includes(long));
  });
});

describe('request bodies and media types', () => {
  const patch = (body: string, contentType: string | undefined, id: string = F.users.ordinary): Promise<CallResult> =>
    s.call('PATCH', userPath(id), { token, rawBody: body, headers: contentType === undefined ? {} : { 'content-type': contentType } });

  test('malformed JSON answers 400 800002', async () => {
    for (const body of ['{bad', '{"displayName": "x"', '{"displayName": "x"}}', "{'displayName': 'x'}"]) {
      assertFault(await patch(body, 'application/json'), 400, 800002);
    }
  });

  test('a JSON body that is not an object answers 400 800002, and so does an empty body on PATCH and POST', async () => {
    for (const body of ['[]', '[{"displayName":"x"}]', '42', '"text"', 'true', 'null']) {
      assertFault(await patch(body, 'application/json'), 400, 800002);
    }
    assertFault(await patch('', 'application/json'), 400, 800002);
    assertFault(await s.call('POST', usersPath, { token, rawBody: '', headers: { 'content-type': 'application/json' } }), 400, 800002);
    assertFault(await s.call('POST', usersPath, { token }), 400, 800002);
  });

  test('a body poisoning __proto__ answers 400 800002', async () => {
    assertFault(await patch('{"__proto__":{"displayName":"x"}}', 'application/json'), 400, 800002);
    assertFault(await patch('{"constructor":{"prototype":{"x":1}}}', 'application/json'), 400, 800002);
  });

  test('a content type that is not JSON answers 415 800002 and changes nothing', async () => {
    const id = await newUser('MediaType');
    const body = JSON.stringify({ displayName: 'Changed By Text' });
    for (const ct of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml', 'application/octet-stream']) {
      const r = await patch(body, ct, id);
      assertFault(r, 415, 800002);
      assertContextHeaders(r);
    }
    // a body sent with no content type at all
    assertFault(await s.call('PATCH', userPath(id), { token, rawBody: Buffer.from(body) }), 415, 800002);
    assert.equal(await displayNameOf(id), 'MediaType');
  });

  test('application/json with a charset, text/json and text/json with a charset are all JSON', async () => {
    const id = await newUser('MediaOk');
    for (const [i, ct] of ['application/json', 'application/json; charset=utf-8', 'text/json', 'text/json; charset=utf-8', 'Application/JSON'].entries()) {
      const r = await patch(JSON.stringify({ displayName: `Media ${String(i)}` }), ct, id);
      assert.equal(r.status, 200, `${ct}: ${r.text}`);
      assert.equal(await displayNameOf(id), `Media ${String(i)}`);
    }
  });

  test('a body over 1 MiB answers 413 800002; one just under 1 MiB is read', async () => {
    const id = await newUser('Size');
    const big = JSON.stringify({ displayName: 'Too Big', padding: 'x'.repeat(1024 * 1024) });
    const r = await patch(big, 'application/json', id);
    assertFault(r, 413, 800002);
    assertContextHeaders(r);
    assertFault(await patch(big, 'text/json', id), 413, 800002);
    assert.equal(await displayNameOf(id), 'Size');
    // unknown properties are ignored: a body of 1 MiB less a few bytes still goes through
    const base = JSON.stringify({ displayName: 'Just Fits', padding: '' });
    const fits = JSON.stringify({ displayName: 'Just Fits', padding: 'x'.repeat(1024 * 1024 - base.length - 16) });
    assert.ok(fits.length < 1024 * 1024);
    const ok = await patch(fits, 'application/json', id);
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
    assert.equal(await displayNameOf(id), 'Just Fits');
  });

  test('a DELETE sent with Content-Type: application/json and no body is a plain DELETE (204)', async () => {
    const id = await newUser('DeleteWithHeader');
    const r = await s.call('DELETE', userPath(id), { token, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assertContextHeaders(r);
  });
});

describe('context headers', () => {
  test('every answer echoes MS-RequestId and MS-CorrelationId and carries MS-CV and MS-ServerId', async () => {
    const other = DEMO_IDS.contoso.customerId;
    const cases: { name: string; status: number; run: (h: Record<string, string>) => Promise<CallResult> }[] = [
      { name: 'GET user', status: 200, run: (h) => s.call('GET', userPath(F.users.ordinary), { token, headers: h }) },
      { name: 'GET list', status: 200, run: (h) => s.call('GET', usersPath, { token, headers: h }) },
      { name: 'healthz', status: 200, run: (h) => s.call('GET', '/healthz', { headers: h }) },
      { name: 'PATCH', status: 200, run: (h) => s.call('PATCH', userPath(F.users.tomas), { token, headers: h, body: { usageLocation: 'ES' } }) },
      { name: '400 bad JSON', status: 400, run: (h) => s.call('PATCH', userPath(F.users.tomas), { token, headers: { ...h, 'content-type': 'application/json' }, rawBody: '{' }) },
      { name: '400 property', status: 400, run: (h) => s.call('PATCH', userPath(F.users.tomas), { token, headers: h, body: { usageLocation: 'XX' } }) },
      { name: '401 no token', status: 401, run: (h) => s.call('GET', usersPath, { headers: h }) },
      { name: '401 bad token', status: 401, run: (h) => s.call('GET', usersPath, { token: 'not.a.token', headers: h }) },
      { name: '404 route', status: 404, run: (h) => s.call('GET', '/nope', { headers: h }) },
      { name: '404 user', status: 404, run: (h) => s.call('GET', userPath(randomUUID()), { token, headers: h }) },
      { name: '403 customer', status: 403, run: (h) => s.call('GET', `/v1/customers/${randomUUID()}/users`, { token, headers: h }) },
      { name: '405', status: 405, run: (h) => s.call('PUT', userPath(F.users.tomas), { token, headers: h, body: {} }) },
      { name: '415', status: 415, run: (h) => s.call('PATCH', userPath(F.users.tomas), { token, headers: { ...h, 'content-type': 'text/plain' }, rawBody: '{}' }) },
      { name: '413', status: 413, run: (h) => s.call('PATCH', userPath(F.users.tomas), { token, headers: { ...h, 'content-type': 'application/json' }, rawBody: 'x'.repeat(1024 * 1024 + 1) }) },
      { name: 'other customer list', status: 200, run: (h) => s.call('GET', `/v1/customers/${other}/users`, { token, headers: h }) },
    ];
    for (const c of cases) {
      const sent = { requestId: randomUUID(), correlationId: randomUUID() };
      const r = await c.run({ 'MS-RequestId': sent.requestId, 'MS-CorrelationId': sent.correlationId });
      assert.equal(r.status, c.status, `${c.name}: ${r.text.slice(0, 200)}`);
      assertContextHeaders(r, sent);
      assert.equal(r.headers.get('content-type'), JSON_UTF8, c.name);
      if (c.status >= 400) assertFault(r, c.status, (JSON.parse(r.text) as { code: number }).code);

      // absent ids are generated, and a fresh pair for each request
      const bare = await c.run({});
      assert.equal(bare.status, c.status, `${c.name} (no ids): ${bare.text.slice(0, 200)}`);
      assertContextHeaders(bare);
      // empty ids count as absent
      const empty = await c.run({ 'MS-RequestId': '', 'MS-CorrelationId': '' });
      assert.equal(empty.status, c.status, `${c.name} (empty ids)`);
      assertContextHeaders(empty);
      assert.notEqual(empty.headers.get('ms-requestid'), bare.headers.get('ms-requestid'));
      assert.notEqual(empty.headers.get('ms-correlationid'), bare.headers.get('ms-correlationid'));
    }
  });

  test('a 401 carries WWW-Authenticate, with error="invalid_token" only when a token was sent', async () => {
    const none = await s.call('GET', usersPath);
    assertFault(none, 401, 800001);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="urn:cpsvc:cpid:[^"]+"$/);
    const bad = await s.call('GET', usersPath, { token: 'not.a.token' });
    assertFault(bad, 401, 400);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="urn:cpsvc:cpid:[^"]+", error="invalid_token"$/);
  });

  test('MS-CV extends the caller\'s vector', async () => {
    const r = await s.call('GET', '/healthz', { headers: { 'MS-CV': 'xqqtn+OEVE2ridoS.1' } });
    assert.equal(r.headers.get('ms-cv'), 'xqqtn+OEVE2ridoS.1.0');
  });

  test('the same correlation id across calls with a new request id each time is echoed each time', async () => {
    const correlationId = randomUUID();
    for (let i = 0; i < 3; i++) {
      const requestId = randomUUID();
      const r = await s.call('GET', userPath(F.users.ordinary), { token, headers: { 'MS-RequestId': requestId, 'MS-CorrelationId': correlationId } });
      assertContextHeaders(r, { requestId, correlationId });
    }
  });

  test('any 1–128 visible ASCII characters are a valid MS-RequestId', async () => {
    for (const requestId of ['x', 'a'.repeat(128), '{3F2504E0-4F89-11D3-9A0C-0305E82C3301}', '!#$%&\'*+-.^_`|~:/?@[]']) {
      const r = await s.call('GET', userPath(F.users.ordinary), { token, headers: { 'MS-RequestId': requestId } });
      assert.equal(r.status, 200, `${requestId}: ${r.text}`);
      assertContextHeaders(r, { requestId });
    }
  });

  test('an MS-RequestId over 128 characters, or with a space, answers 400 800002 with a generated id', async () => {
    for (const requestId of ['a'.repeat(129), 'two words', `${'b'.repeat(64)} ${'c'.repeat(10)}`]) {
      for (const [method, body] of [['GET', undefined], ['PATCH', { displayName: 'Never Applied' }]] as const) {
        const r = await s.call(method, userPath(F.users.ordinary), { token, headers: { 'MS-RequestId': requestId }, ...(body ? { body } : {}) });
        const fault = assertFault(r, 400, 800002);
        assert.match(fault.description, /MS-RequestId/);
        assertContextHeaders(r);
      }
    }
    assert.notEqual(await displayNameOf(F.users.ordinary), 'Never Applied');
  });

  test('an MS-RequestId with a tab or a non-ASCII character answers 400 800002', async () => {
    const path = userPath(F.users.ordinary);
    const tab = await rawHttp(s.baseUrl, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nMS-RequestId: a\tb\r\nConnection: close\r\n\r\n`);
    assertFault(asCall(tab), 400, 800002);
    assertContextHeaders(asCall(tab));
    // é sent as one latin-1 byte, as an HTTP client would
    const accented = await new Promise<RawResponse>((resolve, reject) => {
      const u = new URL(s.baseUrl);
      const req = httpRequest({ host: u.hostname, port: u.port, path, headers: { authorization: `Bearer ${token}`, 'MS-RequestId': 'caf\u00e9' } }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Map(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), body }));
      });
      req.on('error', reject);
      req.end();
    });
    assertFault(asCall(accented), 400, 800002);
    assertContextHeaders(asCall(accented));
  });

  test('a control character in a header still gets a Partner Center error with the context headers', async () => {
    const r = await rawHttp(s.baseUrl, `GET /healthz HTTP/1.1\r\nHost: x\r\nMS-RequestId: a\x01b\r\nConnection: close\r\n\r\n`);
    assertFault(asCall(r), 400, 800002);
    assertContextHeaders(asCall(r));
  });

  test('an invalid MS-CorrelationId is replaced by a generated one', async () => {
    const r = await s.call('GET', '/healthz', { headers: { 'MS-CorrelationId': 'c'.repeat(200) } });
    assertContextHeaders(r);
  });
});

describe('unexpected errors', () => {
  /** Nothing that would tell a client about the implementation. */
  function assertNoInternals(text: string): void {
    for (const leak of [/\bat \S+ \(/, /node_modules/, /\/work\//, /\.[jt]s\b/, /sqlite/i, /select /i, /kysely/i, /TypeError|SyntaxError|stack/i, /driver/i]) {
      assert.doesNotMatch(text, leak);
    }
  }

  test('an internal error reading stored data answers 500 800003, not a client error', async () => {
    // An audit record whose stored customized data is not JSON: reading it throws a SyntaxError inside the service.
    // It is written by the service's own store, then spoilt beside it, which no client can do.
    const at = Date.now() - 2 * 86_400_000; // two days ago: no other record of the suite is that old
    const customer = await s.store.getCustomer(F.customerId);
    assert.ok(customer);
    const record = auditRow(demoAgentActor(), customer, {
      operationType: 'update_customer_user', resourceType: 'customer_user', resourceId: F.users.aiko, oldValue: null, newValue: null, customizedData: [],
    }, at);
    await s.store.insertAudit(record);
    if (s.databaseUrl === undefined) {
      const db = new BetterSqlite3(`${s.dataDir}/partnerkit.sqlite`);
      try {
        db.prepare("update audit_records set customized_data = '{not json' where id = ?").run(record.id);
      } finally {
        db.close();
      }
    } else {
      const db = new pg.Client({ connectionString: s.databaseUrl });
      await db.connect();
      try {
        await db.query("update audit_records set customized_data = '{not json' where id = $1", [record.id]);
      } finally {
        await db.end();
      }
    }
    const requestId = randomUUID();
    const window = new URLSearchParams({ startDate: new Date(at - 1000).toISOString(), endDate: new Date(at + 1000).toISOString() });
    const r = await s.call('GET', `/v1/auditrecords?${window.toString()}`, { token, headers: { 'MS-RequestId': requestId } });
    const fault = assertFault(r, 500, 800003);
    assert.deepEqual(fault.data, []);
    assertNoInternals(r.text);
    assertContextHeaders(r, { requestId });
  });

  test('with the store gone, API calls answer 500 800003 with a generic description and /healthz answers 503', async () => {
    const t = await startTestService();
    try {
      const tk = await t.userToken();
      await t.store.close();
      const sent = { requestId: randomUUID(), correlationId: randomUUID() };
      const headers = { 'MS-RequestId': sent.requestId, 'MS-CorrelationId': sent.correlationId };
      for (const r of [
        await t.call('GET', userPath(F.users.ordinary), { token: tk, headers }),
        await t.call('GET', usersPath, { token: tk, headers }),
        await t.call('PATCH', userPath(F.users.ordinary), { token: tk, headers, body: { displayName: 'x' } }),
        await t.call('POST', usersPath, { token: tk, headers: { ...headers, 'MS-RequestId': randomUUID() }, body: { displayName: 'x' } }),
      ]) {
        const fault = assertFault(r, 500, 800003);
        assert.equal(fault.description, 'Unexpected service error.');
        assert.deepEqual(fault.data, []);
        assertNoInternals(r.text);
        assert.equal(r.headers.get('ms-correlationid'), sent.correlationId);
      }
      const health = await t.call('GET', '/healthz');
      assert.equal(health.status, 503);
      assertNoInternals(health.text);
      assertContextHeaders(health);
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});
