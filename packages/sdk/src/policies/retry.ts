/**
 * The retry policy. Retries, with the same request (so the same `MS-RequestId`, which makes Partner Center
 * treat the attempts as one call):
 * - network failures and per-attempt timeouts, 408 and 5xx (not 501/505): after exponential backoff, or
 *   after `Retry-After` when the answer carries one;
 * - 429 and 503 with `Retry-After` in any form (`retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After` in
 *   seconds or as an HTTP date, or the gateway's "Try again in N seconds."), waiting as asked.
 * Never retries 400, 401, 403, 404, 409 or any other 4xx. Waits are capped (`maxRetryDelayMs`): an answer
 * that asks for a longer wait is returned as it is, so the caller sees `retryAfterMs` and decides. Every wait
 * ends early when the call's `AbortSignal` aborts.
 */
import { TransportError, type PipelinePolicy, type PipelineResponse } from '../pipeline.js';
import type { Logger } from './log.js';
import { sleep } from '../util.js';

/** How failed attempts are retried. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** Base delay: retry n waits `retryDelayMs × (2^n − 1)`. Default 500 (0.5 s, 1.5 s, 3.5 s, as the .NET SDK). */
  retryDelayMs?: number;
  /** The longest wait before a retry, backoff or `Retry-After`. Default 60 000. */
  maxRetryDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { maxRetries: 3, retryDelayMs: 500, maxRetryDelayMs: 60_000 };

export function resolveRetryOptions(o: RetryOptions | undefined): Required<RetryOptions> {
  const r = { ...DEFAULT_RETRY };
  if (o?.maxRetries !== undefined) r.maxRetries = o.maxRetries;
  if (o?.retryDelayMs !== undefined) r.retryDelayMs = o.retryDelayMs;
  if (o?.maxRetryDelayMs !== undefined) r.maxRetryDelayMs = o.maxRetryDelayMs;
  if (!Number.isInteger(r.maxRetries) || r.maxRetries < 0 || r.maxRetries > 20) throw new RangeError('retry.maxRetries must be a whole number from 0 to 20');
  if (!Number.isFinite(r.retryDelayMs) || r.retryDelayMs < 0) throw new RangeError('retry.retryDelayMs must be a finite number ≥ 0');
  if (!Number.isFinite(r.maxRetryDelayMs) || r.maxRetryDelayMs < 0) throw new RangeError('retry.maxRetryDelayMs must be a finite number ≥ 0');
  return r;
}

/** The wait before retry `n` (1-based) by exponential backoff. */
export function backoffDelay(n: number, o: Required<RetryOptions>): number {
  return Math.min(o.maxRetryDelayMs, o.retryDelayMs * (2 ** n - 1));
}

/**
 * How long the headers ask to wait, in milliseconds: `retry-after-ms`, `x-ms-retry-after-ms`, then
 * `Retry-After` as seconds or as an HTTP date. Undefined when none is present and valid.
 */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = headers.get(name)?.trim();
    if (v !== undefined && /^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v));
  }
  const v = headers.get('retry-after')?.trim();
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  if (!/[a-z]/i.test(v)) return undefined; // an HTTP date names its day and month
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The wait an answer asks for: its headers, or for a 429 the gateway's "Try again in N seconds." message. */
export function retryAfterMs(res: Pick<PipelineResponse, 'status' | 'headers' | 'bodyText'>): number | undefined {
  const fromHeaders = parseRetryAfter(res.headers);
  if (fromHeaders !== undefined || res.status !== 429) return fromHeaders;
  const m = /try again in (\d+(?:\.\d+)?) seconds?/i.exec(res.bodyText);
  return m?.[1] === undefined ? undefined : Math.ceil(Number(m[1]) * 1000);
}

function retriableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

export function retryPolicy(options: RetryOptions | undefined, log?: Logger): PipelinePolicy {
  const o = resolveRetryOptions(options);
  return {
    name: 'retry',
    async sendRequest(request, next) {
      for (let attempt = 0; ; attempt++) {
        const retriesLeft = attempt < o.maxRetries;
        let res: PipelineResponse;
        try {
          res = await next(request);
        } catch (e) {
          if (request.abortSignal?.aborted || !(e instanceof TransportError) || !retriesLeft) throw e;
          const delay = backoffDelay(attempt + 1, o);
          log?.warn?.(`${request.method} ${shortUrl(request.url)}: ${e.message}; retry ${String(attempt + 1)} of ${String(o.maxRetries)} in ${String(delay)} ms`);
          await sleep(delay, request.abortSignal);
          continue;
        }
        if (!retriableStatus(res.status) || !retriesLeft) return res;
        const asked = retryAfterMs(res);
        // 429 without any hint: back off as for a server error.
        const delay = asked ?? backoffDelay(attempt + 1, o);
        if (delay > o.maxRetryDelayMs) return res;
        log?.warn?.(`${request.method} ${shortUrl(request.url)} answered ${String(res.status)}; retry ${String(attempt + 1)} of ${String(o.maxRetries)} in ${String(delay)} ms`);
        await sleep(delay, request.abortSignal);
      }
    },
  };
}

function shortUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
