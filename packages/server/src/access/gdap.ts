/**
 * GDAP: the effective roles of a partner user on a customer, which roles each operation needs, and the
 * admin-on-admin rule for sensitive changes. No I/O beyond the store queries passed in.
 */
import { RoleIds, RoleNames } from '@partnerkit/contract';
import { PartnerKitError } from '../errors.js';
import type { GdapGrant } from '../store/records.js';

export type Operation =
  | 'getUser'
  | 'listUsers'
  | 'listDeletedUsers'
  | 'createUser'
  | 'updateUser'
  | 'resetPassword'
  | 'restoreUser'
  | 'deleteUser'
  | 'readRoles'
  | 'addRoleMember'
  | 'removeRoleMember';

const R = RoleIds;

/** Any one of these roles allows the operation (Global Administrator allows everything). */
export const REQUIRED_ROLES: Readonly<Record<Operation, readonly string[]>> = {
  getUser: [R.directoryReaders, R.globalReader, R.userAdministrator],
  listUsers: [R.directoryReaders, R.globalReader, R.userAdministrator],
  listDeletedUsers: [R.directoryReaders, R.globalReader, R.userAdministrator],
  createUser: [R.userAdministrator, R.directoryWriters],
  updateUser: [R.userAdministrator, R.directoryWriters],
  resetPassword: [R.userAdministrator, R.privilegedAuthenticationAdministrator],
  restoreUser: [R.userAdministrator, R.directoryWriters],
  deleteUser: [R.userAdministrator],
  readRoles: [R.directoryReaders, R.globalReader, R.userAdministrator, R.privilegedRoleAdministrator, R.directoryWriters],
  addRoleMember: [R.privilegedRoleAdministrator],
  removeRoleMember: [R.privilegedRoleAdministrator],
};

/** Roles a User Administrator (or Directory Writers) may perform sensitive actions on (Entra's matrix). */
const LIMITED_ADMIN_TARGETS: ReadonlySet<string> = new Set([
  R.directoryReaders,
  R.guestInviter,
  R.helpdeskAdministrator,
  R.messageCenterReader,
  R.passwordAdministrator,
  R.reportsReader,
  R.groupsAdministrator,
  R.userAdministrator,
  R.userExperienceSuccessManager,
  R.usageSummaryReportsReader,
]);

/** Callers holding one of these may perform sensitive actions on any user. */
const UNRESTRICTED_ROLES: readonly string[] = [R.globalAdministrator, R.privilegedAuthenticationAdministrator];

export const roleName = (id: string): string => RoleNames[id] ?? id;

/**
 * The union of roles granted by every access assignment of an `active`, unexpired relationship, each limited
 * to the relationship's own roles.
 */
export function effectiveRoles(grants: readonly GdapGrant[], now: Date): Set<string> {
  const roles = new Set<string>();
  for (const g of grants) {
    if (g.status.toLowerCase() !== 'active') continue;
    // An end that does not parse counts as past: a grant is never widened by bad data.
    if (g.endDateTime !== null && !(Date.parse(g.endDateTime) > now.getTime())) continue;
    const allowed = new Set(g.relationshipRoles.map((r) => r.toLowerCase()));
    for (const r of g.assignmentRoles) {
      const id = r.toLowerCase();
      if (allowed.has(id)) roles.add(id);
    }
  }
  return roles;
}

/** Effective roles already worked out, by grant list (the store's reference cache hands out the same list). */
const worked = new WeakMap<readonly GdapGrant[], { roles: ReadonlySet<string>; until: number }>();

/**
 * `effectiveRoles` at `nowMs`, worked out once per grant list and reused until the first end date of its grants
 * still ahead at that time. The set is shared: callers must not change it.
 */
export function effectiveRolesAt(grants: readonly GdapGrant[], nowMs: number): ReadonlySet<string> {
  const kept = worked.get(grants);
  if (kept !== undefined && nowMs < kept.until) return kept.roles;
  const roles = effectiveRoles(grants, new Date(nowMs));
  let until = Infinity;
  for (const g of grants) {
    if (g.endDateTime === null) continue;
    const end = Date.parse(g.endDateTime);
    if (end > nowMs && end < until) until = end;
  }
  worked.set(grants, { roles, until });
  return roles;
}

const list = (ids: readonly string[]): string => {
  const names = ids.map(roleName);
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1] ?? ''}`;
};

/** Throws 403 900150 unless the roles allow every one of `operations`. */
export function requireRoles(roles: ReadonlySet<string>, operations: readonly Operation[]): void {
  if (roles.has(R.globalAdministrator)) return;
  for (const op of operations) {
    const required = REQUIRED_ROLES[op];
    if (!required.some((r) => roles.has(r))) {
      const allowing = [...required, R.globalAdministrator];
      throw new PartnerKitError(
        'roleNotAllowed',
        `The supplied role does not have the rights to perform the requested operation. This operation requires one of these GDAP roles on the customer: ${list(allowing)}.`,
        { data: [{ operation: op, requiredRoles: allowing.map((id) => ({ id, name: roleName(id) })) }] },
      );
    }
  }
}

/**
 * Entra's sensitive actions on a user, as PartnerKit's PATCH and DELETE can perform them, with the operation
 * whose role check each also passes through and the phrase a refusal uses.
 */
export const SENSITIVE_ACTIONS = {
  resetPassword: { operation: 'resetPassword', phrase: 'reset the password of' },
  changeUserPrincipalName: { operation: 'updateUser', phrase: 'change the userPrincipalName of' },
  changeImmutableId: { operation: 'updateUser', phrase: 'change the immutableId of' },
  changePhoneNumber: { operation: 'updateUser', phrase: 'change the phone number of' },
  restore: { operation: 'restoreUser', phrase: 'restore' },
  delete: { operation: 'deleteUser', phrase: 'delete' },
} as const satisfies Record<string, { operation: Operation; phrase: string }>;
export type SensitiveAction = keyof typeof SENSITIVE_ACTIONS;

/**
 * The admin-on-admin rule: a caller without Global Administrator or Privileged Authentication Administrator
 * may perform a sensitive action on a user only when every role the user holds is in the limited list.
 * The refusal names the target's privileged roles and the roles that would allow the whole request: an
 * unrestricted role that the operations' own role check also lets through (Privileged Authentication
 * Administrator may reset any password, but it may not delete, restore or rename anyone).
 */
export function requireMayActOnTarget(
  callerRoles: ReadonlySet<string>,
  targetRoles: readonly string[],
  actions: readonly SensitiveAction[],
): void {
  if (actions.length === 0 || UNRESTRICTED_ROLES.some((r) => callerRoles.has(r))) return;
  const privileged = targetRoles.map((r) => r.toLowerCase()).filter((r) => !LIMITED_ADMIN_TARGETS.has(r));
  if (privileged.length === 0) return;
  const operations = actions.map((a) => SENSITIVE_ACTIONS[a].operation);
  const allowing = UNRESTRICTED_ROLES.filter((r) => r === R.globalAdministrator || operations.every((op) => REQUIRED_ROLES[op].includes(r)));
  const phrase = actions.map((a) => SENSITIVE_ACTIONS[a].phrase).join(', ');
  throw new PartnerKitError(
    'roleNotAllowed',
    `The supplied role does not have the rights to perform the requested operation: the target user holds ${list(privileged)}, and only ${list(allowing)} may ${phrase} such a user.`,
    {
      data: [{
        actions: [...actions],
        targetRoles: privileged.map((id) => ({ id, name: roleName(id) })),
        requiredRoles: allowing.map((id) => ({ id, name: roleName(id) })),
      }],
    },
  );
}
