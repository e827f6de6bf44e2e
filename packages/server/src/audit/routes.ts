/** GET /auditrecords: App+User or App-only. */
import type { FastifyInstance } from 'fastify';
import { anyActor, sendJson } from '../http/pipeline.js';
import { collection, continuation, pageSize, readQuery } from '../http/query.js';
import { toWireAudit } from './records.js';
import type { AuditService } from './service.js';

export function auditRoutes(app: FastifyInstance, audit: AuditService): void {
  app.get('/auditrecords', { config: { auth: 'any' } }, async (req, reply) => {
    const q = readQuery(req);
    const size = pageSize(q);
    const page = await audit.list(anyActor(req).partnerId, {
      startDate: q.get('startdate'), endDate: q.get('enddate'), filter: q.get('filter'), size, continuationToken: continuation(req, q),
    });
    const self = new URLSearchParams();
    for (const k of ['startDate', 'endDate', 'filter']) {
      const v = q.get(k.toLowerCase());
      if (v !== undefined) self.set(k, v);
    }
    self.set('size', String(size));
    const next = page.next === undefined ? undefined : { uri: `/auditrecords?size=${String(size)}&seekOperation=Next`, token: page.next };
    return sendJson(reply, 200, collection(page.records.map(toWireAudit), `/auditrecords?${self.toString()}`, next));
  });
}
