import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RoleIds } from '@partnerkit/contract';
import { openTestStore } from '../testing/harness.js';
import type { Store } from '../store/store.js';
import { verifySecret } from '../identity/passwords.js';
import { parseSeed, SeedError, type SeedFile } from './format.js';
import { assignmentId, commerceIdFor, formatSeedSummary, loadSeed, loadSeedFile } from './load.js';

const ID = {
  partner: '0a1b2c3d-0000-4000-8000-000000000001',
  app: '0a1b2c3d-0000-4000-8000-000000000002',
  publicApp: '0a1b2c3d-0000-4000-8000-000000000003',
  admins: '0a1b2c3d-0000-4000-8000-000000000004',
  readers: '0a1b2c3d-0000-4000-8000-000000000005',
  agent: '0a1b2c3d-0000-4000-8000-000000000006',
  reader: '0a1b2c3d-0000-4000-8000-000000000007',
  customer: '0a1b2c3d-0000-4000-8000-000000000008',
  alice: '0a1b2c3d-0000-4000-8000-000000000009',
  bob: '0a1b2c3d-0000-4000-8000-00000000000a',
  gone: '0a1b2c3d-0000-4000-8000-00000000000b',
  rel: '0a1b2c3d-0000-4000-8000-00000000000c',
  customer2: '0a1b2c3d-0000-4000-8000-00000000000d',
  carol: '0a1b2c3d-0000-4000-8000-00000000000e',
} as const;

const NOW = new Date('2025-03-01T12:00:00Z');
const AGENT_PASSWORD = 'Agent-Passw0rd';
const APP_SECRET = 'app~secret.value';
const ALICE_PASSWORD = 'Alice-Passw0rd';

/** A small seed as plain JSON data (upper-case GUIDs in places, to check they are normalised). */
function fixture(): Record<string, unknown> {
  return {
    partners: [
      {
        tenantId: ID.partner.toUpperCase(),
        name: 'Test Partner',
        domain: 'TestPartner.onmicrosoft.com',
        applications: [
          { clientId: ID.app, displayName: 'Automation', clientSecret: APP_SECRET },
          { clientId: ID.publicApp, displayName: 'Public client' },
        ],
        groups: [
          { id: ID.admins, displayName: 'Admins' },
          { id: ID.readers, displayName: 'Readers' },
        ],
        users: [
          { id: ID.agent, userPrincipalName: 'agent@testpartner.onmicrosoft.com', password: AGENT_PASSWORD, groups: [ID.admins.toUpperCase()] },
          { id: ID.reader, userPrincipalName: 'reader@testpartner.onmicrosoft.com', password: AGENT_PASSWORD, mfa: false, groups: [ID.readers] },
        ],
        customers: [
          {
            id: ID.customer,
            companyName: 'Test Customer',
            domain: 'testcustomer.onmicrosoft.com',
            customDomains: [{ name: 'test.example' }, { name: 'fed.example', federated: true }],
            users: [
              {
                id: ID.alice, userPrincipalName: 'Alice@test.example', displayName: 'Alice Adams', firstName: 'Alice',
                lastName: 'Adams', usageLocation: 'gb', password: ALICE_PASSWORD, roles: [RoleIds.userAdministrator],
              },
              { id: ID.bob, userPrincipalName: 'bob@fed.example', displayName: 'Bob Brown' },
              { id: ID.gone, userPrincipalName: 'gone@testcustomer.onmicrosoft.com', displayName: 'Gone', state: 'Inactive' },
            ],
            gdapRelationships: [
              {
                id: ID.rel, displayName: 'Test relationship', endDateTime: '2099-12-31',
                roles: [RoleIds.userAdministrator, RoleIds.directoryReaders],
                accessAssignments: [
                  { groupId: ID.admins, roles: [RoleIds.userAdministrator] },
                  { groupId: ID.readers, roles: [RoleIds.directoryReaders] },
                ],
              },
            ],
          },
          {
            id: ID.customer2,
            companyName: 'Second Customer',
            domain: 'second.onmicrosoft.com',
            users: [{ id: ID.carol, userPrincipalName: 'alice@second.onmicrosoft.com', displayName: 'Carol' }],
          },
        ],
      },
    ],
  };
}

