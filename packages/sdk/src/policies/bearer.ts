/**
 * The bearer-token policy: a current token on every attempt, from a cache renewed before expiry. Refuses to
 * send a token over plain http except to loopback hosts. After a 401 to a cached token it gets a new token
 * and tries once more (the token may have been revoked, or the service restarted with a new key).
 */
import { AccessTokenCache, AuthenticationError, type TokenCredential } from '../credentials.js';
import type { PipelinePolicy, PipelineRequest } from '../pipeline.js';
import { isSecureUrl, setHeader } from '../util.js';

export function bearerTokenPolicy(credential: TokenCredential, scopes: readonly string[], now: () => number = Date.now): PipelinePolicy {
  const cache = new AccessTokenCache(async (forceRefresh) => {
    const t = await credential.getToken([...scopes], { forceRefresh });
    if (!t) throw new AuthenticationError({ status: 0, errorDescription: 'The credential returned no access token.' });
    return t;
  }, now);
  const withToken = (request: PipelineRequest, token: string): PipelineRequest => {
    const headers = { ...request.headers };
    setHeader(headers, 'Authorization', `Bearer ${token}`);
    return { ...request, headers };
  };
  return {
    name: 'bearer',
    async sendRequest(request, next) {
      const url = new URL(request.url);
      if (!isSecureUrl(url)) {
        throw new Error(`refusing to send a bearer token over ${url.protocol.replace(':', '')} to ${url.host}: use https (plain http is allowed only to loopback hosts)`);
      }
      const signal = request.abortSignal ? { abortSignal: request.abortSignal } : {};
      const first = await cache.get(signal);
      const res = await next(withToken(request, first.token.token));
      if (res.status !== 401 || first.fresh) return res;
      const again = await cache.get({ ...signal, forceRefresh: true });
      if (again.token.token === first.token.token) return res;
      return next(withToken(request, again.token.token));
    },
  };
}
