/**
 * API-side token acceptance over real HTTP: missing and invalid tokens (401 800001 / 401 400 with
 * WWW-Authenticate), the MFA rule (401 900421, and its switch), App+User-only routes refusing app-only tokens
 * (403 900329) while the customer and audit routes accept them, and partners kept apart (403 20002).
 * Every refused request changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { base64url, decodeJwt, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { RoleIds } from '@partnerkit/contract';
import { startTestService, type CallResult, type TestService } from '../testing/harness.js';

const guid = (label: string): string => {
  const h = createHash('sha256').update(`auth-test:${label}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const PASSWORD = 'Auth-Test-Passw0rd!';
const A = {
  tenantId: guid('partner-a'), domain: 'authpartner.onmicrosoft.com', clientId: guid('app-a'), clientSecret: 'auth~test.Secret-A',
  group: guid('group-a'), customer: guid('customer-a'), customerDomain: 'authcustomer.onmicrosoft.com', user: guid('cu-a'),
};
const B = {
  tenantId: guid('partner-b'), domain: 'authother.onmicrosoft.com', clientId: guid('app-b'), clientSecret: 'auth~test.Secret-B',
  group: guid('group-b'), customer: guid('customer-b'), customerDomain: 'authforeign.onmicrosoft.com', user: guid('cu-b'),
};

function partner(p: typeof A, name: string): Record<string, unknown> {
  return {
    tenantId: p.tenantId, name, domain: p.domain,
    applications: [{ clientId: p.clientId, displayName: `${name} app`, clientSecret: p.clientSecret }],
    groups: [{ id: p.group, displayName: 'User admins' }],
    users: [
      { id: guid(`${name}-agent`), userPrincipalName: `agent@${p.domain}`, password: PASSWORD, mfa: true, groups: [p.group] },
      { id: guid(`${name}-nomfa`), userPrincipalName: `nomfa@${p.domain}`, password: PASSWORD, mfa: false, groups: [p.group] },
    ],
    customers: [{
      id: p.customer, companyName: `${name} customer`, domain: p.customerDomain,
      users: [{ id: p.user, userPrincipalName: `someone@${p.customerDomain}`, displayName: 'Someone', usageLocation: 'US' }],
      gdapRelationships: [{
        id: guid(`${name}-rel`), displayName: 'UA', status: 'active', endDateTime: '2099-12-31T00:00:00Z',
        roles: [RoleIds.userAdministrator], accessAssignments: [{ groupId: p.group, roles: [RoleIds.userAdministrator] }],
      }],
    }],
  };
}
const SEED = { partners: [partner(A, 'Alpha'), partner(B, 'Beta')] };

const creds = (p: typeof A, user: 'agent' | 'nomfa' = 'agent'): { clientId: string; clientSecret: string; tenant: string; username: string; password: string } => ({
  clientId: p.clientId, clientSecret: p.clientSecret, tenant: p.tenantId, username: `${user}@${p.domain}`, password: PASSWORD,
});

interface Fault {
  code: number;
  description: string;
  data: unknown[];
  source: string;
}

function assertFault(r: CallResult, status: number, code: number, what: string): Fault {
  assert.equal(r.status, status, `${what}: ${String(r.status)} ${r.text}`);
  const body = r.json as Fault;
  assert.equal(body.code, code, `${what}: ${r.text}`);
  assert.equal(body.source, 'PartnerFD', what);
  assert.ok(Array.isArray(body.data), what);
  assert.equal(typeof body.description, 'string', what);
  for (const h of ['ms-requestid', 'ms-correlationid', 'ms-cv', 'ms-serverid']) assert.ok(r.headers.get(h), `${what}: no ${h}`);
  return body;
}

const REALM = /^Bearer realm="urn:cpsvc:cpid:[^"\s]+"/;

function assertInvalidToken(r: CallResult, what: string): void {
  assertFault(r, 401, 400, what);
  const h = r.headers.get('www-authenticate') ?? '';
  assert.match(h, REALM, what);
  assert.match(h, /, error="invalid_token"$/, what);
}

const usersPath = (cid: string): string => `/v1/customers/${cid}/users`;
const userPath = (cid: string, uid: string): string => `/v1/customers/${cid}/users/${uid}`;

interface Route {
  method: string;
  path: string;
  body?: unknown;
}
/** Every App+User-only route, on customer `cid` and its user `uid`. */
const userRoutes = (cid: string, uid: string, domain: string): Route[] => [
  { method: 'GET', path: usersPath(cid) },
  { method: 'GET', path: `${usersPath(cid)}?filter=${encodeURIComponent('{"Field":"UserState","Value":"Inactive","Operator":"equals"}')}` },
  { method: 'POST', path: usersPath(cid), body: { userPrincipalName: `new@${domain}`, displayName: 'New', passwordProfile: { password: 'Brand-New-Passw0rd!' } } },
  { method: 'GET', path: userPath(cid, uid) },
  { method: 'PATCH', path: userPath(cid, uid), body: { displayName: 'Changed' } },
  { method: 'PATCH', path: userPath(cid, uid), body: { passwordProfile: { password: 'Changed-Passw0rd!' } } },
  { method: 'DELETE', path: userPath(cid, uid) },
  { method: 'GET', path: `${userPath(cid, uid)}/directoryroles` },
  { method: 'GET', path: `/v1/customers/${cid}/directoryroles` },
];

