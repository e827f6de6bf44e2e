/** The request builders and their twins (no I/O), request bodies, and paging by links.next. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as contract from '@partnerkit/contract';
import { PartnerClient, SDK_VERSION, DefaultAuthority, DefaultBaseUrl, type CustomerUser, type Page } from './index.js';
import { CID, StaticCredential, UID, fakeFetch, json, userJson, type FakeFetch } from './testing/fake.js';

function offline(baseUrl?: string): { partner: PartnerClient; f: FakeFetch; credential: StaticCredential } {
  const f = fakeFetch(() => json(200, userJson()));
  const credential = new StaticCredential();
  const partner = new PartnerClient({ credential, fetch: f, ...(baseUrl === undefined ? {} : { baseUrl }) });
  return { partner, f, credential };
}

test('builders are path objects: navigating and building requests does no I/O and needs no token', () => {
  const { partner, f, credential } = offline();
  const users = partner.customers.byId(CID).users;
  const u = users.byId(UID);
  const requests = [
    partner.customers.byId(CID).toGetRequest(),
    partner.customers.toListRequest({ pageSize: 50 }),
    u.toGetRequest(),
    u.toPatchRequest({ usageLocation: 'US' }),
    u.toDeleteRequest(),
    u.toRestoreRequest(),
    u.toResetPasswordRequest({ password: 'N3w-Passw0rd!', forceChangePassword: true }),
    u.toListDirectoryRolesRequest(),
    users.toCreateRequest({ userPrincipalName: 'a@b.example', displayName: 'A', passwordProfile: { password: 'N3w-Passw0rd!' } }),
    users.toListRequest({ pageSize: 25, sortField: 'DisplayName', sortDirection: 'Descending' }),
    users.toListDeletedRequest(),
    partner.auditRecords.toListRequest({ startDate: '2026-01-01', endDate: new Date(Date.UTC(2026, 0, 31)) }),
  ];
  assert.equal(f.calls.length, 0);
  assert.equal(credential.calls.length, 0);
  const base = `https://api.partnercenter.microsoft.com/v1/customers/${CID}`;
  assert.deepEqual(
    requests.map((r) => `${r.method} ${r.url}`),
    [
      `GET ${base}`,
      'GET https://api.partnercenter.microsoft.com/v1/customers?size=50',
      `GET ${base}/users/${UID}`,
      `PATCH ${base}/users/${UID}`,
      `DELETE ${base}/users/${UID}`,
      `PATCH ${base}/users/${UID}`,
      `PATCH ${base}/users/${UID}`,
      `GET ${base}/users/${UID}/directoryroles`,
      `POST ${base}/users`,
      `GET ${base}/users?sortField=DisplayName&sortDirection=Descending&size=25`,
      `GET ${base}/users?filter=%7B%22Field%22%3A%22UserState%22%2C%22Value%22%3A%22Inactive%22%2C%22Operator%22%3A%22equals%22%7D`,
      'GET https://api.partnercenter.microsoft.com/v1/auditrecords?startDate=2026-01-01&endDate=2026-01-31',
    ],
  );
  assert.deepEqual(requests.map((r) => r.body), [
    undefined, undefined, undefined, '{"usageLocation":"US"}', undefined, '{"state":"active"}',
    '{"passwordProfile":{"password":"N3w-Passw0rd!","forceChangePassword":true}}', undefined,
    '{"userPrincipalName":"a@b.example","displayName":"A","passwordProfile":{"password":"N3w-Passw0rd!"}}', undefined, undefined, undefined,
  ]);
  for (const r of requests) {
    assert.equal(r.headers.Authorization, undefined);
    assert.match(r.headers['MS-RequestId'] ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(r.headers['MS-CorrelationId'], partner.correlationId);
    assert.equal(r.headers['X-Locale'], 'en-US');
    assert.equal(r.headers['Content-Type'], r.body === undefined ? undefined : 'application/json');
  }
  // plain data: printable for a dry run
  assert.deepEqual(JSON.parse(JSON.stringify(requests[3])), requests[3]);
});

test('a twin-built request sent later keeps its MS-RequestId (approve a dry run, then send it)', async () => {
  const { partner, f } = offline();
  const request = partner.customers.byId(CID).users.byId(UID).toPatchRequest({ usageLocation: 'US' }, { requestId: 'dry-run-7' });
  const user = await partner.send<CustomerUser>(request);
  assert.equal(user.id, UID);
  assert.equal(f.calls[0]?.headers['ms-requestid'], 'dry-run-7');
  assert.equal(f.calls[0].body, '{"usageLocation":"US"}');
});

test('bodies are camelCase and carry only the writable properties the caller set', () => {
  const { partner } = offline();
  const u = partner.customers.byId(CID).users.byId(UID);
  // as a JavaScript caller might pass it
  const sparse = { usageLocation: 'US', firstName: undefined, lastName: '' } as unknown as Parameters<typeof u.toPatchRequest>[0];
  assert.equal(u.toPatchRequest(sparse).body, '{"usageLocation":"US","lastName":""}');
  // a whole GET result sent back (as PowerShell does): read-only properties are dropped
  const fetched = userJson() as unknown as Parameters<typeof u.toPatchRequest>[0];
  assert.deepEqual(JSON.parse(u.toPatchRequest(fetched).body ?? ''), {
    usageLocation: 'US', userPrincipalName: 'mila.berg@fabrikamtraders.onmicrosoft.com', firstName: 'Mila', lastName: 'Berg', displayName: 'Mila Berg', state: 'active',
  });
  assert.equal(u.toPatchRequest({ passwordProfile: { forceChangePassword: true } }).body, '{"passwordProfile":{"forceChangePassword":true}}');
  assert.equal(u.toResetPasswordRequest({ password: 'x' }).body, '{"passwordProfile":{"password":"x"}}');
  const create = partner.customers.byId(CID).users.toCreateRequest({
    userPrincipalName: 'a@b.example', displayName: 'A', passwordProfile: { password: 'p', forceChangePassword: false }, state: 'active', usageLocation: 'GB',
  });
  assert.deepEqual(JSON.parse(create.body ?? ''), { usageLocation: 'GB', userPrincipalName: 'a@b.example', displayName: 'A', passwordProfile: { password: 'p', forceChangePassword: false } });
});

test('URLs: /v1 added once, base URL paths kept, ids encoded, bad ids refused', () => {
  const cases: [string, string][] = [
    ['https://api.partnercenter.microsoft.com/', 'https://api.partnercenter.microsoft.com/v1/customers/c'],
    ['https://api.partnercenter.microsoft.com/v1', 'https://api.partnercenter.microsoft.com/v1/customers/c'],
    ['https://api.partnercenter.microsoft.com/v1/', 'https://api.partnercenter.microsoft.com/v1/customers/c'],
    ['https://gateway.example/partnercenter/', 'https://gateway.example/partnercenter/v1/customers/c'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/v1/customers/c'],
  ];
  for (const [base, url] of cases) assert.equal(offline(base).partner.customers.byId('c').toGetRequest().url, url, base);
  const { partner } = offline();
  assert.equal(partner.customers.byId('a/b?c').users.byId('d e').toGetRequest().url, 'https://api.partnercenter.microsoft.com/v1/customers/a%2Fb%3Fc/users/d%20e');
  assert.throws(() => partner.customers.byId(''), TypeError);
  assert.throws(() => partner.customers.byId(CID).users.byId(' '), TypeError);
  assert.equal(partner.buildRequest('get', '/v1/customers/x/subscribedskus', { query: { licenseGroupIds: 'Group1' } }).url, 'https://api.partnercenter.microsoft.com/v1/customers/x/subscribedskus?licenseGroupIds=Group1');
  assert.equal(partner.buildRequest('GET', 'customers').url, 'https://api.partnercenter.microsoft.com/v1/customers');
  assert.throws(() => partner.customers.byId(CID).users.toListRequest({ pageSize: 0 }), RangeError);
});

test('audit dates: strings as given, midnight UTC as a date, other times as ISO 8601', () => {
  const { partner } = offline();
  const at = (d: Date | string): string => new URL(partner.auditRecords.toListRequest({ startDate: d }).url).searchParams.get('startDate') ?? '';
  assert.equal(at('06/01/2017 00:00:00'), '06/01/2017 00:00:00');
  assert.equal(at(new Date(Date.UTC(2026, 2, 5))), '2026-03-05');
  assert.equal(at(new Date(Date.UTC(2026, 2, 5, 14, 30))), '2026-03-05T14:30:00.000Z');
  const filtered = partner.auditRecords.toListRequest({ startDate: '2026-03-01', filter: { field: 'ResourceType', value: 'customer_user', operator: 'equals' } });
  assert.equal(new URL(filtered.url).searchParams.get('filter'), '{"Field":"ResourceType","Value":"customer_user","Operator":"equals"}');
});

const page = (ids: string[], next?: { uri: string; token?: string; method?: string }): Page<Record<string, unknown>> => {
  const p: Page<Record<string, unknown>> = { totalCount: ids.length, items: ids.map((id) => userJson({ id })), attributes: { objectType: 'Collection' } };
  p.links = { self: { uri: `/customers/${CID}/users`, method: 'GET', headers: [] } };
  if (next) {
    p.links.next = { uri: next.uri, method: next.method ?? 'GET', headers: next.token ? [{ key: 'MS-ContinuationToken', value: next.token }] : [] };
    if (next.token) p.continuationToken = next.token;
  }
  return p;
};

test('paging follows links.next exactly as served: without /v1, with /v1, absolute; copying its headers', async () => {
  const f = fakeFetch(
    () => json(200, page(['1', '2'], { uri: `/customers/${CID}/users?size=2&seekOperation=Next`, token: 't1' })),
    () => json(200, page(['3', '4'], { uri: `/v1/customers/${CID}/users?size=2&seekOperation=Next`, token: 't2' })),
    () => json(200, page(['5'], { uri: `https://api.partnercenter.microsoft.com/v1/customers/${CID}/users?size=2&seekOperation=Next`, token: 't3' })),
    () => json(200, page([])),
  );
  const partner = new PartnerClient({ credential: new StaticCredential(), fetch: f });
  const ids: string[] = [];
  for await (const u of partner.customers.byId(CID).users.list({ pageSize: 2 })) ids.push(u.id);
  assert.deepEqual(ids, ['1', '2', '3', '4', '5']);
  const next = `https://api.partnercenter.microsoft.com/v1/customers/${CID}/users?size=2&seekOperation=Next`;
  assert.deepEqual(f.calls.map((c) => c.url), [`https://api.partnercenter.microsoft.com/v1/customers/${CID}/users?size=2`, next, next, next]);
  assert.deepEqual(f.calls.map((c) => c.headers['ms-continuationtoken']), [undefined, 't1', 't2', 't3']);
  assert.equal(new Set(f.calls.map((c) => c.headers['ms-requestid'])).size, 4, 'each page is its own call');
  assert.ok(f.calls.every((c) => c.headers['ms-correlationid'] === partner.correlationId));
});

test('paging: a link without method or headers is a plain GET', async () => {
  const f = fakeFetch(() => json(200, { ...page(['1']), links: { next: { uri: '/customers?seekOperation=Next&continuationToken=abc' } } }), () => json(200, page(['2'])));
  const partner = new PartnerClient({ credential: new StaticCredential(), fetch: f });
  const ids: string[] = [];
  for await (const c of partner.customers.list()) ids.push(c.id);
  assert.deepEqual(ids, ['1', '2']);
  assert.equal(f.calls[1]?.method, 'GET');
  assert.equal(f.calls[1].url, 'https://api.partnercenter.microsoft.com/v1/customers?seekOperation=Next&continuationToken=abc');
});

test('paging: byPage yields the envelopes, maxPageSize sets size, continuationToken resumes', async () => {
  const f = fakeFetch(() => json(200, page(['1', '2'], { uri: `/customers/${CID}/users?size=2&seekOperation=Next`, token: 't1' })), () => json(200, page(['3'])));
  const partner = new PartnerClient({ credential: new StaticCredential(), fetch: f });
  const users = partner.customers.byId(CID).users;
  const pages: Page<CustomerUser>[] = [];
  for await (const p of users.list({ pageSize: 7 }).byPage({ maxPageSize: 2 })) pages.push(p);
  assert.deepEqual(pages.map((p) => p.totalCount), [2, 1]);
  assert.equal(pages[0]?.continuationToken, 't1');
  assert.equal(f.calls[0]?.url, `https://api.partnercenter.microsoft.com/v1/customers/${CID}/users?size=2`);

  const g = fakeFetch(() => json(200, page(['9'])));
  const resumed = new PartnerClient({ credential: new StaticCredential(), fetch: g }).customers.byId(CID).users;
  for await (const p of resumed.list({ sortField: 'UserPrincipalName' }).byPage({ continuationToken: 'saved', maxPageSize: 100 })) assert.equal(p.items.length, 1);
  assert.equal(g.calls[0]?.url, `https://api.partnercenter.microsoft.com/v1/customers/${CID}/users?sortField=UserPrincipalName&size=100&seekOperation=Next`);
  assert.equal(g.calls[0].headers['ms-continuationtoken'], 'saved');
});

test('paging: nothing is fetched until iteration; breaking out stops fetching', async () => {
  const f = fakeFetch(() => json(200, page(['1', '2'], { uri: `/customers/${CID}/users?seekOperation=Next`, token: 't' })), () => json(200, page(['3'])));
  const partner = new PartnerClient({ credential: new StaticCredential(), fetch: f });
  const listing = partner.customers.byId(CID).users.list();
  assert.equal(f.calls.length, 0);
  for await (const u of listing) {
    assert.equal(u.id, '1');
    break;
  }
  assert.equal(f.calls.length, 1);
});

test('paging refuses links to another origin and links that do not advance', async () => {
  const evil = fakeFetch(() => json(200, page(['1'], { uri: 'https://evil.example/v1/customers?seekOperation=Next', token: 't' })));
  const p1 = new PartnerClient({ credential: new StaticCredential(), fetch: evil });
  await assert.rejects(async () => {
    for await (const c of p1.customers.list()) assert.ok(c);
  }, /another origin/);
  assert.equal(evil.calls.length, 1);
  const loop = fakeFetch(() => json(200, page(['1'], { uri: '/customers?seekOperation=Next', token: 'same' })));
  const p2 = new PartnerClient({ credential: new StaticCredential(), fetch: loop });
  await assert.rejects(async () => {
    for await (const c of p2.customers.list()) assert.ok(c);
  }, /does not advance/);
  assert.equal(loop.calls.length, 2);
});

test('version and well-known values match package.json and the contract', () => {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const pkg = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
  assert.equal(SDK_VERSION, pkg.version);
  assert.equal(DefaultBaseUrl, contract.DefaultBaseUrl);
  assert.equal(DefaultAuthority, contract.DefaultAuthority);
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), ['@partnerkit/contract'], 'types only: no runtime dependency but the contract');
});

test('the shipped JavaScript runs in browsers: no Node built-ins, no runtime import of the contract', () => {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'testing') walk(join(d, e.name));
      else if (e.name.endsWith('.js') && !e.name.endsWith('.test.js')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  assert.ok(files.length >= 10);
  for (const file of files) {
    const src = readFileSync(file, 'utf8');
    assert.doesNotMatch(src, /from ['"]node:|require\(|\bprocess\.|\bBuffer\b/, file);
    assert.doesNotMatch(src, /from ['"]@partnerkit\//, file);
  }
});
