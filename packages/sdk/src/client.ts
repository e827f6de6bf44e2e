/** `PartnerClient`: the entry point. */
import { auditRecordsBuilder, customersBuilder, type AuditRecordsRequestBuilder, type CustomersRequestBuilder } from './builders.js';
import { ClientCore, normaliseBaseUrl, type OperationOptions, type PrepareOptions, type QueryValues } from './core.js';
import type { TokenCredential } from './credentials.js';
import { DefaultBaseUrl, PartnerCenterScope } from './defaults.js';
import { composePipeline, type AddedPolicy, type FetchLike, type PartnerRequest, type PipelinePolicy } from './pipeline.js';
import { bearerTokenPolicy } from './policies/bearer.js';
import { errorMappingPolicy } from './policies/errors.js';
import { headersPolicy } from './policies/headers.js';
import { logPolicy, type Logger } from './policies/log.js';
import { retryPolicy, type RetryOptions } from './policies/retry.js';
import { fetchTransport, globalFetch } from './policies/transport.js';
import { checkSecureBase, newId, requireId } from './util.js';

/** Options of `PartnerClient`. */
export interface PartnerClientOptions {
  /** Where tokens come from: a built-in credential or any `@azure/identity` one. */
  credential: TokenCredential;
  /**
   * The API's base URL. Default Partner Center, `https://api.partnercenter.microsoft.com`; for PartnerKit its
   * address, e.g. `http://127.0.0.1:8080`. `/v1` is added to paths. Must be https except to loopback hosts.
   */
  baseUrl?: string | undefined;
  /** `MS-CorrelationId` of every call of this client (default: a new UUID per client). */
  correlationId?: string | undefined;
  /** `X-Locale` (default `en-US`). */
  locale?: string | undefined;
  /** `MS-PartnerCenter-Application`: your application's name, for Partner Center's telemetry. */
  applicationName?: string | undefined;
  /** Retries of failed attempts (default: 3 retries, 0.5 s base delay, waits capped at 60 s). */
  retry?: RetryOptions | undefined;
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike | undefined;
  /** Time limit of each attempt in milliseconds (default 180 000, the .NET SDK's). */
  timeoutMs?: number | undefined;
  /** Scopes asked of the credential (default `https://api.partnercenter.microsoft.com/.default`). */
  scopes?: readonly string[] | undefined;
  /** Log lines (method, URL, status, time, ids; never secrets). `console` fits. Default: none. */
  logger?: Logger | undefined;
  /** Extra policies, once per call (outside retries) or on every attempt. */
  additionalPolicies?: readonly AddedPolicy[] | undefined;
  /** The clock for token expiry, in milliseconds since the epoch (default `Date.now`). */
  now?: (() => number) | undefined;
}

/** The request a caller builds for a route the SDK has no builder for. */
export interface BuildRequestInit extends PrepareOptions {
  /** Query parameters (undefined ones are left out). */
  query?: Record<string, string | number | undefined> | undefined;
  /** Sent as JSON. */
  body?: unknown;
}

const CORE = Symbol('core');
const DEFAULT_TIMEOUT_MS = 180_000;

/**
 * A client of the Partner Center API (or of PartnerKit):
 *
 * ```ts
 * const partner = new PartnerClient({ credential });
 * const user = await partner.customers.byId(customerId).users.byId(userId).patch({ usageLocation: 'US' });
 * ```
 *
 * Every request runs through the pipeline: headers (`MS-RequestId`, `MS-CorrelationId`, `X-Locale`,
 * `MS-PartnerCenter-Client`, `MS-PartnerCenter-Application`), error mapping, retry, bearer token, log.
 */
export class PartnerClient {
  /** The base URL (without `/v1`). */
  readonly baseUrl: string;
  /** `MS-CorrelationId` sent on every call of this client. */
  readonly correlationId: string;
  /** `partner.customers.byId(id)…` */
  readonly customers: CustomersRequestBuilder;
  /** `partner.auditRecords.list({ startDate })` */
  readonly auditRecords: AuditRecordsRequestBuilder;
  readonly #core: ClientCore;

  constructor(options: PartnerClientOptions) {
    const shared = (options as { [CORE]?: ClientCore })[CORE];
    this.#core = shared ?? createCore(options);
    this.baseUrl = this.#core.baseUrl;
    this.correlationId = this.#core.defaults.correlationId;
    this.customers = customersBuilder(this.#core);
    this.auditRecords = auditRecordsBuilder(this.#core);
  }

  /** The same client (same pipeline and token cache) with another `MS-CorrelationId`, e.g. one per job. */
  withCorrelationId(correlationId: string): PartnerClient {
    const core = this.#core.with({ correlationId: requireId(correlationId, 'correlationId') });
    return new PartnerClient({ [CORE]: core } as unknown as PartnerClientOptions);
  }

  /**
   * Builds a request for any route (relative to the API root; `/v1` is added unless present), with the
   * client's headers; send it with `send()`.
   */
  buildRequest(method: string, path: string, init: BuildRequestInit = {}): PartnerRequest {
    const query: QueryValues = { ...init.query };
    return this.#core.prepare(method.toUpperCase(), this.#core.url(path, query), init.body, init);
  }

  /**
   * Sends a request (from a `to…Request()` twin or `buildRequest()`) through the pipeline; resolves with the
   * parsed JSON body, or undefined for an empty one. The request's own `MS-RequestId` is kept.
   */
  async send<T = unknown>(request: PartnerRequest, options: OperationOptions = {}): Promise<T> {
    return (await this.#core.send(request, options)) as T;
  }
}

function createCore(o: PartnerClientOptions): ClientCore {
  if (typeof (o as Partial<PartnerClientOptions> | undefined)?.credential?.getToken !== 'function') {
    throw new TypeError('options.credential must have a getToken(scopes) method');
  }
  const base = normaliseBaseUrl(checkSecureBase(o.baseUrl ?? DefaultBaseUrl, 'baseUrl'));
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
  const defaults = {
    correlationId: o.correlationId ?? newId(),
    locale: o.locale ?? 'en-US',
    applicationName: o.applicationName,
  };
  const added = o.additionalPolicies ?? [];
  const perCall: PipelinePolicy[] = added.filter((p) => p.position === 'perCall').map((p) => p.policy);
  const perRetry: PipelinePolicy[] = added.filter((p) => p.position === 'perRetry').map((p) => p.policy);
  const policies: PipelinePolicy[] = [
    headersPolicy(defaults),
    errorMappingPolicy(),
    ...perCall,
    retryPolicy(o.retry, o.logger),
    bearerTokenPolicy(o.credential, o.scopes ?? [PartnerCenterScope], o.now),
    ...perRetry,
    ...(o.logger ? [logPolicy(o.logger)] : []),
  ];
  const pipeline = composePipeline(policies, fetchTransport(o.fetch ?? globalFetch));
  return new ClientCore(base, defaults, pipeline, timeoutMs);
}