let svc: TestService;
let agentToken: string;
let noMfaToken: string;
let appTokenA: string;
let agentTokenB: string;
let appTokenB: string;
/** Claims of a real App+User token of A's agent, to vary one at a time. */
let good: JWTPayload;

before(async () => {
  svc = await startTestService({ demo: false, seed: SEED });
  [agentToken, noMfaToken, appTokenA, agentTokenB, appTokenB] = await Promise.all([
    svc.userToken(creds(A)),
    svc.userToken(creds(A, 'nomfa')),
    svc.appToken(creds(A)),
    svc.userToken(creds(B)),
    svc.appToken(creds(B)),
  ]);
  good = decodeJwt(agentToken);
});
after(async () => {
  await svc.close();
});

/** The state a refused request must leave as it was. */
async function state(): Promise<unknown> {
  return {
    a: await svc.store.getUser(A.customer, A.user),
    b: await svc.store.getUser(B.customer, B.user),
    newA: await svc.store.findUserByUpn(A.customer, `new@${A.customerDomain}`),
    newB: await svc.store.findUserByUpn(B.customer, `new@${B.customerDomain}`),
    auditA: await svc.store.countAudit(A.tenantId),
    auditB: await svc.store.countAudit(B.tenantId),
  };
}

/** Calls every route with `headers`/`token`, checks each answer with `check`, and that nothing changed. */
async function everyRoute(routes: Route[], token: string | undefined, check: (r: CallResult, what: string) => void, headers: Record<string, string> = {}): Promise<void> {
  const before = await state();
  for (const route of routes) {
    const r = await svc.call(route.method, route.path, { headers, ...(token !== undefined ? { token } : {}), ...(route.body !== undefined ? { body: route.body } : {}) });
    check(r, `${route.method} ${route.path}`);
  }
  assert.deepEqual(await state(), before, 'a refused request changed something');
}

const now = (): number => Math.floor(Date.now() / 1000);
const sign = (claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> => svc.signToken(claims, header);
const without = (claims: JWTPayload, ...names: string[]): JWTPayload => Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));
const issuerOf = (tid: string): string => `${svc.baseUrl}/${tid}/v2.0`;

// ---- no token, bad tokens --------------------------------------------------------------------------------