const fixtureJson = (): string => JSON.stringify(fixture(), null, 2);

async function memoryStore(): Promise<Store> {
  return openTestStore();
}

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await memoryStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

/** Everything the store shows of the fixture, for comparing two loads. */
async function snapshot(store: Store): Promise<unknown> {
  const users = await Promise.all(
    [ID.alice, ID.bob, ID.gone].map(async (id) => {
      const u = await store.getUser(ID.customer, id);
      return u && { ...u, passwordHash: u.passwordHash === null ? null : 'hash' };
    }),
  );
  return {
    partner: await store.findPartner(ID.partner),
    apps: await Promise.all([ID.app, ID.publicApp].map(async (id) => (await store.findApplication(id))?.displayName)),
    partnerUsers: await Promise.all([ID.agent, ID.reader].map(async (id) => {
      const u = await store.findPartnerUser(id);
      return u && { ...u, passwordHash: 'hash' };
    })),
    customers: await store.listCustomers(ID.partner, undefined, 10),
    domains: await store.customerDomains(ID.customer),
    users,
    roles: await store.userRoleIds(ID.alice),
    grants: await store.gdapGrants(ID.partner, ID.customer, ID.agent),
  };
}

/** Asserts that parsing `seed` fails with a `SeedError` whose message contains every one of `parts`. */
function assertRefused(seed: unknown, parts: string[], fileName = 'seed.json'): SeedError {
  const text = typeof seed === 'string' ? seed : JSON.stringify(seed);
  let caught: unknown;
  try {
    parseSeed(text, fileName);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SeedError, `expected a SeedError, got ${String(caught)}`);
  for (const part of parts) assert.ok(caught.message.includes(part), `"${caught.message}" should contain "${part}"`);
  return caught;
}

type Json = Record<string, unknown>;
/** The fixture, changed by `edit` (which gets partners[0]). */
function fixtureWith(edit: (partner: Json) => void): Json {
  const f = fixture();
  const partners = f['partners'] as Json[];
  const partner = partners[0];
  assert.ok(partner);
  edit(partner);
  return f;
}
/** Item `i` of a list in the fixture. */
function at(v: unknown, i: number): Json {
  assert.ok(Array.isArray(v));
  const item: unknown = v[i];
  assert.ok(typeof item === 'object' && item !== null);
  return item as Json;
}

