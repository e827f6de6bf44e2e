import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RoleIds } from '@partnerkit/contract';
import { openTestStore } from '../testing/harness.js';
import { verifySecret } from '../identity/passwords.js';
import { checkPassword } from '../users/validation.js';
import { parseSeed } from './format.js';
import { loadSeed } from './load.js';
import { DEMO, DEMO_IDS, DEMO_SEED, demoBanner } from './demo.js';

const run = promisify(execFile);

test('the demo data set passes parseSeed unchanged and loads', async () => {
  assert.deepEqual(parseSeed(JSON.stringify(DEMO_SEED), 'demo.json'), DEMO_SEED);
  const store = await openTestStore();
  try {
    assert.equal(await store.isEmpty(), true);
    const summary = await loadSeed(store, DEMO_SEED);
    assert.deepEqual(summary, {
      partners: { created: 1, existing: 0 },
      applications: { created: 1, existing: 0 },
      groups: { created: 2, existing: 0 },
      partnerUsers: { created: 3, existing: 0 },
      customers: { created: 2, existing: 0 },
      customerUsers: { created: 17, existing: 0 },
      gdapRelationships: { created: 3, existing: 0 },
      accessAssignments: { created: 4, existing: 0 },
      skipped: [],
    });

    // the credentials work against what was stored
    const partner = await store.findPartner(DEMO.tenantDomain);
    assert.equal(partner?.tenantId, DEMO.tenantId);
    assert.equal(partner.name, 'Northwind Partner');
    const app = await store.findApplication(DEMO.clientId);
    assert.ok(app?.secretHash);
    assert.equal(app.displayName, 'PartnerKit demo app');
    assert.equal(await verifySecret(DEMO.clientSecret, app.secretHash), true);
    const agent = await store.findPartnerUserByUpn(DEMO.username);
    assert.ok(agent);
    assert.equal(agent.mfa, true);
    assert.equal(await verifySecret(DEMO.password, agent.passwordHash), true);
    assert.equal((await store.findPartnerUserByUpn(DEMO.noMfaUsername))?.mfa, false);
    assert.equal(checkPassword(DEMO.password), null, 'the demo password meets the password policy');

    // Fabrikam
    const fabrikam = await store.getCustomer(DEMO.customerId);
    assert.equal(fabrikam?.companyName, 'Fabrikam Traders');
    assert.deepEqual(await store.customerDomains(DEMO.customerId), [
      { name: 'fabrikam.example', federated: false },
      { name: 'fabrikamtraders.onmicrosoft.com', federated: false },
      { name: 'fedcorp.example', federated: true },
    ]);
    const user = await store.getUser(DEMO.customerId, DEMO.userId);
    assert.equal(user?.state, 'active');
    assert.deepEqual(await store.userRoleIds(DEMO.userId), []);
    const F = DEMO_IDS.fabrikam.users;
    assert.deepEqual(await store.userRoleIds(F.globalAdmin), [RoleIds.globalAdministrator]);
    assert.deepEqual(await store.userRoleIds(F.userAdmin), [RoleIds.userAdministrator]);
    assert.equal((await store.getUser(DEMO.customerId, F.deleted))?.state, 'inactive');
    assert.equal((await store.getUser(DEMO.customerId, F.federated))?.userDomainType, 'federated');

    // GDAP: agent has User Administrator + Directory Writers; the reader only Directory Readers
    const agentGrants = await store.gdapGrants(DEMO.tenantId, DEMO.customerId, DEMO_IDS.partnerUsers.agent);
    assert.deepEqual(agentGrants.map((g) => g.assignmentRoles), [[RoleIds.userAdministrator, RoleIds.directoryWriters]]);
    assert.equal(agentGrants[0]?.endDateTime, '2027-12-31T00:00:00.000Z');
    const readerGrants = await store.gdapGrants(DEMO.tenantId, DEMO.customerId, DEMO_IDS.partnerUsers.reader);
    assert.deepEqual(readerGrants.map((g) => g.assignmentRoles), [[RoleIds.directoryReaders]]);
    const contoso = await store.gdapGrants(DEMO.tenantId, DEMO_IDS.contoso.customerId, DEMO_IDS.partnerUsers.agent);
    assert.deepEqual(contoso.map((g) => g.status).sort(), ['active', 'expired']);
    assert.deepEqual(await store.gdapGrants(DEMO.tenantId, DEMO_IDS.contoso.customerId, DEMO_IDS.partnerUsers.reader), []);

    // a second --demo start finds it all present
    const again = await loadSeed(store, DEMO_SEED);
    assert.equal(again.customerUsers.created, 0);
    assert.equal(again.customerUsers.existing, 17);
  } finally {
    await store.close();
  }
});

