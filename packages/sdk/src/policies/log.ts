/**
 * The log policy: one line per attempt (method, URL, status, time, ids) at `debug`, failures at `info`.
 * Header values outside an allow-list, query values outside an allow-list and every body are left out, so a
 * log never holds a token, a secret or a password. `console` is a valid logger.
 */
import type { PipelinePolicy } from '../pipeline.js';
import { redactUrl } from '../redact.js';
import { getHeader } from '../util.js';

/** Where the SDK writes its log lines; every method is optional. `console` fits. */
export interface Logger {
  /** Every attempt that got an answer below 400. */
  debug?(message: string): void;
  /** Attempts answered with an error, or with no answer. */
  info?(message: string): void;
  /** Retries: why and after how long. */
  warn?(message: string): void;
}

export function logPolicy(log: Logger): PipelinePolicy {
  return {
    name: 'log',
    async sendRequest(request, next) {
      const started = Date.now();
      const ids = `MS-RequestId=${getHeader(request.headers, 'MS-RequestId') ?? '-'} MS-CorrelationId=${getHeader(request.headers, 'MS-CorrelationId') ?? '-'}`;
      const line = `${request.method} ${redactUrl(request.url)}`;
      try {
        const res = await next(request);
        const msg = `${line} → ${String(res.status)} in ${String(Date.now() - started)} ms ${ids}`;
        if (res.status >= 400) log.info?.(msg);
        else log.debug?.(msg);
        return res;
      } catch (e) {
        log.info?.(`${line} → failed after ${String(Date.now() - started)} ms (${e instanceof Error ? e.message : String(e)}) ${ids}`);
        throw e;
      }
    },
  };
}
