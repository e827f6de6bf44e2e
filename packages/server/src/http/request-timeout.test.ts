/**
 * Slow clients (`--request-timeout`, app.ts; the answer: `clientErrorHandler`, http/errors.ts), over real HTTP on an
 * ephemeral port with raw sockets: a client that takes longer than the limit to send its request (headers trickled,
 * a body trickled or never sent) is answered 408 in Partner Center's shape and its connection closed; nothing it
 * sent is applied; a request answered before its body arrived gets no second answer; other clients are served
 * meanwhile; `0` turns the limit off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { defaultConfig } from '../config.js';
import { parseRaw, type RawAnswer } from '../security/kit.test.js';
import { assertFault, type CallResult, DEMO_IDS, startTestService, type TestService } from '../testing/harness.js';

const F = DEMO_IDS.fabrikam;
const userPath = `/v1/customers/${F.customerId}/users/${F.users.noah}`;
/** The limit of the service under test, in seconds. */
const LIMIT_S = 2;

interface SlowExchange {
  /** From the connection to its close by the server. */
  ms: number;
  /** How many of the chunks were written before the close. */
  sent: number;
  answer: RawAnswer;
}

/**
 * Opens a connection, writes `head`, then one of `chunks` every `everyMs`, and reads until the server closes the
 * connection; after `giveUpMs` the client closes it itself and the exchange fails (the server held it).
 */
