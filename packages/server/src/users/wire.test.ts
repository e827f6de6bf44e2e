import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UserRecord } from '../store/records.js';
import { userRecord } from '../testing/harness.js';
import { fullUserAuditValue, toAuditValue, toWireUser } from './wire.js';

const base = userRecord({
  id: '669e9734-fe1f-46bc-8b42-1a47615f979a',
  customerId: 'b662d1f9-72be-40f6-87c7-9fb9380a2726',
  upn: 'priya.raman@fabrikam.example',
  displayName: 'Priya Raman',
  firstName: 'Priya',
  lastName: 'Raman',
  usageLocation: 'FR',
  passwordHash: 'scrypt$secret-hash',
});

const pascal = (k: string): string => k.charAt(0).toUpperCase() + k.slice(1);

/**
 * The audit value Partner Center shows for a user: the user's own wire form (`toWireUser`, tested against the
 * contract elsewhere) with PascalCase names, without `lastDirectorySyncTime`, and with `Body: null` in its self link.
 */
function expected(u: UserRecord): string {
  const { links, attributes, ...fields } = toWireUser(u);
  const v: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(fields)) if (k !== 'lastDirectorySyncTime') v[pascal(k)] = value;
  const self = links.self;
  assert.ok(self !== undefined);
  v.Links = { Self: { Uri: self.uri, Method: self.method, Body: null, Headers: self.headers } };
  v.Attributes = { ObjectType: attributes.objectType };
  return JSON.stringify(v);
}

const users: UserRecord[] = [
  base,
  { ...base, usageLocation: null, firstName: null, lastName: null },
  { ...base, immutableId: 'AbC+/=', phoneNumber: '+1 425 555 0100', userDomainType: 'federated' },
  { ...base, state: 'inactive', softDeletionTime: '2026-12-01T10:00:00Z' },
  { ...base, state: 'active', softDeletionTime: '2026-12-01T10:00:00Z', lastDirectorySyncTime: '2026-11-30T08:00:00Z' },
  { ...base, displayName: 'Quote " back\\slash \u0001 ✓ \u2028 }}', firstName: '', lastName: '"Links":{}}' },
];

describe('audit values of users', () => {
  test('a user audit value is stored without its Links and Attributes, and shown whole: nulls left out, no password', () => {
    for (const u of users) {
      const stored = toAuditValue(u);
      assert.equal(stored.includes('secret-hash'), false);
      const parsed = JSON.parse(stored) as Record<string, unknown>;
      assert.equal('Links' in parsed || 'Attributes' in parsed, false);
      assert.equal(fullUserAuditValue(u.customerId, stored), expected(u));
    }
  });

  test('a user audit value stored whole, as before, is shown as it was stored', () => {
    for (const u of users) assert.equal(fullUserAuditValue(u.customerId, expected(u)), expected(u));
  });

  test('a frozen user gives the same value at each call; a user not frozen is rendered from its fields at each call', () => {
    const frozen = Object.freeze({ ...base, displayName: 'Frozen' });
    assert.equal(fullUserAuditValue(frozen.customerId, toAuditValue(frozen)), expected(frozen));
    assert.equal(fullUserAuditValue(frozen.customerId, toAuditValue(frozen)), expected(frozen));

    const open = { ...base, displayName: 'Before' };
    assert.equal(fullUserAuditValue(open.customerId, toAuditValue(open)), expected(open));
    open.displayName = 'After';
    assert.equal((JSON.parse(toAuditValue(open)) as { DisplayName: string }).DisplayName, 'After');
  });
});
