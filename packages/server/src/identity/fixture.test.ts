/** Shared test data and a running identity endpoint for the identity tests (no tests of its own). */
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { openTestStore } from '../testing/harness.js';
import type { Store } from '../store/store.js';
import { hashSecret } from './passwords.js';
import { generateSigningKey, type SigningKey } from './keys.js';
import { TokenIssuer } from './issuer.js';
import { identityRoutes } from './routes.js';
import { createTokenVerifier } from './verify.js';
import type { TokenVerifier } from './principal.js';

export const PARTNER = { tenantId: '6b4a1c3e-2f5d-4e8a-9c7b-1d2e3f4a5b6c', name: 'Northwind Partner', domain: 'northwindpartner.onmicrosoft.com' };
export const OTHER_PARTNER = { tenantId: '0f1e2d3c-4b5a-4697-8877-66554433aa11', name: 'Contoso Partner', domain: 'contosopartner.onmicrosoft.com' };

export const CONFIDENTIAL_APP = { clientId: '11111111-2222-4333-8444-555555555555', secret: 'Zq8~confidential.Secret_value-1' };
export const PUBLIC_APP = { clientId: '22222222-3333-4444-8555-666666666666' };
export const OTHER_PARTNER_APP = { clientId: '33333333-4444-4555-8666-777777777777', secret: 'other-partner-secret' };

export const MFA_USER = {
  id: 'aaaaaaaa-1111-4222-8333-444444444444', upn: 'agent@northwindpartner.onmicrosoft.com', displayName: 'Adele Agent',
  password: 'Correct-Horse-9', mfa: true,
};
export const NO_MFA_USER = {
  id: 'bbbbbbbb-1111-4222-8333-444444444444', upn: 'nomfa@northwindpartner.onmicrosoft.com', displayName: 'Nora NoMfa',
  password: 'Battery-Staple-7', mfa: false,
};
export const OTHER_PARTNER_USER = {
  id: 'cccccccc-1111-4222-8333-444444444444', upn: 'agent@contosopartner.onmicrosoft.com', displayName: 'Carl Contoso',
  password: 'Other-Password-5', mfa: true,
};

export const PC_AUDIENCE = 'https://api.partnercenter.microsoft.com';
export const USER_SCOPE = `${PC_AUDIENCE}/user_impersonation offline_access`;
export const DEFAULT_SCOPE = `${PC_AUDIENCE}/.default`;

/** `obj` without the named members. */
export function omit<T extends object>(obj: T, ...names: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !names.includes(k))) as Partial<T>;
}

/** A clock tests move by hand, epoch milliseconds. */
export class Clock {
  ms = Date.UTC(2025, 0, 15, 12, 0, 0);
  readonly now = (): number => this.ms;
  advanceSeconds(s: number): void {
    this.ms += s * 1000;
  }
}

export async function seededStore(): Promise<Store> {
  const store = await openTestStore();
  await store.insertPartner(PARTNER);
  await store.insertPartner(OTHER_PARTNER);
  await store.insertApplication({ clientId: CONFIDENTIAL_APP.clientId, partnerId: PARTNER.tenantId, displayName: 'Automation', secretHash: await hashSecret(CONFIDENTIAL_APP.secret) });
  await store.insertApplication({ clientId: PUBLIC_APP.clientId, partnerId: PARTNER.tenantId, displayName: 'CLI', secretHash: null });
  await store.insertApplication({ clientId: OTHER_PARTNER_APP.clientId, partnerId: OTHER_PARTNER.tenantId, displayName: 'Other', secretHash: await hashSecret(OTHER_PARTNER_APP.secret) });
  for (const [u, partnerId] of [[MFA_USER, PARTNER.tenantId], [NO_MFA_USER, PARTNER.tenantId], [OTHER_PARTNER_USER, OTHER_PARTNER.tenantId]] as const) {
    await store.insertPartnerUser({ id: u.id, partnerId, upn: u.upn, displayName: u.displayName, passwordHash: await hashSecret(u.password), mfa: u.mfa });
  }
  return store;
}

export interface Running {
  app: FastifyInstance;
  store: Store;
  key: SigningKey;
  clock: Clock;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  base: string;
  close(): Promise<void>;
}

/** A bare Fastify app with the identity routes, listening on a free port, plus a sibling JSON route `/echo`. */
export async function startServer(): Promise<Running> {
  const store = await seededStore();
  const key = await generateSigningKey();
  const clock = new Clock();
  let base = '';
  const issuerBase = (): string => base;
  const issuer = new TokenIssuer({ store, key, issuerBase, now: clock.now });
  const app = Fastify({ logger: false });
  await app.register(identityRoutes, { issuer, publicKeys: () => [key.publicJwk], issuerBase, store });
  app.post('/echo', (req) => Promise.resolve({ body: req.body ?? null }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  base = `http://127.0.0.1:${String(address.port)}`;
  const keys = [key.publicJwk];
  const verifier = createTokenVerifier({ issuerBase, keys: () => keys, store, now: clock.now });
  return {
    app, store, key, clock, issuer, verifier, base,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

export async function readJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  const parsed: unknown = JSON.parse(text);
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `expected a JSON object, got ${text}`);
  return { status: res.status, headers: res.headers, body: parsed as Record<string, unknown>, text };
}

export async function postToken(
  base: string,
  tenant: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const res = await fetch(`${base}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return readJson(res);
}

export const passwordParams = (user: { upn: string; password: string }, scope = USER_SCOPE): Record<string, string> => ({
  grant_type: 'password',
  client_id: CONFIDENTIAL_APP.clientId,
  client_secret: CONFIDENTIAL_APP.secret,
  username: user.upn,
  password: user.password,
  scope,
});

/** Asserts an Entra-style OAuth error body and returns it. */
export function assertOAuthError(r: JsonResponse, status: number, error: string, code: number): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.error, error, r.text);
  assert.deepEqual(r.body.error_codes, [code]);
  const description = r.body.error_description;
  assert.equal(typeof description, 'string');
  assert.match(
    description as string,
    new RegExp(`^AADSTS${String(code)}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`, 's'),
  );
  assert.equal(typeof r.body.trace_id, 'string');
  assert.equal(typeof r.body.correlation_id, 'string');
  assert.equal(typeof r.body.timestamp, 'string');
}
