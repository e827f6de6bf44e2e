/**
 * The identity endpoint's routes (Entra ID v2 compatible): OIDC discovery, JWKS and the token endpoint,
 * for a partner `{tenant}` given as its tenant id or one of its domains.
 *
 * Register it as an encapsulated plugin: `app.register(identityRoutes, { issuer, publicKeys, issuerBase, store })`.
 * Its form parser and error handler stay inside its own context and change nothing for other routes.
 * It answers OAuth/OIDC bodies only, never Partner Center ones.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JWK } from 'jose';
import { isStoreUnavailable } from '../store/errors.js';
import type { StoreTx } from '../store/store.js';
import { resolveIssuerBase, type IssuerBase, type TokenIssuer } from './issuer.js';
import { OAuthErrors, type OAuthContext, type OAuthError } from './oauth.js';

export interface IdentityRoutesOptions {
  issuer: TokenIssuer;
  /** The public keys tokens are verified with (the JWKS): the signing key and any still-valid retired ones. */
  publicKeys: () => readonly JWK[];
  issuerBase: IssuerBase;
  store: Pick<StoreTx, 'findPartner'>;
}

/** Largest token request body accepted. */
export const TOKEN_BODY_LIMIT = 64 * 1024;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A parsed `application/x-www-form-urlencoded` body. */
class FormBody {
  constructor(
    readonly params: Map<string, string>,
    /** The first parameter name given more than once (RFC 6749 §3.2 forbids it). */
    readonly duplicate: string | undefined,
  ) {}
}

function parseForm(text: string): FormBody {
  const params = new Map<string, string>();
  const seen = new Set<string>();
  let duplicate: string | undefined;
  for (const [name, value] of new URLSearchParams(text)) {
    if (seen.has(name)) duplicate ??= name;
    seen.add(name);
    if (value !== '') params.set(name, value); // an empty value counts as absent
  }
  return new FormBody(params, duplicate);
}

type BasicCredentials = { clientId: string; clientSecret: string } | 'malformed' | undefined;

/** `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1), when present. */
function basicCredentials(header: string | undefined): BasicCredentials {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return /^Basic\b/i.test(header) ? 'malformed' : undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return 'malformed';
  try {
    const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return 'malformed';
  }
}

function clientRequestId(req: FastifyRequest): string | undefined {
  const v = req.headers['client-request-id'];
  return typeof v === 'string' && GUID.test(v) ? v.toLowerCase() : undefined;
}

function sendOAuth(reply: FastifyReply, ctx: OAuthContext, status: number, body: unknown): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('client-request-id', ctx.correlationId)
    .header('x-ms-request-id', ctx.traceId)
    .type('application/json; charset=utf-8')
    .send(body);
}

const sendError = (reply: FastifyReply, ctx: OAuthContext, e: OAuthError): FastifyReply => sendOAuth(reply, ctx, e.status, e.body);

export function identityRoutes(app: FastifyInstance, opts: IdentityRoutesOptions): Promise<void> {
  const { issuer, publicKeys, store } = opts;

  // Only this context parses bodies, and only as forms; any other body is read (within the limit) and refused.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: TOKEN_BODY_LIMIT }, (_req, body, done) => {
    done(null, parseForm(typeof body === 'string' ? body : body.toString('utf8')));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: TOKEN_BODY_LIMIT }, (_req, _body, done) => {
    done(null, undefined);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const ctx = issuer.context(clientRequestId(req));
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      req.log.info({ code: err.code, correlationId: ctx.correlationId }, 'identity request refused');
      return sendError(reply, ctx, OAuthErrors.malformed(ctx));
    }
    if (isStoreUnavailable(err)) {
      req.log.error({ err, correlationId: ctx.correlationId }, 'identity request failed: the store is unreachable');
      return sendError(reply.header('retry-after', '1'), ctx, OAuthErrors.temporarilyUnavailable(ctx));
    }
    req.log.error({ err, correlationId: ctx.correlationId }, 'identity request failed');
    return sendError(reply, ctx, OAuthErrors.serverError(ctx));
  });

  app.get<{ Params: { tenant: string } }>('/:tenant/v2.0/.well-known/openid-configuration', async (req, reply) => {
    const ctx = issuer.context(clientRequestId(req));
    const partner = await store.findPartner(req.params.tenant);
    if (!partner) return sendError(reply, ctx, OAuthErrors.tenantNotFound(ctx, req.params.tenant, 'invalid_tenant'));
    const base = resolveIssuerBase(opts.issuerBase);
    const t = `${base}/${partner.tenantId}`;
    return reply.header('cache-control', 'max-age=3600, private').send({
      issuer: `${t}/v2.0`,
      token_endpoint: `${t}/oauth2/v2.0/token`,
      jwks_uri: `${t}/discovery/v2.0/keys`,
      // Advertised as Entra does, because client libraries (MSAL) require these members; PartnerKit serves
      // only the token endpoint's password, client_credentials and refresh_token grants.
      authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'upn', 'name', 'azp', 'appid', 'scp', 'roles', 'amr', 'idtyp'],
      request_uri_parameter_supported: false,
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
    });
  });

  app.get<{ Params: { tenant: string } }>('/:tenant/discovery/v2.0/keys', async (req, reply) => {
    const ctx = issuer.context(clientRequestId(req));
    const partner = await store.findPartner(req.params.tenant);
    if (!partner) return sendError(reply, ctx, OAuthErrors.tenantNotFound(ctx, req.params.tenant, 'invalid_tenant'));
    return reply.header('cache-control', 'max-age=3600, private').send({ keys: publicKeys() });
  });

  app.post<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/token', async (req, reply) => {
    const ctx = issuer.context(clientRequestId(req));
    const body = req.body;
    // Like Entra: a body that is not a form has no grant_type.
    if (!(body instanceof FormBody)) return sendError(reply, ctx, OAuthErrors.missingParameter(ctx, 'grant_type'));
    if (body.duplicate !== undefined) return sendError(reply, ctx, OAuthErrors.malformed(ctx));
    const params = body.params;
    const basic = basicCredentials(req.headers.authorization);
    if (basic === 'malformed') return sendError(reply, ctx, OAuthErrors.malformed(ctx));
    if (basic !== undefined) {
      // One client authentication method only; a client_id in the body must name the same client.
      const bodyClient = params.get('client_id');
      if (params.has('client_secret') || (bodyClient !== undefined && bodyClient.toLowerCase() !== basic.clientId.toLowerCase())) {
        return sendError(reply, ctx, OAuthErrors.malformed(ctx));
      }
      params.set('client_id', basic.clientId);
      if (basic.clientSecret !== '') params.set('client_secret', basic.clientSecret);
    }
    // The socket's peer address (no proxy header is trusted): what the smart lockout counts failures by.
    const outcome = await issuer.token(req.params.tenant, params, ctx, req.ip);
    if ('error' in outcome.body) {
      const refusal = outcome.body;
      req.log.info(
        { grantType: params.get('grant_type'), error: refusal.error, code: refusal.error_codes[0], correlationId: ctx.correlationId },
        'token request refused',
      );
    }
    return sendOAuth(reply, ctx, outcome.status, outcome.body);
  });

  return Promise.resolve();
}
