import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UserRecord } from '../store/records.js';
import { fullUserAuditValue, toAuditValue } from './wire.js';

const base: UserRecord = {
  id: '669e9734-fe1f-46bc-8b42-1a47615f979a',
  customerId: 'b662d1f9-72be-40f6-87c7-9fb9380a2726',
  upn: 'priya.raman@fabrikam.example',
  displayName: 'Priya Raman',
  firstName: 'Priya',
  lastName: 'Raman',
  usageLocation: 'FR',
  immutableId: null,
  phoneNumber: null,
  passwordHash: 'scrypt$secret-hash',
  forceChangePassword: false,
  state: 'active',
  softDeletionTime: null,
  userDomainType: 'none',
  lastDirectorySyncTime: null,
};

/** The audit value as an object, in Partner Center's field order, serialised by JSON.stringify. */
function expected(u: UserRecord): string {
  const v: Record<string, unknown> = {};
  if (u.usageLocation !== null) v.UsageLocation = u.usageLocation;
  v.Id = u.id;
  v.UserPrincipalName = u.upn;
  if (u.firstName !== null) v.FirstName = u.firstName;
  if (u.lastName !== null) v.LastName = u.lastName;
  v.DisplayName = u.displayName;
  if (u.immutableId !== null) v.ImmutableId = u.immutableId;
  if (u.phoneNumber !== null) v.PhoneNumber = u.phoneNumber;
  v.UserDomainType = u.userDomainType;
  v.State = u.state;
  if (u.state === 'inactive' && u.softDeletionTime !== null) v.SoftDeletionTime = u.softDeletionTime;
  v.Links = { Self: { Uri: `/customers/${u.customerId}/users/${u.id}`, Method: 'GET', Body: null, Headers: [] } };
  v.Attributes = { ObjectType: 'CustomerUser' };
  return JSON.stringify(v);
}

const users: UserRecord[] = [
  base,
  { ...base, usageLocation: null, firstName: null, lastName: null },
  { ...base, immutableId: 'AbC+/=', phoneNumber: '+1 425 555 0100', userDomainType: 'federated' },
  { ...base, state: 'inactive', softDeletionTime: '2026-12-01T10:00:00Z' },
  { ...base, state: 'active', softDeletionTime: '2026-12-01T10:00:00Z' },
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
