/**
 * Request context: MS-RequestId, MS-CorrelationId, MS-CV and X-Locale, established for every request and
 * echoed (or generated) on every response, errors included, with MS-ServerId.
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalidInput, type PartnerKitError } from '../errors.js';

export interface RequestContext {
  requestId: string;
  /** True when the client sent the request id (so it may key a replay). */
  clientRequestId: boolean;
  correlationId: string;
  cv: string;
  locale: string | undefined;
  /** A problem with the request's headers found before routing; raised once the route runs. */
  headerError: PartnerKitError | undefined;
}

const VISIBLE_ASCII = /^[\x21-\x7e]{1,128}$/;

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Random bytes for correlation vectors, drawn from the system 256 vectors at a time. */
const CV_BYTES = 12;
const CV_POOL = 256;
const cvPool = Buffer.alloc(CV_BYTES * CV_POOL);
let cvNext = CV_POOL;

/** A fresh correlation vector base (16 base64 characters, 96 random bits), with its first increment. */
export function newCv(): string {
  if (cvNext === CV_POOL) {
    randomFillSync(cvPool);
    cvNext = 0;
  }
  const start = CV_BYTES * cvNext++;
  return `${cvPool.toString('base64', start, start + CV_BYTES)}.0`;
}

export function buildContext(req: FastifyRequest): RequestContext {
  let headerError: PartnerKitError | undefined;
  const rawRequestId = header(req, 'ms-requestid')?.trim() ?? '';
  let requestId = rawRequestId;
  let clientRequestId = rawRequestId !== '';
  if (rawRequestId !== '' && !VISIBLE_ASCII.test(rawRequestId)) {
    headerError = invalidInput('MS-RequestId must be 1 to 128 visible ASCII characters.', [{ header: 'MS-RequestId' }]);
    requestId = randomUUID();
    clientRequestId = false;
  }
  if (requestId === '') requestId = randomUUID();
  let correlationId = header(req, 'ms-correlationid')?.trim() ?? '';
  if (correlationId === '' || !VISIBLE_ASCII.test(correlationId)) correlationId = randomUUID();
  const incomingCv = header(req, 'ms-cv')?.trim();
  const cv = incomingCv && /^[A-Za-z0-9+/.]{1,127}$/.test(incomingCv) ? `${incomingCv}.0` : newCv();
  const localeHeader = header(req, 'x-locale')?.trim();
  const locale = localeHeader && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(localeHeader) ? localeHeader : undefined;
  return { requestId, clientRequestId, correlationId, cv, locale, headerError };
}

export function applyContextHeaders(reply: FastifyReply, ctx: RequestContext, serverId: string): void {
  reply.header('MS-RequestId', ctx.requestId);
  reply.header('MS-CorrelationId', ctx.correlationId);
  reply.header('MS-CV', ctx.cv);
  reply.header('MS-ServerId', serverId);
  if (ctx.locale !== undefined) reply.header('X-Locale', ctx.locale);
}
