/**
 * Builds the Fastify app from configuration and its parts (store, token verifier, identity endpoint).
 * No I/O of its own: `main.ts` opens the store and keys, tests build it on a temporary store.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { AuditService } from './audit/service.js';
import { auditRoutes } from './audit/routes.js';
import { CustomerService } from './customers/service.js';
import { customerRoutes } from './customers/routes.js';
import { PartnerKitError } from './errors.js';
import { IdempotencyGuard } from './http/idempotency.js';
import { clientErrorHandler, ConnectionRequests, frameworkErrorHandler, logSafeError } from './http/errors.js';
import { registerPipeline, sendJson } from './http/pipeline.js';
import { Throttle } from './http/throttle.js';
import type { TokenVerifier } from './identity/principal.js';
import type { Store } from './store/store.js';
import { UserService } from './users/service.js';
import { userRoutes } from './users/routes.js';
import { RoleService, roleRoutes } from './roles/routes.js';

export const BODY_LIMIT = 1024 * 1024;
/** Node's default time limit for receiving a request's headers. */
const NODE_HEADERS_TIMEOUT = 60_000;
/** Deepest nesting of arrays and objects accepted in a JSON body: the default MaxDepth of System.Text.Json and Json.NET. */
export const MAX_JSON_DEPTH = 64;

/** True when `text` nests arrays and objects deeper than `max` (brackets inside strings do not count). */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export interface AppParts {
  config: Config;
  store: Store;
  verifier: TokenVerifier;
  /** Registers the identity endpoint (discovery, JWKS, token) on the root of the app. */
  identity?: (app: FastifyInstance) => Promise<void> | void;
  now?: () => number;
  logger?: FastifyServerOptions['logger'];
  /** Certificate and key (PEM) to serve HTTPS. */
  https?: { cert: Buffer; key: Buffer };
}

export interface BuiltApp {
  app: FastifyInstance;
  users: UserService;
  idempotency: IdempotencyGuard;
  throttle: Throttle | undefined;
}

export async function buildApp(parts: AppParts): Promise<BuiltApp> {
  const { config, store } = parts;
  const now = parts.now ?? Date.now;
  const logger = parts.logger ?? {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.body', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  };
  // A client that sends its request slower than this (headers and body; a body trickled or never sent) is answered
  // 408 by `clientErrorHandler` and its connection closed; once the request is received, no deadline applies to the
  // answer. Node's `headersTimeout` (60 s) must not exceed it: Node would swap the two and give the whole request 60 s.
  // Node checks the deadlines every `connectionsCheckingInterval` (30 s by default, which could double the limit):
  // every second here.
  const requestTimeout = config.requestTimeoutSeconds * 1000;
  const timeouts = {
    requestTimeout,
    headersTimeout: requestTimeout > 0 ? Math.min(NODE_HEADERS_TIMEOUT, requestTimeout) : NODE_HEADERS_TIMEOUT,
    connectionsCheckingInterval: 1000,
  };
  const requests = new ConnectionRequests();
  const app = Fastify({
    // Errors are logged without stack traces, file paths or store internals, whoever configured the logger.
    logger: typeof logger === 'object' ? { ...logger, serializers: { ...logger.serializers, err: logSafeError } } : logger,
    // Request lines are logged by the pipeline, with the correlation and request ids.
    logController: new LogController({ disableRequestLogging: true }),
    // A request's logger is the app's: the pipeline's lines carry the request's ids (Fastify's own child logger per
    // request, with a reqId nobody reads, costs a visible share of a small request).
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 200 },
    requestIdHeader: false,
    // Requests that arrive on an open connection while draining are still served through the pipeline (the store
    // closes after the drain), which marks every answer given while closing `Connection: close`.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    frameworkErrors: frameworkErrorHandler(config.serverId),
    clientErrorHandler: clientErrorHandler(config.serverId, requests),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Node would answer an HTTP/1.1 request without Host itself, with a bare 400: the pipeline answers it instead.
    http: { requireHostHeader: false, ...timeouts },
    ...(parts.https ? { https: { ...parts.https, requireHostHeader: false, ...timeouts } } : {}),
    requestTimeout,
  });
  requests.watch(app.server);
  // Node would answer an Expect other than 100-continue itself, with a bare 417: the request is served as if it had
  // none (RFC 9110 §10.1.1 allows either).
  app.server.on('checkExpectation', (req, res) => {
    app.routing(req, res);
  });

  const idempotency = new IdempotencyGuard(store, now);
  const throttle = config.throttle ? new Throttle(config.throttle, store, now) : undefined;
  const users = new UserService(store, { retentionDays: config.userRetentionDays, now });
  const customers = new CustomerService(store);
  const audit = new AuditService(store, now);
  const roles = new RoleService(store, now);

  // JSON under either media type Partner Center lists, and nothing else (Fastify's text/plain parser would let a
  // text body through to the routes instead of the 415 the contract asks for). An empty body under a JSON content
  // type is no body (clients send the header on a bodiless DELETE); routes that need one refuse it with 800002.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'text/json'], { parseAs: 'string' }, (req, body, done) => {
    if (body === '') {
      done(null, undefined);
      return;
    }
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // Deeper bodies are refused before parsing: nothing downstream (the MS-RequestId fingerprint, validation) has to
    // walk an arbitrarily deep value.
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new PartnerKitError('invalidInput', `Invalid request input: the body is nested deeper than ${String(MAX_JSON_DEPTH)} levels.`), undefined);
      return;
    }
    // Fastify's default JSON parser is synchronous: it answers through `done`.
    void json(req, text, done);
  });

  // Routes by path, for telling 405 from 404.
  const methodsByRoute: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(`^${route.url.replace(/:[^/]+/g, '[^/]+').replace(/\/$/, '')}/?$`, 'i');
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    const existing = methodsByRoute.find((r) => r.pattern.source === pattern.source);
    if (existing) methods.forEach((m) => existing.methods.add(m));
    else methodsByRoute.push({ pattern, methods: new Set(methods) });
  });

  registerPipeline(app, { verifier: parts.verifier, requireMfa: config.requireMfa, serverId: config.serverId, throttle, idempotency, tls: parts.https !== undefined });

  app.get('/healthz', async (_req, reply) => {
    try {
      await store.ping();
      return await sendJson(reply, 200, { status: 'ok' });
    } catch {
      throw new PartnerKitError('unavailable', 'The service cannot reach its store.', { retryAfterSeconds: 1 });
    }
  });

  await app.register((v1, _opts, done) => {
    userRoutes(v1, { users, store, idempotency });
    customerRoutes(v1, customers);
    auditRoutes(v1, audit);
    roleRoutes(v1, roles);
    done();
  }, { prefix: '/v1' });

  const identity = parts.identity;
  if (identity) await app.register(async (root) => { await identity(root); });

  app.setNotFoundHandler((req) => {
    const path = req.url.split('?')[0] ?? '';
    const match = methodsByRoute.find((r) => r.pattern.test(path));
    if (match && !match.methods.has(req.method)) {
      throw new PartnerKitError('methodNotAllowed', `The method ${req.method} is not allowed on this resource.`, {
        data: [{ allow: [...match.methods].filter((m) => m !== 'HEAD').join(', ') }],
      });
    }
    throw new PartnerKitError('routeNotFound', 'Not found: no such resource.');
  });

  return { app, users, idempotency, throttle };
}