test('demoBanner shows the credentials, the token URL and a PATCH curl for the demo customer user', () => {
  const banner = demoBanner('http://localhost:8080/');
  const tokenUrl = `http://localhost:8080/${DEMO.tenantId}/oauth2/v2.0/token`;
  const userUrl = `http://localhost:8080/v1/customers/${DEMO.customerId}/users/${DEMO.userId}`;
  for (const part of [DEMO.tenantId, DEMO.clientId, DEMO.clientSecret, DEMO.username, DEMO.password, tokenUrl]) {
    assert.ok(banner.includes(part), `banner should contain ${part}`);
  }
  assert.ok(banner.includes(`curl -s -X PATCH '${userUrl}'`));
  assert.ok(banner.includes('grant_type=password'));
  assert.ok(banner.includes('scope=https://api.partnercenter.microsoft.com/user_impersonation offline_access'));
  assert.ok(banner.includes('{"usageLocation":"US","attributes":{"objectType":"CustomerUser"}}'));
  assert.ok(!banner.includes('//v1'), 'the trailing slash of the base URL is dropped');
});

test('the banner\'s shell snippet runs: it sends the token request and the PATCH with the token it got', async () => {
  const banner = demoBanner('http://127.0.0.1:9');
  const snippet = banner.slice(banner.indexOf('TOKEN=$('));
  // a stand-in curl that records its arguments and answers the token request
  const fakeCurl = [
    'curl() {',
    '  for a in "$@"; do printf "%s\\n" "$a"; done >> "$LOG"',
    '  printf -- "--end--\\n" >> "$LOG"',
    '  case " $* " in *" POST "*) printf \'{"token_type":"Bearer","access_token":"tok.en.value","expires_in":3600}\';; esac',
    '}',
  ].join('\n');
  const log = `/tmp/partnerkit-banner-${String(process.pid)}.log`;
  const { stdout } = await run('bash', ['-c', `rm -f "$LOG"; ${fakeCurl}\n${snippet}\ncat "$LOG"; rm -f "$LOG"`], {
    env: { ...process.env, LOG: log },
  });
  const calls = stdout.split('--end--\n').filter((c) => c.trim() !== '').map((c) => c.trimEnd().split('\n'));
  assert.equal(calls.length, 2);
  const [post, patch] = calls as [string[], string[]];
  assert.ok(post.includes(`http://127.0.0.1:9/${DEMO.tenantId}/oauth2/v2.0/token`));
  assert.ok(post.includes(`client_secret=${DEMO.clientSecret}`));
  assert.ok(post.includes(`password=${DEMO.password}`));
  assert.ok(post.includes(`username=${DEMO.username}`));
  assert.ok(patch.includes('PATCH'));
  assert.ok(patch.includes(`http://127.0.0.1:9/v1/customers/${DEMO.customerId}/users/${DEMO.userId}`));
  assert.ok(patch.includes('Authorization: Bearer tok.en.value'));
  assert.ok(patch.includes('Content-Type: application/json'));
  assert.ok(patch.some((a) => /^MS-RequestId: [0-9a-f-]{36}$/.test(a)));
  assert.ok(patch.some((a) => /^MS-CorrelationId: [0-9a-f-]{36}$/.test(a)));
  assert.ok(patch.includes('{"usageLocation":"US","attributes":{"objectType":"CustomerUser"}}'));
});