describe('missing and invalid tokens', () => {
  test('no token: 401 800001, WWW-Authenticate Bearer realm without error, on every route', async () => {
    const routes = [...userRoutes(A.customer, A.user, A.customerDomain), { method: 'GET', path: '/v1/customers' }, { method: 'GET', path: `/v1/customers/${A.customer}` }, { method: 'GET', path: '/v1/auditrecords' }];
    await everyRoute(routes, undefined, (r, what) => {
      assertFault(r, 401, 800001, what);
      const h = r.headers.get('www-authenticate') ?? '';
      assert.match(h, REALM, what);
      assert.doesNotMatch(h, /error=/, what);
    });
  });

  test('an Authorization header that is not a bearer token counts as no token', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', agentToken]) {
      const r = await svc.call('GET', usersPath(A.customer), { headers: { authorization } });
      assertFault(r, 401, 800001, authorization.slice(0, 12));
    }
  });

  test('a malformed Bearer credential is a token sent, and an invalid one', async () => {
    for (const authorization of [`Bearer ${agentToken} extra`, 'Bearer a b', `bearer  ${agentToken}x`]) {
      assertInvalidToken(await svc.call('GET', usersPath(A.customer), { headers: { authorization } }), authorization.slice(0, 12));
    }
    // The scheme is case-insensitive and surrounding spaces do not matter.
    for (const authorization of [`bearer ${agentToken}`, `BEARER   ${agentToken}  `]) {
      const r = await svc.call('GET', usersPath(A.customer), { headers: { authorization } });
      assert.equal(r.status, 200, r.text);
    }
  });

  test('HEAD of a user route needs a token too', async () => {
    const r = await svc.call('HEAD', usersPath(A.customer));
    assert.equal(r.status, 401);
  });

  test('a token that is not a JWT: 401 400 with error="invalid_token", on every route, changing nothing', async () => {
    await everyRoute(userRoutes(A.customer, A.user, A.customerDomain), 'not-a-jwt', assertInvalidToken);
    await everyRoute(userRoutes(A.customer, A.user, A.customerDomain), `${agentToken.slice(0, -1)}.x`, assertInvalidToken);
  });

  test('the same claims re-signed with the service key are accepted (control)', async () => {
    const r = await svc.call('GET', usersPath(A.customer), { token: await sign(good) });
    assert.equal(r.status, 200, r.text);
  });

  test('valid variants of an App+User token are accepted', async () => {
    const t = now();
    const cases: [string, string][] = [
      ['password grant with the .default scope', await svc.userToken({ ...creds(A), scope: 'https://api.partnercenter.microsoft.com/.default' })],
      ['aud is the Partner Center application id', await sign({ ...good, aud: 'fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd' })],
      ['preferred_username instead of upn', await sign({ ...without(good, 'upn'), preferred_username: `agent@${A.domain}` })],
      ['tid and iss in upper case', await sign({ ...good, tid: A.tenantId.toUpperCase(), iss: issuerOf(A.tenantId.toUpperCase()) })],
      ['oid in upper case', await sign({ ...good, oid: String(good['oid']).toUpperCase() })],
      ['azp only', await sign(without(good, 'appid'))],
      ['expired within the clock tolerance', await sign({ ...good, iat: t - 3610, nbf: t - 3610, exp: t - 10 })],
    ];
    for (const [what, token] of cases) {
      const r = await svc.call('GET', userPath(A.customer, A.user), { token });
      assert.equal(r.status, 200, `${what}: ${r.text}`);
    }
  });

  test('forged and invalid tokens are refused with 401 400', async () => {
    const t = now();
    const parts = agentToken.split('.') as [string, string, string];
    const payloadB64 = base64url.encode(JSON.stringify(good));
    const jwk = ((await (await fetch(`${svc.baseUrl}/${A.tenantId}/discovery/v2.0/keys`)).json()) as { keys: { n: string; kid: string }[] }).keys[0];
    assert.ok(jwk);
    const stranger = await generateKeyPair('RS256');
    const unknownTenant = guid('nobody');
    const sig = parts[2];
    const flipped = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;

    const cases: [string, string][] = [
      ['tampered signature', `${parts[0]}.${parts[1]}.${flipped}`],
      ['tampered payload', `${parts[0]}.${base64url.encode(JSON.stringify({ ...good, upn: `boss@${A.domain}` }))}.${parts[2]}`],
      ['alg none', `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payloadB64}.`],
      ['alg none with the kid', `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid: jwk.kid }))}.${payloadB64}.`],
      ['HS256 keyed with the public n', await new SignJWT(good).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwk.kid }).sign(new TextEncoder().encode(jwk.n))],
      ['HS256 keyed with the public JWK', await new SignJWT(good).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwk.kid }).sign(new TextEncoder().encode(JSON.stringify(jwk)))],
      ['RS256 by a stranger key claiming our kid', await new SignJWT(good).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }).sign(stranger.privateKey)],
      ['unknown kid', await sign(good, { kid: 'no-such-key' })],
      ['PS256', await sign(good, { alg: 'PS256' }).catch(() => 'x.y.z')],
      ['wrong aud', await sign({ ...good, aud: 'https://graph.microsoft.com' })],
      ['no aud', await sign(without(good, 'aud'))],
      ['wrong iss', await sign({ ...good, iss: `https://login.microsoftonline.com/${A.tenantId}/v2.0` })],
      ['iss of another tenant', await sign({ ...good, iss: issuerOf(B.tenantId) })],
      ['unknown tid', await sign({ ...good, tid: unknownTenant, iss: issuerOf(unknownTenant) })],
      ['tid as partner domain', await sign({ ...good, tid: A.domain, iss: issuerOf(A.domain) })],
      ['no tid', await sign(without(good, 'tid'))],
      ['expired', await sign({ ...good, iat: t - 7200, nbf: t - 7200, exp: t - 120 })],
      ['no exp', await sign(without(good, 'exp'))],
      ['nbf in the future', await sign({ ...good, nbf: t + 600 })],
      ['iat in the future', await sign({ ...good, iat: t + 600, nbf: t })],
      ['missing oid', await sign(without(good, 'oid'))],
      ['missing upn', await sign(without(good, 'upn', 'preferred_username'))],
      ['no scp and not an app token', await sign(without(good, 'scp'))],
      ['another scope', await sign({ ...good, scp: 'User.Read' })],
      ['app token carrying scp', await sign({ ...without(good, 'oid', 'upn', 'name', 'amr'), idtyp: 'app', roles: [] })],
      ['appid and azp differ', await sign({ ...good, azp: guid('other-app') })],
      ['no appid or azp', await sign(without(good, 'appid', 'azp'))],
    ];
    for (const [what, token] of cases) {
      await everyRoute(userRoutes(A.customer, A.user, A.customerDomain).slice(0, 5), token, (r, w) => assertInvalidToken(r, `${what}: ${w}`));
    }
  });

  test('an invalid token on a route open to app-only tokens is refused too', async () => {
    const bad = await sign({ ...good, aud: 'https://graph.microsoft.com' });
    for (const path of ['/v1/customers', `/v1/customers/${A.customer}`, '/v1/auditrecords']) {
      assertInvalidToken(await svc.call('GET', path, { token: bad }), path);
    }
  });
});

