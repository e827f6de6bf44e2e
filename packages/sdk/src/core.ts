/**
 * What the request builders share: URL building (the `/v1` rule), request preparation (the twins), sending
 * through the pipeline, and paging by `links.next`.
 */
import type { Collection, Link } from '@partnerkit/contract';
import { PartnerError, redactRequest, type RedactedRequest } from './errors.js';
import type { PartnerRequest, PipelineRequest, SendRequest } from './pipeline.js';
import { applyDefaultHeaders, type HeaderDefaults } from './policies/headers.js';
import { abortReason, getHeader, setHeader } from './util.js';

/** Options every operation takes. */
export interface OperationOptions {
  /** Aborts the call, including any wait between retries. */
  abortSignal?: AbortSignal | undefined;
  /**
   * `MS-RequestId` of this call (default: a new UUID). Every retry of the call sends the same one; pass your
   * own to make a call idempotent across restarts of your process.
   */
  requestId?: string | undefined;
  /** `MS-CorrelationId` of this call (default: the client's). */
  correlationId?: string | undefined;
  /** Called with the final answer of a successful call (status, headers, body text). */
  onResponse?: ((response: RawResponse) => void) | undefined;
}

/** Options of a listing: those of an operation, less `requestId` (every page is its own call). */
export type ListOperationOptions = Omit<OperationOptions, 'requestId'>;

/** The options a `to…Request()` twin takes. */
export type PrepareOptions = Pick<OperationOptions, 'requestId' | 'correlationId'>;

/** The answer of a call, as `onResponse` sees it. */
export interface RawResponse {
  status: number;
  headers: Headers;
  bodyText: string;
  /** The request that got it (secret headers redacted). */
  request: RedactedRequest;
}

/** What `byPage()` accepts. */
export interface PageSettings {
  /** Page size (`size`); Partner Center serves at most 500 users per page. */
  maxPageSize?: number | undefined;
  /** Resume after a page: its `continuationToken`. */
  continuationToken?: string | undefined;
}

/** A page: Partner Center's collection envelope (`totalCount` counts this page's items). */
export type Page<T> = Collection<T>;

/**
 * A listing: `for await` over every item of every page, or over pages with `byPage()`. Nothing is fetched
 * until iteration starts; each page is fetched when the previous one is used up.
 */
export interface PagedAsyncIterableIterator<TElement, TPage = Page<TElement>> {
  /** The next item (fetching the next page when needed). */
  next(): Promise<IteratorResult<TElement, undefined>>;
  /** Stops the listing (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<TElement, undefined>>;
  [Symbol.asyncIterator](): PagedAsyncIterableIterator<TElement, TPage>;
  /** The pages themselves (Partner Center's collection envelopes), each fetched when asked for. */
  byPage(settings?: PageSettings): AsyncIterableIterator<TPage, undefined>;
}

export type QueryValues = Record<string, string | number | undefined>;

export class ClientCore {
  constructor(
    /** Base URL without a trailing slash or a trailing `/v1`. */
    readonly baseUrl: string,
    readonly defaults: HeaderDefaults,
    private readonly pipeline: SendRequest,
    private readonly timeoutMs: number | undefined,
  ) {}

  with(defaults: Partial<HeaderDefaults>): ClientCore {
    return new ClientCore(this.baseUrl, { ...this.defaults, ...defaults }, this.pipeline, this.timeoutMs);
  }

