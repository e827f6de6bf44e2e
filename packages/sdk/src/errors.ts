/** `PartnerError`: every failed Partner Center call, in Partner Center's terms, with nothing secret in it. */
import { redactBody, redactHeaders, redactText, redactUrl, redactValue } from './redact.js';

/**
 * Partner Center's error categories (the .NET SDK's `PartnerErrorCategory`, by HTTP status), plus two for
 * calls that got no answer: `Timeout` (no response in time) and `NetworkError` (no connection).
 */
export type PartnerErrorCategory =
  | 'BadInput'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'InvalidOperation'
  | 'UnsupportedDataFormat'
  | 'RequestTimeout'
  | 'AlreadyExists'
  | 'TooManyRequests'
  | 'ServerBusy'
  | 'GatewayTimeout'
  | 'ServerError'
  | 'ResponseParsing'
  | 'Timeout'
  | 'NetworkError';

/** The category Partner Center's SDK gives an HTTP status. */
export function categoryOf(status: number): PartnerErrorCategory {
  switch (status) {
    case 400:
    case 413:
      return 'BadInput';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'InvalidOperation';
    case 406:
    case 415:
      return 'UnsupportedDataFormat';
    case 408:
      return 'RequestTimeout';
    case 409:
      return 'AlreadyExists';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServerBusy';
    case 504:
      return 'GatewayTimeout';
    default:
      return 'ServerError';
  }
}

/** The request an error came from, without its body and with secret headers redacted. */
export interface RedactedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** What a `PartnerError` is made of (for policies and tests that build one). */
export interface PartnerErrorInit {
  status: number;
  category: PartnerErrorCategory;
  description: string;
  code?: number | string | undefined;
  data?: readonly unknown[] | undefined;
  source?: string | undefined;
  requestId?: string | undefined;
  correlationId?: string | undefined;
  retryAfterMs?: number | undefined;
  body?: string | undefined;
  request?: RedactedRequest | undefined;
  responseHeaders?: Record<string, string> | undefined;
  cause?: unknown;
}

const NAME = 'PartnerError';

/**
 * A Partner Center call that failed: an error answer (`status` ≥ 400), an answer that could not be read
 * (`ResponseParsing`), or no answer at all (`status` 0: `Timeout` or `NetworkError`).
 *
 * Secrets never appear in it: request headers other than an allow-list, query parameters other than an
 * allow-list, and secret-looking properties of bodies are shown as `REDACTED`; request bodies are not kept.
 */
export class PartnerError extends Error {
  override readonly name = NAME;
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** Partner Center's category of the status (see `PartnerErrorCategory`). */
  readonly category: PartnerErrorCategory;
  /** Partner Center's error code (`60002`, `900150`, …): a number on the wire, sometimes a string. */
  readonly code: number | string | undefined;
  /** Partner Center's description, the text body, or the HTTP reason phrase. */
  readonly description: string;
  /** The error body's `data` (strings or objects; `[]` when absent). */
  readonly data: readonly unknown[];
  /** The error body's `source`, e.g. `PartnerFD`. */
  readonly source: string | undefined;
  /** `MS-RequestId` of the call (the same on each of its retries). */
  readonly requestId: string | undefined;
  /** `MS-CorrelationId` of the call. */
  readonly correlationId: string | undefined;
  /** How long the service asked to wait before trying again (`Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** The raw body (redacted) when it is not Partner Center's JSON error body: HTML or text pages, gateway 429 bodies. */
  readonly body: string | undefined;
  /** The request (method, URL, headers; no body), redacted. */
  readonly request: RedactedRequest | undefined;
  /** The response headers (values outside an allow-list redacted). */
  readonly responseHeaders: Record<string, string>;

