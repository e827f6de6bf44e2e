/**
 * Redaction: what errors and logs carry never holds a secret. Header names and query parameters are
 * allow-listed (everything else shows as REDACTED); bodies are scrubbed of secret-looking properties.
 */

export const REDACTED = 'REDACTED';

/** Headers whose values are shown in errors and logs; every other header value is redacted. */
const SAFE_HEADERS = new Set(
  [
    'accept', 'content-type', 'content-length', 'date', 'retry-after', 'retry-after-ms', 'x-ms-retry-after-ms',
    'ms-requestid', 'ms-correlationid', 'ms-cv', 'ms-serverid', 'x-locale', 'ms-partnercenter-client',
    'ms-partnercenter-application', 'ms-sdkversion', 'request-context', 'www-authenticate', 'user-agent',
    'client-request-id', 'x-ms-request-id', 'cache-control',
  ],
);

/** Query parameters whose values are shown; others are redacted. */
const SAFE_QUERY = new Set(['size', 'seekoperation', 'sortfield', 'sortdirection', 'startdate', 'enddate', 'filter', 'licensegroupids', 'offset']);

/** Property names whose values are secrets wherever they appear in a body. */
const SECRET_KEY = /pass(word)?|secret|token|assertion|authorization|credential|api[-_]?key|signature/i;

export function redactHeaders(headers: Iterable<[string, string]> | Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Iterable<[string, string]> = Symbol.iterator in headers
    ? headers
    : Object.entries(headers);
  for (const [k, v] of entries) out[k] = SAFE_HEADERS.has(k.toLowerCase()) ? v : REDACTED;
  return out;
}

export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return redactText(raw);
  }
  url.username = '';
  url.password = '';
  const params = [...url.searchParams.keys()];
  for (const name of new Set(params)) {
    if (!SAFE_QUERY.has(name.toLowerCase())) url.searchParams.set(name, REDACTED);
  }
  return url.toString();
}

/** A deep copy of a JSON value with secret-named properties replaced. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') ? REDACTED : redactValue(v, depth + 1);
  }
  return out;
}

/**
 * Scrubs secrets from free text: `Bearer …` credentials, `name=value` pairs of form bodies and query
 * strings, and `"name": "value"` pairs of JSON, where the name looks secret.
 */
export function redactText(text: string): string {
  return text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, `$1 ${REDACTED}`)
    .replace(/\b(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)/g, REDACTED)
    .replace(
      /((?:[A-Za-z_]*(?:pass(?:word)?|secret|token|assertion|credential)[A-Za-z_]*)=)([^&\s"']+)/gi,
      `$1${REDACTED}`,
    )
    .replace(
      /("(?:[A-Za-z_]*(?:pass(?:word)?|secret|token|assertion|credential)[A-Za-z_]*)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
      `$1"${REDACTED}"`,
    );
}

/** A body for an error: JSON is re-serialised with secrets redacted, anything else scrubbed as text. */
export function redactBody(text: string): string {
  try {
    return JSON.stringify(redactValue(JSON.parse(text)));
  } catch {
    return redactText(text);
  }
}
