/**
 * The SDK against the real service on an ephemeral port (not a mock): every verb, the seed PATCH, audit
 * records, app-only calls, idempotent request ids, and each error category the service answers with.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEMO, DEMO_IDS, startTestService, type TestService } from '@partnerkit/server/testing';
import { AuthenticationError, PartnerClient, PartnerError, type CustomerUser, type PartnerErrorCategory } from './index.js';
import { agentCredential, appCredential, clientFor, hexId, newPassword, recordingFetch } from './testing/service.js';

let svc: TestService;
let partner: PartnerClient;
const F = DEMO_IDS.fabrikam;

before(async () => {
  svc = await startTestService();
  partner = clientFor(svc);
});
after(async () => {
  await svc.close();
});

async function failure(p: Promise<unknown>): Promise<PartnerError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(PartnerError.is(e), `expected a PartnerError, got ${String(e)}`);
  return e;
}

function expectError(e: PartnerError, status: number, category: PartnerErrorCategory, code: number | undefined): void {
  assert.equal(e.status, status, e.message);
  assert.equal(e.category, category, e.message);
  assert.equal(e.code, code, e.message);
  assert.equal(e.source, code === undefined ? undefined : 'PartnerFD');
  assert.match(e.requestId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(e.correlationId, partner.correlationId);
}

test('customers: get by id (companyProfile.domain) and list across pages (links with /v1)', async () => {
  const customer = await partner.customers.byId(F.customerId).get();
  assert.equal(customer.id, F.customerId);
  assert.equal(customer.companyProfile.domain, 'fabrikamtraders.onmicrosoft.com');
  assert.equal(customer.companyProfile.companyName, 'Fabrikam Traders');
  assert.ok(customer.customDomains?.includes('fabrikam.example'));
  let pages = 0;
  const names: string[] = [];
  for await (const page of partner.customers.list().byPage({ maxPageSize: 1 })) {
    pages++;
    names.push(...page.items.map((c) => c.companyProfile.companyName));
  }
  assert.deepEqual(names.sort(), ['Contoso Outfitters', 'Fabrikam Traders']);
  assert.ok(pages >= 2);
});

test('the seed PATCH: only usageLocation is sent; the user comes back whole', async () => {
  const f = recordingFetch();
  let body: string | undefined;
  const p = clientFor(svc, {
    fetch: f,
    additionalPolicies: [{ position: 'perRetry', policy: { name: 'spy', sendRequest: (r, next) => ((body = r.body), next(r)) } }],
  });
  const before = await p.customers.byId(F.customerId).users.byId(F.users.ordinary).get();
  assert.equal(before.usageLocation, undefined);
  const user = await p.customers.byId(F.customerId).users.byId(F.users.ordinary).patch({ usageLocation: 'US' });
  assert.equal(body, '{"usageLocation":"US"}');
  assert.equal(user.usageLocation, 'US');
  assert.equal(user.id, F.users.ordinary);
  assert.equal(user.displayName, before.displayName);
  assert.equal(user.userPrincipalName, before.userPrincipalName);
  assert.equal(user.attributes.objectType, 'CustomerUser');
  assert.deepEqual(f.attempts.map((a) => `${a.method} ${String(a.status)}`), ['GET 200', 'PATCH 200']);
});

test('every user verb: create, get, patch, resetPassword, delete, listDeleted, restore, list, directory roles', async () => {
  const users = partner.customers.byId(F.customerId).users;
  const upn = `${hexId()}@fabrikamtraders.onmicrosoft.com`;
  const created = await users.create({
    userPrincipalName: upn,
    displayName: 'Test Display Name',
    firstName: 'Test',
    lastName: 'User',
    usageLocation: 'GB',
    passwordProfile: { password: newPassword(), forceChangePassword: true },
  });
  assert.equal(created.userPrincipalName, upn);
  assert.equal(created.state, 'active');
  assert.equal(created.usageLocation, 'GB');
  const user = users.byId(created.id);
  assert.deepEqual(await user.get(), created);

  const patched = await user.patch({ firstName: 'Roger', lastName: 'Federer', displayName: 'Roger Federer' });
  assert.equal(patched.displayName, 'Roger Federer');
  assert.equal(patched.usageLocation, 'GB', 'untouched');

  const reset = await user.resetPassword({ password: newPassword(), forceChangePassword: false });
  assert.equal(reset.id, created.id);
  assert.equal((reset as CustomerUser & { passwordProfile?: unknown }).passwordProfile, undefined);

  assert.equal(await user.delete(), undefined);
  expectError(await failure(user.get()), 404, 'NotFound', 60002);
  const deleted: CustomerUser[] = [];
  for await (const u of users.listDeleted()) deleted.push(u);
  const mine = deleted.find((u) => u.id === created.id);
  assert.equal(mine?.state, 'inactive');
  assert.ok(mine.softDeletionTime);
  assert.ok(deleted.some((u) => u.id === F.users.deleted));

  const restored = await user.restore();
  assert.equal(restored.state, 'active');
  assert.equal(restored.softDeletionTime, undefined);
  assert.equal(restored.displayName, 'Roger Federer');
  const active: string[] = [];
  for await (const u of users.list({ sortField: 'DisplayName', sortDirection: 'Descending', pageSize: 4 })) active.push(u.displayName);
  assert.ok(active.includes('Roger Federer'));
  assert.deepEqual(active, [...active].sort((a, b) => b.toLowerCase().localeCompare(a.toLowerCase())));

  const roles = [];
  for await (const r of users.byId(F.users.globalAdmin).listDirectoryRoles()) roles.push(r.name);
  assert.deepEqual(roles, ['Global Administrator']);
});

test('audit records: the changes are on record, filtered by customer', async () => {
  const uid = F.users.tomas;
  await partner.customers.byId(F.customerId).users.byId(uid).patch({ usageLocation: 'PT' });
  const found = [];
  const startDate = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  for await (const r of partner.auditRecords.list({ startDate, filter: { field: 'CustomerId', value: F.customerId, operator: 'equals' }, pageSize: 2 })) {
    if (r.operationType === 'update_customer_user' && r.customizedData.some((d) => d.key === 'CustomerUserId' && d.value === uid)) found.push(r);
  }
  assert.equal(found.length, 1);
  assert.equal(found[0]?.originalCorrelationId, partner.correlationId);
  assert.equal(found[0].customerId, F.customerId);
});

test('app-only credential: customers and audit records yes, users no (403 900329)', async () => {
  const app = new PartnerClient({ credential: appCredential(svc), baseUrl: svc.baseUrl });
  assert.equal((await app.customers.byId(F.customerId).get()).id, F.customerId);
  for await (const r of app.auditRecords.list({ startDate: new Date(Date.now() - 86_400_000) })) {
    assert.equal(r.attributes.objectType, 'AuditRecord');
    break;
  }
  const e = await failure(app.customers.byId(F.customerId).users.byId(F.users.ordinary).get());
  assert.equal(e.status, 403);
  assert.equal(e.category, 'Forbidden');
  assert.equal(e.code, 900329);
});

test('error categories as the service answers them', async () => {
  const users = partner.customers.byId(F.customerId).users;
  // BadInput
  const bad = await failure(users.byId(F.users.aiko).patch({ usageLocation: 'USA' }));
  expectError(bad, 400, 'BadInput', 3000);
  assert.ok(bad.data.some((d) => typeof d === 'object' && d !== null && (d as { property?: string }).property === 'usageLocation'));
  // NotFound
  expectError(await failure(users.byId('00000000-0000-4000-8000-000000000000').get()), 404, 'NotFound', 60002);
  // AlreadyExists
  const dup = users.create({ userPrincipalName: 'priya.raman@fabrikam.example', displayName: 'Dup', passwordProfile: { password: newPassword() } });
  expectError(await failure(dup), 409, 'AlreadyExists', 60009);
  // Forbidden: a customer that is not the partner's; a role the caller lacks
  expectError(await failure(partner.customers.byId('00000000-0000-4000-8000-000000000001').users.byId(F.users.aiko).get()), 403, 'Forbidden', 20002);
  const reader = new PartnerClient({ credential: agentCredential(svc, { username: DEMO.readerUsername }), baseUrl: svc.baseUrl, correlationId: partner.correlationId });
  expectError(await failure(reader.customers.byId(F.customerId).users.byId(F.users.aiko).patch({ usageLocation: 'JP' })), 403, 'Forbidden', 900150);
  // Unauthorized: no MFA; a token the service did not issue
  const noMfa = new PartnerClient({ credential: agentCredential(svc, { username: DEMO.noMfaUsername }), baseUrl: svc.baseUrl, correlationId: partner.correlationId });
  expectError(await failure(noMfa.customers.byId(F.customerId).users.byId(F.users.aiko).get()), 401, 'Unauthorized', 900421);
  const forged = new PartnerClient({
    credential: { getToken: () => Promise.resolve({ token: 'not.a.jwt', expiresOnTimestamp: Date.now() + 3_600_000 }) },
    baseUrl: svc.baseUrl,
    correlationId: partner.correlationId,
  });
  const unauth = await failure(forged.customers.byId(F.customerId).get());
  expectError(unauth, 401, 'Unauthorized', 400);
  assert.match(unauth.responseHeaders['www-authenticate'] ?? '', /invalid_token/);
  // InvalidOperation: a method the route does not have
  expectError(await failure(partner.send(partner.buildRequest('PUT', `/customers/${F.customerId}/users/${F.users.aiko}`, { body: {} }))), 405, 'InvalidOperation', 1000);
  // UnsupportedDataFormat: not JSON
  const plain = partner.buildRequest('PATCH', `/customers/${F.customerId}/users/${F.users.aiko}`);
  plain.headers['Content-Type'] = 'text/plain';
  plain.body = 'usageLocation=US';
  expectError(await failure(partner.send(plain)), 415, 'UnsupportedDataFormat', 800002);
  // the token endpoint refusing: an AuthenticationError, not a PartnerError
  const wrong = new PartnerClient({ credential: agentCredential(svc, { password: 'wrong-password' }), baseUrl: svc.baseUrl });
  const auth = await wrong.customers.byId(F.customerId).get().catch((x: unknown) => x);
  assert.ok(AuthenticationError.is(auth));
  assert.deepEqual(auth.errorCodes, [50126]);
  assert.match(auth.message, /Check the username and password/);
  assert.doesNotMatch(auth.message, /wrong-password/);
});

test('MS-RequestId makes a call idempotent: the same id replays, a different request with it is refused', async () => {
  const user = partner.customers.byId(F.customerId).users.byId(F.users.liam);
  const requestId = `replay-${hexId()}`;
  const first = await user.patch({ displayName: 'Liam O. Connor' }, { requestId });
  await user.patch({ displayName: 'Liam OConnor' });
  const replayed = await user.patch({ displayName: 'Liam O. Connor' }, { requestId });
  assert.deepEqual(replayed, first, 'the stored answer, not a second update');
  assert.equal((await user.get()).displayName, 'Liam OConnor');
  const conflict = await failure(user.patch({ displayName: 'Someone Else' }, { requestId }));
  assert.equal(conflict.category, 'AlreadyExists');
  assert.equal(conflict.code, 800004);
  assert.equal(conflict.requestId, requestId);
});

test('an aborted call sends nothing and rejects with AbortError', async () => {
  const f = recordingFetch();
  const p = clientFor(svc, { fetch: f });
  await assert.rejects(p.customers.byId(F.customerId).get({ abortSignal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(f.attempts.length, 0);
});
