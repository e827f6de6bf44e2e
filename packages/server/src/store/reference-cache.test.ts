/** The cache of customers and GDAP grants: kept for its time to live, emptied by the store's own writes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTestStore } from '../testing/harness.js';
import { ReferenceCache } from './reference-cache.js';

test('a cached value is served until its time to live ends, then loaded again', async () => {
  let now = 0;
  const cache = new ReferenceCache(1000, () => now);
  let loads = 0;
  const load = (): Promise<number> => Promise.resolve(++loads);
  assert.equal(await cache.get('k', load), 1);
  now = 999;
  assert.equal(await cache.get('k', load), 1);
  now = 1000;
  assert.equal(await cache.get('k', load), 2);
  cache.clear();
  assert.equal(await cache.get('k', load), 3);
});

test('a failed load is not kept', async () => {
  const cache = new ReferenceCache(1000, () => 0);
  await assert.rejects(cache.get('k', () => Promise.reject(new Error('store down'))), /store down/);
  assert.equal(await cache.get('k', () => Promise.resolve('back')), 'back');
});

test('the store sees its own changes of customers and GDAP data at once, in or out of a transaction', async () => {
  const store = await openTestStore();
  try {
    const partnerId = 'a0000000-0000-4000-8000-000000000001';
    const customerId = 'c0000000-0000-4000-8000-000000000001';
    const userId = 'e0000000-0000-4000-8000-000000000001';
    const groupId = 'f0000000-0000-4000-8000-000000000001';
    await store.insertPartner({ tenantId: partnerId, name: 'P', domain: 'p.example' });
    assert.equal(await store.getCustomer(customerId), undefined);
    await store.insertCustomer({
      id: customerId, partnerId, commerceId: customerId, companyName: 'C', domain: 'c.example', relationshipToPartner: 'reseller', allowDelegatedAccess: true,
    });
    assert.equal((await store.getCustomer(customerId))?.companyName, 'C');

    assert.deepEqual(await store.gdapGrants(partnerId, customerId, userId), []);
    await store.transaction(async (tx) => {
      await tx.insertGroup({ id: groupId, partnerId, displayName: 'G' });
      await tx.insertPartnerUser({ id: userId, partnerId, upn: 'u@p.example', displayName: 'U', passwordHash: 'x', mfa: true });
      await tx.insertGroupMember(groupId, userId);
      await tx.insertRelationship({
        id: 'r1', partnerId, customerId, displayName: 'R', status: 'active', endDateTime: null, roles: ['fe930be7-5e62-47db-91af-98c3a49a38b1'],
      });
      await tx.insertAssignment({ id: 'a1', relationshipId: 'r1', groupId, roles: ['fe930be7-5e62-47db-91af-98c3a49a38b1'] });
      // A read outside the transaction meanwhile caches what was committed before it.
      assert.deepEqual(await store.gdapGrants(partnerId, customerId, userId), []);
    });
    const grants = await store.gdapGrants(partnerId, customerId, userId);
    assert.deepEqual(grants.map((g) => g.relationshipId), ['r1']);
  } finally {
    await store.close();
  }
});
