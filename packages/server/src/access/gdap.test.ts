/**
 * Unit tests of the GDAP rules: effective roles of a partner user, the roles each operation needs (the
 * spec's 1.9 table), and the admin-on-admin "sensitive actions" matrix.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoleIds, RoleNames } from '@partnerkit/contract';
import { PartnerKitError } from '../errors.js';
import type { GdapGrant } from '../store/records.js';
import { effectiveRoles, effectiveRolesAt, REQUIRED_ROLES, requireMayActOnTarget, requireRoles, SENSITIVE_ACTIONS, type Operation, type SensitiveAction } from './gdap.js';

const R = RoleIds;
const NOW = new Date('2026-06-01T12:00:00.000Z');
const FUTURE = '2027-12-31T00:00:00.000Z';
const PAST = '2026-01-01T00:00:00.000Z';

const name = (id: string): string => RoleNames[id] ?? id;

function grant(over: Partial<GdapGrant> & Pick<GdapGrant, 'assignmentRoles'>): GdapGrant {
  return {
    relationshipId: 'rel',
    status: 'active',
    endDateTime: FUTURE,
    relationshipRoles: over.assignmentRoles,
    ...over,
  };
}

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

/** Runs `fn`, which must throw 403 900150's kind; returns the error. */
function refused(fn: () => void): PartnerKitError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PartnerKitError, `expected a PartnerKitError, got ${String(caught)}`);
  assert.equal(caught.kind, 'roleNotAllowed');
  return caught;
}

