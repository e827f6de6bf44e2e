/** PartnerError: categories, every body shape Partner Center and its gateways answer with, redaction. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { categoryOf } from './errors.js';
import { PartnerClient, PartnerError, type PartnerErrorCategory } from './index.js';
import { CID, StaticCredential, UID, fakeFetch, json, text, type Responder } from './testing/fake.js';

async function failWith(responder: Responder): Promise<PartnerError> {
  const partner = new PartnerClient({ credential: new StaticCredential(), fetch: fakeFetch(responder), retry: { maxRetries: 0 } });
  const e = await partner.customers.byId(CID).users.byId(UID).resetPassword({ password: 'N3w-Passw0rd!', forceChangePassword: true }).catch((x: unknown) => x);
  assert.ok(PartnerError.is(e), String(e));
  return e;
}

test('categories follow Partner Center SDK mapping of HTTP statuses', () => {
  const expected: [number, PartnerErrorCategory][] = [
    [400, 'BadInput'], [401, 'Unauthorized'], [403, 'Forbidden'], [404, 'NotFound'], [405, 'InvalidOperation'],
    [406, 'UnsupportedDataFormat'], [408, 'RequestTimeout'], [409, 'AlreadyExists'], [413, 'BadInput'],
    [415, 'UnsupportedDataFormat'], [429, 'TooManyRequests'], [500, 'ServerError'], [502, 'ServerError'],
    [503, 'ServerBusy'], [504, 'GatewayTimeout'], [418, 'ServerError'],
  ];
  for (const [status, category] of expected) assert.equal(categoryOf(status), category, String(status));
});

test('ApiFault bodies: numeric code, string code, PascalCase properties, data of objects', async () => {
  const a = await failWith(() =>
    json(404, { code: 60002, description: 'User object ID is not found', data: [], source: 'PartnerFD' }, { 'ms-requestid': 'req-1', 'ms-correlationid': 'corr-1' }),
  );
  assert.equal(a.status, 404);
  assert.equal(a.category, 'NotFound');
  assert.equal(a.code, 60002);
  assert.equal(a.description, 'User object ID is not found');
  assert.deepEqual(a.data, []);
  assert.equal(a.source, 'PartnerFD');
  assert.equal(a.requestId, 'req-1');
  assert.equal(a.correlationId, 'corr-1');
  assert.equal(a.body, undefined);
  assert.equal(a.message, 'NotFound (404, code 60002): User object ID is not found [MS-RequestId req-1, MS-CorrelationId corr-1]');
  assert.ok(a instanceof PartnerError && a instanceof Error);

  const b = await failWith(() => json(400, { Code: '3000', Description: 'Invalid property', Data: [{ property: 'usageLocation', rule: 'country' }], Source: 'PartnerFD' }));
  assert.equal(b.code, '3000');
  assert.equal(b.category, 'BadInput');
  assert.deepEqual(b.data, [{ property: 'usageLocation', rule: 'country' }]);
  assert.equal(b.source, 'PartnerFD');
});

test('ids come from the request when the answer lacks them', async () => {
  const e = await failWith(() => new Response('', { status: 500, statusText: 'Internal Server Error' }));
  assert.match(e.requestId ?? '', /^[0-9a-f-]{36}$/);
  assert.match(e.correlationId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(e.description, 'Internal Server Error');
  assert.equal(e.category, 'ServerError');
  assert.equal(e.body, undefined);
});

test('text bodies (401/403 pages): the text is the description, a trailing (code) is the code', async () => {
  const e = await failWith(() => text(401, 'Authentication failed. MFA required. (10001)', { 'www-authenticate': 'OAuth realm=urn:cpsvc:cpid:x' }));
  assert.equal(e.category, 'Unauthorized');
  assert.equal(e.description, 'Authentication failed. MFA required. (10001)');
  assert.equal(e.code, 10001);
  assert.equal(e.body, 'Authentication failed. MFA required. (10001)');
  assert.equal(e.responseHeaders['www-authenticate'], 'OAuth realm=urn:cpsvc:cpid:x');
  const f = await failWith(() => text(403, 'The supplied role does not have the rights to perform the requested operation.'));
  assert.equal(f.category, 'Forbidden');
  assert.equal(f.code, undefined);
  assert.equal(f.description, 'The supplied role does not have the rights to perform the requested operation.');
});

test('HTML bodies: the reason phrase is the description, the page is kept in body', async () => {
  const html = '<!DOCTYPE html><html><body><h1>403 - Forbidden: Access is denied.</h1></body></html>';
  const e = await failWith(() => new Response(html, { status: 403, statusText: 'Forbidden', headers: { 'content-type': 'text/html' } }));
  assert.equal(e.description, 'Forbidden');
  assert.equal(e.body, html);
  assert.equal(e.code, undefined);
});

test('gateway 429 bodies: message as description, raw body kept, retryAfterMs from the header', async () => {
  const e = await failWith(() => json(429, { statusCode: 429, message: 'Rate limit is exceeded. Try again in 12 seconds.' }, { 'retry-after': '12' }));
  assert.equal(e.category, 'TooManyRequests');
  assert.equal(e.retryAfterMs, 12_000);
  assert.equal(e.description, 'Rate limit is exceeded. Try again in 12 seconds.');
  assert.equal(e.body, '{"statusCode":429,"message":"Rate limit is exceeded. Try again in 12 seconds."}');
  const noHeader = await failWith(() => json(429, { statusCode: 429, message: 'Rate limit is exceeded. Try again in 3 seconds.' }));
  assert.equal(noHeader.retryAfterMs, 3000);
});

test('PartnerError.is recognises errors by shape (another copy of the package), not other errors', () => {
  const foreign = Object.assign(new Error('x'), { name: 'PartnerError', status: 404, category: 'NotFound' });
  assert.equal(PartnerError.is(foreign), true);
  assert.equal(PartnerError.is(new Error('x')), false);
  assert.equal(PartnerError.is({ name: 'PartnerError', status: 1, category: 'x' }), false);
  assert.equal(PartnerError.is(undefined), false);
});

test('nothing secret reaches an error: token, password, secrets in bodies and URLs', async () => {
  const e = await failWith(() =>
    json(400, {
      code: 3000,
      description: 'Invalid property',
      data: [{ passwordProfile: { password: 'N3w-Passw0rd!' }, client_secret: 'abc' }],
      source: 'PartnerFD',
    }),
  );
  const shown = `${inspect(e, { depth: 10 })}\n${JSON.stringify(e)}\n${e.message}\n${JSON.stringify(e.request)}\n${JSON.stringify(e.data)}`;
  assert.doesNotMatch(shown, /N3w-Passw0rd!|token-1|"abc"/);
  assert.equal(e.request?.headers.Authorization, 'REDACTED');
  assert.equal(e.request.method, 'PATCH');
  assert.equal(e.request.headers['MS-RequestId'], e.requestId);

  const echoed = await failWith(() => text(500, 'upstream said password=N3w-Passw0rd! and {"refresh_token":"0.AAA"} Bearer eyJhbGciOi.eyJzdWIiOi.sig'));
  assert.doesNotMatch(`${echoed.body ?? ''} ${echoed.description} ${echoed.message}`, /N3w-Passw0rd!|0\.AAA|eyJhbGciOi/);
  assert.match(echoed.body ?? '', /password=REDACTED/);
});
