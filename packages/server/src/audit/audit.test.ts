/**
 * HTTP-level tests of audit records: one record per change category of each successful change, none for a
 * refused request, never a password, the caller's MS-CorrelationId, the filters, the date window and paging.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AuditRecord, Collection, CustomerUser } from '@partnerkit/contract';
import { hashSecret } from '../identity/passwords.js';
import type { AuditRecordRow, UserRecord } from '../store/records.js';
import { assertFault, DEMO, DEMO_IDS, startTestService, userRecord, type CallOptions, type CallResult, type TestService } from '../testing/harness.js';

const F = DEMO_IDS.fabrikam;
const C = DEMO_IDS.contoso;
const CID = F.customerId;
const DAY = 86_400_000;

type AuditPage = Collection<AuditRecord>;



const ymd = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const strongPassword = (): string => `Au-${randomUUID().slice(0, 8)}-Xy7!`;
const dataValue = (r: AuditRecord, key: string): string | null | undefined => r.customizedData.find((d) => d.key === key)?.value;

interface Ctx {
  svc: TestService;
  token: string;
  hash: string;
  counter: number;
}

async function setup(opts: Parameters<typeof startTestService>[0] = {}): Promise<Ctx> {
  const svc = await startTestService(opts);
  return { svc, token: await svc.userToken(), hash: await hashSecret('Welcome-To-Fabrikam-2025'), counter: 0 };
}

function api<T = unknown>(ctx: Ctx, method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
  return ctx.svc.call<T>(method, path, { token: ctx.token, ...opts });
}

async function freshUser(ctx: Ctx, cid: string = CID, domain = 'fabrikam.example'): Promise<UserRecord> {
  ctx.counter++;
  const id = randomUUID();
  const u = userRecord({
    id, customerId: cid, upn: `audit.${String(ctx.counter)}.${id.slice(0, 8)}@${domain}`, displayName: `Audit User ${String(ctx.counter)}`,
    firstName: 'Audit', lastName: 'User', usageLocation: 'GB', passwordHash: ctx.hash,
  });
  assert.ok(await ctx.svc.store.insertUser(u));
  return u;
}

/** Every page of GET /v1/auditrecords from `query` (following links.next); returns the records and the raw texts. */
async function allRecords(ctx: Ctx, query: string, token: string = ctx.token): Promise<{ records: AuditRecord[]; text: string; pages: AuditPage[] }> {
  const records: AuditRecord[] = [];
  const texts: string[] = [];
  const pages: AuditPage[] = [];
  let res = await ctx.svc.call<AuditPage>('GET', `/v1/auditrecords?${query}`, { token });
  for (;;) {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.totalCount, res.json.items.length);
    assert.deepEqual(res.json.attributes, { objectType: 'Collection' });
    records.push(...res.json.items);
    texts.push(res.text);
    pages.push(res.json);
    const next = res.json.links?.next;
    if (!next) {
      assert.equal(res.json.continuationToken, undefined);
      break;
    }
    res = await ctx.svc.call<AuditPage>('GET', `/v1${next.uri}`, { token, headers: Object.fromEntries(next.headers.map((h) => [h.key, h.value ?? ''])) });
  }
  return { records, text: texts.join('\n'), pages };
}

const today = (): string => ymd(Date.now());

/** The records about one customer user (customizedData CustomerUserId). */
async function recordsFor(ctx: Ctx, userId: string): Promise<AuditRecord[]> {
  const { records } = await allRecords(ctx, `startDate=${today()}&size=500`);
  return records.filter((r) => dataValue(r, 'CustomerUserId') === userId);
}

