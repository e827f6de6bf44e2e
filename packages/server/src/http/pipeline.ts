/**
 * The request pipeline shared by every API route, in order:
 * context (ids, echoed on every response) → authenticate (bearer JWT; App+User or App-only) → throttle →
 * (changes) the end of the turn → idempotency (replay of a repeated MS-RequestId) → route handler → error mapping.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PartnerKitError } from '../errors.js';
import type { Actor } from '../actor.js';
import type { Principal, TokenVerifier, UserPrincipal } from '../identity/principal.js';
import type { StoreTx } from '../store/store.js';
import { applyContextHeaders, buildContext, type RequestContext } from './context.js';
import { fromFramework, toErrorResponse } from './errors.js';
import { fingerprint, type IdempotencyGuard, type IdempotencyTicket } from './idempotency.js';
import { securityHeaderSetter } from './security-headers.js';
import type { Throttle } from './throttle.js';
import { endOfTurn } from '../turn.js';

/** Who may call a route: App+User only, App+User or App-only, or anyone (no token). */
export type AuthMode = 'user' | 'any' | 'none';

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext;
    principal: Principal | undefined;
    idempotency: IdempotencyTicket | undefined;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
}

export interface PipelineOptions {
  verifier: TokenVerifier;
  requireMfa: boolean;
  serverId: string;
  throttle: Throttle | undefined;
  idempotency: IdempotencyGuard;
  /** The answers go out over TLS (adds Strict-Transport-Security). */
  tls: boolean;
}

const MUTATING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
/** Log levels at which info lines are written. */
const INFO_ENABLED = new Set(['trace', 'debug', 'info']);

/**
 * The bearer token sent, if any. A Bearer credential that is malformed (e.g. `Bearer a b`) is still a token
 * sent — the verifier refuses it as invalid (401 400) — rather than "no token" (401 800001).
 */
function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  // `Bearer`, in any case, then nothing but white space or white space and the token (which is trimmed). A plain
  // scan: a regular expression costs a visible share of a request on a ~1 KB token.
  if (h === undefined || h.length < 6 || h.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const rest = h.slice(6);
  if (rest !== '' && rest.trimStart() === rest) return undefined;
  const token = rest.trim();
  return token === '' ? undefined : token;
}

export function registerPipeline(app: FastifyInstance, opts: PipelineOptions): void {
  app.decorateRequest('ctx', null as unknown as RequestContext);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('idempotency', undefined);

  const addSecurityHeaders = securityHeaderSetter({ tls: opts.tls });
  const logInfo = INFO_ENABLED.has(app.log.level);

  // One hook per stage: every hook Fastify runs costs a visible share of a small request.
  app.addHook('onRequest', async (req, reply) => {
    req.ctx = buildContext(req);
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. Node's own check is off (app.ts), because its bare
    // 400 has neither the context headers nor a Partner Center body; this one has both, whatever the route.
    if (req.headers.host === undefined && req.raw.httpVersion === '1.1') {
      const { status, body } = toErrorResponse(new PartnerKitError('invalidInput', 'Invalid request input: an HTTP/1.1 request needs a Host header.'));
      return reply.code(status).header('connection', 'close').header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
    }
    // Fastify's own request logging is off (app.ts): these lines carry the ids. The query string is left out. Below
    // info, the request's logger is made only when a line is written (the error handler's).
    if (logInfo) {
      req.log = requestLogger(req);
      req.log.info({ method: req.method, path: req.url.split('?')[0] }, 'incoming request');
    }
    const mode = req.routeOptions.config.auth ?? 'none';
    if (mode === 'none') return undefined;
    const token = bearer(req);
    if (token === undefined) throw new PartnerKitError('tokenMissing', 'Partner token missing in request context. Send Authorization: Bearer <access token>.');
    const principal = await opts.verifier.verify(token);
    req.principal = principal;
    if (principal.kind === 'user' && opts.requireMfa && !principal.mfa) {
      throw new PartnerKitError('mfaRequired', 'Authentication failed. MFA required: the App+User token has no mfa in its amr claim.');
    }
    if (mode === 'user' && principal.kind === 'app') {
      throw new PartnerKitError('appOnlyNotAllowed', "This resource can't be accessed by application credentials. Use an App+User (delegated) token.");
    }
    if (opts.throttle) {
      const params = req.params as Record<string, string | undefined>;
      await opts.throttle.take(principal.partnerId, params.customerId?.toLowerCase() ?? '*');
    }
    if (req.ctx.headerError) throw req.ctx.headerError;
    return undefined;
  });

  // On the routes that change something and need a token (added to each such route): the changes of a turn go on
  // together, then the MS-RequestId replay.
  const changeStep = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    // Changes read in one turn of the loop go on together at its end (turn.ts). Their steps then interleave at
    // each await, each step run for all of them before the next one, instead of each change running its whole
    // path before the next is read; and their group commit comes once they have all run, in the same turn.
    await endOfTurn();
    const principal = req.principal;
    if (!principal || !req.ctx.clientRequestId) return undefined;
    const outcome = await opts.idempotency.begin(principal.partnerId, req.ctx.requestId, fingerprint(req.method, req.url, req.body));
    if ('replay' in outcome) {
      const r = outcome.replay;
      req.log.info({ replayOf: req.ctx.requestId }, 'replaying the stored answer of a repeated MS-RequestId');
      return reply.code(r.status).headers(r.headers).send(r.body === '' ? undefined : r.body);
    }
    req.idempotency = outcome.ticket;
    return undefined;
  };
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    const auth = (route.config as { auth?: AuthMode } | undefined)?.auth ?? 'none';
    if (auth === 'none' || !methods.some((m) => MUTATING.has(m))) return;
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [changeStep, ...own];
  });

  if (logInfo) {
    app.addHook('onResponse', (req, reply, done) => {
      req.log.info({ statusCode: reply.statusCode, responseTimeMs: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed');
      done();
    });
  }

  // Once the server is closing, every answer ends its connection, so the drain does not wait for idle
  // keep-alive sockets to time out.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  app.addHook('onSend', (req, reply, payload, done) => {
    // req.ctx is null only when the request failed before onRequest ran.
    const ctx = (req.ctx as RequestContext | null) ?? buildContext(req);
    applyContextHeaders(reply, ctx, opts.serverId);
    addSecurityHeaders(reply);
    if (closing) reply.header('connection', 'close');
    if (reply.statusCode === 401) {
      const partner = req.principal?.partnerId ?? 'partnercenter';
      const sentToken = bearer(req) !== undefined;
      reply.header('WWW-Authenticate', `Bearer realm="urn:cpsvc:cpid:${partner}"${sentToken ? ', error="invalid_token"' : ''}`);
    }
    // The operation is over once its answer is being sent: the MS-RequestId claim ends before the answer goes out
    // (a repeat sent on receiving it finds the id free, or the answer recorded). Here rather than in onResponse,
    // which never runs when the connection was destroyed first (a repeat of the id would then wait for ever).
    const ticket = req.idempotency;
    if (ticket === undefined) {
      // Answers to reads leave together at the end of the loop's turn (turn.ts); the answers of changes already
      // do, after their batch's commit.
      if (req.method === 'GET' || req.method === 'HEAD') {
        void endOfTurn().then(() => {
          done(null, payload);
        });
      } else done(null, payload);
      return;
    }
    ticket.release(reply.statusCode < 400).then(() => {
      done(null, payload);
    }, (err: unknown) => {
      done(err instanceof Error ? err : new Error(String(err)));
    });
  });

  app.setErrorHandler(async (err: unknown, req, reply) => {
    const mapped = toErrorResponse(fromFramework(err));
    if (mapped.status >= 500) requestLogger(req).error({ err }, 'request failed');
    else req.log.info({ code: 'code' in mapped.body ? mapped.body.code : mapped.status }, 'request refused');
    return reply.code(mapped.status).headers(mapped.headers).send(mapped.body);
  });
}