  constructor(init: PartnerErrorInit) {
    const code = init.code === undefined ? '' : `, code ${String(init.code)}`;
    const ids = [init.requestId && `MS-RequestId ${init.requestId}`, init.correlationId && `MS-CorrelationId ${init.correlationId}`]
      .filter(Boolean)
      .join(', ');
    const status = init.status === 0 ? 'no response' : String(init.status);
    super(`${init.category} (${status}${code}): ${redactText(init.description)}${ids ? ` [${ids}]` : ''}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.category = init.category;
    this.code = init.code;
    this.description = redactText(init.description);
    this.data = (redactValue(init.data ?? []) as unknown[]);
    this.source = init.source;
    this.requestId = init.requestId;
    this.correlationId = init.correlationId;
    this.retryAfterMs = init.retryAfterMs;
    this.body = init.body === undefined ? undefined : redactBody(init.body);
    this.request = init.request;
    this.responseHeaders = init.responseHeaders ?? {};
  }

  /**
   * True for a `PartnerError`, including one thrown by another copy of this package (it checks the shape, not
   * `instanceof`).
   */
  static is(value: unknown): value is PartnerError {
    return (
      value instanceof Error &&
      value.name === NAME &&
      typeof (value as Partial<PartnerError>).status === 'number' &&
      typeof (value as Partial<PartnerError>).category === 'string'
    );
  }
}

/** The request as an error may show it. */
export function redactRequest(r: { method: string; url: string; headers: Readonly<Record<string, string>> }): RedactedRequest {
  return { method: r.method, url: redactUrl(r.url), headers: redactHeaders(r.headers) };
}

/** Partner Center's error body has `description` and `code` or `source` (any casing). */
function isApiFault(lowerKeys: Readonly<Record<string, unknown>>): boolean {
  return 'description' in lowerKeys && ('code' in lowerKeys || 'source' in lowerKeys);
}

/** A property of a JSON object, matched without regard to case (the .NET SDK's serialiser writes PascalCase). */
function prop(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

export interface ErrorResponseParts {
  status: number;
  statusText: string;
  headers: Headers;
  bodyText: string;
  request: { method: string; url: string; headers: Readonly<Record<string, string>> };
  retryAfterMs: number | undefined;
}

/** Builds the error for an answer with status ≥ 400, whatever its body. */
export function errorFromResponse(r: ErrorResponseParts): PartnerError {
  const requestId = r.headers.get('ms-requestid') ?? headerOf(r.request.headers, 'ms-requestid');
  const correlationId = r.headers.get('ms-correlationid') ?? headerOf(r.request.headers, 'ms-correlationid');
  const base = {
    status: r.status,
    category: categoryOf(r.status),
    requestId,
    correlationId,
    retryAfterMs: r.retryAfterMs,
    request: redactRequest(r.request),
    responseHeaders: redactHeaders(r.headers),
  };
  const text = r.bodyText;
  let json: unknown;
  let isJson = false;
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
      isJson = true;
    } catch {
      isJson = false;
    }
  }
  if (isJson) {
    const lowerKeys = typeof json === 'object' && json !== null && !Array.isArray(json)
      ? Object.fromEntries(Object.entries(json as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]))
      : undefined;
    if (lowerKeys && isApiFault(lowerKeys)) {
      const o = json as Record<string, unknown>;
      const code = prop(o, 'code');
      const desc = prop(o, 'description');
      const data = prop(o, 'data');
      const source = prop(o, 'source');
      return new PartnerError({
        ...base,
        code: typeof code === 'number' || (typeof code === 'string' && code !== '') ? code : undefined,
        description: typeof desc === 'string' && desc !== '' ? desc : reason(r),
        data: Array.isArray(data) ? (data as unknown[]) : data === undefined || data === null ? [] : [data],
        source: typeof source === 'string' ? source : undefined,
      });
    }
    // Not an ApiFault: e.g. the gateway's 429 `{"statusCode":429,"message":"Rate limit is exceeded. …"}`.
    const message = lowerKeys?.message ?? lowerKeys?.error_description ?? lowerKeys?.error;
    return new PartnerError({ ...base, description: typeof message === 'string' && message !== '' ? message : reason(r), body: text });
  }
  // Text or HTML bodies (some 401 and 403 answers): the text, or the reason phrase for markup.
  const trimmed = text.trim();
  const markup = /^<|<html|<body|<!doctype/i.test(trimmed);
  const description = trimmed === '' || markup ? reason(r) : trimmed.slice(0, 1024);
  const code = markup ? undefined : /\((\d{3,7})\)\s*\.?$/.exec(trimmed)?.[1];
  return new PartnerError({ ...base, description, code: code === undefined ? undefined : Number(code), ...(trimmed === '' ? {} : { body: text }) });
}

function headerOf(h: Readonly<Record<string, string>>, name: string): string | undefined {
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function reason(r: { status: number; statusText: string }): string {
  return r.statusText !== '' ? r.statusText : `HTTP ${String(r.status)}`;
}