describe('audit records of customer user changes', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await setup();
  });
  after(async () => {
    await ctx.svc.close();
  });

  test('a PATCH of usageLocation writes exactly one update_customer_user record with the whole shape', async () => {
    const u = await freshUser(ctx);
    const correlationId = randomUUID();
    const t0 = Date.now();
    const res = await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body: { usageLocation: 'US' }, headers: { 'MS-CorrelationId': correlationId } });
    assert.equal(res.status, 200, res.text);
    const records = await recordsFor(ctx, u.id);
    assert.equal(records.length, 1, JSON.stringify(records));
    const r = records[0];
    assert.ok(r);
    assert.equal(r.operationType, 'update_customer_user');
    assert.equal(r.resourceType, 'customer_user');
    assert.equal(r.operationStatus, 'succeeded');
    assert.equal(r.partnerId, DEMO.tenantId);
    assert.equal(r.customerId, CID);
    assert.equal(r.customerName, 'Fabrikam Traders');
    assert.equal(r.userPrincipalName, DEMO.username, 'the caller');
    assert.equal(r.applicationId, DEMO.clientId);
    assert.equal(r.originalCorrelationId, correlationId);
    assert.deepEqual(r.attributes, { objectType: 'AuditRecord' });
    assert.match(r.operationDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
    assert.ok(Math.abs(Date.parse(r.operationDate) - t0) < 5_000);
    assert.ok(r.id.startsWith(`${DEMO.tenantId}_${CID}_${u.id}_updatecustomeruser_`), r.id);
    assert.equal(dataValue(r, 'CustomerUserId'), u.id);
    const oldValue = JSON.parse(r.resourceOldValue ?? 'null') as Record<string, unknown>;
    const newValue = JSON.parse(r.resourceNewValue ?? 'null') as Record<string, unknown>;
    assert.equal(oldValue.UsageLocation, 'GB');
    assert.equal(newValue.UsageLocation, 'US');
    assert.equal(newValue.Id, u.id);
    assert.equal(newValue.UserPrincipalName, u.upn);
    assert.deepEqual(newValue.Attributes, { ObjectType: 'CustomerUser' });
  });

  test('changes of one user in a row: each record\'s old value is the record before\'s new value, and each new value is the change made', async () => {
    const u = await freshUser(ctx);
    const names = ['Chain One', 'Chain Two', 'Chain Three', 'Chain Four'];
    for (const [i, displayName] of names.entries()) {
      // The last change also renames: two records from one change, both with the same old and new values.
      const body = i === names.length - 1 ? { displayName, userPrincipalName: `chain.${randomUUID().slice(0, 8)}@fabrikam.example` } : { displayName };
      const res = await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body });
      assert.equal(res.status, 200, res.text);
    }
    const records = (await recordsFor(ctx, u.id)).sort((a, b) => a.operationDate.localeCompare(b.operationDate) || a.operationType.localeCompare(b.operationType));
    assert.equal(records.length, names.length + 1);
    const shown = records.map((r) => ({
      old: (JSON.parse(r.resourceOldValue ?? '{}') as { DisplayName?: string }).DisplayName,
      new: (JSON.parse(r.resourceNewValue ?? '{}') as { DisplayName?: string }).DisplayName,
    }));
    assert.deepEqual(shown, [
      { old: u.displayName, new: 'Chain One' },
      { old: 'Chain One', new: 'Chain Two' },
      { old: 'Chain Two', new: 'Chain Three' },
      { old: 'Chain Three', new: 'Chain Four' },
      { old: 'Chain Three', new: 'Chain Four' },
    ]);
    for (let i = 1; i < names.length; i++) assert.equal(records[i]?.resourceOldValue, records[i - 1]?.resourceNewValue);
    assert.equal(records[names.length]?.resourceNewValue, records[names.length - 1]?.resourceNewValue);
  });

  test('the id of a record ends with the .NET ticks of its operationDate; without MS-CorrelationId the generated one is recorded', async () => {
    const u = await freshUser(ctx);
    const res = await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body: { displayName: 'Ticks Check', userPrincipalName: `ticks.${randomUUID().slice(0, 8)}@fabrikam.example` } });
    assert.equal(res.status, 200, res.text);
    const generated = res.headers.get('ms-correlationid');
    assert.ok(generated !== null && generated !== '');
    const records = await recordsFor(ctx, u.id);
    assert.equal(records.length, 2);
    for (const r of records) {
      assert.equal(r.originalCorrelationId, generated);
      const m = /^(.*)\.(\d{7})Z$/.exec(r.operationDate);
      assert.ok(m, r.operationDate);
      const t = 621355968000000000n + BigInt(Date.parse(`${m[1] ?? ''}Z`)) * 10000n + BigInt(m[2] ?? '0');
      assert.ok(r.id.endsWith(`_${t.toString()}`), `${r.id} ends with the ticks of ${r.operationDate}`);
    }
    assert.notEqual(records[0]?.id, records[1]?.id);
  });

  test('a PATCH of names, UPN and password writes one record per category, all with the sent correlation id, and no password anywhere', async () => {
    const u = await freshUser(ctx);
    const password = strongPassword();
    const correlationId = randomUUID();
    const upn = `renamed.${randomUUID().slice(0, 8)}@fabrikam.example`;
    const res = await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, {
      body: { displayName: 'Audit Renamed', userPrincipalName: upn, passwordProfile: { password, forceChangePassword: true } },
      headers: { 'MS-CorrelationId': correlationId },
    });
    assert.equal(res.status, 200, res.text);
    const records = await recordsFor(ctx, u.id);
    assert.deepEqual(records.map((r) => r.operationType).sort(), ['reset_customer_user_password', 'update_customer_user', 'update_customer_user_principal_name']);
    assert.ok(records.every((r) => r.originalCorrelationId === correlationId));
    assert.ok(records.every((r) => r.resourceType === 'customer_user' && r.operationStatus === 'succeeded'));
    const rename = records.find((r) => r.operationType === 'update_customer_user_principal_name');
    assert.equal((JSON.parse(rename?.resourceOldValue ?? '{}') as { UserPrincipalName?: string }).UserPrincipalName, u.upn);
    assert.equal((JSON.parse(rename?.resourceNewValue ?? '{}') as { UserPrincipalName?: string }).UserPrincipalName, upn);
    const { text } = await allRecords(ctx, `startDate=${today()}`);
    assert.ok(!text.includes(password), 'no audit record holds the password');
    const rows = await ctx.svc.store.listAudit({ partnerId: DEMO.tenantId, from: '0000', to: '9999', afterSeq: undefined, limit: 100_000 });
    assert.ok(!JSON.stringify(rows).includes(password), 'nor does the store');
  });

  test('a password reset alone writes only reset_customer_user_password', async () => {
    const u = await freshUser(ctx);
    const password = strongPassword();
    assert.equal((await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body: { passwordProfile: { password } } })).status, 200);
    const records = await recordsFor(ctx, u.id);
    assert.deepEqual(records.map((r) => r.operationType), ['reset_customer_user_password']);
    assert.ok(!JSON.stringify(records).includes(password));
  });

  test('a UPN rename alone writes only update_customer_user_principal_name', async () => {
    const u = await freshUser(ctx);
    const upn = `only.${randomUUID().slice(0, 8)}@fabrikam.example`;
    assert.equal((await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body: { userPrincipalName: upn } })).status, 200);
    assert.deepEqual((await recordsFor(ctx, u.id)).map((r) => r.operationType), ['update_customer_user_principal_name']);
  });

  test('a PATCH that changes nothing writes nothing: {}, the same values, a whole GET result sent back, state active', async () => {
    const u = await freshUser(ctx);
    const path = `/v1/customers/${CID}/users/${u.id}`;
    const got = await api<CustomerUser>(ctx, 'GET', path);
    for (const body of [{}, { usageLocation: 'GB', displayName: u.displayName }, got.json, { state: 'active' }, { userPrincipalName: u.upn }]) {
      assert.equal((await api(ctx, 'PATCH', path, { body })).status, 200);
    }
    assert.deepEqual(await recordsFor(ctx, u.id), []);
  });

  test('create writes create_customer_user without the password', async () => {
    const password = strongPassword();
    const correlationId = randomUUID();
    const res = await api<CustomerUser>(ctx, 'POST', `/v1/customers/${CID}/users`, {
      body: { userPrincipalName: `created.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Created Audit', passwordProfile: { password, forceChangePassword: true } },
      headers: { 'MS-CorrelationId': correlationId },
    });
    assert.equal(res.status, 201, res.text);
    const records = await recordsFor(ctx, res.json.id);
    assert.deepEqual(records.map((r) => r.operationType), ['create_customer_user']);
    assert.equal(records[0]?.originalCorrelationId, correlationId);
    assert.equal((JSON.parse(records[0].resourceNewValue ?? '{}') as { DisplayName?: string }).DisplayName, 'Created Audit');
    assert.ok(!JSON.stringify(records).includes(password));
    const { text } = await allRecords(ctx, `startDate=${today()}`);
    assert.ok(!text.includes(password));
  });

  test('delete writes delete_customer_user; restore writes restore_customer_user; restore with a rename adds update_customer_user_principal_name', async () => {
    const u = await freshUser(ctx);
    const path = `/v1/customers/${CID}/users/${u.id}`;
    const delCorrelation = randomUUID();
    assert.equal((await api(ctx, 'DELETE', path, { headers: { 'MS-CorrelationId': delCorrelation } })).status, 204);
    let records = await recordsFor(ctx, u.id);
    assert.deepEqual(records.map((r) => r.operationType), ['delete_customer_user']);
    assert.equal(records[0]?.originalCorrelationId, delCorrelation);
    assert.equal((JSON.parse(records[0].resourceNewValue ?? '{}') as { State?: string }).State, 'inactive');
    assert.equal((JSON.parse(records[0].resourceOldValue ?? '{}') as { State?: string }).State, 'active');

    assert.equal((await api(ctx, 'PATCH', path, { body: { State: 'active' } })).status, 200);
    records = await recordsFor(ctx, u.id);
    assert.deepEqual(records.map((r) => r.operationType), ['delete_customer_user', 'restore_customer_user']);

    assert.equal((await api(ctx, 'DELETE', path)).status, 204);
    const upn = `back.${randomUUID().slice(0, 8)}@fabrikam.example`;
    assert.equal((await api(ctx, 'PATCH', path, { body: { state: 'active', userPrincipalName: upn } })).status, 200);
    records = await recordsFor(ctx, u.id);
    assert.deepEqual(records.slice(2).map((r) => r.operationType).sort(), ['delete_customer_user', 'restore_customer_user', 'update_customer_user_principal_name']);
  });

  test('refused requests write no record: validation, conflict, wrong type, not found, deleted user, forbidden', async () => {
    const u = await freshUser(ctx);
    const other = await freshUser(ctx);
    const path = `/v1/customers/${CID}/users/${u.id}`;
    const count = (): Promise<number> => ctx.svc.store.countAudit(DEMO.tenantId);
    const before = await count();
    const beforeList = (await allRecords(ctx, `startDate=${today()}`)).records.length;
    assertFault(await api(ctx, 'PATCH', path, { body: { displayName: 'Nope', usageLocation: 'USA' } }), 400, 3000);
    assertFault(await api(ctx, 'PATCH', path, { body: { userPrincipalName: other.upn, displayName: 'Nope' } }), 409, 60009);
    assertFault(await api(ctx, 'PATCH', path, { body: { passwordProfile: { password: 'short' }, displayName: 'Nope' } }), 400, 3000);
    assertFault(await api(ctx, 'PATCH', path, { body: { usageLocation: 5 } }), 400, 800002);
    assertFault(await api(ctx, 'PATCH', path, { body: { state: 'inactive' } }), 400, 3000);
    assertFault(await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${randomUUID()}`, { body: { usageLocation: 'US' } }), 404, 60002);
    assertFault(await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${F.users.deleted}`, { body: { usageLocation: 'US' } }), 404, 60002);
    assertFault(await api(ctx, 'DELETE', `/v1/customers/${CID}/users/${F.users.deleted}`), 404, 60002);
    assertFault(await api(ctx, 'POST', `/v1/customers/${CID}/users`, { body: { userPrincipalName: other.upn, displayName: 'Dup', passwordProfile: { password: strongPassword() } } }), 409, 60009);
    assertFault(await api(ctx, 'POST', `/v1/customers/${CID}/users`, { body: { displayName: 'No Upn', passwordProfile: { password: strongPassword() } } }), 400, 3000);
    // The agent is a User Administrator: it may not delete or rename a Global Administrator.
    assertFault(await api(ctx, 'DELETE', `/v1/customers/${CID}/users/${F.users.globalAdmin}`), 403, 900150);
    assertFault(await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${F.users.globalAdmin}`, { body: { userPrincipalName: `boss.${randomUUID().slice(0, 6)}@fabrikam.example`, displayName: 'Boss' } }), 403, 900150);
    // The reader holds Directory Readers only.
    const reader = await ctx.svc.userToken({ username: DEMO.readerUsername });
    assertFault(await api(ctx, 'PATCH', path, { token: reader, body: { usageLocation: 'US' } }), 403, 900150);
    assertFault(await api(ctx, 'DELETE', path, { token: reader }), 403, 900150);
    assert.equal(await count(), before, 'the store holds no new record');
    assert.equal((await allRecords(ctx, `startDate=${today()}`)).records.length, beforeList);
    assert.equal((await ctx.svc.store.getUser(CID, u.id))?.displayName, u.displayName);
  });

  test('an app-only token may read audit records', async () => {
    const app = await ctx.svc.appToken();
    const { records } = await allRecords(ctx, `startDate=${today()}`, app);
    assert.ok(records.length > 0);
  });
});

