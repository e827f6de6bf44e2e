/**
 * GDAP access control over real HTTP: every user operation × every caller role against the spec's 1.9 table,
 * the admin-on-admin rule, and object-level checks (customer of the partner, of another partner, unknown).
 * Every refused request must change nothing: the target, the user count and the audit trail stay as they were.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RoleIds, RoleNames } from '@partnerkit/contract';
import { startTestService, type CallResult, type TestService } from '../testing/harness.js';
import type { UserRecord } from '../store/records.js';

const R = RoleIds;

/** A stable GUID for a name. */
const guid = (label: string): string => {
  const h = createHash('sha256').update(`access-test:${label}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const PARTNER = { tenantId: guid('partner-a'), domain: 'accesspartner.onmicrosoft.com' };
const APP = { clientId: guid('app-a'), clientSecret: 'access~test.Secret-value' };
const OTHER = { tenantId: guid('partner-b'), domain: 'otherpartner.onmicrosoft.com', clientId: guid('app-b'), clientSecret: 'other~test.Secret-value' };
const PASSWORD = 'Access-Test-Passw0rd!';
const NEW_PASSWORD = 'Reset-Passw0rd-2026!';

const CUSTOMER = { id: guid('customer-1'), domain: 'accesscustomer.onmicrosoft.com' };
/** A second customer of the same partner: only the GA group holds a role there. */
const CUSTOMER2 = { id: guid('customer-2'), domain: 'secondcustomer.onmicrosoft.com' };
/** A customer of the same partner with no GDAP relationship at all. */
const CUSTOMER3 = { id: guid('customer-3'), domain: 'norelationship.onmicrosoft.com' };
/** Partner B's customer. */
const FOREIGN = { id: guid('customer-b'), domain: 'foreigncustomer.onmicrosoft.com' };

/** Caller kinds: one partner user each, in one group. */
const GRANTING = {
  ga: R.globalAdministrator,
  ua: R.userAdministrator,
  dw: R.directoryWriters,
  dr: R.directoryReaders,
  gr: R.globalReader,
  paa: R.privilegedAuthenticationAdministrator,
  pra: R.privilegedRoleAdministrator,
  la: R.licenseAdministrator,
} as const;
type GrantingCaller = keyof typeof GRANTING;
/** Callers without a granting relationship: a group with no assignment, an expired and a terminated relationship. */
const NON_GRANTING = ['none', 'expired', 'terminated'] as const;
type Caller = GrantingCaller | (typeof NON_GRANTING)[number];
const CALLERS: Caller[] = [...(Object.keys(GRANTING) as GrantingCaller[]), ...NON_GRANTING];

const upnOf = (caller: string): string => `${caller}@${PARTNER.domain}`;
const cupn = (alias: string, domain = CUSTOMER.domain): string => `${alias}@${domain}`;

/** Customer users of CUSTOMER. */
const U = {
  ordinary: guid('u-ordinary'),
  ga: guid('u-ga'),
  helpdesk: guid('u-helpdesk'),
  pra: guid('u-pra'),
  exchange: guid('u-exchange'),
  /** Helpdesk + Exchange: one protected role is enough. */
  mixed: guid('u-mixed'),
  /** Targets of the admin-on-admin tests that succeed (each used once). */
  hdUpnUa: guid('u-hd-upn-ua'),
  hdUpnDw: guid('u-hd-upn-dw'),
  hdDelUa: guid('u-hd-del-ua'),
  hdRstUa: guid('u-hd-rst-ua'),
  hdRstDw: guid('u-hd-rst-dw'),
  gaDelByGa: guid('u-ga-del-by-ga'),
  gaRstByGa: guid('u-ga-rst-by-ga'),
  /** Deleted privileged users (restore must be refused to a User Administrator). */
  gaRst: guid('u-ga-rst'),
  praRst: guid('u-pra-rst'),
  exchangeRst: guid('u-exchange-rst'),
} as const;
/** Per-caller targets of the table: one to rename, one to delete, one deleted to restore. */
const upnTarget = (c: Caller): string => guid(`t-upn-${c}`);
const delTarget = (c: Caller): string => guid(`t-del-${c}`);
const rstTarget = (c: Caller): string => guid(`t-rst-${c}`);

/** A caller whose assignment carries a role its relationship does not hold. */
const NARROW = { group: guid('group-narrow'), relationship: guid('rel-narrow') };

const FOREIGN_USER = guid('u-foreign');
const CUSTOMER2_USER = guid('u-customer2');

interface SeedUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  usageLocation?: string;
  password?: string;
  state?: 'active' | 'inactive';
  roles?: string[];
}

function person(id: string, alias: string, o: Omit<SeedUser, 'id' | 'userPrincipalName' | 'displayName'> = {}, domain = CUSTOMER.domain): SeedUser {
  return { id, userPrincipalName: cupn(alias, domain), displayName: alias, ...o };
}

function buildSeed(): Record<string, unknown> {
  const groupId = (c: Caller): string => guid(`group-${c}`);
  const customerUsers: SeedUser[] = [
    person(U.ordinary, 'ordinary', { usageLocation: 'US', password: 'Ordinary-Passw0rd!' }),
    person(U.ga, 'global.admin', { usageLocation: 'US', roles: [R.globalAdministrator] }),
    person(U.helpdesk, 'helpdesk', { roles: [R.helpdeskAdministrator] }),
    person(U.pra, 'role.admin', { roles: [R.privilegedRoleAdministrator] }),
    person(U.exchange, 'exchange', { roles: [R.exchangeAdministrator] }),
    person(U.mixed, 'mixed', { roles: [R.helpdeskAdministrator, R.exchangeAdministrator] }),
    person(U.hdUpnUa, 'hd.upn.ua', { roles: [R.helpdeskAdministrator] }),
    person(U.hdUpnDw, 'hd.upn.dw', { roles: [R.helpdeskAdministrator] }),
    person(U.hdDelUa, 'hd.del.ua', { roles: [R.helpdeskAdministrator] }),
    person(U.hdRstUa, 'hd.rst.ua', { roles: [R.helpdeskAdministrator], state: 'inactive' }),
    person(U.hdRstDw, 'hd.rst.dw', { roles: [R.helpdeskAdministrator], state: 'inactive' }),
    person(U.gaDelByGa, 'ga.del', { roles: [R.globalAdministrator] }),
    person(U.gaRstByGa, 'ga.rst.byga', { roles: [R.globalAdministrator], state: 'inactive' }),
    person(U.gaRst, 'ga.rst', { roles: [R.globalAdministrator], state: 'inactive' }),
    person(U.praRst, 'pra.rst', { roles: [R.privilegedRoleAdministrator], state: 'inactive' }),
    person(U.exchangeRst, 'exchange.rst', { roles: [R.exchangeAdministrator], state: 'inactive' }),
    ...CALLERS.flatMap((c) => [
      person(upnTarget(c), `upn.${c}`),
      person(delTarget(c), `del.${c}`),
      person(rstTarget(c), `rst.${c}`, { state: 'inactive' }),
    ]),
  ];
  const grantingRoles = Object.values(GRANTING);
  return {
    partners: [
      {
        tenantId: PARTNER.tenantId,
        name: 'Access Test Partner',
        domain: PARTNER.domain,
        applications: [{ clientId: APP.clientId, displayName: 'Access tests', clientSecret: APP.clientSecret }],
        groups: [...CALLERS.map((c) => ({ id: groupId(c), displayName: `group ${c}` })), { id: NARROW.group, displayName: 'group narrow' }],
        users: [
          ...CALLERS.map((c) => ({ id: guid(`pu-${c}`), userPrincipalName: upnOf(c), password: PASSWORD, mfa: true, groups: [groupId(c)] })),
          { id: guid('pu-narrow'), userPrincipalName: upnOf('narrow'), password: PASSWORD, mfa: true, groups: [NARROW.group] },
        ],
        customers: [
          {
            id: CUSTOMER.id,
            companyName: 'Access Customer',
            domain: CUSTOMER.domain,
            users: customerUsers,
            gdapRelationships: [
              {
                id: guid('rel-active'),
                displayName: 'Active relationship',
                status: 'active',
                endDateTime: '2099-12-31T00:00:00Z',
                roles: grantingRoles,
                accessAssignments: (Object.keys(GRANTING) as GrantingCaller[]).map((c) => ({ groupId: groupId(c), roles: [GRANTING[c]] })),
              },
              {
                id: guid('rel-expired'),
                displayName: 'Expired relationship',
                status: 'active',
                endDateTime: '2020-01-01T00:00:00Z',
                roles: [R.globalAdministrator],
                accessAssignments: [{ groupId: groupId('expired'), roles: [R.globalAdministrator] }],
              },
              {
                // Grants Directory Readers only; the test adds (through the store, as the seed refuses it) an
                // assignment carrying Global Administrator too.
                id: NARROW.relationship,
                displayName: 'Narrow relationship',
                status: 'active',
                endDateTime: '2099-12-31T00:00:00Z',
                roles: [R.directoryReaders],
                accessAssignments: [],
              },
              {
                id: guid('rel-terminated'),
                displayName: 'Terminated relationship',
                status: 'terminated',
                endDateTime: '2099-12-31T00:00:00Z',
                roles: [R.globalAdministrator],
                accessAssignments: [{ groupId: groupId('terminated'), roles: [R.globalAdministrator] }],
              },
            ],
          },
          {
            id: CUSTOMER2.id,
            companyName: 'Second Customer',
            domain: CUSTOMER2.domain,
            users: [person(CUSTOMER2_USER, 'someone', {}, CUSTOMER2.domain)],
            gdapRelationships: [
              {
                id: guid('rel-customer2'),
                displayName: 'GA only',
                status: 'active',
                endDateTime: '2099-12-31T00:00:00Z',
                roles: [R.globalAdministrator],
                accessAssignments: [{ groupId: groupId('ga'), roles: [R.globalAdministrator] }],
              },
            ],
          },
          { id: CUSTOMER3.id, companyName: 'No Relationship Customer', domain: CUSTOMER3.domain, users: [person(guid('u-c3'), 'lonely', {}, CUSTOMER3.domain)] },
        ],
      },
      {
        tenantId: OTHER.tenantId,
        name: 'Other Partner',
        domain: OTHER.domain,
        applications: [{ clientId: OTHER.clientId, displayName: 'Other app', clientSecret: OTHER.clientSecret }],
        groups: [{ id: guid('group-b'), displayName: 'Other admins' }],
        users: [{ id: guid('pu-b'), userPrincipalName: `admin@${OTHER.domain}`, password: PASSWORD, mfa: true, groups: [guid('group-b')] }],
        customers: [
          {
            id: FOREIGN.id,
            companyName: 'Foreign Customer',
            domain: FOREIGN.domain,
            users: [person(FOREIGN_USER, 'foreigner', {}, FOREIGN.domain)],
            gdapRelationships: [
              {
                id: guid('rel-b'),
                displayName: 'Other GA',
                status: 'active',
                endDateTime: '2099-12-31T00:00:00Z',
                roles: [R.globalAdministrator],
                accessAssignments: [{ groupId: guid('group-b'), roles: [R.globalAdministrator] }],
              },
            ],
          },
        ],
      },
    ],
  };
}

// ---- the spec's 1.9 table, per HTTP operation ------------------------------------------------------------

type OpName = 'getUser' | 'listUsers' | 'listDeletedUsers' | 'createUser' | 'patchBasic' | 'patchPassword' | 'patchRestore' | 'patchUpn' | 'deleteUser' | 'readRoles';

/** Roles allowing each operation besides Global Administrator (spec 1.9; UPN is an update). */
const ALLOWED: Record<OpName, string[]> = {
  getUser: [R.directoryReaders, R.globalReader, R.userAdministrator],
  listUsers: [R.directoryReaders, R.globalReader, R.userAdministrator],
  listDeletedUsers: [R.directoryReaders, R.globalReader, R.userAdministrator],
  createUser: [R.userAdministrator, R.directoryWriters],
  patchBasic: [R.userAdministrator, R.directoryWriters],
  patchPassword: [R.userAdministrator, R.privilegedAuthenticationAdministrator],
  patchRestore: [R.userAdministrator, R.directoryWriters],
  patchUpn: [R.userAdministrator, R.directoryWriters],
  deleteUser: [R.userAdministrator],
  readRoles: [R.directoryReaders, R.globalReader, R.userAdministrator, R.privilegedRoleAdministrator, R.directoryWriters],
};
const OPS = Object.keys(ALLOWED) as OpName[];

const DELETED_FILTER = encodeURIComponent(JSON.stringify({ Field: 'UserState', Value: 'Inactive', Operator: 'equals' }));
const usersPath = (cid: string): string => `/v1/customers/${cid}/users`;
const userPath = (cid: string, uid: string): string => `/v1/customers/${cid}/users/${uid}`;

interface Request {
  method: string;
  path: string;
  body?: unknown;
  /** The user a mutation touches (checked unchanged when refused). */
  target?: string;
  /** A UPN that must not exist after a refused create. */
  createdUpn?: string;
  success: number;
}

function requestFor(op: OpName, caller: Caller): Request {
  const cid = CUSTOMER.id;
  switch (op) {
    case 'getUser':
      return { method: 'GET', path: userPath(cid, U.ordinary), success: 200 };
    case 'listUsers':
      return { method: 'GET', path: usersPath(cid), success: 200 };
    case 'listDeletedUsers':
      return { method: 'GET', path: `${usersPath(cid)}?size=500&filter=${DELETED_FILTER}`, success: 200 };
    case 'createUser': {
      const upn = cupn(`created.${caller}`);
      return {
        method: 'POST', path: usersPath(cid), createdUpn: upn, success: 201,
        body: { userPrincipalName: upn, displayName: `Created by ${caller}`, usageLocation: 'US', passwordProfile: { password: NEW_PASSWORD, forceChangePassword: true } },
      };
    }
    case 'patchBasic':
      return { method: 'PATCH', path: userPath(cid, U.ordinary), target: U.ordinary, body: { displayName: `Renamed by ${caller}` }, success: 200 };
    case 'patchPassword':
      return { method: 'PATCH', path: userPath(cid, U.ordinary), target: U.ordinary, body: { passwordProfile: { password: NEW_PASSWORD, forceChangePassword: caller === 'ga' } }, success: 200 };
    case 'patchRestore':
      return { method: 'PATCH', path: userPath(cid, rstTarget(caller)), target: rstTarget(caller), body: { state: 'active' }, success: 200 };
    case 'patchUpn':
      return { method: 'PATCH', path: userPath(cid, upnTarget(caller)), target: upnTarget(caller), body: { userPrincipalName: cupn(`renamed.${caller}`) }, success: 200 };
    case 'deleteUser':
      return { method: 'DELETE', path: userPath(cid, delTarget(caller)), target: delTarget(caller), success: 204 };
    case 'readRoles':
      return { method: 'GET', path: `${userPath(cid, U.ga)}/directoryroles`, success: 200 };
  }
}

// ---- helpers ---------------------------------------------------------------------------------------------

interface Fault {
  code: number;
  description: string;
  data: unknown[];
  source: string;
}

let svc: TestService;
const tokens = new Map<string, string>();
const tokenOf = (who: string): string => {
  const t = tokens.get(who);
  assert.ok(t !== undefined, `no token for ${who}`);
  return t;
};

function assertFault(r: CallResult, status: number, code: number, what: string): Fault {
  assert.equal(r.status, status, `${what}: ${String(r.status)} ${r.text}`);
  const body = r.json as Fault;
  assert.equal(body.code, code, `${what}: ${r.text}`);
  assert.equal(body.source, 'PartnerFD');
  assert.ok(Array.isArray(body.data));
  assert.equal(typeof body.description, 'string');
  return body;
}

/** What a refused request must leave as it was. */
interface Snapshot {
  target: UserRecord | undefined;
  created: UserRecord | undefined;
  audit: number;
  active: number;
  inactive: number;
}

async function countUsers(cid: string, state: 'active' | 'inactive'): Promise<number> {
  const rows = await svc.store.listUsers({ customerId: cid, state, sort: 'creation', descending: false, after: undefined, limit: 10_000, purgeBefore: '1970-01-01T00:00:00.000Z' });
  return rows.length;
}

async function snapshot(req: Pick<Request, 'target' | 'createdUpn'>, cid = CUSTOMER.id): Promise<Snapshot> {
  return {
    target: req.target === undefined ? undefined : await svc.store.getUser(cid, req.target),
    created: req.createdUpn === undefined ? undefined : await svc.store.findUserByUpn(cid, req.createdUpn),
    audit: await svc.store.countAudit(PARTNER.tenantId),
    active: await countUsers(cid, 'active'),
    inactive: await countUsers(cid, 'inactive'),
  };
}

async function assertUnchanged(before: Snapshot, req: Pick<Request, 'target' | 'createdUpn'>, what: string, cid = CUSTOMER.id): Promise<void> {
  const now = await snapshot(req, cid);
  assert.deepEqual(now, before, `${what} changed something`);
}

/** Calls `req` as `who`; expects 403 900150 and that nothing changed. Returns the fault. */
async function expectRoleRefusal(who: string, req: Request, what: string, cid = CUSTOMER.id): Promise<Fault> {
  const before = await snapshot(req, cid);
  const r = await svc.call(req.method, req.path, { token: tokenOf(who), ...(req.body !== undefined ? { body: req.body } : {}) });
  const fault = assertFault(r, 403, 900150, what);
  await assertUnchanged(before, req, what, cid);
  return fault;
}

const roleName = (id: string): string => RoleNames[id] ?? id;
const namesInFault = (f: Fault): string[] => {
  const d = f.data[0] as { requiredRoles?: { id: string }[] } | undefined;
  return (d?.requiredRoles ?? []).map((r) => r.id).sort();
};

before(async () => {
  svc = await startTestService({ demo: false, seed: buildSeed() });
  await svc.store.insertAssignment({ id: `${NARROW.relationship}:${NARROW.group}`, relationshipId: NARROW.relationship, groupId: NARROW.group, roles: [R.globalAdministrator, R.userAdministrator, R.directoryReaders] });
  const creds = { clientId: APP.clientId, clientSecret: APP.clientSecret, tenant: PARTNER.tenantId, password: PASSWORD };
  await Promise.all([
    ...CALLERS.map(async (c) => tokens.set(c, await svc.userToken({ ...creds, username: upnOf(c) }))),
    (async () => tokens.set('narrow', await svc.userToken({ ...creds, username: upnOf('narrow') })))(),
    (async () => tokens.set('other', await svc.userToken({ clientId: OTHER.clientId, clientSecret: OTHER.clientSecret, tenant: OTHER.tenantId, username: `admin@${OTHER.domain}`, password: PASSWORD })))(),
  ]);
});
after(async () => {
  await svc.close();
});

// ---- the table ---------------------------------------------------------------------------------------------

describe('every operation × every caller role follows the GDAP table', () => {
  for (const op of OPS) {
    test(op, async () => {
      for (const caller of CALLERS) {
        const req = requestFor(op, caller);
        const role = caller in GRANTING ? GRANTING[caller as GrantingCaller] : undefined;
        const allowed = role !== undefined && (role === R.globalAdministrator || ALLOWED[op].includes(role));
        const what = `${op} by ${caller}`;
        if (!allowed) {
          const fault = await expectRoleRefusal(caller, req, what);
          const allowing = [...ALLOWED[op], R.globalAdministrator];
          for (const id of allowing) assert.ok(fault.description.includes(roleName(id)), `${what}: "${fault.description}" does not name ${roleName(id)}`);
          assert.deepEqual(namesInFault(fault), [...allowing].sort(), what);
          continue;
        }
        const r = await svc.call(req.method, req.path, { token: tokenOf(caller), ...(req.body !== undefined ? { body: req.body } : {}) });
        assert.equal(r.status, req.success, `${what}: ${String(r.status)} ${r.text}`);
        // The change took effect.
        const target = req.target === undefined ? undefined : await svc.store.getUser(CUSTOMER.id, req.target);
        switch (op) {
          case 'createUser':
            assert.ok(await svc.store.findUserByUpn(CUSTOMER.id, req.createdUpn ?? ''), what);
            break;
          case 'patchBasic':
            assert.equal(target?.displayName, `Renamed by ${caller}`, what);
            break;
          case 'patchPassword':
            assert.equal(target?.forceChangePassword, caller === 'ga', what);
            break;
          case 'patchRestore':
            assert.equal(target?.state, 'active', what);
            break;
          case 'patchUpn':
            assert.equal(target?.upn, cupn(`renamed.${caller}`), what);
            break;
          case 'deleteUser':
            assert.equal(target?.state, 'inactive', what);
            break;
          case 'listDeletedUsers': {
            const items = (r.json as { items: { id: string; state: string }[] }).items;
            assert.ok(items.length > 0 && items.every((u) => u.state === 'inactive'), what);
            break;
          }
          case 'listUsers': {
            const items = (r.json as { items: { state: string }[] }).items;
            assert.ok(items.length > 0 && items.every((u) => u.state === 'active'), what);
            break;
          }
          case 'getUser':
            assert.equal((r.json as { id: string }).id, U.ordinary, what);
            break;
          case 'readRoles': {
            const items = (r.json as { items: { id: string }[] }).items;
            assert.deepEqual(items.map((i) => i.id), [R.globalAdministrator], what);
            break;
          }
        }
      }
    });
  }
});

test("an assignment role outside its relationship's roles grants nothing", async () => {
  // The relationship holds Directory Readers only: reads pass, Global/User Administrator work does not.
  let r = await svc.call('GET', userPath(CUSTOMER.id, U.ordinary), { token: tokenOf('narrow') });
  assert.equal(r.status, 200, r.text);
  r = await svc.call('GET', usersPath(CUSTOMER.id), { token: tokenOf('narrow') });
  assert.equal(r.status, 200, r.text);
  await expectRoleRefusal('narrow', requestFor('createUser', 'none'), 'narrow create');
  await expectRoleRefusal('narrow', requestFor('patchBasic', 'none'), 'narrow patch');
  await expectRoleRefusal('narrow', requestFor('deleteUser', 'none'), 'narrow delete');
});

// ---- admin-on-admin ----------------------------------------------------------------------------------------

describe('admin-on-admin: who may perform sensitive actions on whom', () => {
  const cid = CUSTOMER.id;
  const PROTECTED = [
    { label: 'Global Administrator', user: U.ga, deleted: U.gaRst, role: R.globalAdministrator },
    { label: 'Privileged Role Administrator', user: U.pra, deleted: U.praRst, role: R.privilegedRoleAdministrator },
    { label: 'Exchange Administrator (outside the limited list)', user: U.exchange, deleted: U.exchangeRst, role: R.exchangeAdministrator },
  ];

  test('a User Administrator may change the displayName and usageLocation of a Global Administrator', async () => {
    const r = await svc.call('PATCH', userPath(cid, U.ga), { token: tokenOf('ua'), body: { displayName: 'Boss (renamed by UA)', usageLocation: 'GB' } });
    assert.equal(r.status, 200, r.text);
    const u = await svc.store.getUser(cid, U.ga);
    assert.ok(u);
    assert.equal(u.displayName, 'Boss (renamed by UA)');
    assert.equal(u.usageLocation, 'GB');
  });

  for (const p of PROTECTED) {
    test(`a User Administrator may not reset the password of, rename, delete, restore or change the immutableId or phone number of a ${p.label}`, async () => {
      const attempts: { action: string; req: Request; allowing: string[] }[] = [
        { action: 'password', req: { method: 'PATCH', path: userPath(cid, p.user), target: p.user, body: { passwordProfile: { password: NEW_PASSWORD } }, success: 200 }, allowing: [R.globalAdministrator, R.privilegedAuthenticationAdministrator] },
        { action: 'upn', req: { method: 'PATCH', path: userPath(cid, p.user), target: p.user, body: { userPrincipalName: cupn(`stolen.${p.user.slice(0, 8)}`) }, success: 200 }, allowing: [R.globalAdministrator] },
        { action: 'delete', req: { method: 'DELETE', path: userPath(cid, p.user), target: p.user, success: 204 }, allowing: [R.globalAdministrator] },
        { action: 'restore', req: { method: 'PATCH', path: userPath(cid, p.deleted), target: p.deleted, body: { state: 'active' }, success: 200 }, allowing: [R.globalAdministrator] },
        // Entra counts the on-premises immutable id and phone numbers among the sensitive attributes too.
        { action: 'immutableId', req: { method: 'PATCH', path: userPath(cid, p.user), target: p.user, body: { immutableId: 'aW1tdXRhYmxl' }, success: 200 }, allowing: [R.globalAdministrator] },
        { action: 'phoneNumber', req: { method: 'PATCH', path: userPath(cid, p.user), target: p.user, body: { phoneNumber: '+1 425 555 0100' }, success: 200 }, allowing: [R.globalAdministrator] },
        // A body mixing an allowed change with a refused one changes nothing at all.
        { action: 'displayName + password', req: { method: 'PATCH', path: userPath(cid, p.user), target: p.user, body: { displayName: 'Should not stick', passwordProfile: { password: NEW_PASSWORD } }, success: 200 }, allowing: [R.globalAdministrator, R.privilegedAuthenticationAdministrator] },
      ];
      for (const a of attempts) {
        const what = `UA ${a.action} on ${p.label}`;
        const fault = await expectRoleRefusal('ua', a.req, what);
        assert.ok(fault.description.includes(roleName(p.role)), `${what}: "${fault.description}" does not name the target's role`);
        const d = fault.data[0] as { targetRoles: { id: string }[]; requiredRoles: { id: string }[] };
        assert.deepEqual(d.targetRoles.map((t) => t.id), [p.role], what);
        assert.deepEqual(d.requiredRoles.map((t) => t.id).sort(), [...a.allowing].sort(), what);
        for (const id of a.allowing) assert.ok(fault.description.includes(roleName(id)), `${what}: "${fault.description}" does not name ${roleName(id)}`);
      }
    });
  }

  test('one protected role among limited ones protects the user', async () => {
    const req: Request = { method: 'PATCH', path: userPath(cid, U.mixed), target: U.mixed, body: { passwordProfile: { password: NEW_PASSWORD } }, success: 200 };
    const fault = await expectRoleRefusal('ua', req, 'UA password on Helpdesk+Exchange');
    assert.match(fault.description, /Exchange Administrator/);
  });

  test('a User Administrator may do all of them on a Helpdesk Administrator', async () => {
    const token = tokenOf('ua');
    let r = await svc.call('PATCH', userPath(cid, U.helpdesk), { token, body: { passwordProfile: { password: NEW_PASSWORD, forceChangePassword: true } } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.helpdesk))?.forceChangePassword, true);
    r = await svc.call('PATCH', userPath(cid, U.hdUpnUa), { token, body: { userPrincipalName: cupn('hd.renamed.ua') } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.hdUpnUa))?.upn, cupn('hd.renamed.ua'));
    r = await svc.call('DELETE', userPath(cid, U.hdDelUa), { token });
    assert.equal(r.status, 204, r.text);
    assert.equal((await svc.store.getUser(cid, U.hdDelUa))?.state, 'inactive');
    r = await svc.call('PATCH', userPath(cid, U.hdRstUa), { token, body: { state: 'active' } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.hdRstUa))?.state, 'active');
  });

  test('a Privileged Authentication Administrator may reset the password of a Global Administrator (and of any admin)', async () => {
    for (const target of [U.ga, U.pra, U.exchange]) {
      const beforeHash = (await svc.store.getUser(cid, target))?.passwordHash;
      const r = await svc.call('PATCH', userPath(cid, target), { token: tokenOf('paa'), body: { passwordProfile: { password: NEW_PASSWORD, forceChangePassword: false } } });
      assert.equal(r.status, 200, r.text);
      assert.notEqual((await svc.store.getUser(cid, target))?.passwordHash, beforeHash);
    }
  });

  test('a Privileged Authentication Administrator may not update basic fields, rename, delete or restore', async () => {
    await expectRoleRefusal('paa', { method: 'PATCH', path: userPath(cid, U.ga), target: U.ga, body: { displayName: 'nope' }, success: 200 }, 'PAA basic');
    await expectRoleRefusal('paa', { method: 'PATCH', path: userPath(cid, U.ga), target: U.ga, body: { userPrincipalName: cupn('paa.rename') }, success: 200 }, 'PAA upn');
    await expectRoleRefusal('paa', { method: 'DELETE', path: userPath(cid, U.ga), target: U.ga, success: 204 }, 'PAA delete');
    await expectRoleRefusal('paa', { method: 'PATCH', path: userPath(cid, U.gaRst), target: U.gaRst, body: { state: 'active' }, success: 200 }, 'PAA restore');
    // A restore that also resets the password passes the password check but not the restore one.
    const f = await expectRoleRefusal('paa', { method: 'PATCH', path: userPath(cid, U.gaRst), target: U.gaRst, body: { state: 'active', passwordProfile: { password: NEW_PASSWORD } }, success: 200 }, 'PAA restore+password');
    assert.match(f.description, /User Administrator/);
  });

  test('Directory Writers may update basic fields of anyone, but not reset passwords or delete', async () => {
    const token = tokenOf('dw');
    const r = await svc.call('PATCH', userPath(cid, U.ga), { token, body: { displayName: 'Boss (renamed by DW)', usageLocation: 'FR' } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.ga))?.displayName, 'Boss (renamed by DW)');
    for (const target of [U.ordinary, U.helpdesk, U.ga]) {
      await expectRoleRefusal('dw', { method: 'PATCH', path: userPath(cid, target), target, body: { passwordProfile: { password: NEW_PASSWORD } }, success: 200 }, 'DW password');
      await expectRoleRefusal('dw', { method: 'DELETE', path: userPath(cid, target), target, success: 204 }, 'DW delete');
    }
  });

  test('Directory Writers may rename and restore limited users only', async () => {
    const token = tokenOf('dw');
    let r = await svc.call('PATCH', userPath(cid, U.hdUpnDw), { token, body: { userPrincipalName: cupn('hd.renamed.dw') } });
    assert.equal(r.status, 200, r.text);
    r = await svc.call('PATCH', userPath(cid, U.hdRstDw), { token, body: { state: 'active' } });
    assert.equal(r.status, 200, r.text);
    await expectRoleRefusal('dw', { method: 'PATCH', path: userPath(cid, U.ga), target: U.ga, body: { userPrincipalName: cupn('dw.rename') }, success: 200 }, 'DW upn on GA');
    await expectRoleRefusal('dw', { method: 'PATCH', path: userPath(cid, U.gaRst), target: U.gaRst, body: { state: 'active' }, success: 200 }, 'DW restore GA');
  });

  test('a Global Administrator caller may do everything to a Global Administrator', async () => {
    const token = tokenOf('ga');
    let r = await svc.call('PATCH', userPath(cid, U.ga), { token, body: { passwordProfile: { password: NEW_PASSWORD, forceChangePassword: true }, userPrincipalName: cupn('boss') } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.ga))?.upn, cupn('boss'));
    r = await svc.call('DELETE', userPath(cid, U.gaDelByGa), { token });
    assert.equal(r.status, 204, r.text);
    r = await svc.call('PATCH', userPath(cid, U.gaRstByGa), { token, body: { state: 'active' } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await svc.store.getUser(cid, U.gaRstByGa))?.state, 'active');
  });
});