// ---- MFA ---------------------------------------------------------------------------------------------------

describe('the MFA rule', () => {
  test('an App+User token without mfa in amr: 401 900421 on every route, changing nothing', async () => {
    const pwdOnly = await sign({ ...good, amr: ['pwd'] });
    const noAmr = await sign(without(good, 'amr'));
    const routes = [...userRoutes(A.customer, A.user, A.customerDomain), { method: 'GET', path: '/v1/customers' }, { method: 'GET', path: `/v1/customers/${A.customer}` }];
    for (const token of [noMfaToken, pwdOnly, noAmr]) {
      await everyRoute(routes, token, (r, what) => {
        const f = assertFault(r, 401, 900421, what);
        assert.match(f.description, /MFA/);
        const h = r.headers.get('www-authenticate') ?? '';
        assert.match(h, REALM, what);
        assert.match(h, new RegExp(`cpid:${A.tenantId}"`), what);
      });
    }
  });

  test('the MFA user of the same group is accepted', async () => {
    const r = await svc.call('GET', userPath(A.customer, A.user), { token: agentToken });
    assert.equal(r.status, 200, r.text);
  });

  test('with requireMfa off, the same user is accepted', async () => {
    const relaxed = await startTestService({ demo: false, seed: SEED, config: { requireMfa: false } });
    try {
      const token = await relaxed.userToken(creds(A, 'nomfa'));
      assert.ok(!(decodeJwt(token).amr as string[]).includes('mfa'));
      let r = await relaxed.call('GET', userPath(A.customer, A.user), { token });
      assert.equal(r.status, 200, r.text);
      r = await relaxed.call('PATCH', userPath(A.customer, A.user), { token, body: { displayName: 'Changed without MFA' } });
      assert.equal(r.status, 200, r.text);
      assert.equal((await relaxed.store.getUser(A.customer, A.user))?.displayName, 'Changed without MFA');
      // Everything else still applies.
      r = await relaxed.call('GET', usersPath(B.customer), { token });
      assertFault(r, 403, 20002, 'no-MFA user on the other partner');
      r = await relaxed.call('GET', usersPath(A.customer), { token: await relaxed.appToken(creds(A)) });
      assertFault(r, 403, 900329, 'app-only with MFA off');
      r = await relaxed.call('GET', usersPath(A.customer));
      assertFault(r, 401, 800001, 'no token with MFA off');
    } finally {
      await relaxed.close();
    }
  });
});