describe('audit record queries: filters, dates, paging', () => {
  let ctx: Ctx;
  let contosoUser: UserRecord;
  let fabrikamUser: UserRecord;
  before(async () => {
    ctx = await setup();
    fabrikamUser = await freshUser(ctx);
    contosoUser = await freshUser(ctx, C.customerId, 'contosooutfitters.onmicrosoft.com');
    assert.equal((await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${fabrikamUser.id}`, { body: { usageLocation: 'SE' } })).status, 200);
    assert.equal((await api(ctx, 'PATCH', `/v1/customers/${C.customerId}/users/${contosoUser.id}`, { body: { usageLocation: 'DK' } })).status, 200);
  });
  after(async () => {
    await ctx.svc.close();
  });

  const q = (filter: unknown): string => `startDate=${today()}&filter=${encodeURIComponent(JSON.stringify(filter))}`;

  test('filter CustomerId equals gives only that customer\'s records', async () => {
    const contoso = (await allRecords(ctx, q({ Field: 'CustomerId', Value: C.customerId, Operator: 'equals' }))).records;
    assert.ok(contoso.length > 0);
    assert.ok(contoso.every((r) => r.customerId === C.customerId && r.customerName === 'Contoso Outfitters'));
    assert.ok(contoso.some((r) => dataValue(r, 'CustomerUserId') === contosoUser.id));
    const fabrikam = (await allRecords(ctx, q({ Field: 'CustomerId', Value: CID.toUpperCase(), Operator: 'equals' }))).records;
    assert.ok(fabrikam.length > 0);
    assert.ok(fabrikam.every((r) => r.customerId === CID));
  });

  test('filter ResourceType equals customer_user (or CustomerUser) gives the user records; license gives none', async () => {
    const all = (await allRecords(ctx, `startDate=${today()}`)).records;
    const snake = (await allRecords(ctx, q({ Field: 'ResourceType', Value: 'customer_user', Operator: 'equals' }))).records;
    const pascal = (await allRecords(ctx, q({ Field: 'ResourceType', Value: 'CustomerUser', Operator: 'equals' }))).records;
    assert.equal(snake.length, all.length);
    assert.deepEqual(pascal.map((r) => r.id), snake.map((r) => r.id));
    assert.deepEqual((await allRecords(ctx, q({ Field: 'ResourceType', Value: 'license', Operator: 'equals' }))).records, []);
  });

  test('filter CompanyName substring matches without regard to case', async () => {
    const outfit = (await allRecords(ctx, q({ Field: 'CompanyName', Value: 'OUTFIT', Operator: 'substring' }))).records;
    assert.ok(outfit.length > 0);
    assert.ok(outfit.every((r) => r.customerName === 'Contoso Outfitters'));
    const fab = (await allRecords(ctx, q({ Field: 'CompanyName', Value: 'brikam', Operator: 'substring' }))).records;
    assert.ok(fab.length > 0);
    assert.ok(fab.every((r) => r.customerName === 'Fabrikam Traders'));
    assert.deepEqual((await allRecords(ctx, q({ Field: 'CompanyName', Value: 'Northwind', Operator: 'substring' }))).records, []);
    assert.deepEqual((await allRecords(ctx, q({ Field: 'CompanyName', Value: '%', Operator: 'substring' }))).records, [], 'LIKE wildcards are literal');
  });

  test('an unsupported filter → 400 3000 naming filter', async () => {
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?${q({ Field: 'OperationType', Value: 'x', Operator: 'equals' })}`), 400, 3000, 'filter');
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?${q({ Field: 'CustomerId', Value: CID, Operator: 'starts_with' })}`), 400, 3000, 'filter');
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?startDate=${today()}&filter=nope`), 400, 3000, 'filter');
  });

  test('startDate older than 90 days → 400 3000 naming startDate; 89 days back is fine', async () => {
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?startDate=${ymd(Date.now() - 91 * DAY)}`), 400, 3000, 'startDate');
    assertFault(await api(ctx, 'GET', '/v1/auditrecords?startDate=2017-06-01'), 400, 3000, 'startDate');
    const ok = await api<AuditPage>(ctx, 'GET', `/v1/auditrecords?startDate=${ymd(Date.now() - 89 * DAY)}`);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.json.items.length > 0);
  });

  test('a startDate that is not a date, or an endDate before startDate → 400 3000', async () => {
    assertFault(await api(ctx, 'GET', '/v1/auditrecords?startDate=yesterday'), 400, 3000, 'startDate');
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?startDate=${today()}&endDate=${ymd(Date.now() - 2 * DAY)}`), 400, 3000, 'endDate');
  });

  test('without startDate the window is the last 30 days (today\'s records are in); an endDate of today includes today', async () => {
    const noStart = (await allRecords(ctx, '')).records;
    assert.ok(noStart.some((r) => dataValue(r, 'CustomerUserId') === fabrikamUser.id));
    const withEnd = (await allRecords(ctx, `startDate=${today()}&endDate=${today()}`)).records;
    assert.deepEqual(withEnd.map((r) => r.id), noStart.map((r) => r.id));
    const pastOnly = (await allRecords(ctx, `startDate=${ymd(Date.now() - 10 * DAY)}&endDate=${ymd(Date.now() - 5 * DAY)}`)).records;
    assert.deepEqual(pastOnly, []);
  });

  test('paging: 250 more records page by links.next and by seekOperation=Next, each seen once, in order; size 501 → 400', async () => {
    const now = Date.now();
    const iso = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
    const rows: AuditRecordRow[] = [];
    for (let i = 0; i < 250; i++) {
      rows.push({
        id: `${DEMO.tenantId}_${CID}_bulk_${String(i)}`, partnerId: DEMO.tenantId, customerId: CID, customerName: 'Fabrikam Traders',
        callerUpn: DEMO.username, applicationId: DEMO.clientId, resourceType: 'customer_user', oldValue: null, newValue: null,
        operationType: 'update_customer_user', correlationId: randomUUID(), operationDate: iso, operationStatus: 'succeeded',
        customizedData: [{ key: 'CustomerUserId', value: `bulk-${String(i)}` }],
      });
    }
    await ctx.svc.store.transaction(async (tx) => {
      for (const r of rows) await tx.insertAudit(r);
    });
    const all = await allRecords(ctx, `startDate=${today()}&size=100`);
    const ids = all.records.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    const bulkIds = ids.filter((id) => id.includes('_bulk_'));
    assert.deepEqual(bulkIds, rows.map((r) => r.id), 'every inserted record once, in order');
    assert.equal(all.pages.length, Math.ceil(ids.length / 100));
    assert.ok(all.pages.slice(0, -1).every((p) => p.items.length === 100));
    assert.equal(all.pages[0]?.links?.next?.uri, '/auditrecords?size=100&seekOperation=Next');
    // The seek form: seekOperation=Next with the header.
    const seen: string[] = [];
    let res = await api<AuditPage>(ctx, 'GET', `/v1/auditrecords?startDate=${today()}&size=100`);
    for (;;) {
      assert.equal(res.status, 200, res.text);
      seen.push(...res.json.items.map((r) => r.id));
      const t = res.json.continuationToken;
      if (t === undefined) break;
      res = await api<AuditPage>(ctx, 'GET', '/v1/auditrecords?seekOperation=Next', { headers: { 'MS-ContinuationToken': t } });
    }
    assert.deepEqual(seen, ids);
    // The filter travels in the token.
    const filtered = await allRecords(ctx, `${q({ Field: 'CustomerId', Value: C.customerId, Operator: 'equals' })}&size=1`);
    assert.ok(filtered.records.length > 0);
    assert.ok(filtered.records.every((r) => r.customerId === C.customerId));
    assertFault(await api(ctx, 'GET', `/v1/auditrecords?startDate=${today()}&size=501`), 400, 3000, 'size');
  });

  test('records of another partner are never shown', async () => {
    await ctx.svc.store.insertAudit({
      id: `other_${randomUUID()}`, partnerId: randomUUID(), customerId: CID, customerName: 'Fabrikam Traders', callerUpn: 'x@y.example',
      applicationId: randomUUID(), resourceType: 'customer_user', oldValue: null, newValue: null, operationType: 'update_customer_user',
      correlationId: randomUUID(), operationDate: new Date().toISOString().replace(/Z$/, '0000Z'), operationStatus: 'succeeded',
      customizedData: [{ key: 'CustomerUserId', value: 'foreign' }],
    });
    const { records } = await allRecords(ctx, `startDate=${today()}&size=500`);
    assert.ok(records.every((r) => r.partnerId === DEMO.tenantId));
    assert.ok(!records.some((r) => dataValue(r, 'CustomerUserId') === 'foreign'));
  });
});

