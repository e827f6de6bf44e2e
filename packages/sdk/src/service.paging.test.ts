/** Paging to the end over thousands of users of the real service, by items and by pages, sorted and not. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEMO_IDS, startTestService, type TestService } from '@partnerkit/server/testing';
import type { CustomerUser, PartnerClient } from './index.js';
import { clientFor, recordingFetch } from './testing/service.js';

const C = DEMO_IDS.contoso;
const SEEDED = 3000;
const DEMO_USERS = 4;
let svc: TestService;
let partner: PartnerClient;

before(async () => {
  svc = await startTestService();
  await svc.store.transaction(async (tx) => {
    for (let i = 0; i < SEEDED; i++) {
      const n = String(i).padStart(4, '0');
      await tx.insertUser({
        id: `00000000-0000-4000-8000-00000000${n}`,
        customerId: C.customerId,
        upn: `bulk.${n}@contosooutfitters.onmicrosoft.com`,
        // shuffled, so sorting by name differs from creation order
        displayName: `Bulk ${String((i * 7919) % SEEDED).padStart(4, '0')}`,
        firstName: null,
        lastName: null,
        usageLocation: 'US',
        immutableId: null,
        phoneNumber: null,
        passwordHash: null,
        forceChangePassword: false,
        state: i % 100 === 0 ? 'inactive' : 'active',
        softDeletionTime: i % 100 === 0 ? new Date().toISOString() : null,
        userDomainType: 'none',
        lastDirectorySyncTime: null,
      });
    }
  });
  partner = clientFor(svc);
});
after(async () => {
  await svc.close();
});

const ACTIVE = SEEDED - SEEDED / 100 + DEMO_USERS;

test(`list() reads every page to the end: ${String(ACTIVE)} active users at the default page size`, async () => {
  const f = recordingFetch();
  const users = clientFor(svc, { fetch: f }).customers.byId(C.customerId).users;
  const ids = new Set<string>();
  for await (const u of users.list()) ids.add(u.id);
  assert.equal(ids.size, ACTIVE);
  const pages = f.attempts.filter((a) => a.url.includes('/users'));
  assert.equal(pages.length, Math.ceil(ACTIVE / 100));
  assert.ok(pages.slice(1).every((a) => a.url.endsWith('seekOperation=Next')));
  assert.equal(new Set(pages.map((a) => a.requestId)).size, pages.length);
});

test('byPage({ maxPageSize: 500 }): full pages, then the rest; sorted by display name', async () => {
  const sizes: number[] = [];
  const names: string[] = [];
  for await (const page of partner.customers.byId(C.customerId).users.list({ sortField: 'DisplayName' }).byPage({ maxPageSize: 500 })) {
    sizes.push(page.totalCount);
    assert.equal(page.totalCount, page.items.length);
    names.push(...page.items.map((u) => u.displayName));
  }
  assert.deepEqual(sizes, [500, 500, 500, 500, 500, ACTIVE - 2500]);
  assert.deepEqual(names, [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
});

test('listDeleted() pages too; a saved continuation token resumes a listing', async () => {
  const users = partner.customers.byId(C.customerId).users;
  let deleted = 0;
  for await (const u of users.listDeleted({ pageSize: 7 })) {
    assert.equal(u.state, 'inactive');
    deleted++;
  }
  assert.equal(deleted, SEEDED / 100);

  const firstPage = await users.list({ pageSize: 250 }).byPage().next();
  assert.ok(!firstPage.done);
  const token = firstPage.value.continuationToken;
  assert.ok(token);
  const rest: CustomerUser[] = [];
  for await (const page of users.list().byPage({ continuationToken: token, maxPageSize: 250 })) rest.push(...page.items);
  const all = new Set([...firstPage.value.items, ...rest].map((u) => u.id));
  assert.equal(all.size, ACTIVE);
});
