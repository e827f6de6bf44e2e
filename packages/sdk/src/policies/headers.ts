/** The headers policy: Partner Center's request headers, set once per logical call (retries reuse them). */
import type { PartnerRequest, PipelinePolicy } from '../pipeline.js';
import { getHeader, newId, setHeader } from '../util.js';
import { SDK_NAME, SDK_VERSION } from '../version.js';

export interface HeaderDefaults {
  /** `MS-CorrelationId` for calls that do not bring their own. */
  correlationId: string;
  /** `X-Locale`. */
  locale: string;
  /** `MS-PartnerCenter-Application`, when set. */
  applicationName?: string | undefined;
}

/**
 * Fills in the headers a request lacks: `Accept`, `Content-Type` (with a body), a new `MS-RequestId`,
 * `MS-CorrelationId`, `X-Locale`, `MS-PartnerCenter-Client`, `MS-SdkVersion`, and
 * `MS-PartnerCenter-Application`. Headers already present (a prepared request, a caller's ids) are kept.
 */
export function applyDefaultHeaders(request: PartnerRequest, d: HeaderDefaults): void {
  const h = request.headers;
  const fill = (name: string, value: string): void => {
    const current = getHeader(h, name);
    if (current === undefined || current.trim() === '') setHeader(h, name, value);
  };
  fill('Accept', 'application/json');
  if (request.body !== undefined) fill('Content-Type', 'application/json');
  fill('MS-RequestId', newId());
  fill('MS-CorrelationId', d.correlationId);
  fill('X-Locale', d.locale);
  fill('MS-PartnerCenter-Client', SDK_NAME);
  fill('MS-SdkVersion', SDK_VERSION);
  if (d.applicationName !== undefined && d.applicationName !== '') fill('MS-PartnerCenter-Application', d.applicationName);
}

export function headersPolicy(defaults: HeaderDefaults): PipelinePolicy {
  return {
    name: 'headers',
    sendRequest(request, next) {
      const r = { ...request, headers: { ...request.headers } };
      applyDefaultHeaders(r, defaults);
      return next(r);
    },
  };
}
