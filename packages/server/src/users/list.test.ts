/**
 * HTTP-level tests of listing: a customer's users (seek paging over 1,234 users by links.next, by
 * seekOperation=Next + MS-ContinuationToken and by the continuationToken query form; page sizes; sorting; the
 * deleted-users filter) and the partner's customers (list, paging, get by id).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Collection, Customer, CustomerUser } from '@partnerkit/contract';
import { hashSecret } from '../identity/passwords.js';
import type { UserRecord } from '../store/records.js';
import { assertFault, DEMO_IDS, startTestService, type CallOptions, type CallResult, type TestService, withSuiteService } from '../testing/harness.js';

const F = DEMO_IDS.fabrikam;
const CID = F.customerId;
const BULK = 1234;
const BULK_DELETED = 151;
const usersPath = `/v1/customers/${CID}/users`;
const DELETED_FILTER = JSON.stringify({ Field: 'UserState', Value: 'Inactive', Operator: 'equals' });

type UserPage = Collection<CustomerUser>;



/** Checks the envelope of one page: totalCount is this page's count, objectType Collection, self link. */
function assertPage(page: UserPage | Collection<Customer>): void {
  assert.equal(page.totalCount, page.items.length, 'totalCount is the number of items on this page');
  assert.deepEqual(page.attributes, { objectType: 'Collection' });
  assert.equal(page.links?.self?.method, 'GET');
  const next = page.links.next;
  if (next) {
    assert.equal(next.method, 'GET');
    assert.equal(next.headers.length, 1);
    assert.equal(next.headers[0]?.key, 'MS-ContinuationToken');
    assert.equal(next.headers[0].value, page.continuationToken, 'the body token equals the links.next header');
  } else {
    assert.equal(page.continuationToken, undefined, 'no continuation token without links.next');
  }
}

type Walk = 'links' | 'seek' | 'query' | 'header';

