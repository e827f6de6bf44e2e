/**
 * Security headers of every answer (API, identity endpoint, health check, errors), defined in one place. The
 * service answers JSON only: nothing it sends may be sniffed as another type, framed or run as a document, and no
 * answer is stored by a cache unless its route says otherwise (discovery and JWKS say `max-age=3600, private`).
 * `Strict-Transport-Security` only over TLS (RFC 6797 §7.2: it means nothing over plain HTTP).
 */
import type { FastifyInstance } from 'fastify';

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

/** Adds the headers to every answer that goes through Fastify's hooks (errors before routing: see http/errors.ts). */
export function registerSecurityHeaders(app: FastifyInstance, opts: { tls: boolean }): void {
  const headers = securityHeaders(opts.tls);
  app.addHook('onSend', (_req, reply, payload, done) => {
    for (const [name, value] of Object.entries(headers)) {
      if (name !== 'cache-control' || !reply.hasHeader(name)) reply.header(name, value);
    }
    done(null, payload);
  });
}
