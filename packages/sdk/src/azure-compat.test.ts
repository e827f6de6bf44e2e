/**
 * `@azure/identity` credentials work unchanged: a structural model of `@azure/core-auth`'s `TokenCredential`
 * (as published: `abortSignal?: AbortSignalLike`, `claims`, `enableCae`, `tenantId`, `tokenType`, …) is
 * assignable to the SDK's, under this repository's strictest settings, and the client uses it as it is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartnerClient, type TokenCredential } from './index.js';
import { CID, fakeFetch, json } from './testing/fake.js';

interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: (this: AbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
  removeEventListener(type: 'abort', listener: (this: AbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
}
interface AzureGetTokenOptions {
  abortSignal?: AbortSignalLike;
  requestOptions?: { timeout?: number };
  tracingOptions?: { tracingContext?: unknown };
  claims?: string;
  enableCae?: boolean;
  tenantId?: string;
}
interface AzureAccessToken {
  token: string;
  expiresOnTimestamp: number;
  refreshAfterTimestamp?: number;
  tokenType?: 'Bearer' | 'pop';
}
interface AzureTokenCredential {
  getToken(scopes: string | string[], options?: AzureGetTokenOptions): Promise<AzureAccessToken | null>;
}

class FakeAzureCredential implements AzureTokenCredential {
  seen: { scopes: string | string[]; signal: boolean }[] = [];
  getToken(scopes: string | string[], options?: AzureGetTokenOptions): Promise<AzureAccessToken | null> {
    this.seen.push({ scopes, signal: options?.abortSignal !== undefined });
    return Promise.resolve({ token: 'azure-token', expiresOnTimestamp: Date.now() + 3_600_000, refreshAfterTimestamp: Date.now() + 1_800_000, tokenType: 'Bearer' });
  }
}

test('an @azure/identity-shaped credential is a TokenCredential and signs requests', async () => {
  const azure = new FakeAzureCredential();
  const credential: TokenCredential = azure; // the compile-time check
  const f = fakeFetch(() => json(200, { id: CID }));
  const partner = new PartnerClient({ credential, fetch: f });
  await partner.customers.byId(CID).get({ abortSignal: new AbortController().signal });
  await partner.customers.byId(CID).get();
  assert.equal(f.calls[0]?.headers.authorization, 'Bearer azure-token');
  assert.deepEqual(azure.seen, [{ scopes: ['https://api.partnercenter.microsoft.com/.default'], signal: false }]);
  // a credential without a token is a clear failure, not an "Authorization: Bearer null"
  const none = new PartnerClient({ credential: { getToken: () => Promise.resolve(null) }, fetch: f });
  await assert.rejects(none.customers.byId(CID).get(), { name: 'AuthenticationError' });
});