describe('listing a customer\'s users over 1,234 users', () => {
  let svc: TestService;
  let token: string;
  /** Ids of Fabrikam's active users in creation order: the demo users, then the bulk ones. */
  let expected: string[];
  /** Every active user, by id. */
  const byId = new Map<string, { displayName: string; upn: string; index: number }>();
  let deletedIds: string[];

  const call = <T>(path: string, opts: CallOptions = {}): Promise<CallResult<T>> => svc.call<T>('GET', path, { token, ...opts });

  /** Walks every page from `first`, the chosen way; checks each page's envelope and that pages are full but the last. */
  async function walk(first: string, how: Walk): Promise<{ ids: string[]; pages: UserPage[] }> {
    const pages: UserPage[] = [];
    let res = await call<UserPage>(first);
    for (;;) {
      assert.equal(res.status, 200, res.text);
      const page = res.json;
      assertPage(page);
      pages.push(page);
      const next = page.links?.next;
      if (!next) break;
      const tokenValue = page.continuationToken ?? '';
      if (how === 'links') {
        res = await call<UserPage>(`/v1${next.uri}`, { headers: Object.fromEntries(next.headers.map((h) => [h.key, h.value ?? ''])) });
      } else if (how === 'seek') {
        res = await call<UserPage>(`${usersPath}?seekOperation=Next`, { headers: { 'MS-ContinuationToken': tokenValue } });
      } else if (how === 'query') {
        res = await call<UserPage>(`${usersPath}?continuationToken=${encodeURIComponent(tokenValue)}`);
      } else {
        res = await call<UserPage>(usersPath, { headers: { 'ms-continuationtoken': tokenValue } });
      }
      assert.ok(pages.length < 1000, 'the walk ends');
    }
    for (const p of pages.slice(0, -1)) assert.equal(p.items.length, pages[0]?.items.length, 'every page but the last is full');
    return { ids: pages.flatMap((p) => p.items.map((u) => u.id)), pages };
  }

  function assertExactlyOnce(ids: string[]): void {
    assert.equal(new Set(ids).size, ids.length, 'no user is seen twice');
  }

  before(async () => {
    svc = await startTestService();
    token = await svc.userToken();
    const hash = await hashSecret('Welcome-To-Fabrikam-2025');
    const demoActive = Object.values(F.users).filter((id) => id !== F.users.deleted);
    const bulk: UserRecord[] = [];
    const deleted: UserRecord[] = [];
    const base = (i: number, id: string): UserRecord => ({
      id, customerId: CID,
      // Display names and UPNs in orders unlike the creation order (7919 and 4871 are coprime with 1234).
      upn: `bulk.${String((i * 4871) % BULK).padStart(4, '0')}@fabrikam.example`,
      displayName: `Person ${String((i * 7919) % BULK).padStart(4, '0')}`,
      firstName: 'Bulk', lastName: String(i), usageLocation: 'US', immutableId: null, phoneNumber: null,
      passwordHash: hash, forceChangePassword: false, state: 'active', softDeletionTime: null,
      userDomainType: 'none', lastDirectorySyncTime: null,
    });
    for (let i = 0; i < BULK; i++) bulk.push(base(i, randomUUID()));
    const deletedAt = new Date().toISOString();
    for (let i = 0; i < BULK_DELETED; i++) {
      deleted.push({ ...base(i, randomUUID()), upn: `gone.${String(i)}@fabrikam.example`, displayName: `Gone ${String(i)}`, state: 'inactive', softDeletionTime: deletedAt });
    }
    await svc.store.transaction(async (tx) => {
      for (const u of bulk) assert.ok(await tx.insertUser(u));
      for (const u of deleted) assert.ok(await tx.insertUser(u));
    });
    expected = [...demoActive, ...bulk.map((u) => u.id)];
    deletedIds = [F.users.deleted, ...deleted.map((u) => u.id)];
    // Names and UPNs of the demo users come from the API itself.
    const all = await walk(`${usersPath}?size=500`, 'links');
    for (const [index, u] of all.pages.flatMap((p) => p.items).entries()) byId.set(u.id, { displayName: u.displayName, upn: u.userPrincipalName, index });
  });
  after(async () => {
    await svc.close();
  });

  test('the first page without size holds 100 users and a links.next in Partner Center\'s form', async () => {
    const res = await call<UserPage>(usersPath);
    assert.equal(res.status, 200, res.text);
    const page = res.json;
    assertPage(page);
    assert.equal(page.items.length, 100);
    assert.deepEqual(page.items.map((u) => u.id), expected.slice(0, 100));
    assert.equal(page.links?.self?.uri, `/customers/${CID}/users`);
    const next = page.links.next;
    assert.ok(next, 'a first page of a long list has links.next');
    assert.equal(next.uri, `/customers/${CID}/users?size=100&seekOperation=Next`);
    assert.equal(typeof page.continuationToken, 'string');
    assert.ok((page.continuationToken ?? '').length > 0);
    for (const u of page.items) {
      assert.equal(u.state, 'active');
      assert.equal(u.attributes.objectType, 'CustomerUser');
      assert.equal(u.links.self?.uri, `/customers/${CID}/users/${u.id}`);
      assert.ok(!('passwordProfile' in u));
    }
  });

  test('following links.next (uri under /v1, its headers copied) sees every user once, in creation order, and the last page has no links.next', async () => {
    const { ids, pages } = await walk(`${usersPath}?size=100`, 'links');
    assertExactlyOnce(ids);
    assert.equal(ids.length, expected.length);
    assert.deepEqual(ids, expected);
    assert.equal(pages.length, Math.ceil(expected.length / 100));
    const last = pages[pages.length - 1];
    assert.equal(last?.items.length, expected.length % 100 || 100);
    assert.equal(last.links?.next, undefined);
    assert.ok(pages.every((p) => p.links?.self !== undefined));
  });

  test('seekOperation=Next with the MS-ContinuationToken header walks the same list (the page size travels in the token)', async () => {
    const { ids, pages } = await walk(`${usersPath}?size=250`, 'seek');
    assert.deepEqual(ids, expected);
    assert.equal(pages.length, Math.ceil(expected.length / 250));
    assert.ok(pages.slice(0, -1).every((p) => p.items.length === 250));
  });

  test('the continuationToken query parameter walks the same list', async () => {
    const { ids } = await walk(`${usersPath}?size=333`, 'query');
    assert.deepEqual(ids, expected);
  });

  test('the MS-ContinuationToken header alone (no seekOperation) walks the same list', async () => {
    const { ids } = await walk(`${usersPath}?size=500`, 'header');
    assert.deepEqual(ids, expected);
  });

  test('the list is stable: walking twice gives the same pages', async () => {
    const a = await walk(`${usersPath}?size=128`, 'links');
    const b = await walk(`${usersPath}?size=128`, 'links');
    assert.deepEqual(a.ids, b.ids);
    assert.deepEqual(a.ids, expected);
  });

  test('size=500 gives 500 users; size=0 gives the default 100; size is matched without regard to case', async () => {
    const r500 = await call<UserPage>(`${usersPath}?size=500`);
    assert.equal(r500.status, 200, r500.text);
    assert.equal(r500.json.items.length, 500);
    assert.equal(r500.json.links?.next?.uri, `/customers/${CID}/users?size=500&seekOperation=Next`);
    const r0 = await call<UserPage>(`${usersPath}?size=0`);
    assert.equal(r0.json.items.length, 100);
    const upper = await call<UserPage>(`${usersPath}?Size=7`);
    assert.equal(upper.json.items.length, 7);
    assert.deepEqual(upper.json.items.map((u) => u.id), expected.slice(0, 7));
  });

  test('size=501 → 400 3000 naming size; non-numbers too', async () => {
    assertFault(await call(`${usersPath}?size=501`), 400, 3000, 'size');
    assertFault(await call(`${usersPath}?size=100000`), 400, 3000, 'size');
    assertFault(await call(`${usersPath}?size=abc`), 400, 3000, 'size');
    assertFault(await call(`${usersPath}?size=-1`), 400, 3000, 'size');
  });

  test('sortField=DisplayName&sortDirection=Descending orders every page by display name, descending, across pages', async () => {
    const want = [...expected].sort((a, b) => {
      const x = byId.get(a)?.displayName.toLowerCase() ?? '';
      const y = byId.get(b)?.displayName.toLowerCase() ?? '';
      return x < y ? 1 : x > y ? -1 : 0;
    });
    assert.notDeepEqual(want, expected, 'the sort order differs from the creation order');
    const { ids } = await walk(`${usersPath}?size=100&sortField=DisplayName&sortDirection=Descending`, 'links');
    assert.deepEqual(ids, want);
    // The REF spelling of the parameters, and the seek form, give the same order.
    const seek = await walk(`${usersPath}?size=300&SortField=displayname&SortDirection=descending`, 'seek');
    assert.deepEqual(seek.ids, want);
  });

  test('sortField=UserPrincipalName ascending and descending', async () => {
    const asc = [...expected].sort((a, b) => {
      const x = byId.get(a)?.upn.toLowerCase() ?? '';
      const y = byId.get(b)?.upn.toLowerCase() ?? '';
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const up = await walk(`${usersPath}?size=200&sortField=UserPrincipalName&sortDirection=Ascending`, 'links');
    assert.deepEqual(up.ids, asc);
    const noDirection = await walk(`${usersPath}?size=500&sortField=UserPrincipalName`, 'query');
    assert.deepEqual(noDirection.ids, asc, 'ascending by default');
    const down = await walk(`${usersPath}?size=200&sortField=UserPrincipalName&sortDirection=Descending`, 'links');
    assert.deepEqual(down.ids, [...asc].reverse());
  });

  test('an unknown sortField or sortDirection → 400 3000', async () => {
    assertFault(await call(`${usersPath}?sortField=Email`), 400, 3000, 'sortField');
    assertFault(await call(`${usersPath}?sortField=DisplayName&sortDirection=Up`), 400, 3000, 'sortDirection');
  });

  test('the deleted-users filter pages too: links.next keeps the filter, every deleted user is seen once, and no active one', async () => {
    const first = `${usersPath}?size=50&filter=${encodeURIComponent(DELETED_FILTER)}`;
    const { ids, pages } = await walk(first, 'links');
    assertExactlyOnce(ids);
    assert.deepEqual(new Set(ids), new Set(deletedIds));
    assert.equal(pages.length, Math.ceil(deletedIds.length / 50));
    assert.ok(pages.every((p) => p.items.every((u) => u.state === 'inactive' && typeof u.softDeletionTime === 'string')));
    assert.match(pages[0]?.links?.self?.uri ?? '', /filter=/);
    const seek = await walk(first, 'seek');
    assert.deepEqual(seek.ids, ids);
  });

  test('seekOperation=Next without a token → 400 3000; an unknown seekOperation → 400 3000; a forged token → 400 800002', async () => {
    assertFault(await call(`${usersPath}?seekOperation=Next`), 400, 3000, 'MS-ContinuationToken');
    assertFault(await call(`${usersPath}?seekOperation=Previous`, { headers: { 'MS-ContinuationToken': 'abc' } }), 400, 3000, 'seekOperation');
    assertFault(await call(`${usersPath}?seekOperation=Next`, { headers: { 'MS-ContinuationToken': 'not-a-token' } }), 400, 800002);
    const forged = Buffer.from(JSON.stringify({ v: 1, k: 'users', state: 'active' })).toString('base64url');
    assertFault(await call(`${usersPath}?seekOperation=Next`, { headers: { 'MS-ContinuationToken': forged } }), 400, 800002);
  });

  test('a users token does not page the customers list, nor another customer\'s users', async () => {
    const res = await call<UserPage>(`${usersPath}?size=10`);
    const t = res.json.continuationToken ?? '';
    assert.notEqual(t, '');
    assertFault(await call('/v1/customers?seekOperation=Next', { headers: { 'MS-ContinuationToken': t } }), 400, 800002);
    assertFault(await call(`/v1/customers/${DEMO_IDS.contoso.customerId}/users?seekOperation=Next`, { headers: { 'MS-ContinuationToken': t } }), 400, 800002);
  });

  test('a user created during a walk appears at the end; a user deleted during a walk is not shown; nobody is seen twice', async () => {
    const first = await call<UserPage>(`${usersPath}?size=400`);
    assert.equal(first.status, 200);
    const next = first.json.links?.next;
    assert.ok(next);
    const created = await svc.call<CustomerUser>('POST', usersPath, {
      token,
      body: { userPrincipalName: `late.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Late Comer', passwordProfile: { password: 'Late-Comer-2025!' } },
    });
    assert.equal(created.status, 201, created.text);
    const victim = expected[900] ?? '';
    assert.equal((await svc.call('DELETE', `${usersPath}/${victim}`, { token })).status, 204);
    const ids = first.json.items.map((u) => u.id);
    let res = await call<UserPage>(`/v1${next.uri}`, { headers: Object.fromEntries(next.headers.map((h) => [h.key, h.value ?? ''])) });
    for (;;) {
      assert.equal(res.status, 200, res.text);
      ids.push(...res.json.items.map((u) => u.id));
      const n = res.json.links?.next;
      if (!n) break;
      res = await call<UserPage>(`/v1${n.uri}`, { headers: Object.fromEntries(n.headers.map((h) => [h.key, h.value ?? ''])) });
    }
    assert.deepEqual(ids, [...expected.filter((id) => id !== victim), created.json.id]);
  });
});

describe('listing and reading the partner\'s customers', () => {
  let svc: TestService;
  let token: string;
  withSuiteService((started, t) => {
    svc = started;
    token = t;
  });

  test('GET /v1/customers lists Fabrikam and Contoso, in creation order, with the list item shape', async () => {
    const res = await svc.call<Collection<Customer>>('GET', '/v1/customers', { token });
    assert.equal(res.status, 200, res.text);
    assertPage(res.json);
    assert.equal(res.json.totalCount, 2);
    assert.deepEqual(res.json.items.map((c) => c.id), [F.customerId, DEMO_IDS.contoso.customerId]);
    const fab = res.json.items[0];
    assert.ok(fab);
    assert.deepEqual(fab, {
      id: F.customerId,
      companyProfile: {
        tenantId: F.customerId, domain: 'fabrikamtraders.onmicrosoft.com', companyName: 'Fabrikam Traders',
        attributes: { objectType: 'CustomerCompanyProfile' },
      },
      relationshipToPartner: 'reseller',
      attributes: { objectType: 'Customer' },
    });
    assert.equal(res.json.items[1]?.companyProfile.domain, 'contosooutfitters.onmicrosoft.com');
    assert.equal(res.json.links?.self?.uri, '/v1/customers?size=100');
    assert.equal(res.json.links.next, undefined);
  });

  test('the customers list pages with size=1: links.next (already under /v1) leads to the second and last page', async () => {
    const first = await svc.call<Collection<Customer>>('GET', '/v1/customers?size=1', { token });
    assert.equal(first.status, 200, first.text);
    assertPage(first.json);
    assert.deepEqual(first.json.items.map((c) => c.id), [F.customerId]);
    const next = first.json.links?.next;
    assert.ok(next);
    assert.equal(next.uri, '/v1/customers?size=1&seekOperation=Next');
    const second = await svc.call<Collection<Customer>>('GET', next.uri, { token, headers: Object.fromEntries(next.headers.map((h) => [h.key, h.value ?? ''])) });
    assert.equal(second.status, 200, second.text);
    assertPage(second.json);
    assert.deepEqual(second.json.items.map((c) => c.id), [DEMO_IDS.contoso.customerId]);
    assert.equal(second.json.links?.next, undefined);
    const byQuery = await svc.call<Collection<Customer>>('GET', `/v1/customers?continuationToken=${encodeURIComponent(first.json.continuationToken ?? '')}`, { token });
    assert.deepEqual(byQuery.json.items.map((c) => c.id), [DEMO_IDS.contoso.customerId]);
  });

  test('the customers list filters by CompanyName or Domain with starts_with and equals, without regard to case', async () => {
    const names = async (filter: unknown): Promise<string[]> => {
      const res = await svc.call<Collection<Customer>>('GET', `/v1/customers?filter=${encodeURIComponent(JSON.stringify(filter))}`, { token });
      assert.equal(res.status, 200, res.text);
      return res.json.items.map((c) => c.companyProfile.companyName);
    };
    assert.deepEqual(await names({ Field: 'CompanyName', Value: 'fab', Operator: 'starts_with' }), ['Fabrikam Traders']);
    assert.deepEqual(await names({ field: 'companyname', value: 'CONTOSO OUTFITTERS', operator: 'equals' }), ['Contoso Outfitters']);
    assert.deepEqual(await names({ Field: 'Domain', Value: 'contosooutfitters.', Operator: 'starts_with' }), ['Contoso Outfitters']);
    assert.deepEqual(await names({ Field: 'CompanyName', Value: 'traders', Operator: 'starts_with' }), []);
    assert.deepEqual(await names({ Field: 'CompanyName', Value: '%', Operator: 'starts_with' }), [], 'LIKE wildcards are literal');
    assertFault(await svc.call('GET', `/v1/customers?filter=${encodeURIComponent(JSON.stringify({ Field: 'CompanyName', Value: 'fab', Operator: 'substring' }))}`, { token }), 400, 3000, 'filter.Operator');
    assertFault(await svc.call('GET', `/v1/customers?filter=${encodeURIComponent(JSON.stringify({ Field: 'Country', Value: 'US', Operator: 'equals' }))}`, { token }), 400, 3000, 'filter.Field');
    assertFault(await svc.call('GET', '/v1/customers?filter=not-json', { token }), 400, 3000, 'filter');
  });

  test('a filtered customers list keeps its filter across pages', async () => {
    const filter = encodeURIComponent(JSON.stringify({ Field: 'Domain', Value: 'c', Operator: 'starts_with' }));
    const first = await svc.call<Collection<Customer>>('GET', `/v1/customers?size=1&filter=${filter}`, { token });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json.items.map((c) => c.companyProfile.companyName), ['Contoso Outfitters']);
    assert.equal(first.json.links?.next, undefined, 'only one customer matches, so there is no next page');
  });

  test('the customers list refuses size=501 with 400 3000', async () => {
    assertFault(await svc.call('GET', '/v1/customers?size=501', { token }), 400, 3000, 'size');
  });

  test('an app-only token may list customers and read one', async () => {
    const app = await svc.appToken();
    const list = await svc.call<Collection<Customer>>('GET', '/v1/customers', { token: app });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.totalCount, 2);
    const one = await svc.call<Customer>('GET', `/v1/customers/${F.customerId}`, { token: app });
    assert.equal(one.status, 200, one.text);
  });

  test('GET /v1/customers/{id} shows the company profile with its domain, the custom domains and links', async () => {
    const res = await svc.call<Customer>('GET', `/v1/customers/${F.customerId}`, { token });
    assert.equal(res.status, 200, res.text);
    const c = res.json;
    assert.equal(c.id, F.customerId);
    assert.match(c.commerceId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(c.companyProfile, {
      tenantId: F.customerId, domain: 'fabrikamtraders.onmicrosoft.com', companyName: 'Fabrikam Traders',
      links: { self: { uri: `/customers/${F.customerId}/profiles/company`, method: 'GET', headers: [] } },
      attributes: { objectType: 'CustomerCompanyProfile' },
    });
    assert.equal(c.relationshipToPartner, 'reseller');
    assert.equal(c.allowDelegatedAccess, true);
    assert.ok(c.customDomains?.includes('fabrikam.example'), JSON.stringify(c.customDomains));
    assert.ok(!c.customDomains?.includes('fabrikamtraders.onmicrosoft.com'), 'the initial domain is not a custom domain');
    assert.deepEqual(c.links, { self: { uri: `/customers/${F.customerId}`, method: 'GET', headers: [] } });
    assert.deepEqual(c.attributes, { objectType: 'Customer' });
    // The seed sample builds UPNs on companyProfile.domain: that works.
    const upn = `${randomUUID().replace(/-/g, '')}@${c.companyProfile.domain}`;
    const created = await svc.call<CustomerUser>('POST', `/v1/customers/${c.id}/users`, {
      token, body: { userPrincipalName: upn, displayName: 'From Profile', passwordProfile: { password: 'From-Profile-2025!' } },
    });
    assert.equal(created.status, 201, created.text);
  });

  test('GET /v1/customers/{id} matches the id without regard to case', async () => {
    const res = await svc.call<Customer>('GET', `/v1/customers/${F.customerId.toUpperCase()}`, { token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, F.customerId);
  });

  test('a customer that does not exist, or an id that is not a GUID → 403 20002', async () => {
    assertFault(await svc.call('GET', `/v1/customers/${randomUUID()}`, { token }), 403, 20002);
    assertFault(await svc.call('GET', '/v1/customers/not-a-guid', { token }), 403, 20002);
  });

  test('without a token → 401 800001', async () => {
    assertFault(await svc.call('GET', '/v1/customers'), 401, 800001);
  });
});

describe('a page listed again after a change of users shows the change (pages are kept only while none commits)', () => {
  let svc: TestService;
  let token: string;
  withSuiteService((started, t) => {
    svc = started;
    token = t;
  });

  const list = async (): Promise<CustomerUser[]> => {
    const res = await svc.call<UserPage>('GET', `${usersPath}?size=100`, { token });
    assert.equal(res.status, 200, res.text);
    return res.json.items;
  };
  const names = (items: CustomerUser[]): string[] => items.map((u) => u.displayName);

  test('rename, create, delete, restore, and a change made through the store, each seen by the next list', async () => {
    const first = await list();
    assert.deepEqual(names(await list()), names(first), 'the same page twice');
    const target = first[0];
    assert.ok(target);
    const userPath = `${usersPath}/${target.id}`;

    assert.equal((await svc.call('PATCH', userPath, { token, body: { displayName: 'Renamed While Listed' } })).status, 200);
    assert.equal((await list()).find((u) => u.id === target.id)?.displayName, 'Renamed While Listed');

    const created = await svc.call<CustomerUser>('POST', usersPath, {
      token, body: { userPrincipalName: `listed.${randomUUID().slice(0, 8)}@fabrikamtraders.onmicrosoft.com`, displayName: 'Created While Listed', passwordProfile: { password: 'Listed-Pass-2025!' } },
    });
    assert.equal(created.status, 201, created.text);
    assert.ok(names(await list()).includes('Created While Listed'));

    assert.equal((await svc.call('DELETE', `${usersPath}/${created.json.id}`, { token })).status, 204);
    assert.ok(!names(await list()).includes('Created While Listed'));

    assert.equal((await svc.call('PATCH', `${usersPath}/${created.json.id}`, { token, body: { state: 'active' } })).status, 200);
    assert.ok(names(await list()).includes('Created While Listed'));

    const stored = await svc.store.getUser(CID, target.id);
    assert.ok(stored);
    await svc.store.updateUser({ ...stored, displayName: 'Renamed In The Store' });
    assert.equal((await list()).find((u) => u.id === target.id)?.displayName, 'Renamed In The Store');
  });
});
