/**
 * The one place where errors become Partner Center error bodies: `{code, description, data, source}`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes, type ApiFault, type ThrottleBody } from '@partnerkit/contract';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PartnerKitError, type ErrorKind } from '../errors.js';
import { isStoreUnavailable } from '../store/errors.js';
import { applyContextHeaders, buildContext, newCv } from './context.js';
import { securityHeaders } from './security-headers.js';

interface Mapping {
  status: number;
  code: number;
}

const MAP: Record<ErrorKind, Mapping> = {
  invalidInput: { status: 400, code: ErrorCodes.invalidInput },
  invalidProperty: { status: 400, code: ErrorCodes.invalidProperty },
  tokenMissing: { status: 401, code: ErrorCodes.tokenMissing },
  tokenInvalid: { status: 401, code: ErrorCodes.tokenInvalid },
  mfaRequired: { status: 401, code: ErrorCodes.mfaRequired },
  appOnlyNotAllowed: { status: 403, code: ErrorCodes.appOnlyNotAllowed },
  noRelationship: { status: 403, code: ErrorCodes.noRelationship },
  roleNotAllowed: { status: 403, code: ErrorCodes.roleNotAllowed },
  userNotFound: { status: 404, code: ErrorCodes.userNotFound },
  routeNotFound: { status: 404, code: ErrorCodes.notFound },
  methodNotAllowed: { status: 405, code: ErrorCodes.notFound },
  userPrincipalNameInUse: { status: 409, code: ErrorCodes.userPrincipalNameInUse },
  requestIdReused: { status: 409, code: ErrorCodes.requestIdReused },
  payloadTooLarge: { status: 413, code: ErrorCodes.invalidInput },
  unsupportedMediaType: { status: 415, code: ErrorCodes.invalidInput },
  throttled: { status: 429, code: 0 },
  unavailable: { status: 503, code: ErrorCodes.serviceUnavailable },
  unexpected: { status: 500, code: ErrorCodes.unexpected },
};

export const ERROR_SOURCE = 'PartnerFD';

/** 503 800005 with `Retry-After: 1`: the store cannot be reached for now. */
export const storeUnavailable = (): PartnerKitError =>
  new PartnerKitError('unavailable', 'The service cannot reach its store. Try again later.', { retryAfterSeconds: 1 });

export interface ErrorResponse {
  status: number;
  body: ApiFault | ThrottleBody;
  headers: Record<string, string>;
}

/** Maps any thrown value to the response a client sees. Unknown errors never reveal their internals. */
export function toErrorResponse(err: unknown): ErrorResponse {
  const e = err instanceof PartnerKitError ? err : new PartnerKitError('unexpected', 'Unexpected service error.');
  const m = MAP[e.kind];
  const headers: Record<string, string> = {};
  if (e.kind === 'throttled') {
    const seconds = Math.max(1, e.retryAfterSeconds ?? 1);
    headers['retry-after'] = String(seconds);
    return { status: m.status, headers, body: { statusCode: 429, message: `Rate limit is exceeded. Try again in ${String(seconds)} seconds.` } };
  }
  if (e.kind === 'unavailable' && e.retryAfterSeconds !== undefined) headers['retry-after'] = String(e.retryAfterSeconds);
  return {
    status: m.status,
    headers,
    body: { code: m.code, description: e.message.slice(0, 1024), data: [...e.data], source: ERROR_SOURCE },
  };
}

/**
 * Fastify's own errors (parsing, size, media type, bad URL), and the store's connection errors, in Partner
 * Center's terms. Only errors that carry Fastify's 4xx status are the client's fault: anything else (a
 * SyntaxError of our own code included) stays a 500.
 */
export function fromFramework(err: unknown): unknown {
  if (err instanceof PartnerKitError) return err;
  if (typeof err !== 'object' || err === null) return err;
  // The client went away, or was cut off for sending too slowly, before its body arrived: nobody hears this answer,
  // and Node's error for it (an ECONNRESET) must not read as a lost database connection (a logged 503).
  if (err instanceof Error && err.message === 'aborted' && 'code' in err && err.code === 'ECONNRESET') {
    return new PartnerKitError('invalidInput', 'Invalid request input: the request body was not received whole.');
  }
  // The database is unreachable (an outage, a restart, a network cut): 503, and the client may retry at once.
  if (isStoreUnavailable(err)) return storeUnavailable();
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new PartnerKitError('unsupportedMediaType', 'The request content type is not supported. Send Content-Type: application/json.');
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new PartnerKitError('payloadTooLarge', 'The request body is larger than 1 MiB.');
  if (code === 'FST_ERR_BAD_URL') return new PartnerKitError('invalidInput', 'Invalid request input: the request URL is malformed.');
  if (code === 'FST_ERR_MAX_PARAM_LENGTH') return new PartnerKitError('routeNotFound', 'Not found: no such resource.');
  if (status === 400) return new PartnerKitError('invalidInput', 'Invalid request input: the body is not valid JSON.');
  if (status === 413) return new PartnerKitError('payloadTooLarge', 'The request is too large.');
  if (status === 404) return new PartnerKitError('routeNotFound', 'Not found.');
  return err;
}

