/**
 * OAuth 2.0 / Entra ID error answers of the identity endpoint. These are not Partner Center bodies: the
 * identity routes answer in Entra's own shape so that MSAL, azure-identity and hand-written clients read them.
 */
import { randomUUID } from 'node:crypto';

export interface OAuthErrorBody {
  error: string;
  /** `AADSTSnnnn: message\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …` */
  error_description: string;
  error_codes: number[];
  /** Entra's format: `2025-01-31 12:34:56Z`. */
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

export interface OAuthError {
  status: number;
  body: OAuthErrorBody;
}

export interface OAuthContext {
  /** Echoed as `correlation_id` (Entra takes it from the `client-request-id` header). */
  correlationId: string;
  traceId: string;
  now: Date;
}

export function newOAuthContext(now: Date, clientRequestId?: string): OAuthContext {
  return { correlationId: clientRequestId ?? randomUUID(), traceId: randomUUID(), now };
}

/** `2025-01-31 12:34:56Z`, as Entra writes timestamps in error bodies. */
export const entraTimestamp = (d: Date): string => `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;

/** A request value safe to quote in a description: no control characters, at most 128 characters. */
export function quote(value: string): string {
  const clean = value.replace(/\p{Cc}/gu, '');
  return clean.length > 128 ? `${clean.slice(0, 128)}…` : clean;
}

export function oauthError(status: number, error: string, code: number, message: string, ctx: OAuthContext): OAuthError {
  const timestamp = entraTimestamp(ctx.now);
  return {
    status,
    body: {
      error,
      error_description:
        `AADSTS${String(code)}: ${message}\r\nTrace ID: ${ctx.traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: ctx.traceId,
      correlation_id: ctx.correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${String(code)}`,
    },
  };
}

/** The catalogue of answers the endpoint gives, with Entra's numbers and wording. */
export const OAuthErrors = {
  missingParameter: (ctx: OAuthContext, name: string): OAuthError =>
    oauthError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`, ctx),
  malformed: (ctx: OAuthContext): OAuthError =>
    oauthError(400, 'invalid_request', 9002313, 'Invalid request. Request is malformed or invalid.', ctx),
  unsupportedGrantType: (ctx: OAuthContext, grantType: string): OAuthError =>
    oauthError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${quote(grantType)}'.`, ctx),
  tenantNotFound: (ctx: OAuthContext, tenant: string, error = 'invalid_request'): OAuthError =>
    oauthError(
      400,
      error,
      90002,
      `Tenant '${quote(tenant)}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. ` +
        'Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.',
      ctx,
    ),
  unknownClient: (ctx: OAuthContext, clientId: string, tenant: string): OAuthError =>
    oauthError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${quote(clientId)}' was not found in the directory '${quote(tenant)}'. This can happen if the ` +
        'application has not been installed by the administrator of the tenant or consented to by any user in the tenant. ' +
        'You may have sent your authentication request to the wrong tenant.',
      ctx,
    ),
  badClientSecret: (ctx: OAuthContext, clientId: string): OAuthError =>
    oauthError(
      401,
      'invalid_client',
      7000215,
      'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client ' +
        `secret ID, for a secret added to app '${quote(clientId)}'.`,
      ctx,
    ),
  clientSecretRequired: (ctx: OAuthContext): OAuthError =>
    oauthError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", ctx),
  publicClientSecret: (ctx: OAuthContext): OAuthError =>
    oauthError(401, 'invalid_client', 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.", ctx),
  invalidScope: (ctx: OAuthContext, scope: string): OAuthError =>
    oauthError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope '${quote(scope)}' is not valid.`, ctx),
  clientCredentialsScope: (ctx: OAuthContext, scope: string): OAuthError =>
    oauthError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${quote(scope)} is not valid. Client credential flows must have a scope value with /.default ` +
        'suffixed to the resource identifier (application ID URI).',
      ctx,
    ),
  badCredentials: (ctx: OAuthContext): OAuthError =>
    oauthError(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.', ctx),
  /** Smart lockout (identity/lockout.ts), for a user's password and a client's secret alike. */
  accountLocked: (ctx: OAuthContext): OAuthError =>
    oauthError(
      400,
      'invalid_grant',
      50053,
      "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
      ctx,
    ),
  invalidGrant: (ctx: OAuthContext): OAuthError =>
    oauthError(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed.', ctx),
  refreshTokenExpired: (ctx: OAuthContext, issuedAt: Date, inactiveDays: number): OAuthError =>
    oauthError(
      400,
      'invalid_grant',
      700082,
      `The refresh token has expired due to inactivity. The token was issued on ${issuedAt.toISOString()} and was inactive for ` +
        `${String(inactiveDays)}.00:00:00.`,
      ctx,
    ),
  serverError: (ctx: OAuthContext): OAuthError =>
    oauthError(500, 'server_error', 50000, 'There was an error issuing a token or an issue with our sign-in service.', ctx),
  /** The store is unreachable for now (a database outage); the client should try again shortly. */
  temporarilyUnavailable: (ctx: OAuthContext): OAuthError =>
    oauthError(503, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.', ctx),
} as const;
