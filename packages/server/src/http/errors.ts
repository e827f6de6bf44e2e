/**
 * The one place where errors become Partner Center error bodies: `{code, description, data, source}`.
 */
import { ErrorCodes, type ApiFault, type ThrottleBody } from '@partnerkit/contract';
import { PartnerKitError, type ErrorKind } from '../errors.js';

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
