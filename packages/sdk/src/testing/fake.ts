/** Test doubles: a scripted `fetch` that records every call, a static credential, and a clock. */
import type { AccessToken, GetTokenOptions, TokenCredential } from '../credentials.js';

export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

export type Responder = (call: RecordedCall, index: number) => Response | Promise<Response>;

export interface FakeFetch {
  (url: string, init: RequestInit): Promise<Response>;
  calls: RecordedCall[];
}

/** A `fetch` that answers with `responder` (or with each of `responders` in turn, the last one repeating). */
export function fakeFetch(...responders: Responder[]): FakeFetch {
  const calls: RecordedCall[] = [];
  const f = async (url: string, init: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const call: RecordedCall = {
      url,
      method: init.method ?? 'GET',
      headers,
      body: typeof init.body === 'string' ? init.body : undefined,
      signal: init.signal ?? undefined,
    };
    calls.push(call);
    const index = calls.length - 1;
    const responder = responders[Math.min(index, responders.length - 1)];
    if (!responder) throw new Error('fakeFetch: no responder');
    return responder(call, index);
  };
  return Object.assign(f, { calls });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

export function text(status: number, body: string, headers: Record<string, string> = {}, statusText = ''): Response {
  return new Response(body, { status, statusText, headers: { 'content-type': 'text/plain', ...headers } });
}

/** Fails like `fetch` does when no connection can be made. */
export function networkFailure(): never {
  throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
}

/** A credential handing out `token-1`, `token-2`, … valid for an hour of `now()`. */
export class StaticCredential implements TokenCredential {
  calls: { scopes: string[]; options: GetTokenOptions | undefined }[] = [];
  constructor(private readonly now: () => number = Date.now) {}
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push({ scopes: typeof scopes === 'string' ? [scopes] : scopes, options });
    return Promise.resolve({ token: `token-${String(this.calls.length)}`, expiresOnTimestamp: this.now() + 3_600_000 });
  }
}

export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 15, 12)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export const CID = '8d2e4b7a-1c3f-4e59-a0b6-7f9d3c2e1a44';
export const UID = '3f1c9a52-7b4e-4d21-9c0a-5a8e2b6d4f10';

export function userJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    usageLocation: 'US',
    id: UID,
    userPrincipalName: 'mila.berg@fabrikamtraders.onmicrosoft.com',
    firstName: 'Mila',
    lastName: 'Berg',
    displayName: 'Mila Berg',
    userDomainType: 'none',
    state: 'active',
    links: { self: { uri: `/customers/${CID}/users/${UID}`, method: 'GET', headers: [] } },
    attributes: { objectType: 'CustomerUser' },
    ...overrides,
  };
}
