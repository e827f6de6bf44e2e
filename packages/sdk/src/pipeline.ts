/**
 * The request pipeline: small named policies around a fetch transport. A policy sees the request on its way
 * out and the response on its way back, and may call `next` again (retry) or not at all.
 *
 * Default order, outermost first (see `PartnerClient`):
 *   headers → errors → [perCall policies] → retry → bearer → [perRetry policies] → log → fetch
 * so one logical call gets one `MS-RequestId`, every attempt gets a current token, and the error seen by the
 * caller is built from the last attempt's answer.
 */

/** A request that can be sent as it is: what the `to…Request()` twins return. Plain data, safe to print. */
export interface PartnerRequest {
  /** `GET`, `POST`, `PATCH`, `DELETE`, … */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Every header but `Authorization`, which the bearer policy adds when the request is sent. */
  headers: Record<string, string>;
  /** JSON text, when the request has a body. */
  body?: string | undefined;
}

/** A request on its way through the pipeline. */
export interface PipelineRequest extends PartnerRequest {
  /** The call's signal: aborts the attempt and any wait between attempts. */
  abortSignal?: AbortSignal | undefined;
  /** Per-attempt time limit in milliseconds (the transport enforces it). */
  timeoutMs?: number | undefined;
}

/** A complete answer: the body has been read. */
export interface PipelineResponse {
  /** The request as sent (with its `Authorization` header). */
  request: PipelineRequest;
  status: number;
  /** The reason phrase (may be empty over HTTP/2). */
  statusText: string;
  headers: Headers;
  /** The whole body, as text. */
  bodyText: string;
}

/** The rest of the pipeline, as a policy sees it. */
export type SendRequest = (request: PipelineRequest) => Promise<PipelineResponse>;

/** A step of the pipeline: sees the request going out and the answer coming back. */
export interface PipelinePolicy {
  /** Unique within a pipeline. */
  readonly name: string;
  /** Handles a request: usually changes it, calls `next`, and looks at (or replaces) the answer. */
  sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse>;
}

/** Where an added policy runs: once per logical call (outside retries) or on every attempt. */
export type PolicyPosition = 'perCall' | 'perRetry';

/** A policy added to the client's pipeline, and where. */
export interface AddedPolicy {
  policy: PipelinePolicy;
  /** `perCall`: once per call, outside retries (sees the final answer); `perRetry`: on every attempt, after the token is set. */
  position: PolicyPosition;
}

/** Anything shaped like the global `fetch`. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Composes policies (outermost first) around a transport. */
export function composePipeline(policies: readonly PipelinePolicy[], transport: SendRequest): SendRequest {
  const names = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name)) throw new Error(`pipeline: two policies are named "${p.name}"`);
    names.add(p.name);
  }
  return policies.reduceRight<SendRequest>((next, policy) => (request) => policy.sendRequest(request, next), transport);
}

/** A failure to get any answer from the transport (connection refused, reset, DNS, TLS, per-attempt timeout). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly kind: 'network' | 'timeout',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
