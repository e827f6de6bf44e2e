/**
 * HTTP-level tests of a customer's users: PATCH semantics (partial update, the .NET SDK body, a whole GET result
 * sent back), each updatable property, validation refusals (nothing changes), not-found cases, create, delete,
 * restore and the soft-delete retention. The real service over real HTTP (testing/harness.ts).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Collection, CustomerUser } from '@partnerkit/contract';
import { hashSecret, verifySecret } from '../identity/passwords.js';
import type { UserRecord } from '../store/records.js';
import { assertFault, DEMO, DEMO_IDS, startTestService, userRecord, type FaultBody, type CallOptions, type CallResult, type TestService } from '../testing/harness.js';

const F = DEMO_IDS.fabrikam;
const C = DEMO_IDS.contoso;
const CID = F.customerId;
const CUSTOM_DOMAIN = 'fabrikam.example';
const INITIAL_DOMAIN = 'fabrikamtraders.onmicrosoft.com';
const FEDERATED_DOMAIN = 'fedcorp.example';
const SEEDED_PASSWORD = 'Welcome-To-Fabrikam-2025';
const DELETED_FILTER = JSON.stringify({ Field: 'UserState', Value: 'Inactive', Operator: 'equals' });
const DELETED_FILTER_STATUS = JSON.stringify({ Field: 'UserStatus', Value: 'Inactive', Operator: 'equals' });

const usersPath = (cid: string = CID): string => `/v1/customers/${cid}/users`;
const userPath = (uid: string, cid: string = CID): string => `/v1/customers/${cid}/users/${uid}`;


/** Asserts an ApiFault answer; when `property` is given, one `data` entry must name it. */

/** The service, a demo agent token (User Administrator + Directory Writers + Directory Readers on Fabrikam) and helpers. */
interface Ctx {
  svc: TestService;
  token: string;
  hash: string;
  counter: number;
}

async function setup(opts: Parameters<typeof startTestService>[0] = {}): Promise<Ctx> {
  const svc = await startTestService(opts);
  return { svc, token: await svc.userToken(), hash: await hashSecret(SEEDED_PASSWORD), counter: 0 };
}

function api<T = unknown>(ctx: Ctx, method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
  return ctx.svc.call<T>(method, path, { token: ctx.token, ...opts });
}

/** A new active user of Fabrikam, written straight into the store (so each test owns its user). */
async function freshUser(ctx: Ctx, over: Partial<UserRecord> = {}): Promise<UserRecord> {
  ctx.counter++;
  const id = randomUUID();
  const n = String(ctx.counter);
  const u = userRecord({
    id,
    customerId: CID,
    upn: `fresh.${n}.${id.slice(0, 8)}@${CUSTOM_DOMAIN}`,
    displayName: `Fresh User ${n}`,
    firstName: 'Fresh',
    lastName: `User${n}`,
    usageLocation: 'GB',
    passwordHash: ctx.hash,
    ...over,
  });
  assert.ok(await ctx.svc.store.insertUser(u), 'fresh user inserted');
  return u;
}

async function stored(ctx: Ctx, uid: string, cid: string = CID): Promise<UserRecord> {
  const u = await ctx.svc.store.getUser(cid, uid);
  assert.ok(u, `user ${uid} is in the store`);
  return u;
}