  /** The absolute URL of a path (relative to the API root; `/v1` is added unless the path starts with it). */
  url(path: string, query?: QueryValues): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.baseUrl}${withV1(path)}${qs === '' ? '' : `${path.includes('?') ? '&' : '?'}${qs}`}`;
  }

  /** A request ready to send, with every Partner Center header except `Authorization`. */
  prepare(method: string, url: string, body: unknown, options: PrepareOptions = {}): PartnerRequest {
    const request: PartnerRequest = { method, url, headers: {} };
    if (body !== undefined) request.body = JSON.stringify(body);
    if (options.requestId !== undefined) setHeader(request.headers, 'MS-RequestId', options.requestId);
    if (options.correlationId !== undefined) setHeader(request.headers, 'MS-CorrelationId', options.correlationId);
    applyDefaultHeaders(request, this.defaults);
    return request;
  }

  /** Sends a request; resolves with the parsed JSON body (undefined for an empty one). */
  async send(request: PartnerRequest, options: OperationOptions = {}): Promise<unknown> {
    if (options.abortSignal?.aborted) throw abortReason(options.abortSignal);
    const req: PipelineRequest = { method: request.method, url: request.url, headers: { ...request.headers } };
    if (request.body !== undefined) req.body = request.body;
    if (options.requestId !== undefined) setHeader(req.headers, 'MS-RequestId', options.requestId);
    if (options.correlationId !== undefined) setHeader(req.headers, 'MS-CorrelationId', options.correlationId);
    applyDefaultHeaders(req, this.defaults);
    if (options.abortSignal) req.abortSignal = options.abortSignal;
    if (this.timeoutMs !== undefined) req.timeoutMs = this.timeoutMs;
    const res = await this.pipeline(req);
    options.onResponse?.({ status: res.status, headers: res.headers, bodyText: res.bodyText, request: redactRequest(res.request) });
    if (res.bodyText.trim() === '') return undefined;
    try {
      return JSON.parse(res.bodyText) as unknown;
    } catch (e) {
      throw parsingError(res.request, res.status, res.headers, 'The response body is not JSON.', res.bodyText, e);
    }
  }

  /** Sends a request whose answer must be a JSON object. */
  async sendForObject<T>(request: PartnerRequest, options: OperationOptions = {}): Promise<T> {
    let status = 0;
    let headers = new Headers();
    const body = await this.send(request, {
      ...options,
      onResponse: (r) => {
        status = r.status;
        headers = r.headers;
        options.onResponse?.(r);
      },
    });
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw parsingError(request, status, headers, 'The response has no JSON object body.', body === undefined ? '' : JSON.stringify(body));
    }
    return body as T;
  }

  /** The request for a link Partner Center served (`links.next`): its URI as is, its headers copied. */
  linkRequest(link: Link, options: PrepareOptions = {}): PartnerRequest {
    const uri = link.uri.trim();
    let url: string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
      const target = new URL(uri);
      if (target.origin !== new URL(this.baseUrl).origin) {
        throw new Error(`refusing to follow a link to another origin (${target.origin}); the client's base URL is ${this.baseUrl}`);
      }
      url = target.toString();
    } else {
      url = `${this.baseUrl}${withV1(uri)}`;
    }
    // Links in the wild may lack `method` or `headers`: GET with no extra headers.
    const served = link as { method?: unknown; headers?: unknown };
    const method = typeof served.method === 'string' && served.method !== '' ? served.method.toUpperCase() : 'GET';
    const request = this.prepare(method, url, undefined, options);
    const headers: unknown[] = Array.isArray(served.headers) ? (served.headers as unknown[]) : [];
    for (const h of headers) {
      const { key, value } = (h ?? {}) as { key?: unknown; value?: unknown };
      if (typeof key === 'string' && key !== '' && typeof value === 'string') setHeader(request.headers, key, value);
    }
    return request;
  }

  /** A listing that fetches `first(settings)`, then follows `links.next` until a page has none. */
  pager<T>(first: (settings: PageSettings) => PartnerRequest, options: ListOperationOptions = {}): PagedAsyncIterableIterator<T> {
    const pages = async function* (this: ClientCore, settings: PageSettings = {}): AsyncGenerator<Page<T>, undefined> {
      let request = first(settings);
      const followed = new Set<string>();
      for (;;) {
        const page = await this.sendForObject<Page<T>>(request, options);
        if (!Array.isArray(page.items)) {
          throw parsingError(request, 200, new Headers(), 'The response is not a collection (no items).', JSON.stringify(page));
        }
        yield page;
        const next = page.links?.next;
        if (!next || typeof next.uri !== 'string' || next.uri === '') return undefined;
        const key = `${next.method} ${next.uri} ${JSON.stringify(next.headers)}`;
        if (followed.has(key)) throw new Error(`paging does not advance: links.next repeats ${next.uri}`);
        followed.add(key);
        request = this.linkRequest(next, { correlationId: options.correlationId });
      }
    }.bind(this);
    const items = async function* (): AsyncGenerator<T, undefined> {
      for await (const page of pages()) yield* page.items;
      return undefined;
    };
    const it = items();
    const pager: PagedAsyncIterableIterator<T> = {
      next: () => it.next(),
      return: () => it.return(undefined),
      [Symbol.asyncIterator]: () => pager,
      byPage: (settings?: PageSettings) => pages(settings),
    };
    return pager;
  }
}

/** Adds `/v1` unless the path already starts with it; adds the leading slash when missing. */
export function withV1(path: string): string {
  const p = path.startsWith('/') ? path : `/${path}`;
  return /^\/v1(?=[/?#]|$)/i.test(p) ? p : `/v1${p}`;
}

/** Normalises a base URL: no trailing slash, no trailing `/v1` (the SDK adds it). */
export function normaliseBaseUrl(url: URL): string {
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/i, '');
  return `${url.origin}${path}`;
}

function parsingError(
  request: { method: string; url: string; headers: Readonly<Record<string, string>> },
  status: number,
  headers: Headers,
  description: string,
  body: string,
  cause?: unknown,
): PartnerError {
  return new PartnerError({
    status,
    category: 'ResponseParsing',
    description,
    body,
    requestId: headers.get('ms-requestid') ?? getHeader(request.headers, 'MS-RequestId'),
    correlationId: headers.get('ms-correlationid') ?? getHeader(request.headers, 'MS-CorrelationId'),
    request: redactRequest(request),
    cause,
  });
}