describe('loading a seed', () => {
  test('a valid JSON seed loads and everything is queryable through the store', async () => {
    await withStore(async (store) => {
      const summary = await loadSeed(store, parseSeed(fixtureJson(), 'seed.json'), { now: NOW });
      assert.deepEqual(summary, {
        partners: { created: 1, existing: 0 },
        applications: { created: 2, existing: 0 },
        groups: { created: 2, existing: 0 },
        partnerUsers: { created: 2, existing: 0 },
        customers: { created: 2, existing: 0 },
        customerUsers: { created: 4, existing: 0 },
        gdapRelationships: { created: 1, existing: 0 },
        accessAssignments: { created: 2, existing: 0 },
        skipped: [],
      });

      assert.deepEqual(await store.findPartner('testpartner.onmicrosoft.com'), {
        tenantId: ID.partner, name: 'Test Partner', domain: 'testpartner.onmicrosoft.com',
      });
      const app = await store.findApplication(ID.app);
      assert.equal(app?.partnerId, ID.partner);
      assert.equal((await store.findApplication(ID.publicApp))?.secretHash, null);

      const agent = await store.findPartnerUserByUpn('AGENT@testpartner.onmicrosoft.com');
      assert.equal(agent?.id, ID.agent);
      assert.equal(agent.mfa, true);
      assert.equal(agent.displayName, 'agent@testpartner.onmicrosoft.com');
      assert.equal((await store.findPartnerUser(ID.reader))?.mfa, false);

      const customer = await store.getCustomer(ID.customer);
      assert.deepEqual(customer, {
        id: ID.customer, partnerId: ID.partner, commerceId: commerceIdFor(ID.customer), companyName: 'Test Customer',
        domain: 'testcustomer.onmicrosoft.com', relationshipToPartner: 'reseller', allowDelegatedAccess: true,
      });
      assert.deepEqual((await store.listCustomers(ID.partner, undefined, 10)).map((c) => c.customer.id), [ID.customer, ID.customer2]);
      assert.deepEqual(await store.customerDomains(ID.customer), [
        { name: 'fed.example', federated: true },
        { name: 'test.example', federated: false },
        { name: 'testcustomer.onmicrosoft.com', federated: false },
      ]);

      const alice = await store.getUser(ID.customer, ID.alice);
      assert.ok(alice);
      assert.deepEqual({ ...alice, passwordHash: null }, {
        id: ID.alice, customerId: ID.customer, upn: 'Alice@test.example', displayName: 'Alice Adams', firstName: 'Alice',
        lastName: 'Adams', usageLocation: 'GB', immutableId: null, phoneNumber: null, passwordHash: null,
        forceChangePassword: false, state: 'active', softDeletionTime: null, userDomainType: 'none', lastDirectorySyncTime: null,
      });
      assert.deepEqual(await store.userRoleIds(ID.alice), [RoleIds.userAdministrator]);
      assert.deepEqual((await store.roleMembers(ID.customer, RoleIds.userAdministrator)).map((u) => u.id), [ID.alice]);

      const bob = await store.getUser(ID.customer, ID.bob);
      assert.equal(bob?.userDomainType, 'federated');
      assert.equal(bob.passwordHash, null);
      const gone = await store.getUser(ID.customer, ID.gone);
      assert.equal(gone?.state, 'inactive');
      assert.equal(gone.softDeletionTime, '2025-03-01T12:00:00Z');
      // the same alias in another customer is another user
      assert.equal((await store.findUserByUpn(ID.customer2, 'alice@second.onmicrosoft.com'))?.id, ID.carol);

      const grants = await store.gdapGrants(ID.partner, ID.customer, ID.agent);
      assert.deepEqual(grants, [{
        relationshipId: ID.rel, status: 'active', endDateTime: '2099-12-31T00:00:00.000Z',
        relationshipRoles: [RoleIds.userAdministrator, RoleIds.directoryReaders], assignmentRoles: [RoleIds.userAdministrator],
      }]);
      const readerGrants = await store.gdapGrants(ID.partner, ID.customer, ID.reader);
      assert.deepEqual(readerGrants.map((g) => g.assignmentRoles), [[RoleIds.directoryReaders]]);
      assert.deepEqual(await store.gdapGrants(ID.partner, ID.customer2, ID.agent), []);
      assert.equal(assignmentId(ID.rel, ID.admins), `${ID.rel}:${ID.admins}`);
    });
  });

  test('the same seed in YAML parses and loads identically', async () => {
    const fromJson = parseSeed(fixtureJson(), 'seed.json');
    const yamlText = stringify(fixture());
    assert.deepEqual(parseSeed(yamlText, 'seed.yaml'), fromJson);
    assert.deepEqual(parseSeed(yamlText, 'seed.yml'), fromJson);
    // no telling extension: JSON when it parses as JSON, YAML otherwise
    assert.deepEqual(parseSeed(yamlText, 'seed'), fromJson);
    assert.deepEqual(parseSeed(fixtureJson(), 'seed.txt'), fromJson);

    const a = await memoryStore();
    const b = await memoryStore();
    try {
      await loadSeed(a, fromJson, { now: NOW });
      await loadSeed(b, parseSeed(yamlText, 'seed.yaml'), { now: NOW });
      assert.deepEqual(await snapshot(b), await snapshot(a));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('loading twice creates nothing new and keeps a user changed in between', async () => {
    await withStore(async (store) => {
      const seed = parseSeed(fixtureJson(), 'seed.json');
      await loadSeed(store, seed, { now: NOW });
      const alice = await store.getUser(ID.customer, ID.alice);
      assert.ok(alice);
      await store.updateUser({ ...alice, displayName: 'Alice Changed', usageLocation: 'FR' });
      await store.removeUserRole(ID.alice, RoleIds.userAdministrator);
      const before = await snapshot(store);

      const again = await loadSeed(store, seed, { now: new Date('2026-01-01T00:00:00Z') });
      assert.deepEqual(
        [again.partners, again.applications, again.partnerUsers, again.customers, again.customerUsers],
        [
          { created: 0, existing: 1 }, { created: 0, existing: 2 }, { created: 0, existing: 2 },
          { created: 0, existing: 2 }, { created: 0, existing: 4 },
        ],
      );
      assert.deepEqual(again.skipped, []);
      assert.deepEqual(await snapshot(store), before);
      const kept = await store.getUser(ID.customer, ID.alice);
      assert.equal(kept?.displayName, 'Alice Changed');
      assert.equal(kept.usageLocation, 'FR');
      assert.deepEqual(await store.userRoleIds(ID.alice), [], 'a role removed since is not given back');
      assert.equal((await store.getUser(ID.customer, ID.gone))?.softDeletionTime, '2025-03-01T12:00:00Z');
      assert.match(formatSeedSummary(again), /^seed: created nothing; already present: 1 partner, 2 applications/);
    });
  });

  test('a seed gaining a user loads only that user on the next start', async () => {
    await withStore(async (store) => {
      await loadSeed(store, parseSeed(fixtureJson(), 'seed.json'), { now: NOW });
      const grown = fixtureWith((p) => {
        const users = at(p['customers'], 0)['users'] as Json[];
        users.push({ id: '0a1b2c3d-0000-4000-8000-0000000000ff', userPrincipalName: 'dave@test.example', displayName: 'Dave' });
      });
      const summary = await loadSeed(store, parseSeed(JSON.stringify(grown), 'seed.json'), { now: NOW });
      assert.deepEqual(summary.customerUsers, { created: 1, existing: 4 });
      assert.equal((await store.findUserByUpn(ID.customer, 'dave@test.example'))?.displayName, 'Dave');
    });
  });

  test('a seed user whose UPN another user took since is skipped and reported', async () => {
    await withStore(async (store) => {
      await loadSeed(store, parseSeed(fixtureJson(), 'seed.json'), { now: NOW });
      const bob = await store.getUser(ID.customer, ID.bob);
      assert.ok(bob);
      // created through the API meanwhile
      await store.insertUser({ ...bob, id: '0a1b2c3d-0000-4000-8000-0000000000fe', upn: 'dave@test.example', userDomainType: 'none' });
      const dave = '0a1b2c3d-0000-4000-8000-0000000000ff';
      const grown = fixtureWith((p) => {
        const users = at(p['customers'], 0)['users'] as Json[];
        users.push({ id: dave, userPrincipalName: 'DAVE@test.example', displayName: 'Dave' });
      });
      const summary = await loadSeed(store, parseSeed(JSON.stringify(grown), 'seed.json'), { now: NOW });
      assert.deepEqual(summary.customerUsers, { created: 0, existing: 4 });
      assert.equal(summary.skipped.length, 1);
      assert.match(summary.skipped[0] ?? '', new RegExp(dave));
      assert.equal(await store.getUser(ID.customer, dave), undefined);
    });
  });

  test('passwords and client secrets are stored hashed', async () => {
    await withStore(async (store) => {
      await loadSeed(store, parseSeed(fixtureJson(), 'seed.json'), { now: NOW });
      const agent = await store.findPartnerUser(ID.agent);
      assert.ok(agent);
      assert.notEqual(agent.passwordHash, AGENT_PASSWORD);
      assert.ok(!agent.passwordHash.includes(AGENT_PASSWORD));
      assert.equal(await verifySecret(AGENT_PASSWORD, agent.passwordHash), true);
      assert.equal(await verifySecret('wrong', agent.passwordHash), false);

      const app = await store.findApplication(ID.app);
      assert.ok(app?.secretHash);
      assert.notEqual(app.secretHash, APP_SECRET);
      assert.equal(await verifySecret(APP_SECRET, app.secretHash), true);

      const alice = await store.getUser(ID.customer, ID.alice);
      assert.ok(alice?.passwordHash);
      assert.notEqual(alice.passwordHash, ALICE_PASSWORD);
      assert.equal(await verifySecret(ALICE_PASSWORD, alice.passwordHash), true);
    });
  });

  test('loadSeedFile reads a YAML file, and names the path of a file it cannot read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'partnerkit-seed-'));
    try {
      const file = join(dir, 'seed.yaml');
      await writeFile(file, stringify(fixture()));
      await withStore(async (store) => {
        const summary = await loadSeedFile(store, file, { now: NOW });
        assert.equal(summary.customerUsers.created, 4);
      });
      const missing = join(dir, 'missing.json');
      await withStore(async (store) => {
        await assert.rejects(loadSeedFile(store, missing), (err: unknown) => {
          assert.ok(err instanceof SeedError);
          assert.ok(err.message.startsWith(`${missing}: cannot read the seed file`), err.message);
          return true;
        });
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a seed that breaks a rule is refused with a message naming the place', () => {
  test('a bad GUID', () => {
    const seed = fixtureWith((p) => {
      at(at(p['customers'], 0)['users'], 1)['id'] = 'not-a-guid';
    });
    const err = assertRefused(seed, ['seed.json: partners[0].customers[0].users[1].id: "not-a-guid" is not a GUID']);
    assert.equal(err.place, 'partners[0].customers[0].users[1].id');
    assert.equal(err.file, 'seed.json');
  });

  test('a GUID in a role list', () => {
    const seed = fixtureWith((p) => {
      at(at(p['customers'], 0)['gdapRelationships'], 0)['roles'] = [RoleIds.userAdministrator, 'User Administrator'];
    });
    assertRefused(seed, ['partners[0].customers[0].gdapRelationships[0].roles[1]: "User Administrator" is not a GUID']);
  });

  test('an unknown group in a partner user or an access assignment', () => {
    const unknown = '0a1b2c3d-0000-4000-8000-0000000000aa';
    assertRefused(fixtureWith((p) => {
      at(p['users'], 1)['groups'] = [ID.readers, unknown];
    }), [`seed.json: partners[0].users[1].groups[1]: unknown group "${unknown}"`]);
    assertRefused(fixtureWith((p) => {
      const rel = at(at(p['customers'], 0)['gdapRelationships'], 0);
      at(rel['accessAssignments'], 1)['groupId'] = unknown;
    }), [`partners[0].customers[0].gdapRelationships[0].accessAssignments[1].groupId: unknown group "${unknown}"`]);
  });

  test('an assignment role outside the relationship', () => {
    const seed = fixtureWith((p) => {
      const rel = at(at(p['customers'], 0)['gdapRelationships'], 0);
      at(rel['accessAssignments'], 0)['roles'] = [RoleIds.userAdministrator, RoleIds.globalAdministrator];
    });
    assertRefused(seed, [
      `partners[0].customers[0].gdapRelationships[0].accessAssignments[0].roles[1]: role "${RoleIds.globalAdministrator}" is not one of the relationship's roles`,
    ]);
  });

  test('a duplicate UPN, whatever its case', () => {
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['users'], 2)['userPrincipalName'] = 'ALICE@Test.Example';
    }), ['partners[0].customers[0].users[2].userPrincipalName: duplicate UPN "ALICE@Test.Example" (also at partners[0].customers[0].users[0].userPrincipalName)']);
    assertRefused(fixtureWith((p) => {
      at(p['users'], 1)['userPrincipalName'] = 'Agent@testpartner.onmicrosoft.com';
    }), ['partners[0].users[1].userPrincipalName: duplicate UPN "Agent@testpartner.onmicrosoft.com" (also at partners[0].users[0].userPrincipalName)']);
  });

  test('a duplicate id of the same kind, even in another customer', () => {
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 1)['users'], 0)['id'] = ID.bob.toUpperCase();
    }), [`partners[0].customers[1].users[0].id: duplicate customer user id "${ID.bob}" (also at partners[0].customers[0].users[1].id)`]);
    assertRefused(fixtureWith((p) => {
      at(p['groups'], 1)['id'] = ID.admins;
    }), [`partners[0].groups[1].id: duplicate group id "${ID.admins}"`]);
  });

  test('a UPN whose domain is not the customer\'s', () => {
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['users'], 1)['userPrincipalName'] = 'bob@second.onmicrosoft.com';
    }), ['partners[0].customers[0].users[1].userPrincipalName: the domain "second.onmicrosoft.com" is not a domain of this customer']);
  });

  test('an unknown property (a typo)', () => {
    const seed = fixtureWith((p) => {
      const user = at(p['users'], 0);
      user['grups'] = user['groups'];
      delete user['groups'];
    });
    assertRefused(seed, ['seed.json: partners[0].users[0].grups: unknown property "grups" (allowed: id, userPrincipalName']);
    assertRefused({ partners: [], extra: true }, ['seed.json: extra: unknown property "extra"']);
  });

  test('a missing required field, a wrong type, a bad value', () => {
    assertRefused(fixtureWith((p) => {
      delete at(p['applications'], 0)['displayName'];
    }), ['partners[0].applications[0].displayName: is required']);
    assertRefused(fixtureWith((p) => {
      at(p['users'], 0)['mfa'] = 'yes';
    }), ['partners[0].users[0].mfa: must be true or false, not the string "yes"']);
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['users'], 0)['usageLocation'] = 'USA';
    }), ['partners[0].customers[0].users[0].usageLocation: "USA" is not an ISO 3166-1 alpha-2 country code']);
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['gdapRelationships'], 0)['status'] = 'live';
    }), ['partners[0].customers[0].gdapRelationships[0].status: must be one of active, terminated, expired, pending, approvalPending']);
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['gdapRelationships'], 0)['endDateTime'] = '31/12/2027';
    }), ['partners[0].customers[0].gdapRelationships[0].endDateTime: "31/12/2027" is not an ISO 8601 date']);
    assertRefused(fixtureWith((p) => {
      at(at(p['customers'], 0)['users'], 0)['softDeletionTime'] = '2025-01-01T00:00:00Z';
    }), ['partners[0].customers[0].users[0].softDeletionTime: is only for users whose state is "inactive"']);
    assertRefused({}, ['seed.json: partners: is required']);
    assertRefused([], ['seed.json: must be an object, not a list']);
  });

  test('defaults and normalisation', () => {
    const seed: SeedFile = parseSeed(fixtureJson(), 'seed.json');
    const partner = seed.partners[0];
    assert.ok(partner);
    assert.equal(partner.tenantId, ID.partner);
    assert.equal(partner.domain, 'testpartner.onmicrosoft.com');
    const agent = partner.users[0];
    assert.ok(agent);
    assert.deepEqual(agent.groups, [ID.admins]);
    assert.equal(agent.mfa, true);
    const customer = partner.customers[0];
    assert.ok(customer);
    assert.deepEqual(customer.customDomains, [{ name: 'test.example', federated: false }, { name: 'fed.example', federated: true }]);
    const [alice, bob, gone] = customer.users;
    assert.ok(alice && bob && gone);
    assert.equal(alice.usageLocation, 'GB');
    assert.equal(bob.state, 'active');
    assert.deepEqual(bob.roles, []);
    assert.equal(gone.state, 'inactive');
    const rel = customer.gdapRelationships[0];
    assert.ok(rel);
    assert.equal(rel.status, 'active');
    assert.equal(rel.endDateTime, '2099-12-31T00:00:00.000Z');
    const second = partner.customers[1];
    assert.deepEqual([second?.customDomains, second?.gdapRelationships], [[], []]);
  });

  test('invalid JSON or YAML syntax', () => {
    const json = assertRefused('{"partners": [}', ['seed.json: not valid JSON:']);
    assert.equal(json.place, '');
    assertRefused('{"partners": [}', ['config: not valid JSON:'], 'config');
    const yaml = assertRefused('partners:\n  - tenantId: "abc\n    name: x\n', ['seed.yaml: not valid YAML:'], 'seed.yaml');
    assert.ok(yaml.line !== undefined);
    assertRefused('partners:\n\tname: x\n', ['seed.yml: not valid YAML:'], 'seed.yml');
  });

  test('a rule broken in YAML names the line too', () => {
    const text = [
      'partners:',
      `  - tenantId: ${ID.partner}`,
      '    name: P',
      '    domain: p.example',
      '    users:',
      `      - id: ${ID.agent}`,
      '        userPrincipalName: a@p.example',
      '        password: x',
      '        mfa: nope',
      '',
    ].join('\n');
    const err = assertRefused(text, ['seed.yaml: partners[0].users[0].mfa: must be true or false', '(line 9)'], 'seed.yaml');
    assert.equal(err.line, 9);
  });
});