async function getUser(ctx: Ctx, uid: string): Promise<CustomerUser> {
  const res = await api<CustomerUser>(ctx, 'GET', userPath(uid));
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function listAll(ctx: Ctx, filter?: string): Promise<CustomerUser[]> {
  const out: CustomerUser[] = [];
  let path = `${usersPath()}?size=500${filter === undefined ? '' : `&filter=${encodeURIComponent(filter)}`}`;
  let headers: Record<string, string> = {};
  for (;;) {
    const res = await api<Collection<CustomerUser>>(ctx, 'GET', path, { headers });
    assert.equal(res.status, 200, res.text);
    out.push(...res.json.items);
    const next = res.json.links?.next;
    if (!next) return out;
    path = `/v1${next.uri}`;
    headers = Object.fromEntries(next.headers.map((h) => [h.key, h.value ?? '']));
  }
}

const strongPassword = (): string => `Pk-${randomUUID().slice(0, 8)}-Zq9!`;

// ---------------------------------------------------------------------------------------------------------------

describe('PATCH a customer user: partial update semantics', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await setup();
  });
  after(async () => {
    await ctx.svc.close();
  });

  test('the seed example {"usageLocation":"US","attributes":{"objectType":"CustomerUser"}} returns 200 and the whole user with only usageLocation changed', async () => {
    const beforeWire = await getUser(ctx, F.users.ordinary);
    assert.equal(beforeWire.usageLocation, undefined, 'the demo user starts without a usage location');
    const correlationId = randomUUID();
    const requestId = randomUUID();
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(F.users.ordinary), {
      body: { usageLocation: 'US', attributes: { objectType: 'CustomerUser' } },
      headers: { 'MS-CorrelationId': correlationId, 'MS-RequestId': requestId, accept: 'application/json' },
    });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('ms-correlationid'), correlationId);
    assert.equal(res.headers.get('ms-requestid'), requestId);
    assert.deepEqual(res.json, { ...beforeWire, usageLocation: 'US' });
    assert.equal(res.json.id, F.users.ordinary);
    assert.equal(res.json.userPrincipalName, `priya.raman@${CUSTOM_DOMAIN}`);
    assert.equal(res.json.displayName, 'Priya Raman');
    assert.equal(res.json.firstName, 'Priya');
    assert.equal(res.json.lastName, 'Raman');
    assert.equal(res.json.state, 'active');
    assert.equal(res.json.userDomainType, 'none');
    assert.deepEqual(res.json.links, { self: { uri: `/customers/${CID}/users/${F.users.ordinary}`, method: 'GET', headers: [] } });
    assert.deepEqual(res.json.attributes, { objectType: 'CustomerUser' });
    assert.equal(Object.keys(res.json)[0], 'usageLocation', 'usageLocation comes first, as in Partner Center');
    assert.ok(!('passwordProfile' in res.json));
    assert.ok(!('softDeletionTime' in res.json));
    assert.deepEqual(await getUser(ctx, F.users.ordinary), res.json, 'a follow-up GET shows the same user');
  });

  test('the .NET SDK body (PascalCase, nulls, "State":"active", "UserDomainType":"none") changes only UsageLocation and keeps the federated user federated', async () => {
    const uid = F.users.federated;
    const beforeWire = await getUser(ctx, uid);
    const beforeStore = await stored(ctx, uid);
    assert.equal(beforeWire.userDomainType, 'federated');
    assert.equal(beforeWire.usageLocation, 'PL');
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(uid), {
      body: {
        UsageLocation: 'US', Id: null, UserPrincipalName: null, FirstName: null, LastName: null, DisplayName: null,
        PasswordProfile: null, LastDirectorySyncTime: null, UserDomainType: 'none', State: 'active', SoftDeletionTime: null,
        Attributes: { ObjectType: 'CustomerUser' },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ...beforeWire, usageLocation: 'US' });
    assert.equal(res.json.userDomainType, 'federated');
    assert.deepEqual(await stored(ctx, uid), { ...beforeStore, usageLocation: 'US' });
  });

  test('the .NET SDK body on an ordinary user leaves names, UPN and password untouched', async () => {
    const u = await freshUser(ctx, { immutableId: 'imm-1', phoneNumber: '+1 555 0100' });
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: {
        UsageLocation: 'fr', Id: null, UserPrincipalName: null, FirstName: null, LastName: null, DisplayName: null,
        ImmutableId: null, PhoneNumber: null, PasswordProfile: null, LastDirectorySyncTime: null, UserDomainType: 'none',
        State: 'active', SoftDeletionTime: null, Attributes: { ObjectType: 'CustomerUser' },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.usageLocation, 'FR');
    assert.deepEqual(await stored(ctx, u.id), { ...u, usageLocation: 'FR' });
  });

  test('a whole GET result sent back with one change alters only that field', async () => {
    const u = await freshUser(ctx, { immutableId: 'abc-123', phoneNumber: '+44 20 7946 0000' });
    const got = await getUser(ctx, u.id);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { ...got, displayName: 'Renamed Person' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ...got, displayName: 'Renamed Person' });
    assert.deepEqual(await stored(ctx, u.id), { ...u, displayName: 'Renamed Person' });
  });

  test('read-only properties (id, userDomainType, lastDirectorySyncTime, softDeletionTime, links, attributes) are ignored', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: {
        id: randomUUID(), userDomainType: 'federated', lastDirectorySyncTime: '2020-01-01T00:00:00Z',
        softDeletionTime: '2020-01-01T00:00:00Z', links: { self: { uri: '/elsewhere', method: 'DELETE', headers: [] } },
        attributes: { objectType: 'Customer' }, lastName: 'Changed',
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, u.id);
    assert.equal(res.json.userDomainType, 'none');
    assert.equal(res.json.lastDirectorySyncTime, undefined);
    assert.equal(res.json.softDeletionTime, undefined);
    assert.equal(res.json.links.self?.uri, `/customers/${CID}/users/${u.id}`);
    assert.equal(res.json.attributes.objectType, 'CustomerUser');
    assert.deepEqual(await stored(ctx, u.id), { ...u, lastName: 'Changed' });
  });

  test('absent and null properties leave the user alone: {} and an all-null camelCase body return it unchanged', async () => {
    const u = await freshUser(ctx, { immutableId: 'keep-me', phoneNumber: '555 0101' });
    const got = await getUser(ctx, u.id);
    const empty = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: {} });
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.json, got);
    const nulls = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: {
        usageLocation: null, userPrincipalName: null, firstName: null, lastName: null, displayName: null,
        immutableId: null, phoneNumber: null, passwordProfile: null, state: null,
      },
    });
    assert.equal(nulls.status, 200, nulls.text);
    assert.deepEqual(nulls.json, got);
    assert.deepEqual(await stored(ctx, u.id), u);
  });

  test('a property given in two casings, one of them null, takes the other value', async () => {
    const u = await freshUser(ctx);
    const a = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { UsageLocation: 'SE', usageLocation: null } });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.usageLocation, 'SE');
    const b = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { displayName: null, DisplayName: 'Second Casing' } });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(await stored(ctx, u.id), { ...u, usageLocation: 'SE', displayName: 'Second Casing' });
  });

  test('unknown properties are ignored', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { nickname: 'x', department: 7, firstName: 'Known' } });
    assert.equal(res.status, 200, res.text);
    assert.ok(!('nickname' in res.json));
    assert.deepEqual(await stored(ctx, u.id), { ...u, firstName: 'Known' });
  });

  test('state "active" on an active user is a no-op', async () => {
    const u = await freshUser(ctx);
    const got = await getUser(ctx, u.id);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { state: 'active' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, got);
    assert.deepEqual(await stored(ctx, u.id), u);
  });

  test('displayName, firstName and lastName are updated (displayName trimmed)', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: { displayName: '  Ana María López  ', firstName: 'Ana María', lastName: 'López' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.displayName, 'Ana María López');
    assert.equal(res.json.firstName, 'Ana María');
    assert.equal(res.json.lastName, 'López');
    assert.deepEqual(await stored(ctx, u.id), { ...u, displayName: 'Ana María López', firstName: 'Ana María', lastName: 'López' });
  });

  test('an empty firstName or lastName clears it (the property disappears from the answer)', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { firstName: '', lastName: '' } });
    assert.equal(res.status, 200, res.text);
    assert.ok(!('firstName' in res.json), res.text);
    assert.ok(!('lastName' in res.json), res.text);
    assert.deepEqual(await stored(ctx, u.id), { ...u, firstName: null, lastName: null });
  });

  test('usageLocation in lower case is normalised to upper case', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { usageLocation: 'de' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.usageLocation, 'DE');
    assert.equal((await stored(ctx, u.id)).usageLocation, 'DE');
  });

  test('userPrincipalName is renamed onto the custom domain and onto the onmicrosoft domain; the old UPN is free again', async () => {
    const u = await freshUser(ctx);
    const alias = `renamed.${randomUUID().slice(0, 8)}`;
    const first = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { userPrincipalName: `${alias}@${CUSTOM_DOMAIN}` } });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.userPrincipalName, `${alias}@${CUSTOM_DOMAIN}`);
    const second = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { UserPrincipalName: `${alias}@${INITIAL_DOMAIN}` } });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.json.userPrincipalName, `${alias}@${INITIAL_DOMAIN}`);
    assert.deepEqual(await stored(ctx, u.id), { ...u, upn: `${alias}@${INITIAL_DOMAIN}` });
    assert.equal((await getUser(ctx, u.id)).userPrincipalName, `${alias}@${INITIAL_DOMAIN}`);
    // The first two UPNs are free again: another user can take them.
    const other = await freshUser(ctx);
    const take = await api<CustomerUser>(ctx, 'PATCH', userPath(other.id), { body: { userPrincipalName: u.upn } });
    assert.equal(take.status, 200, take.text);
    assert.equal(take.json.userPrincipalName, u.upn);
  });

  test('a password reset of a federated user is refused: its identity provider owns the password', async () => {
    const u = await freshUser(ctx, { upn: `fed.${randomUUID().slice(0, 8)}@${FEDERATED_DOMAIN}`, userDomainType: 'federated', passwordHash: null });
    assertFault(await api(ctx, 'PATCH', userPath(u.id), { body: { passwordProfile: { password: 'Fresh-Passw0rd!', forceChangePassword: true } } }), 400, 3000, 'passwordProfile.password');
    assert.deepEqual(await stored(ctx, u.id), u);
  });

  test('the federated user renamed onto a managed domain of the customer is no longer federated', async () => {
    const uid = F.users.sofia;
    const beforeStore = await stored(ctx, uid);
    assert.equal(beforeStore.userDomainType, 'federated');
    assertFault(await api(ctx, 'PATCH', userPath(uid), { body: { userPrincipalName: 'Sofia.Rossi@fedcorp.example' } }), 400, 3000, 'userPrincipalName');
    assert.deepEqual(await stored(ctx, uid), beforeStore, 'a rename within the federated domain is refused');
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(uid), { body: { userPrincipalName: `sofia.rossi@${CUSTOM_DOMAIN}` } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.userDomainType, 'none');
    assert.deepEqual(await stored(ctx, uid), { ...beforeStore, upn: `sofia.rossi@${CUSTOM_DOMAIN}`, userDomainType: 'none' });
  });

  test('a UPN change of letter case only is allowed for the same user', async () => {
    const u = await freshUser(ctx);
    const upper = u.upn.replace(/^fresh/, 'Fresh');
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { userPrincipalName: upper } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.userPrincipalName, upper);
  });

  test('passwordProfile resets the password: the answer never shows it, the stored hash changes and verifies the new password', async () => {
    const u = await freshUser(ctx);
    const password = strongPassword();
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { passwordProfile: { password, forceChangePassword: true } } });
    assert.equal(res.status, 200, res.text);
    assert.ok(!res.text.includes(password), 'the password is not echoed');
    assert.ok(!/passwordProfile/i.test(res.text), 'no passwordProfile in the answer');
    assert.deepEqual(res.json, await getUser(ctx, u.id));
    const after = await stored(ctx, u.id);
    assert.notEqual(after.passwordHash, u.passwordHash);
    assert.ok(after.passwordHash !== null && (await verifySecret(password, after.passwordHash)), 'the new password verifies');
    assert.equal(await verifySecret(SEEDED_PASSWORD, after.passwordHash), false, 'the old password no longer verifies');
    assert.equal(after.forceChangePassword, true);
    assert.deepEqual({ ...after, passwordHash: u.passwordHash }, { ...u, forceChangePassword: true }, 'nothing else changed');
  });

  test('passwordProfile in PascalCase (the .NET SDK) resets the password too', async () => {
    const u = await freshUser(ctx);
    const password = strongPassword();
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: { PasswordProfile: { Password: password, ForceChangePassword: false }, State: 'active', UserDomainType: 'none' },
    });
    assert.equal(res.status, 200, res.text);
    assert.ok(!res.text.includes(password));
    const after = await stored(ctx, u.id);
    assert.ok(after.passwordHash !== null && (await verifySecret(password, after.passwordHash)));
    assert.equal(after.forceChangePassword, false);
  });

  test('passwordProfile with only forceChangePassword sets the flag and keeps the password', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { passwordProfile: { forceChangePassword: true } } });
    assert.equal(res.status, 200, res.text);
    assert.ok(!/passwordProfile/i.test(res.text));
    assert.deepEqual(await stored(ctx, u.id), { ...u, forceChangePassword: true });
  });

  test('immutableId and phoneNumber are accepted, stored and shown', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { immutableId: 'Qm9iQmFrZXI=', phoneNumber: '+1 (425) 555-0100' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.immutableId, 'Qm9iQmFrZXI=');
    assert.equal(res.json.phoneNumber, '+1 (425) 555-0100');
    assert.deepEqual(await stored(ctx, u.id), { ...u, immutableId: 'Qm9iQmFrZXI=', phoneNumber: '+1 (425) 555-0100' });
    const got = await getUser(ctx, u.id);
    assert.equal(got.immutableId, 'Qm9iQmFrZXI=');
    assert.equal(got.phoneNumber, '+1 (425) 555-0100');
  });

  test('several properties change together in one PATCH', async () => {
    const u = await freshUser(ctx);
    const upn = `multi.${randomUUID().slice(0, 8)}@${CUSTOM_DOMAIN}`;
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), {
      body: { displayName: 'Multi Change', usageLocation: 'jp', userPrincipalName: upn, phoneNumber: '123' },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(await stored(ctx, u.id), { ...u, displayName: 'Multi Change', usageLocation: 'JP', upn, phoneNumber: '123' });
  });

  test('the user id in the path matches without regard to case', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id.toUpperCase(), CID.toUpperCase()), { body: { lastName: 'Upper' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, u.id);
    assert.equal(res.json.links.self?.uri, `/customers/${CID}/users/${u.id}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('PATCH a customer user: refusals change nothing', () => {
  let ctx: Ctx;
  let user: UserRecord;
  let taken: UserRecord;
  before(async () => {
    ctx = await setup();
    user = await freshUser(ctx);
    taken = await freshUser(ctx);
  });
  after(async () => {
    await ctx.svc.close();
  });

  /** PATCHes `body` onto the shared user, expects the fault, and proves the user is unchanged (store and GET). */
  async function refused(body: unknown, status: number, code: number, property?: string): Promise<FaultBody> {
    const beforeWire = await getUser(ctx, user.id);
    const res = await api(ctx, 'PATCH', userPath(user.id), { body });
    const fault = assertFault(res, status, code, property);
    assert.deepEqual(await stored(ctx, user.id), user, 'the stored user is unchanged');
    assert.deepEqual(await getUser(ctx, user.id), beforeWire, 'a follow-up GET shows the user unchanged');
    return fault;
  }

  const badUpns: [string, string][] = [
    ['an accented character', `josé@${CUSTOM_DOMAIN}`],
    ['a space', `jo se@${CUSTOM_DOMAIN}`],
    ['a forbidden symbol', `jo(se)@${CUSTOM_DOMAIN}`],
    ['no "@"', `jose.${CUSTOM_DOMAIN}`],
    ['two "@"', `jo@se@${CUSTOM_DOMAIN}`],
    ['a "." right before "@"', `jose.@${CUSTOM_DOMAIN}`],
    ['an empty alias', `@${CUSTOM_DOMAIN}`],
    ['an alias of 65 characters', `${'a'.repeat(65)}@${CUSTOM_DOMAIN}`],
    ['a domain of 49 characters', `jose@${'d'.repeat(41)}.example`],
    ['more than 113 characters', `${'a'.repeat(64)}@${'b'.repeat(20)}.${'c'.repeat(20)}.example`],
    ['an empty value', ''],
    ['a domain that is not the customer\'s', 'jose@contosooutfitters.onmicrosoft.com'],
    ['an unknown domain', 'jose@unknown.example'],
    ['the federated domain', `jose@${FEDERATED_DOMAIN}`],
  ];
  for (const [what, upn] of badUpns) {
    test(`userPrincipalName with ${what} → 400 3000 naming userPrincipalName`, async () => {
      await refused({ userPrincipalName: upn }, 400, 3000, 'userPrincipalName');
    });
  }

  test('a userPrincipalName held by another user → 409 60009', async () => {
    await refused({ userPrincipalName: taken.upn }, 409, 60009, 'userPrincipalName');
  });

  test('a userPrincipalName held by another user in another letter case → 409 60009', async () => {
    await refused({ userPrincipalName: taken.upn.toUpperCase() }, 409, 60009, 'userPrincipalName');
  });

  test('a userPrincipalName held by a soft-deleted user → 409 60009', async () => {
    await refused({ userPrincipalName: `olivia.chen@${CUSTOM_DOMAIN}` }, 409, 60009, 'userPrincipalName');
  });

  const badPasswords: [string, string][] = [
    ['too short', 'Ab1!xyz'],
    ['only two character classes', 'alllowercase123'],
    ['a character outside the policy', 'Pässword-123'],
    ['an empty password', ''],
    ['more than 256 characters', `Aa1!${'x'.repeat(253)}`],
  ];
  for (const [what, password] of badPasswords) {
    test(`a password ${what} → 400 3000 naming passwordProfile.password, without echoing it`, async () => {
      const fault = await refused({ passwordProfile: { password, forceChangePassword: true } }, 400, 3000, 'passwordProfile.password');
      if (password.length > 0) assert.ok(!JSON.stringify(fault).includes(password), 'the error does not echo the password');
    });
  }

  for (const value of ['USA', 'XX', 'U', '', 'u s']) {
    test(`usageLocation ${JSON.stringify(value)} → 400 3000 naming usageLocation`, async () => {
      await refused({ usageLocation: value }, 400, 3000, 'usageLocation');
    });
  }

  for (const [what, value] of [['empty', ''], ['only spaces', '   '], ['257 characters', 'x'.repeat(257)]] as const) {
    test(`displayName ${what} → 400 3000 naming displayName`, async () => {
      await refused({ displayName: value }, 400, 3000, 'displayName');
    });
  }

  test('displayName of exactly 256 characters is accepted (the limit is inclusive)', async () => {
    const u = await freshUser(ctx);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { displayName: 'y'.repeat(256) } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.displayName.length, 256);
  });

  test('firstName of 65 characters → 400 3000 naming firstName', async () => {
    await refused({ firstName: 'f'.repeat(65) }, 400, 3000, 'firstName');
  });

  test('lastName of 65 characters → 400 3000 naming lastName', async () => {
    await refused({ lastName: 'l'.repeat(65) }, 400, 3000, 'lastName');
  });

  test('immutableId with "$" → 400 3000 naming immutableId', async () => {
    await refused({ immutableId: 'abc$def' }, 400, 3000, 'immutableId');
  });

  test('phoneNumber with letters → 400 3000 naming phoneNumber', async () => {
    await refused({ phoneNumber: 'call me' }, 400, 3000, 'phoneNumber');
  });

  test('state "inactive" → 400 3000 naming state (delete is DELETE)', async () => {
    await refused({ state: 'inactive' }, 400, 3000, 'state');
    await refused({ State: 'Inactive' }, 400, 3000, 'state');
  });

  test('state with any other value → 400 3000 naming state', async () => {
    await refused({ state: 'deleted' }, 400, 3000, 'state');
  });

  test('one bad property among good ones refuses the whole PATCH', async () => {
    await refused({ displayName: 'Would Change', firstName: 'Would', usageLocation: 'USA' }, 400, 3000, 'usageLocation');
    await refused({ displayName: 'Would Change', userPrincipalName: taken.upn }, 409, 60009, 'userPrincipalName');
    await refused({ usageLocation: 'US', passwordProfile: { password: 'weak' } }, 400, 3000, 'passwordProfile.password');
  });

  const wrongTypes: [string, unknown][] = [
    ['usageLocation: 5', { usageLocation: 5 }],
    ['passwordProfile: "x"', { passwordProfile: 'x' }],
    ['passwordProfile.password: 12345678', { passwordProfile: { password: 12345678 } }],
    ['passwordProfile.forceChangePassword: "yes"', { passwordProfile: { forceChangePassword: 'yes' } }],
    ['displayName: true', { displayName: true }],
    ['firstName: {}', { firstName: {} }],
    ['state: 1', { state: 1 }],
    ['the body is an array', [{ usageLocation: 'US' }]],
    ['the body is a string', 'usageLocation'],
    ['the body is a number', 42],
  ];
  for (const [what, body] of wrongTypes) {
    test(`wrong JSON type (${what}) → 400 800002`, async () => {
      await refused(body, 400, 800002);
    });
  }

  test('a body that is not JSON → 400 800002, nothing changes', async () => {
    const res = await api(ctx, 'PATCH', userPath(user.id), { rawBody: '{"usageLocation":"US"', headers: { 'content-type': 'application/json' } });
    assertFault(res, 400, 800002);
    assert.deepEqual(await stored(ctx, user.id), user);
  });

  test('the same property twice in two casings → 400 800002', async () => {
    await refused({ usageLocation: 'US', UsageLocation: 'DE' }, 400, 800002);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('users that cannot be reached: deleted, unknown, another customer\'s', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await setup();
  });
  after(async () => {
    await ctx.svc.close();
  });

  test('PATCH of a deleted user without state → 404 60002, and the user stays deleted and unchanged', async () => {
    const beforeStore = await stored(ctx, F.users.deleted);
    assert.equal(beforeStore.state, 'inactive');
    const res = await api(ctx, 'PATCH', userPath(F.users.deleted), { body: { usageLocation: 'DE', displayName: 'Back Again' } });
    assertFault(res, 404, 60002);
    assert.deepEqual(await stored(ctx, F.users.deleted), beforeStore);
  });

  test('PATCH of a deleted user with an empty body → 404 60002', async () => {
    const beforeStore = await stored(ctx, F.users.deleted);
    assertFault(await api(ctx, 'PATCH', userPath(F.users.deleted), { body: {} }), 404, 60002);
    assert.deepEqual(await stored(ctx, F.users.deleted), beforeStore);
  });

  test('GET of a deleted user → 404 60002', async () => {
    assertFault(await api(ctx, 'GET', userPath(F.users.deleted)), 404, 60002);
  });

  test('DELETE of a deleted user → 404 60002', async () => {
    const beforeStore = await stored(ctx, F.users.deleted);
    assertFault(await api(ctx, 'DELETE', userPath(F.users.deleted)), 404, 60002);
    assert.deepEqual(await stored(ctx, F.users.deleted), beforeStore);
  });

  test('GET, PATCH and DELETE of an unknown user id → 404 60002', async () => {
    const unknown = randomUUID();
    assertFault(await api(ctx, 'GET', userPath(unknown)), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath(unknown), { body: { usageLocation: 'US' } }), 404, 60002);
    assertFault(await api(ctx, 'DELETE', userPath(unknown)), 404, 60002);
    assert.equal(await ctx.svc.store.getUser(CID, unknown), undefined);
  });

  test('a user id that is not a GUID → 404 60002', async () => {
    assertFault(await api(ctx, 'GET', userPath('not-a-guid')), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath('not-a-guid'), { body: { usageLocation: 'US' } }), 404, 60002);
  });

  test('a Contoso user addressed under Fabrikam → 404 60002 for GET, PATCH and DELETE, and the Contoso user is unchanged', async () => {
    const beforeStore = await stored(ctx, C.users.amara, C.customerId);
    assertFault(await api(ctx, 'GET', userPath(C.users.amara)), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath(C.users.amara), { body: { usageLocation: 'US' } }), 404, 60002);
    assertFault(await api(ctx, 'DELETE', userPath(C.users.amara)), 404, 60002);
    assert.deepEqual(await stored(ctx, C.users.amara, C.customerId), beforeStore);
    const own = await api<CustomerUser>(ctx, 'GET', userPath(C.users.amara, C.customerId));
    assert.equal(own.status, 200, 'the user is reachable under its own customer');
    assert.equal(own.json.usageLocation, 'NG');
  });

  test('PATCH of a deleted user with a bad property and no state → 404 60002: the user is looked up before the body is judged', async () => {
    const beforeStore = await stored(ctx, F.users.deleted);
    assertFault(await api(ctx, 'PATCH', userPath(F.users.deleted), { body: { usageLocation: 'USA' } }), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath(F.users.deleted), { body: { userPrincipalName: `priya.raman@${CUSTOM_DOMAIN}` } }), 404, 60002);
    assert.deepEqual(await stored(ctx, F.users.deleted), beforeStore);
  });

  test('PATCH of an unknown user with a bad property or a wrong JSON type → 404 60002', async () => {
    assertFault(await api(ctx, 'PATCH', userPath(randomUUID()), { body: { usageLocation: 'USA' } }), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath(randomUUID()), { body: { passwordProfile: 'x' } }), 404, 60002);
    assertFault(await api(ctx, 'PATCH', userPath(randomUUID()), { body: [] }), 404, 60002);
  });

  test('a caller without a role for the change (Directory Readers only) → 403 900150, before the user or the body is judged', async () => {
    const reader = await ctx.svc.userToken({ username: DEMO.readerUsername });
    const u = await freshUser(ctx);
    for (const body of [{ usageLocation: 'US' }, { usageLocation: 5 }, { usageLocation: 'USA' }, []]) {
      assertFault(await api(ctx, 'PATCH', userPath(u.id), { token: reader, body }), 403, 900150);
      assertFault(await api(ctx, 'PATCH', userPath(randomUUID()), { token: reader, body }), 403, 900150);
      assertFault(await api(ctx, 'POST', usersPath(), { token: reader, body }), 403, 900150);
    }
    assertFault(await api(ctx, 'DELETE', userPath(u.id), { token: reader }), 403, 900150);
    assert.deepEqual(await stored(ctx, u.id), u);
    assert.equal((await api(ctx, 'GET', userPath(u.id), { token: reader })).status, 200, 'the reader may read');
  });

  test('a customer that is not the partner\'s → 403 20002 whatever the body', async () => {
    assertFault(await api(ctx, 'PATCH', userPath(F.users.ordinary, randomUUID()), { body: { usageLocation: 5 } }), 403, 20002);
    assertFault(await api(ctx, 'POST', usersPath(randomUUID()), { body: [] }), 403, 20002);
  });

  test('a customer that is not the partner\'s → 403 20002', async () => {
    assertFault(await api(ctx, 'GET', userPath(F.users.ordinary, randomUUID())), 403, 20002);
    assertFault(await api(ctx, 'PATCH', userPath(F.users.ordinary, randomUUID()), { body: { usageLocation: 'US' } }), 403, 20002);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('create a customer user', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await setup();
  });
  after(async () => {
    await ctx.svc.close();
  });

  const newUpn = (domain: string = CUSTOM_DOMAIN): string => `new.${randomUUID().slice(0, 12)}@${domain}`;

  test('POST returns 201 with the created user: a new id, state active, no password echoed; GET finds it', async () => {
    const upn = newUpn();
    const password = strongPassword();
    const res = await api<CustomerUser>(ctx, 'POST', usersPath(), {
      body: {
        usageLocation: 'gb', userPrincipalName: upn, firstName: 'Omar', lastName: 'Hale', displayName: 'Omar Hale',
        passwordProfile: { password, forceChangePassword: true }, attributes: { objectType: 'CustomerUser' },
      },
    });
    assert.equal(res.status, 201, res.text);
    assert.ok(!res.text.includes(password), 'the password is not echoed');
    assert.ok(!/passwordProfile/i.test(res.text));
    const u = res.json;
    assert.match(u.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(u.state, 'active');
    assert.equal(u.userPrincipalName, upn);
    assert.equal(u.displayName, 'Omar Hale');
    assert.equal(u.firstName, 'Omar');
    assert.equal(u.lastName, 'Hale');
    assert.equal(u.usageLocation, 'GB');
    assert.equal(u.userDomainType, 'none');
    assert.equal(u.softDeletionTime, undefined);
    assert.deepEqual(u.links, { self: { uri: `/customers/${CID}/users/${u.id}`, method: 'GET', headers: [] } });
    assert.deepEqual(u.attributes, { objectType: 'CustomerUser' });
    assert.deepEqual(await getUser(ctx, u.id), u);
    const rec = await stored(ctx, u.id);
    assert.ok(rec.passwordHash !== null && (await verifySecret(password, rec.passwordHash)), 'the password is stored as a verifiable hash');
    assert.equal(rec.forceChangePassword, true);
  });

  test('two creates give two different ids', async () => {
    const body = (upn: string): unknown => ({ userPrincipalName: upn, displayName: 'Twin', passwordProfile: { password: strongPassword() } });
    const a = await api<CustomerUser>(ctx, 'POST', usersPath(), { body: body(newUpn()) });
    const b = await api<CustomerUser>(ctx, 'POST', usersPath(), { body: body(newUpn()) });
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    assert.notEqual(a.json.id, b.json.id);
  });

  test('the .NET SDK create body (PascalCase, nulls, trailing slash on the route) is accepted', async () => {
    const upn = newUpn(INITIAL_DOMAIN);
    const res = await api<CustomerUser>(ctx, 'POST', `${usersPath()}/`, {
      body: {
        UsageLocation: 'US', Id: null, UserPrincipalName: upn, FirstName: 'Sdk', LastName: 'User', DisplayName: 'Sdk User',
        PasswordProfile: { Password: strongPassword(), ForceChangePassword: false }, LastDirectorySyncTime: null,
        UserDomainType: 'none', State: 'active', SoftDeletionTime: null, Attributes: { ObjectType: 'CustomerUser' },
      },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.userPrincipalName, upn);
    assert.equal(res.json.state, 'active');
  });

  test('concurrent creates with one UPN: exactly one 201, the others 409 60009', async () => {
    const upn = newUpn();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      api<CustomerUser>(ctx, 'POST', usersPath(), { body: { userPrincipalName: i % 2 === 0 ? upn : upn.toUpperCase(), displayName: `Racer ${String(i)}`, passwordProfile: { password: strongPassword() } } })));
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) assertFault(r, 409, 60009, 'userPrincipalName');
    const holder = await ctx.svc.store.findUserByUpn(CID, upn);
    assert.equal(holder?.id, results.find((r) => r.status === 201)?.json.id);
  });

  test('immutableId and phoneNumber are stored on create', async () => {
    const res = await api<CustomerUser>(ctx, 'POST', usersPath(), {
      body: { userPrincipalName: newUpn(), displayName: 'With Extras', immutableId: 'aW1tdXRhYmxl', phoneNumber: '+46 8 123 456', passwordProfile: { password: strongPassword() } },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.immutableId, 'aW1tdXRhYmxl');
    assert.equal(res.json.phoneNumber, '+46 8 123 456');
    const rec = await stored(ctx, res.json.id);
    assert.equal(rec.immutableId, 'aW1tdXRhYmxl');
    assert.equal(rec.phoneNumber, '+46 8 123 456');
  });

  /** Expects the fault and that no user with `upn` exists afterwards. */
  async function refusedCreate(body: Record<string, unknown>, status: number, code: number, property: string): Promise<void> {
    const res = await api(ctx, 'POST', usersPath(), { body });
    assertFault(res, status, code, property);
    const upn = body.userPrincipalName;
    if (typeof upn === 'string' && upn !== '') {
      const holder = await ctx.svc.store.findUserByUpn(CID, upn);
      assert.ok(holder === undefined || holder.displayName !== body.displayName, 'no user was created');
    }
  }

  test('a missing userPrincipalName → 400 3000 naming userPrincipalName', async () => {
    const before = (await listAll(ctx)).length;
    await refusedCreate({ displayName: 'No Upn', passwordProfile: { password: strongPassword() } }, 400, 3000, 'userPrincipalName');
    assert.equal((await listAll(ctx)).length, before, 'no user was created');
  });

  test('a missing displayName → 400 3000 naming displayName', async () => {
    await refusedCreate({ userPrincipalName: newUpn(), passwordProfile: { password: strongPassword() } }, 400, 3000, 'displayName');
  });

  test('a missing password (no passwordProfile, or one without password) → 400 3000 naming passwordProfile.password', async () => {
    await refusedCreate({ userPrincipalName: newUpn(), displayName: 'No Password' }, 400, 3000, 'passwordProfile.password');
    await refusedCreate({ userPrincipalName: newUpn(), displayName: 'No Password', passwordProfile: { forceChangePassword: true } }, 400, 3000, 'passwordProfile.password');
  });

  test('null for a required property counts as missing', async () => {
    await refusedCreate({ userPrincipalName: null, displayName: 'Null Upn', passwordProfile: { password: strongPassword() } }, 400, 3000, 'userPrincipalName');
  });

  test('a UPN already taken (any letter case) → 409 60009, and nothing is created', async () => {
    const before = (await listAll(ctx)).length;
    await refusedCreate({ userPrincipalName: `priya.raman@${CUSTOM_DOMAIN}`, displayName: 'Dup One', passwordProfile: { password: strongPassword() } }, 409, 60009, 'userPrincipalName');
    await refusedCreate({ userPrincipalName: `PRIYA.Raman@${CUSTOM_DOMAIN.toUpperCase()}`, displayName: 'Dup Two', passwordProfile: { password: strongPassword() } }, 409, 60009, 'userPrincipalName');
    assert.equal((await listAll(ctx)).length, before);
  });

  test('a UPN of the federated domain, an unknown domain or a bad form → 400 3000 naming userPrincipalName', async () => {
    for (const upn of [`new.user@${FEDERATED_DOMAIN}`, 'new.user@unknown.example', 'new user@fabrikam.example', `${'a'.repeat(65)}@${CUSTOM_DOMAIN}`]) {
      await refusedCreate({ userPrincipalName: upn, displayName: 'Bad Upn', passwordProfile: { password: strongPassword() } }, 400, 3000, 'userPrincipalName');
    }
  });

  test('a weak password, a bad usageLocation or a long firstName → 400 3000 naming the property', async () => {
    await refusedCreate({ userPrincipalName: newUpn(), displayName: 'Weak', passwordProfile: { password: 'password' } }, 400, 3000, 'passwordProfile.password');
    await refusedCreate({ userPrincipalName: newUpn(), displayName: 'Bad Loc', usageLocation: 'USA', passwordProfile: { password: strongPassword() } }, 400, 3000, 'usageLocation');
    await refusedCreate({ userPrincipalName: newUpn(), displayName: 'Long Name', firstName: 'f'.repeat(65), passwordProfile: { password: strongPassword() } }, 400, 3000, 'firstName');
    await refusedCreate({ userPrincipalName: newUpn(), displayName: '   ', passwordProfile: { password: strongPassword() } }, 400, 3000, 'displayName');
  });

  test('wrong JSON types on create → 400 800002', async () => {
    assertFault(await api(ctx, 'POST', usersPath(), { body: [] }), 400, 800002);
    assertFault(await api(ctx, 'POST', usersPath(), { body: { userPrincipalName: 7, displayName: 'x', passwordProfile: { password: strongPassword() } } }), 400, 800002);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('delete and restore a customer user', () => {
  let ctx: Ctx;
  before(async () => {
    ctx = await setup();
  });
  after(async () => {
    await ctx.svc.close();
  });

  async function del(uid: string): Promise<void> {
    const res = await api(ctx, 'DELETE', userPath(uid));
    assert.equal(res.status, 204, res.text);
  }

  test('DELETE → 204 with an empty body; the user leaves the list, GET gives 404, and the deleted filter shows it inactive with softDeletionTime', async () => {
    const u = await freshUser(ctx);
    const t0 = Date.now();
    const res = await api(ctx, 'DELETE', userPath(u.id));
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assertFault(await api(ctx, 'GET', userPath(u.id)), 404, 60002);
    assert.ok(!(await listAll(ctx)).some((x) => x.id === u.id), 'not in the list of active users');
    for (const filter of [DELETED_FILTER, DELETED_FILTER_STATUS]) {
      const deleted = (await listAll(ctx, filter)).find((x) => x.id === u.id);
      assert.ok(deleted, `in the deleted list (${filter})`);
      assert.equal(deleted.state, 'inactive');
      assert.ok(deleted.softDeletionTime !== undefined);
      assert.match(deleted.softDeletionTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      assert.ok(Math.abs(Date.parse(deleted.softDeletionTime) - t0) < 5_000, 'softDeletionTime is now');
      assert.equal(deleted.userPrincipalName, u.upn);
      assert.equal(deleted.displayName, u.displayName);
      assert.equal(deleted.links.self?.uri, `/customers/${CID}/users/${u.id}`);
    }
    const rec = await stored(ctx, u.id);
    assert.equal(rec.state, 'inactive');
    assert.deepEqual({ ...rec, state: 'active', softDeletionTime: null }, u, 'only state and softDeletionTime changed');
  });

  test('the deleted filter matches its Value without regard to case, and the active list never shows deleted users', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    const lower = JSON.stringify({ field: 'userstate', value: 'inactive', operator: 'Equals' });
    assert.ok((await listAll(ctx, lower)).some((x) => x.id === u.id));
    assert.ok((await listAll(ctx, DELETED_FILTER)).every((x) => x.state === 'inactive'));
    assert.ok((await listAll(ctx)).every((x) => x.state === 'active'));
  });

  test('an unsupported user filter → 400 3000 naming filter', async () => {
    assertFault(await api(ctx, 'GET', `${usersPath()}?filter=${encodeURIComponent(JSON.stringify({ Field: 'DisplayName', Value: 'x', Operator: 'equals' }))}`), 400, 3000, 'filter');
    assertFault(await api(ctx, 'GET', `${usersPath()}?filter=notjson`), 400, 3000, 'filter');
  });

  test('the UPN of a deleted user stays taken: create and rename onto it → 409 60009', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    assertFault(await api(ctx, 'POST', usersPath(), { body: { userPrincipalName: u.upn, displayName: 'Taker', passwordProfile: { password: strongPassword() } } }), 409, 60009, 'userPrincipalName');
    const other = await freshUser(ctx);
    assertFault(await api(ctx, 'PATCH', userPath(other.id), { body: { userPrincipalName: u.upn.toUpperCase() } }), 409, 60009, 'userPrincipalName');
    assert.deepEqual(await stored(ctx, other.id), other);
  });

  test('DELETE twice: the second → 404 60002', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    const rec = await stored(ctx, u.id);
    assertFault(await api(ctx, 'DELETE', userPath(u.id)), 404, 60002);
    assert.deepEqual(await stored(ctx, u.id), rec, 'softDeletionTime is not moved');
  });

  test('restore with {"State":"active"} → 200: the user is back with all its values, without softDeletionTime, and in the list again', async () => {
    const u = await freshUser(ctx, { immutableId: 'restore-me', phoneNumber: '555 0199' });
    const got = await getUser(ctx, u.id);
    await del(u.id);
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { State: 'active' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, got);
    assert.ok(!('softDeletionTime' in res.json));
    assert.deepEqual(await stored(ctx, u.id), u);
    assert.ok((await listAll(ctx)).some((x) => x.id === u.id), 'back in the list');
    assert.ok(!(await listAll(ctx, DELETED_FILTER)).some((x) => x.id === u.id), 'gone from the deleted list');
    assert.deepEqual(await getUser(ctx, u.id), got);
  });

  test('restore of the seeded deleted user (the .NET SDK body) brings it back', async () => {
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(F.users.deleted), {
      body: { UsageLocation: null, Id: null, UserPrincipalName: null, DisplayName: null, PasswordProfile: null, UserDomainType: 'none', State: 'active', Attributes: { ObjectType: 'CustomerUser' } },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.state, 'active');
    assert.equal(res.json.userPrincipalName, `olivia.chen@${CUSTOM_DOMAIN}`);
    assert.equal(res.json.usageLocation, 'US');
    assert.equal(res.json.softDeletionTime, undefined);
  });

  test('restore and rename in one PATCH: both apply', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    const upn = `restored.${randomUUID().slice(0, 8)}@${INITIAL_DOMAIN}`;
    const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { state: 'active', userPrincipalName: upn, usageLocation: 'no' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.state, 'active');
    assert.equal(res.json.userPrincipalName, upn);
    assert.equal(res.json.usageLocation, 'NO');
    assert.deepEqual(await stored(ctx, u.id), { ...u, upn, usageLocation: 'NO' });
    // The old UPN was freed by the rename.
    const take = await api<CustomerUser>(ctx, 'POST', usersPath(), { body: { userPrincipalName: u.upn, displayName: 'Old Upn Taker', passwordProfile: { password: strongPassword() } } });
    assert.equal(take.status, 201, take.text);
  });

  test('a restore with a bad property is refused as a whole: the user stays deleted', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    const rec = await stored(ctx, u.id);
    assertFault(await api(ctx, 'PATCH', userPath(u.id), { body: { state: 'active', usageLocation: 'USA' } }), 400, 3000, 'usageLocation');
    const taken = await freshUser(ctx);
    assertFault(await api(ctx, 'PATCH', userPath(u.id), { body: { state: 'active', userPrincipalName: taken.upn } }), 409, 60009, 'userPrincipalName');
    assert.deepEqual(await stored(ctx, u.id), rec);
    assertFault(await api(ctx, 'GET', userPath(u.id)), 404, 60002);
  });

  test('a restored user can be deleted again, and gets a new softDeletionTime', async () => {
    const u = await freshUser(ctx);
    await del(u.id);
    assert.equal((await api(ctx, 'PATCH', userPath(u.id), { body: { state: 'active' } })).status, 200);
    await del(u.id);
    assert.equal((await stored(ctx, u.id)).state, 'inactive');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('soft-delete retention', () => {
  const DAY = 86_400_000;

  test('after 30 days a deleted user can no longer be restored (404 60002), leaves the deleted list, and its UPN is free again', async () => {
    let clock = Date.now();
    const ctx = await setup({ now: () => clock });
    try {
      const u = await freshUser(ctx);
      assert.equal((await api(ctx, 'DELETE', userPath(u.id))).status, 204);
      clock += 29 * DAY;
      ctx.token = await ctx.svc.userToken();
      assert.ok((await listAll(ctx, DELETED_FILTER)).some((x) => x.id === u.id), 'still in the deleted list after 29 days');
      assertFault(await api(ctx, 'POST', usersPath(), { body: { userPrincipalName: u.upn, displayName: 'Too Early', passwordProfile: { password: strongPassword() } } }), 409, 60009);

      clock += 2 * DAY;
      ctx.token = await ctx.svc.userToken();
      assert.ok(!(await listAll(ctx, DELETED_FILTER)).some((x) => x.id === u.id), 'purged after 31 days');
      assertFault(await api(ctx, 'PATCH', userPath(u.id), { body: { state: 'active' } }), 404, 60002);
      const take = await api<CustomerUser>(ctx, 'POST', usersPath(), { body: { userPrincipalName: u.upn, displayName: 'Upn Reused', passwordProfile: { password: strongPassword() } } });
      assert.equal(take.status, 201, take.text);
      assert.notEqual(take.json.id, u.id);
    } finally {
      await ctx.svc.close();
    }
  });

  test('a deleted user is still restorable on day 29', async () => {
    let clock = Date.now();
    const ctx = await setup({ now: () => clock });
    try {
      const u = await freshUser(ctx);
      assert.equal((await api(ctx, 'DELETE', userPath(u.id))).status, 204);
      clock += 29 * DAY;
      ctx.token = await ctx.svc.userToken();
      const res = await api<CustomerUser>(ctx, 'PATCH', userPath(u.id), { body: { state: 'active' } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(await stored(ctx, u.id), u);
    } finally {
      await ctx.svc.close();
    }
  });

  test('--user-retention-days 1: after two days the user is gone and another user may be renamed onto its UPN', async () => {
    let clock = Date.now();
    const ctx = await setup({ now: () => clock, config: { userRetentionDays: 1 } });
    try {
      const u = await freshUser(ctx);
      const other = await freshUser(ctx);
      assert.equal((await api(ctx, 'DELETE', userPath(u.id))).status, 204);
      assertFault(await api(ctx, 'PATCH', userPath(other.id), { body: { userPrincipalName: u.upn } }), 409, 60009);
      clock += 2 * DAY;
      ctx.token = await ctx.svc.userToken();
      assertFault(await api(ctx, 'PATCH', userPath(u.id), { body: { state: 'active' } }), 404, 60002);
      assertFault(await api(ctx, 'GET', userPath(u.id)), 404, 60002);
      const res = await api<CustomerUser>(ctx, 'PATCH', userPath(other.id), { body: { userPrincipalName: u.upn } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.userPrincipalName, u.upn);
    } finally {
      await ctx.svc.close();
    }
  });
});