function slowExchange(baseUrl: string, head: string, chunks: readonly string[], everyMs: number, giveUpMs = 15_000): Promise<SlowExchange> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const data: Buffer[] = [];
    let sent = 0;
    let ticker: NodeJS.Timeout | undefined;
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(head);
      ticker = setInterval(() => {
        const next = chunks[sent];
        if (next === undefined || socket.destroyed) return;
        socket.write(next);
        sent++;
      }, everyMs);
    });
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${String(giveUpMs)} ms (${String(sent)} of ${String(chunks.length)} chunks sent)`));
    }, giveUpMs);
    socket.on('data', (b: Buffer) => data.push(b));
    // Writing on as the server closes may end in a reset: a close like any other.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(ticker);
      clearTimeout(giveUp);
      resolve({ ms: Date.now() - started, sent, answer: parseRaw(Buffer.concat(data).toString('latin1')) });
    });
  });
}

/** A raw answer as a CallResult, for the shared assertions. */
const asCall = (a: RawAnswer): CallResult => ({ status: a.status, headers: new Headers([...a.headers]), text: a.text, json: JSON.parse(a.text) as unknown });

const patchHead = (body: string, requestId: string, token?: string, path = userPath): string =>
  `PATCH ${path} HTTP/1.1\r\nHost: pk.test\r\n${token === undefined ? '' : `Authorization: Bearer ${token}\r\n`}` +
  `Content-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\nMS-RequestId: ${requestId}\r\n\r\n`;

/** Cut at the limit: not before it, and within the limit plus Node's once-a-second check (and some slack). */
function assertCutAtLimit(x: SlowExchange, chunks: number, what: string): void {
  assert.ok(x.ms >= LIMIT_S * 1000 - 50, `${what}: closed after ${String(x.ms)} ms, before the ${String(LIMIT_S)} s limit`);
  assert.ok(x.ms < LIMIT_S * 1000 + 2500, `${what}: closed only after ${String(x.ms)} ms`);
  assert.ok(x.sent < chunks, `${what}: the client was still sending (${String(x.sent)} of ${String(chunks)})`);
}

/** 408 with Partner Center's body (800002), the context headers, and `Connection: close`; the only answer. */
function assertTimeoutAnswer(x: SlowExchange, what: string): void {
  assert.equal(x.answer.more.length, 0, `${what}: one answer`);
  assertFault(asCall(x.answer), 408, 800002);
  assert.equal(x.answer.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(x.answer.headers.get('connection'), 'close');
  for (const h of ['ms-requestid', 'ms-correlationid', 'ms-cv', 'x-content-type-options']) assert.ok(x.answer.headers.get(h), `${what}: ${h}`);
}

describe(`a client slower than --request-timeout (${String(LIMIT_S)} s)`, { concurrency: true }, () => {
  let s: TestService;
  let token: string;
  /** Log lines at level error or above: a slow client is not a failure of the service. */
  const errors: string[] = [];
  before(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (/"level":(?:[5-9]\d)/.test(line)) errors.push(line);
        done();
      },
    });
    s = await startTestService({ config: { requestTimeoutSeconds: LIMIT_S }, logger: { level: 'warn', stream } });
    token = await s.userToken();
  });
  after(() => s.close());

  const displayName = async (): Promise<string | undefined> => (await s.call<{ displayName?: string }>('GET', userPath, { token })).json.displayName;

  test('headers, then a body trickled a byte at a time: 408 and the connection closed; the change is not made and its MS-RequestId is free', async () => {
    const before = await displayName();
    const body = JSON.stringify({ displayName: 'Trickled Too Slowly' });
    const requestId = randomUUID();
    const x = await slowExchange(s.baseUrl, patchHead(body, requestId, token), [...body], 250);
    assertCutAtLimit(x, body.length, 'body trickle');
    assertTimeoutAnswer(x, 'body trickle');
    assert.equal(await displayName(), before, 'nothing of the cut request is applied');
    assert.deepEqual(errors, [], 'nothing logged at level error');
    // The id was never claimed for good: the same request sent at a normal pace is served.
    const again = await s.call<{ displayName?: string }>('PATCH', userPath, { token, body: JSON.parse(body), headers: { 'MS-RequestId': requestId } });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.displayName, 'Trickled Too Slowly');
  });

  test('headers trickled, never finished: 408 and the connection closed', async () => {
    const header = `X-Slow: ${'a'.repeat(40)}`;
    const x = await slowExchange(s.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: pk.test\r\n', [...header], 250);
    assertCutAtLimit(x, header.length, 'header trickle');
    assertTimeoutAnswer(x, 'header trickle');
  });

  test('headers announcing a body that never comes: 408 and the connection closed', async () => {
    const x = await slowExchange(s.baseUrl, patchHead('{"displayName":"Never Sent"}', randomUUID(), token), ['never sent'], 60_000);
    assertCutAtLimit(x, 1, 'no body');
    assertTimeoutAnswer(x, 'no body');
    assert.deepEqual(errors, [], 'nothing logged at level error');
  });

  test('a request answered before its body arrived (no token: 401) gets that one answer, no 408 after it, then the close', async () => {
    const body = JSON.stringify({ displayName: 'Unauthenticated Trickle' });
    const x = await slowExchange(s.baseUrl, patchHead(body, randomUUID()), [...body], 250);
    assertCutAtLimit(x, body.length, 'answered early');
    assertFault(asCall(x.answer), 401, 800001);
    assert.deepEqual(x.answer.more.map((a) => a.status), [], 'no second answer');
  });

  test('other clients are served while a slow one is held and cut; a body sent in pieces within the limit is served; an idle keep-alive connection is not cut', async () => {
    const body = JSON.stringify({ displayName: 'Slow But In Time' });
    const slow = slowExchange(s.baseUrl, patchHead('{"displayName":"Held"}', randomUUID(), token), ['{"display'], 60_000);
    const t0 = Date.now();
    const read = await s.call('GET', userPath, { token });
    assert.equal(read.status, 200);
    assert.ok(Date.now() - t0 < 1000, 'a read is not held behind the slow client');
    // Three pieces over about a second: within the limit.
    const pieces = [body.slice(0, 8), body.slice(8, 16), body.slice(16)];
    const inTime = await slowExchange(s.baseUrl, patchHead(body, randomUUID(), token, `/v1/customers/${F.customerId}/users/${F.users.grace}`).replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'), pieces, 350);
    assert.equal(inTime.sent, 3);
    assert.equal(inTime.answer.status, 200, inTime.answer.text);
    assert.equal((JSON.parse(inTime.answer.text) as { displayName?: string }).displayName, 'Slow But In Time');
    assertTimeoutAnswer(await slow, 'held');

    // Time between requests on a kept-alive connection is not request time.
    const u = new URL(s.baseUrl);
    const answers = await new Promise<RawAnswer>((resolve, reject) => {
      let data = '';
      const socket = connect(Number(u.port), u.hostname, () => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: pk.test\r\n\r\n');
        setTimeout(() => socket.write('GET /healthz HTTP/1.1\r\nHost: pk.test\r\nConnection: close\r\n\r\n'), LIMIT_S * 1000 + 1500);
      });
      socket.on('data', (b: Buffer) => (data += b.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(parseRaw(data)));
    });
    assert.deepEqual([answers.status, ...answers.more.map((a) => a.status)], [200, 200]);
  });
});

describe('--request-timeout 0, and the default', { concurrency: true }, () => {
  test('turns the limit off: a body trickled for longer than the default test limit is served', async () => {
    const s = await startTestService({ config: { requestTimeoutSeconds: 0 } });
    try {
      const token = await s.userToken();
      const body = JSON.stringify({ displayName: 'No Limit' });
      const pieces = body.match(/.{1,3}/g) ?? [];
      const x = await slowExchange(s.baseUrl, patchHead(body, randomUUID(), token).replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'), pieces, 400);
      assert.ok(x.ms > (LIMIT_S + 1) * 1000, `the body took ${String(x.ms)} ms`);
      assert.equal(x.answer.status, 200, x.answer.text);
      assert.equal(s.service.app.server.requestTimeout, 0);
    } finally {
      await s.close();
    }
  });

  test('the default is 30 s for the whole request, headers included', async () => {
    assert.equal(defaultConfig.requestTimeoutSeconds, 30);
    const s = await startTestService();
    try {
      assert.equal(s.service.app.server.requestTimeout, 30_000);
      assert.equal(s.service.app.server.headersTimeout, 30_000);
    } finally {
      await s.close();
    }
  });
});
