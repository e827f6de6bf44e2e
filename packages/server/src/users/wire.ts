/** A stored user as Partner Center shows it: camelCase, nulls omitted, links.self and attributes. */
import { ObjectTypes, type CustomerUser } from '@partnerkit/contract';
import type { UserRecord } from '../store/records.js';

export const userPath = (customerId: string, userId: string): string => `/customers/${customerId}/users/${userId}`;

export function toWireUser(u: UserRecord): CustomerUser {
  const out: Partial<CustomerUser> = {};
  if (u.usageLocation !== null) out.usageLocation = u.usageLocation;
  out.id = u.id;
  out.userPrincipalName = u.upn;
  if (u.firstName !== null) out.firstName = u.firstName;
  if (u.lastName !== null) out.lastName = u.lastName;
  out.displayName = u.displayName;
  if (u.immutableId !== null) out.immutableId = u.immutableId;
  if (u.phoneNumber !== null) out.phoneNumber = u.phoneNumber;
  if (u.lastDirectorySyncTime !== null) out.lastDirectorySyncTime = u.lastDirectorySyncTime;
  out.userDomainType = u.userDomainType;
  out.state = u.state;
  if (u.state === 'inactive' && u.softDeletionTime !== null) out.softDeletionTime = u.softDeletionTime;
  out.links = { self: { uri: userPath(u.customerId, u.id), method: 'GET', headers: [] } };
  out.attributes = { objectType: ObjectTypes.customerUser };
  return out as CustomerUser;
}

/**
 * Audit values already rendered, by user record. Only frozen records are kept here: a stored user is frozen and never
 * changed (a change makes a new record), so the value rendered as a change's new value serves again as the next
 * change's old value.
 */
const auditValues = new WeakMap<UserRecord, string>();

/**
 * A user's audit value as the store keeps it: the PascalCase form Partner Center embeds in audit records' old and new
 * values, without its `Links` and `Attributes`, which follow from the record's customer and the user's id
 * (`fullUserAuditValue` puts them back). Never holds a password. Written as text in the order `JSON.stringify` would
 * give it (a string per field), at about two-thirds of its cost.
 */
export function toAuditValue(u: UserRecord): string {
  const frozen = Object.isFrozen(u);
  if (frozen) {
    const kept = auditValues.get(u);
    if (kept !== undefined) return kept;
  }
  const q = JSON.stringify;
  let s = u.usageLocation !== null ? `{"UsageLocation":${q(u.usageLocation)},` : '{';
  s += `"Id":${q(u.id)},"UserPrincipalName":${q(u.upn)}`;
  if (u.firstName !== null) s += `,"FirstName":${q(u.firstName)}`;
  if (u.lastName !== null) s += `,"LastName":${q(u.lastName)}`;
  s += `,"DisplayName":${q(u.displayName)}`;
  if (u.immutableId !== null) s += `,"ImmutableId":${q(u.immutableId)}`;
  if (u.phoneNumber !== null) s += `,"PhoneNumber":${q(u.phoneNumber)}`;
  s += `,"UserDomainType":${q(u.userDomainType)},"State":${q(u.state)}`;
  if (u.state === 'inactive' && u.softDeletionTime !== null) s += `,"SoftDeletionTime":${q(u.softDeletionTime)}}`;
  else s += '}';
  if (frozen) auditValues.set(u, s);
  return s;
}

/**
 * A user's audit value as Partner Center shows it, from the value stored (`toAuditValue`) and the audit record's
 * customer. A value stored whole, as before 2026-12-07, is shown as it is: it ends with its `Attributes` object
 * (`}}`), where a value stored without them ends with a string (`"}`).
 */
export function fullUserAuditValue(customerId: string, stored: string): string {
  if (stored.endsWith('}}')) return stored;
  const { Id: id } = JSON.parse(stored) as { Id?: unknown };
  if (typeof id !== 'string') return stored;
  return `${stored.slice(0, -1)},"Links":{"Self":{"Uri":${JSON.stringify(userPath(customerId, id))},"Method":"GET","Body":null,"Headers":[]}},` +
    `"Attributes":{"ObjectType":${JSON.stringify(ObjectTypes.customerUser)}}}`;
}
