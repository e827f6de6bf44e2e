/**
 * Typed domain errors. Every error a client can see is one of these; `http/errors.ts` maps each kind to
 * Partner Center's status, code and body in one place. Nothing here knows about HTTP.
 */
export type ErrorKind =
  | 'invalidInput' // body not JSON / not an object / a property of the wrong JSON type, bad header value
  | 'invalidProperty' // a property breaks a rule
  | 'tokenMissing'
  | 'tokenInvalid'
  | 'mfaRequired'
  | 'appOnlyNotAllowed'
  | 'noRelationship'
  | 'roleNotAllowed'
  | 'userNotFound'
  | 'routeNotFound'
  | 'methodNotAllowed'
  | 'userPrincipalNameInUse'
  | 'requestIdReused'
  | 'payloadTooLarge'
  | 'unsupportedMediaType'
  | 'throttled'
  | 'unavailable'
  | 'unexpected';

export interface ErrorDetails {
  /** Entries of the error body's `data` array. */
  data?: readonly unknown[];
  /** Seconds to wait (throttling). */
  retryAfterSeconds?: number;
}

export class PartnerKitError extends Error {
  override name = 'PartnerKitError';
  readonly kind: ErrorKind;
  readonly data: readonly unknown[];
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, description: string, details: ErrorDetails = {}) {
    super(description);
    this.kind = kind;
    this.data = details.data ?? [];
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

export const invalidInput = (description: string, data: readonly unknown[] = []): PartnerKitError =>
  new PartnerKitError('invalidInput', description, { data });

export interface RuleBreak {
  property: string;
  rule: string;
  message: string;
}

export const invalidProperty = (v: RuleBreak): PartnerKitError =>
  new PartnerKitError('invalidProperty', `Invalid property ${v.property}: ${v.message}`, {
    data: [{ property: v.property, rule: v.rule, message: v.message }],
  });

export const userNotFound = (): PartnerKitError => new PartnerKitError('userNotFound', 'User object ID is not found');

export const noRelationship = (): PartnerKitError =>
  new PartnerKitError('noRelationship', 'No relationship between caller and account.');