/** The spec's 1.9 table, written out independently of the implementation. */
const SPEC_TABLE: Record<Operation, string[]> = {
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
const OPERATIONS = Object.keys(SPEC_TABLE) as Operation[];
const ALL_ROLES: string[] = Object.values(R);

// ---- effectiveRoles --------------------------------------------------------------------------------------

describe('effectiveRoles', () => {
  test('no grants: no roles', () => {
    assert.deepEqual(sorted(effectiveRoles([], NOW)), []);
  });

  test('the union of every active, unexpired grant', () => {
    const roles = effectiveRoles(
      [
        grant({ relationshipId: 'a', assignmentRoles: [R.userAdministrator] }),
        grant({ relationshipId: 'b', assignmentRoles: [R.directoryReaders, R.globalReader] }),
        grant({ relationshipId: 'c', endDateTime: null, assignmentRoles: [R.licenseAdministrator] }),
      ],
      NOW,
    );
    assert.deepEqual(sorted(roles), [R.userAdministrator, R.directoryReaders, R.globalReader, R.licenseAdministrator].sort());
  });

  test("each assignment is limited to its relationship's own roles", () => {
    const roles = effectiveRoles(
      [grant({ relationshipRoles: [R.directoryReaders], assignmentRoles: [R.directoryReaders, R.globalAdministrator, R.userAdministrator] })],
      NOW,
    );
    assert.deepEqual(sorted(roles), [R.directoryReaders]);
  });

  test('a role of another relationship does not widen an assignment', () => {
    // Relationship a grants UA but assigns only DR; relationship b assigns UA but does not hold it.
    const roles = effectiveRoles(
      [
        grant({ relationshipId: 'a', relationshipRoles: [R.userAdministrator, R.directoryReaders], assignmentRoles: [R.directoryReaders] }),
        grant({ relationshipId: 'b', relationshipRoles: [R.globalReader], assignmentRoles: [R.userAdministrator] }),
      ],
      NOW,
    );
    assert.deepEqual(sorted(roles), [R.directoryReaders]);
  });

  test('relationships that are not active grant nothing', () => {
    for (const status of ['terminated', 'expired', 'pending', 'approvalPending', 'terminationRequested', '']) {
      const roles = effectiveRoles([grant({ status, assignmentRoles: [R.globalAdministrator] })], NOW);
      assert.deepEqual(sorted(roles), [], status);
    }
  });

  test('status is matched without regard to case', () => {
    assert.deepEqual(sorted(effectiveRoles([grant({ status: 'Active', assignmentRoles: [R.userAdministrator] })], NOW)), [R.userAdministrator]);
  });

  test('a relationship past its endDateTime grants nothing; the end instant itself is past', () => {
    assert.deepEqual(sorted(effectiveRoles([grant({ endDateTime: PAST, assignmentRoles: [R.globalAdministrator] })], NOW)), []);
    assert.deepEqual(sorted(effectiveRoles([grant({ endDateTime: NOW.toISOString(), assignmentRoles: [R.globalAdministrator] })], NOW)), []);
    const justAfter = new Date(NOW.getTime() + 1).toISOString();
    assert.deepEqual(sorted(effectiveRoles([grant({ endDateTime: justAfter, assignmentRoles: [R.globalAdministrator] })], NOW)), [R.globalAdministrator]);
  });

  test('worked out once per grant list, and again once one of its grants has ended', () => {
    const end = NOW.getTime() + 60_000;
    const grants = [
      grant({ relationshipId: 'short', endDateTime: new Date(end).toISOString(), assignmentRoles: [R.userAdministrator] }),
      grant({ relationshipId: 'long', assignmentRoles: [R.directoryReaders] }),
    ];
    const first = effectiveRolesAt(grants, NOW.getTime());
    assert.deepEqual(sorted(first), [R.directoryReaders, R.userAdministrator].sort());
    assert.equal(effectiveRolesAt(grants, end - 1), first, 'the same set while every grant holds');
    assert.deepEqual(sorted(effectiveRolesAt(grants, end)), [R.directoryReaders], 'the short grant has ended');
    // Another list (the cache reloaded) is worked out on its own.
    assert.deepEqual(sorted(effectiveRolesAt([grants[1] as GdapGrant], NOW.getTime())), [R.directoryReaders]);
  });

  test('an endDateTime that does not parse grants nothing (fail closed)', () => {
    for (const endDateTime of ['not a date', '', '2027-13-45T99:00:00Z']) {
      assert.deepEqual(sorted(effectiveRoles([grant({ endDateTime, assignmentRoles: [R.globalAdministrator] })], NOW)), [], endDateTime);
    }
  });

  test('role ids are matched without regard to case and returned lower case', () => {
    const upper = R.userAdministrator.toUpperCase();
    const roles = effectiveRoles([grant({ relationshipRoles: [upper], assignmentRoles: [R.userAdministrator] })], NOW);
    assert.deepEqual(sorted(roles), [R.userAdministrator]);
    const roles2 = effectiveRoles([grant({ relationshipRoles: [R.userAdministrator], assignmentRoles: [upper] })], NOW);
    assert.deepEqual(sorted(roles2), [R.userAdministrator]);
  });

  test('an expired grant does not cancel an active one holding the same role', () => {
    const roles = effectiveRoles(
      [
        grant({ relationshipId: 'old', endDateTime: PAST, assignmentRoles: [R.userAdministrator] }),
        grant({ relationshipId: 'new', assignmentRoles: [R.userAdministrator] }),
      ],
      NOW,
    );
    assert.deepEqual(sorted(roles), [R.userAdministrator]);
  });
});

// ---- REQUIRED_ROLES and requireRoles ---------------------------------------------------------------------

describe('requireRoles', () => {
  test("REQUIRED_ROLES is the spec's 1.9 table", () => {
    assert.deepEqual(Object.keys(REQUIRED_ROLES).sort(), [...OPERATIONS].sort());
    for (const op of OPERATIONS) assert.deepEqual([...REQUIRED_ROLES[op]].sort(), [...SPEC_TABLE[op]].sort(), op);
  });

  test('every operation × every single role: allowed exactly when the table lists the role', () => {
    for (const op of OPERATIONS) {
      for (const role of ALL_ROLES) {
        const allowed = role === R.globalAdministrator || SPEC_TABLE[op].includes(role);
        if (allowed) requireRoles(new Set([role]), [op]);
        else refused(() => requireRoles(new Set([role]), [op]));
      }
    }
  });

  test('Global Administrator passes every operation, alone or together', () => {
    requireRoles(new Set([R.globalAdministrator]), OPERATIONS);
  });

  test('no roles: every operation is refused', () => {
    for (const op of OPERATIONS) refused(() => requireRoles(new Set(), [op]));
  });

  test('the refusal names every role that would allow the operation, Global Administrator included', () => {
    for (const op of OPERATIONS) {
      const err = refused(() => requireRoles(new Set([R.billingAdministrator]), [op]));
      const allowing = [...SPEC_TABLE[op], R.globalAdministrator];
      const listed = /one of these GDAP roles on the customer: (.*)\.$/.exec(err.message)?.[1];
      assert.ok(listed !== undefined, err.message);
      assert.deepEqual(listed.split(/, | or /).sort(), allowing.map(name).sort(), op);
      const data = err.data[0] as { operation: string; requiredRoles: { id: string; name: string }[] };
      assert.equal(data.operation, op);
      assert.deepEqual(data.requiredRoles.map((r) => r.id).sort(), [...allowing].sort());
      for (const r of data.requiredRoles) assert.equal(r.name, name(r.id));
    }
  });

  test('several operations: all must be allowed, and the refused one is named', () => {
    // Directory Writers may update basic fields but not reset passwords.
    requireRoles(new Set([R.directoryWriters]), ['updateUser']);
    const err = refused(() => requireRoles(new Set([R.directoryWriters]), ['updateUser', 'resetPassword']));
    assert.equal((err.data[0] as { operation: string }).operation, 'resetPassword');
    assert.match(err.message, /Privileged Authentication Administrator/);
    // Privileged Authentication Administrator may reset passwords but not update basic fields.
    requireRoles(new Set([R.privilegedAuthenticationAdministrator]), ['resetPassword']);
    refused(() => requireRoles(new Set([R.privilegedAuthenticationAdministrator]), ['updateUser', 'resetPassword']));
    // Two roles together cover both.
    requireRoles(new Set([R.directoryWriters, R.privilegedAuthenticationAdministrator]), ['updateUser', 'resetPassword']);
  });

  test('License Administrator grants nothing in this slice', () => {
    for (const op of OPERATIONS) refused(() => requireRoles(new Set([R.licenseAdministrator]), [op]));
  });
});

// ---- requireMayActOnTarget -------------------------------------------------------------------------------

/** Targets a User Administrator may act on (Entra's "who can perform sensitive actions"). */
const LIMITED_TARGETS: string[] = [
  R.directoryReaders, R.guestInviter, R.helpdeskAdministrator, R.messageCenterReader, R.passwordAdministrator, R.reportsReader,
  R.groupsAdministrator, R.userAdministrator, R.userExperienceSuccessManager, R.usageSummaryReportsReader,
];
const PROTECTED_TARGETS = ALL_ROLES.filter((r) => !LIMITED_TARGETS.includes(r));
const CUSTOM_ROLE = '11111111-2222-4333-8444-555555555555';
const ACTIONS: SensitiveAction[][] = (Object.keys(SENSITIVE_ACTIONS) as SensitiveAction[]).map((a) => [a]);

describe('requireMayActOnTarget', () => {
  test('the protected list holds the privileged roles and every role outside the limited list', () => {
    for (const r of [R.globalAdministrator, R.privilegedAuthenticationAdministrator, R.privilegedRoleAdministrator, R.authenticationAdministrator, R.exchangeAdministrator]) {
      assert.ok(PROTECTED_TARGETS.includes(r));
    }
  });

  test('a User Administrator may act on users with no role or only limited roles', () => {
    const ua = new Set([R.userAdministrator]);
    for (const action of ACTIONS) {
      requireMayActOnTarget(ua, [], action);
      for (const t of LIMITED_TARGETS) requireMayActOnTarget(ua, [t], action);
      requireMayActOnTarget(ua, LIMITED_TARGETS, action);
    }
  });

  test('a User Administrator may not act on privileged users, nor on any role outside its list', () => {
    const ua = new Set([R.userAdministrator]);
    for (const action of ACTIONS) {
      for (const t of [...PROTECTED_TARGETS, CUSTOM_ROLE]) refused(() => requireMayActOnTarget(ua, [t], action));
    }
  });

  test('Directory Writers are held to the same rule', () => {
    const dw = new Set([R.directoryWriters]);
    requireMayActOnTarget(dw, [R.helpdeskAdministrator], ['changeUserPrincipalName']);
    refused(() => requireMayActOnTarget(dw, [R.globalAdministrator], ['changeUserPrincipalName']));
    refused(() => requireMayActOnTarget(dw, [R.exchangeAdministrator], ['restore']));
  });

  test('one protected role among limited ones is enough to refuse, and only it is named as the target role', () => {
    const err = refused(() =>
      requireMayActOnTarget(new Set([R.userAdministrator]), [R.helpdeskAdministrator, R.exchangeAdministrator], ['resetPassword']),
    );
    const data = err.data[0] as { targetRoles: { id: string; name: string }[] };
    assert.deepEqual(data.targetRoles, [{ id: R.exchangeAdministrator, name: 'Exchange Administrator' }]);
    assert.match(err.message, /holds Exchange Administrator,/);
    assert.doesNotMatch(err.message, /Helpdesk/);
  });

  test('Global Administrator and Privileged Authentication Administrator callers may act on every user', () => {
    for (const caller of [R.globalAdministrator, R.privilegedAuthenticationAdministrator]) {
      for (const action of ACTIONS) {
        for (const t of [...ALL_ROLES, CUSTOM_ROLE]) requireMayActOnTarget(new Set([caller, R.userAdministrator]), [t], action);
        requireMayActOnTarget(new Set([caller]), [R.globalAdministrator], action);
      }
    }
  });

  test('Privileged Role Administrator is not an unrestricted caller', () => {
    refused(() => requireMayActOnTarget(new Set([R.privilegedRoleAdministrator, R.userAdministrator]), [R.globalAdministrator], ['delete']));
  });

  test('target role ids are matched without regard to case', () => {
    const ua = new Set([R.userAdministrator]);
    requireMayActOnTarget(ua, [R.helpdeskAdministrator.toUpperCase()], ['delete']);
    const err = refused(() => requireMayActOnTarget(ua, [R.globalAdministrator.toUpperCase()], ['delete']));
    assert.match(err.message, /holds Global Administrator/);
  });

  test("the refusal names the target's privileged roles and the roles that would allow the request", () => {
    const ua = new Set([R.userAdministrator]);
    const cases: { actions: SensitiveAction[]; allowing: string[] }[] = [
      // Privileged Authentication Administrator may reset any password...
      { actions: ['resetPassword'], allowing: [R.globalAdministrator, R.privilegedAuthenticationAdministrator] },
      // ...but it holds none of the roles delete, restore or a UPN change need: only Global Administrator allows those.
      { actions: ['changeUserPrincipalName'], allowing: [R.globalAdministrator] },
      { actions: ['changeImmutableId'], allowing: [R.globalAdministrator] },
      { actions: ['restore'], allowing: [R.globalAdministrator] },
      { actions: ['delete'], allowing: [R.globalAdministrator] },
      { actions: ['resetPassword', 'restore'], allowing: [R.globalAdministrator] },
    ];
    for (const { actions, allowing } of cases) {
      const phrase = actions.map((a) => SENSITIVE_ACTIONS[a].phrase).join(', ');
      const err = refused(() => requireMayActOnTarget(ua, [R.privilegedRoleAdministrator], actions));
      assert.ok(err.message.includes('holds Privileged Role Administrator'), err.message);
      assert.ok(err.message.includes(`may ${phrase} such a user`), err.message);
      const data = err.data[0] as { actions: string[]; targetRoles: { id: string }[]; requiredRoles: { id: string; name: string }[] };
      assert.deepEqual(data.actions, actions);
      assert.deepEqual(data.targetRoles.map((r) => r.id), [R.privilegedRoleAdministrator]);
      assert.deepEqual(data.requiredRoles.map((r) => r.id).sort(), [...allowing].sort(), phrase);
      for (const id of allowing) assert.ok(err.message.includes(`only ${name(id)}`) || err.message.includes(`or ${name(id)}`), `${phrase}: ${err.message}`);
      if (!allowing.includes(R.privilegedAuthenticationAdministrator)) assert.doesNotMatch(err.message, /Privileged Authentication/);
    }
  });

  test('no sensitive action means nothing to check', () => {
    requireMayActOnTarget(new Set([R.directoryWriters]), [R.globalAdministrator], []);
  });
});
