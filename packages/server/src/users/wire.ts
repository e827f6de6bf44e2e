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

/** The PascalCase form Partner Center embeds in audit records' old and new values. Never holds a password. */
export function toAuditValue(u: UserRecord): string {
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
  v.Links = { Self: { Uri: userPath(u.customerId, u.id), Method: 'GET', Body: null, Headers: [] } };
  v.Attributes = { ObjectType: ObjectTypes.customerUser };
  return JSON.stringify(v);
}