const loggers = new WeakMap<FastifyRequest, FastifyBaseLogger>();

/** The request's logger: every line carries its correlation and request ids. */
function requestLogger(req: FastifyRequest): FastifyBaseLogger {
  let log = loggers.get(req);
  if (log === undefined) {
    // req.ctx is null only when the request failed before onRequest ran.
    const ctx = req.ctx as RequestContext | null;
    log = ctx ? req.log.child({ correlationId: ctx.correlationId, msRequestId: ctx.requestId }) : req.log;
    loggers.set(req, log);
  }
  return log;
}

/** The App+User caller of a route registered with `auth: 'user'`. */
export function userActor(req: FastifyRequest): Actor {
  const p = req.principal;
  if (p?.kind !== 'user') throw new PartnerKitError('appOnlyNotAllowed', "This resource can't be accessed by application credentials.");
  return toActor(req, p);
}

export function anyActor(req: FastifyRequest): Actor {
  const p = req.principal;
  if (!p) throw new PartnerKitError('tokenMissing', 'Partner token missing in request context.');
  return p.kind === 'user' ? toActor(req, p) : { partnerId: p.partnerId, applicationId: p.applicationId, userId: undefined, upn: undefined, correlationId: req.ctx.correlationId };
}

function toActor(req: FastifyRequest, p: UserPrincipal): Actor {
  return { partnerId: p.partnerId, applicationId: p.applicationId, userId: p.userId, upn: p.upn, correlationId: req.ctx.correlationId };
}

/**
 * Sends a JSON answer and, when the request holds an idempotency ticket, returns the writer that stores the
 * same answer inside the operation's transaction.
 */
export function replayRecorder<T>(
  req: FastifyRequest,
  guard: IdempotencyGuard,
  status: number,
  render: (result: T) => unknown,
): ((tx: StoreTx, result: T) => Promise<void>) | undefined {
  const ticket = req.idempotency;
  if (!ticket) return undefined;
  return async (tx, result) => {
    const body = status === 204 ? '' : JSON.stringify(render(result));
    const headers: Record<string, string> = status === 204 ? {} : { 'content-type': 'application/json; charset=utf-8' };
    await guard.record(tx, ticket, status, headers, body);
    recordedBodies.set(req, body);
  };
}

const recordedBodies = new WeakMap<FastifyRequest, string>();

/**
 * Sends the operation's answer: the body its replay record holds when it wrote one (the same JSON, rendered once),
 * else `render()`'s.
 */
export function sendResult(req: FastifyRequest, reply: FastifyReply, status: number, render: () => unknown): FastifyReply {
  return sendJsonText(reply, status, recordedBodies.get(req) ?? JSON.stringify(render()));
}

export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return sendJsonText(reply, status, JSON.stringify(body));
}

/**
 * Sends JSON already serialised: a string, or its UTF-8 bytes when the same answer is sent many times (a kept page
 * of users), so that each send writes the bytes as they are instead of encoding the text into a new buffer.
 */
export function sendJsonText(reply: FastifyReply, status: number, text: string | Buffer): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(text);
}
