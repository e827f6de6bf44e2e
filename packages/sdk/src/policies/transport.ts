/** The transport at the end of the pipeline: one `fetch`, its body read in full, failures made explicit. */
import { TransportError, type FetchLike, type SendRequest } from '../pipeline.js';
import { abortReason, timeoutSignal } from '../util.js';

/** The global `fetch`, looked up at call time and called with the right `this` (browsers require it). */
export const globalFetch: FetchLike = (url, init) => globalThis.fetch(url, init);

export function fetchTransport(fetchImpl: FetchLike): SendRequest {
  return async (request) => {
    if (request.abortSignal?.aborted) throw abortReason(request.abortSignal);
    const t = timeoutSignal(request.abortSignal, request.timeoutMs);
    try {
      const init: RequestInit = { method: request.method, headers: request.headers };
      if (request.body !== undefined) init.body = request.body;
      if (t.signal) init.signal = t.signal;
      const res = await fetchImpl(request.url, init);
      const bodyText = await res.text();
      return { request, status: res.status, statusText: res.statusText, headers: res.headers, bodyText };
    } catch (e) {
      if (request.abortSignal?.aborted) throw abortReason(request.abortSignal);
      if (t.timedOut()) throw new TransportError('timeout', `no response within ${String(request.timeoutMs)} ms`, { cause: e });
      const detail = e instanceof Error ? describe(e) : String(e);
      throw new TransportError('network', `the request could not be sent: ${detail}`, { cause: e });
    } finally {
      t.dispose();
    }
  };
}

/** `fetch failed (ECONNREFUSED)` rather than only `fetch failed`: Node puts the reason in `cause`. */
function describe(e: Error): string {
  const cause = e.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${e.message} (${typeof code === 'string' ? code : cause.message})`;
  }
  return e.message;
}
