/** Helpers for tests against the real PartnerKit service (started on an ephemeral port). */
import { DEMO, type TestService } from '@partnerkit/server/testing';
import {
  ClientSecretCredential,
  PartnerClient,
  UsernamePasswordCredential,
  type FetchLike,
  type PartnerClientOptions,
  type UsernamePasswordCredentialOptions,
} from '../index.js';

/** The demo agent (User Administrator and Directory Writers on Fabrikam, with MFA). */
export function agentCredential(svc: TestService, extra: Partial<UsernamePasswordCredentialOptions> = {}): UsernamePasswordCredential {
  return new UsernamePasswordCredential({
    authority: svc.baseUrl,
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    clientSecret: DEMO.clientSecret,
    username: DEMO.username,
    password: DEMO.password,
    ...extra,
  });
}

export function appCredential(svc: TestService): ClientSecretCredential {
  return new ClientSecretCredential({ authority: svc.baseUrl, tenantId: DEMO.tenantId, clientId: DEMO.clientId, clientSecret: DEMO.clientSecret });
}

export function clientFor(svc: TestService, extra: Partial<PartnerClientOptions> = {}): PartnerClient {
  return new PartnerClient({ credential: agentCredential(svc), baseUrl: svc.baseUrl, retry: { retryDelayMs: 10 }, ...extra });
}

export interface Attempt {
  method: string;
  url: string;
  requestId: string | undefined;
  status: number | 'failed';
  at: number;
}

/** Wraps the global fetch, recording every attempt; `fail(n)` decides whether attempt n fails after or before sending. */
export function recordingFetch(options: { dropResponse?: (n: number, url: string, init: RequestInit) => boolean; refuse?: (n: number) => boolean } = {}): FetchLike & { attempts: Attempt[] } {
  const attempts: Attempt[] = [];
  const f: FetchLike = async (url, init) => {
    const n = attempts.length;
    const requestId = new Headers(init.headers).get('ms-requestid') ?? undefined;
    const attempt: Attempt = { method: init.method ?? 'GET', url, requestId, status: 'failed', at: Date.now() };
    attempts.push(attempt);
    if (options.refuse?.(n)) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' }) });
    const res = await fetch(url, init);
    attempt.status = res.status;
    if (options.dropResponse?.(n, url, init)) {
      await res.arrayBuffer();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    }
    return res;
  };
  return Object.assign(f, { attempts });
}

/** A password that meets Entra's policy, different on each call. */
export function newPassword(): string {
  return `Pk7!${crypto.randomUUID().slice(0, 8)}-Aa`;
}

export const hexId = (): string => crypto.randomUUID().replace(/-/g, '');