describe('audit record date window with a moving clock', () => {
  test('a record from 35 days ago is outside the default 30-day window but inside an explicit startDate; after 91 days it cannot be asked for', async () => {
    let clock = Date.now();
    const ctx = await setup({ now: () => clock });
    try {
      const u = await freshUser(ctx);
      assert.equal((await api(ctx, 'PATCH', `/v1/customers/${CID}/users/${u.id}`, { body: { usageLocation: 'NL' } })).status, 200);
      const written = clock;
      clock += 35 * DAY;
      ctx.token = await ctx.svc.userToken();
      const recent = (await allRecords(ctx, '')).records;
      assert.ok(!recent.some((r) => dataValue(r, 'CustomerUserId') === u.id), 'not in the last 30 days');
      const explicit = (await allRecords(ctx, `startDate=${ymd(written)}`)).records;
      assert.ok(explicit.some((r) => dataValue(r, 'CustomerUserId') === u.id), 'found from its own day');
      const bounded = (await allRecords(ctx, `startDate=${ymd(written)}&endDate=${ymd(written)}`)).records;
      assert.deepEqual(bounded.map((r) => dataValue(r, 'CustomerUserId')), [u.id]);
      clock += 56 * DAY;
      ctx.token = await ctx.svc.userToken();
      assertFault(await api(ctx, 'GET', `/v1/auditrecords?startDate=${ymd(written)}`), 400, 3000, 'startDate');
    } finally {
      await ctx.svc.close();
    }
  });
});
