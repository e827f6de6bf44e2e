/**
 * Security headers of every answer (API, identity endpoint, health check, errors), defined in one place. The
 * service answers JSON only: nothing it sends may be sniffed as another type, framed or run as a document, and no
 * answer is stored by a cache unless its route says otherwise (discovery and JWKS say `max-age=3600, private`).
 * `Strict-Transport-Security` only over TLS (RFC 6797 §7.2: it means nothing over plain HTTP).
 */
import type { FastifyReply } from 'fastify';

/** The headers of an answer sent over TLS or not; `Cache-Control` is the default a route may replace. */
export function securityHeaders(tls: boolean): Record<string, string> {
  const h: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
  if (tls) h['strict-transport-security'] = 'max-age=31536000';
  return h;
}

/**
 * The step that adds the headers to an answer (the pipeline's onSend runs it for every answer that goes through
 * Fastify's hooks; errors before routing: see http/errors.ts). A `Cache-Control` the route set is kept.
 */
export function securityHeaderSetter(opts: { tls: boolean }): (reply: FastifyReply) => void {
  const { 'cache-control': cacheControl, ...always } = securityHeaders(opts.tls);
  const entries = Object.entries(always);
  return (reply) => {
    for (const [name, value] of entries) reply.header(name, value);
    if (cacheControl !== undefined && !reply.hasHeader('cache-control')) reply.header('cache-control', cacheControl);
  };
}