// ---- object level --------------------------------------------------------------------------------------

describe('object-level checks', () => {
  /** Every customer-scoped route, for a customer id and a user id. */
  const routes = (cid: string, uid: string): Request[] => [
    { method: 'GET', path: userPath(cid, uid), success: 200 },
    { method: 'GET', path: usersPath(cid), success: 200 },
    { method: 'GET', path: `${usersPath(cid)}?filter=${DELETED_FILTER}`, success: 200 },
    { method: 'POST', path: usersPath(cid), body: { userPrincipalName: cupn('x.created', FOREIGN.domain), displayName: 'X', passwordProfile: { password: NEW_PASSWORD } }, success: 201 },
    { method: 'PATCH', path: userPath(cid, uid), body: { displayName: 'Hijacked' }, success: 200 },
    { method: 'PATCH', path: userPath(cid, uid), body: { passwordProfile: { password: NEW_PASSWORD } }, success: 200 },
    { method: 'DELETE', path: userPath(cid, uid), success: 204 },
    { method: 'GET', path: `${userPath(cid, uid)}/directoryroles`, success: 200 },
  ];

  test("a user of the partner's customer addressed under another customer of the partner is not found (404 60002)", async () => {
    // The GA caller holds Global Administrator on both customers, so only the user lookup can refuse.
    for (const req of routes(CUSTOMER2.id, U.ordinary).filter((r) => r.path.includes(U.ordinary))) {
      const before = await snapshot({ target: U.ordinary });
      const r = await svc.call(req.method, req.path, { token: tokenOf('ga'), ...(req.body !== undefined ? { body: req.body } : {}) });
      assertFault(r, 404, 60002, `${req.method} ${req.path}`);
      await assertUnchanged(before, { target: U.ordinary }, `${req.method} ${req.path}`);
    }
    // And the other way round.
    const r = await svc.call('GET', userPath(CUSTOMER.id, CUSTOMER2_USER), { token: tokenOf('ga') });
    assertFault(r, 404, 60002, 'customer 2 user under customer 1');
  });

  test('roles are per customer: a User Administrator of one customer holds nothing on another', async () => {
    for (const req of routes(CUSTOMER2.id, CUSTOMER2_USER)) {
      if (req.method === 'POST') req.body = { userPrincipalName: cupn('ua.created', CUSTOMER2.domain), displayName: 'X', passwordProfile: { password: NEW_PASSWORD } };
      req.target = CUSTOMER2_USER;
      await expectRoleRefusal('ua', req, `UA on customer 2: ${req.method} ${req.path}`, CUSTOMER2.id);
    }
  });

  test("a customer of the partner with no relationship refuses with 900150, not 20002", async () => {
    for (const req of routes(CUSTOMER3.id, guid('u-c3'))) {
      const r = await svc.call(req.method, req.path, { token: tokenOf('ga'), ...(req.body !== undefined ? { body: req.body } : {}) });
      const f = assertFault(r, 403, 900150, `${req.method} ${req.path}`);
      assert.match(f.description, /Global Administrator/);
    }
  });

  test("another partner's customer answers 403 20002, identical to an unknown or malformed customer id", async () => {
    const unknown = guid('no-such-customer');
    const cases = [FOREIGN.id, unknown, FOREIGN.id.toUpperCase(), 'not-a-guid', '12345', `${FOREIGN.id}x`];
    const foreignBefore = await svc.store.getUser(FOREIGN.id, FOREIGN_USER);
    const auditBefore = await svc.store.countAudit(OTHER.tenantId);
    for (const caller of ['ga', 'ua', 'dr', 'none'] as const) {
      for (const [i, req] of routes(FOREIGN.id, FOREIGN_USER).entries()) {
        const bodies = [];
        for (const cid of cases) {
          const path = req.path.replace(FOREIGN.id, cid);
          const r = await svc.call(req.method, path, { token: tokenOf(caller), ...(req.body !== undefined ? { body: req.body } : {}) });
          const f = assertFault(r, 403, 20002, `${caller} ${req.method} ${path}`);
          bodies.push({ status: r.status, code: f.code, description: f.description, data: f.data, source: f.source });
        }
        for (const b of bodies.slice(1)) assert.deepEqual(b, bodies[0], `route ${String(i)}: answers differ`);
      }
    }
    assert.deepEqual(await svc.store.getUser(FOREIGN.id, FOREIGN_USER), foreignBefore);
    assert.equal(await svc.store.findUserByUpn(FOREIGN.id, cupn('x.created', FOREIGN.domain)), undefined);
    assert.equal(await svc.store.countAudit(OTHER.tenantId), auditBefore);
  });

  test("partner B's Global Administrator sees none of partner A's customers, and A's user ids are not found under B's customer", async () => {
    const other = tokenOf('other');
    let r = await svc.call('GET', userPath(CUSTOMER.id, U.ordinary), { token: other });
    const a = assertFault(r, 403, 20002, 'B on A customer');
    r = await svc.call('GET', userPath(guid('nothing'), U.ordinary), { token: other });
    const b = assertFault(r, 403, 20002, 'B on unknown customer');
    assert.deepEqual(a, b);
    // B holds GA on its own customer: a user of A's customer addressed under it is simply not there.
    r = await svc.call('GET', userPath(FOREIGN.id, U.ordinary), { token: other });
    assertFault(r, 404, 60002, "A's user under B's customer");
    r = await svc.call('GET', userPath(FOREIGN.id, FOREIGN_USER), { token: other });
    assert.equal(r.status, 200, r.text);
  });

  test('the customer list and get-by-id show only the caller\'s customers', async () => {
    const r = await svc.call('GET', '/v1/customers', { token: tokenOf('la') });
    assert.equal(r.status, 200, r.text);
    const ids = (r.json as { items: { id: string }[] }).items.map((c) => c.id).sort();
    assert.deepEqual(ids, [CUSTOMER.id, CUSTOMER2.id, CUSTOMER3.id].sort());
    const g = await svc.call('GET', `/v1/customers/${FOREIGN.id}`, { token: tokenOf('ga') });
    assertFault(g, 403, 20002, 'get foreign customer');
  });
});