// ---- App-only ---------------------------------------------------------------------------------------------

describe('app-only tokens', () => {
  test('refused with 403 900329 on every App+User-only route, changing nothing', async () => {
    for (const token of [appTokenA, await sign({ ...without(good, 'oid', 'upn', 'name', 'amr', 'scp'), idtyp: 'app', roles: [] })]) {
      await everyRoute(userRoutes(A.customer, A.user, A.customerDomain), token, (r, what) => {
        const f = assertFault(r, 403, 900329, what);
        assert.match(f.description, /application credentials/);
        assert.equal(r.headers.get('www-authenticate'), null, what);
      });
    }
  });

  test('accepted on the customer list, get customer and audit records', async () => {
    let r = await svc.call('GET', '/v1/customers', { token: appTokenA });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((r.json as { items: { id: string }[] }).items.map((c) => c.id), [A.customer]);
    r = await svc.call('GET', `/v1/customers/${A.customer}`, { token: appTokenA });
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json as { id: string }).id, A.customer);
    r = await svc.call('GET', `/v1/auditrecords?startDate=${new Date().toISOString().slice(0, 10)}`, { token: appTokenA });
    assert.equal(r.status, 200, r.text);
  });

  test("an app-only token of one partner gets 403 20002 on another partner's customer", async () => {
    const r = await svc.call('GET', `/v1/customers/${B.customer}`, { token: appTokenA });
    const f = assertFault(r, 403, 20002, 'app A on customer B');
    const u = await svc.call('GET', `/v1/customers/${guid('nobody')}`, { token: appTokenA });
    assert.deepEqual(assertFault(u, 403, 20002, 'app A on unknown customer'), f);
  });
});

// ---- partners apart ---------------------------------------------------------------------------------------

describe('partners are kept apart', () => {
  test("a token of partner A on partner B's customer: 403 20002 on every route, changing nothing", async () => {
    const routes = [...userRoutes(B.customer, B.user, B.customerDomain), { method: 'GET', path: `/v1/customers/${B.customer}` }];
    await everyRoute(routes, agentToken, (r, what) => assertFault(r, 403, 20002, what));
    // and the other way round
    await everyRoute([...userRoutes(A.customer, A.user, A.customerDomain), { method: 'GET', path: `/v1/customers/${A.customer}` }], agentTokenB, (r, what) => assertFault(r, 403, 20002, what));
  });

  test("a partner's audit records hold only its own changes", async () => {
    let r = await svc.call('PATCH', userPath(B.customer, B.user), { token: agentTokenB, body: { displayName: 'Changed by B' } });
    assert.equal(r.status, 200, r.text);
    const today = new Date().toISOString().slice(0, 10);
    r = await svc.call('GET', `/v1/auditrecords?startDate=${today}`, { token: appTokenA });
    assert.equal(r.status, 200, r.text);
    for (const rec of (r.json as { items: { partnerId?: string; customerId?: string }[] }).items) assert.notEqual(rec.customerId, B.customer);
    r = await svc.call('GET', `/v1/auditrecords?startDate=${today}`, { token: appTokenB });
    assert.equal(r.status, 200, r.text);
    const items = (r.json as { items: { customerId?: string }[] }).items;
    assert.ok(items.some((rec) => rec.customerId === B.customer));
    assert.ok(items.every((rec) => rec.customerId === B.customer));
  });
});
