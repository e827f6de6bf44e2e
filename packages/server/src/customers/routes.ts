/** GET /customers and GET /customers/{id}: App+User or App-only. */
import { ObjectTypes, type Customer } from '@partnerkit/contract';
import type { FastifyInstance } from 'fastify';
import { anyActor, sendJson } from '../http/pipeline.js';
import { collection, continuation, pageSize, readQuery } from '../http/query.js';
import type { CustomerDomainRecord, CustomerRecord } from '../store/records.js';
import type { CustomerService } from './service.js';

function profile(c: CustomerRecord, withLinks: boolean): Customer['companyProfile'] {
  const p: Customer['companyProfile'] = { tenantId: c.id, domain: c.domain, companyName: c.companyName, attributes: { objectType: ObjectTypes.customerCompanyProfile } };
  if (withLinks) p.links = { self: { uri: `/customers/${c.id}/profiles/company`, method: 'GET', headers: [] } };
  return p;
}

/** A list item carries only id, companyProfile, relationshipToPartner and attributes. */
export const toWireCustomerItem = (c: CustomerRecord): Customer => ({
  id: c.id,
  companyProfile: profile(c, false),
  relationshipToPartner: c.relationshipToPartner,
  attributes: { objectType: ObjectTypes.customer },
});

export function toWireCustomer(c: CustomerRecord, domains: CustomerDomainRecord[]): Customer {
  return {
    id: c.id,
    commerceId: c.commerceId,
    companyProfile: profile(c, true),
    relationshipToPartner: c.relationshipToPartner,
    allowDelegatedAccess: c.allowDelegatedAccess,
    customDomains: domains.filter((d) => d.name !== c.domain).map((d) => d.name),
    links: { self: { uri: `/customers/${c.id}`, method: 'GET', headers: [] } },
    attributes: { objectType: ObjectTypes.customer },
  };
}

export function customerRoutes(app: FastifyInstance, customers: CustomerService): void {
  const config = { auth: 'any' as const };
  app.get('/customers', { config }, async (req, reply) => {
    const q = readQuery(req);
    const size = pageSize(q);
    const page = await customers.list(anyActor(req).partnerId, size, continuation(req, q), q.get('filter'));
    // Partner Center's customer links carry the /v1 prefix.
    const next = page.next === undefined ? undefined : { uri: `/v1/customers?size=${String(page.size)}&seekOperation=Next`, token: page.next };
    return sendJson(reply, 200, collection(page.customers.map(toWireCustomerItem), `/v1/customers?size=${String(page.size)}`, next));
  });
  app.get<{ Params: { customerId: string } }>('/customers/:customerId', { config }, async (req, reply) => {
    const { customer, domains } = await customers.get(anyActor(req).partnerId, req.params.customerId);
    return sendJson(reply, 200, toWireCustomer(customer, domains));
  });
}