/**
 * Errors Fastify meets before routing (a malformed URL, an over-long path segment) skip every hook: this answers
 * them in Partner Center's shape, with the context headers. Fastify's `frameworkErrors` option.
 */
export function frameworkErrorHandler(serverId: string): (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  return (err, req, reply) => {
    const mapped = toErrorResponse(fromFramework(err));
    applyContextHeaders(reply, buildContext(req), serverId);
    void reply.code(mapped.status).headers(securityHeaders(req.protocol === 'https')).headers(mapped.headers).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(mapped.body));
  };
}

/**
 * The request each connection is receiving, and its answer. A route may answer before the body has arrived (a
 * missing token is refused before the body is read); Node then reads and drops the rest of the body, and an error
 * of the parser or the request timeout meanwhile must not write a second answer nobody asked for after the first.
 */
export class ConnectionRequests {
  private readonly current = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();

  /** Follows the requests of `server` (and those it hands to `checkExpectation` listeners). */
  watch(server: Server): void {
    const track = (req: IncomingMessage, res: ServerResponse): void => {
      this.current.set(req.socket, { req, res });
    };
    server.on('request', track);
    server.on('checkExpectation', track);
  }

  /** True when the request `socket` is still receiving already has (the start of) its answer. */
  answeredEarly(socket: Socket): boolean {
    const c = this.current.get(socket);
    return c !== undefined && !c.req.complete && c.res.headersSent;
  }
}

/**
 * Requests Node's HTTP parser refuses (a control character in a header, headers too large, a timeout) never reach
 * Fastify: this answers them in Partner Center's shape, with generated ids, and closes the connection; a request
 * that already has its answer (`requests`) gets no second one, only the close. Fastify's `clientErrorHandler` option.
 */
export function clientErrorHandler(serverId: string, requests?: ConnectionRequests): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (requests?.answeredEarly(socket) === true) {
      socket.destroy();
      return;
    }
    let status = 400;
    let description = 'Invalid request input: the request is not valid HTTP.';
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      description = 'The request was not received in time.';
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      description = 'Invalid request input: the request headers are too large.';
    }
    const body = JSON.stringify(toErrorResponse(new PartnerKitError('invalidInput', description)).body);
    if (socket.writable) {
      const security = Object.entries(securityHeaders('encrypted' in socket && socket.encrypted === true)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(
        `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n` +
          `MS-RequestId: ${randomUUID()}\r\nMS-CorrelationId: ${randomUUID()}\r\nMS-CV: ${newCv()}\r\nMS-ServerId: ${serverId}\r\n` +
          `${security}Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/** Messages that speak of the store's internals (SQL text, engine error codes) are not logged as they are. */
const STORE_INTERNALS = /SQLITE_|syntax error|no such (?:table|column)|\bselect\b[^]*\bfrom\b|\binsert\s+into\b|\bupdate\b[^]*\bset\b|\bdelete\s+from\b/i;
/** Absolute file paths and file URLs (POSIX and Windows). */
const FILE_PATH = /(?:file:\/\/)?(?:[A-Za-z]:\\|\/)[^\s'"():]*[/\\][^\s'"():]*/g;

/**
 * An error as it appears in a log line (the logger's `err` serializer): its type, a message without file paths or
 * store internals, `stack: "[withheld]"`, and a fingerprint of the real stack, so that the same failure at the same place logs the same
 * fingerprint. No stack trace, file path, SQL text or secret reaches a log line, at any level.
 */
export function logSafeError(err: unknown): { type: string; message: string; stack: string; fingerprint: string; kind?: string } {
  const stack = '[withheld]';
  if (!(err instanceof Error)) return { type: typeof err, message: 'a thrown value that is not an Error', stack, fingerprint: '' };
  let message = err.message.slice(0, 300);
  if (STORE_INTERNALS.test(message)) message = 'store error (details withheld)';
  message = message.replace(FILE_PATH, '<path>');
  const fingerprint = createHash('sha256').update(err.stack ?? `${err.name}: ${err.message}`).digest('base64url').slice(0, 16);
  return { type: err.name, message, stack, fingerprint, ...(err instanceof PartnerKitError ? { kind: err.kind } : {}) };
}
