/** The error-mapping policy: an answer outside 2xx, or no answer at all, becomes a `PartnerError`. */
import { errorFromResponse, PartnerError, redactRequest } from '../errors.js';
import { TransportError, type PipelinePolicy } from '../pipeline.js';
import { getHeader } from '../util.js';
import { retryAfterMs } from './retry.js';

export function errorMappingPolicy(): PipelinePolicy {
  return {
    name: 'errors',
    async sendRequest(request, next) {
      let res;
      try {
        res = await next(request);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        throw new PartnerError({
          status: 0,
          category: e.kind === 'timeout' ? 'Timeout' : 'NetworkError',
          description: e.message,
          requestId: getHeader(request.headers, 'MS-RequestId'),
          correlationId: getHeader(request.headers, 'MS-CorrelationId'),
          request: redactRequest(request),
          cause: e.cause,
        });
      }
      if (res.status >= 200 && res.status < 300) return res;
      throw errorFromResponse({
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
        bodyText: res.bodyText,
        request: res.request,
        retryAfterMs: retryAfterMs(res),
      });
    },
  };
}
