/** Customers of the caller's partner: lookup with the one answer for "absent" and "not yours", and listing. */
import { noRelationship } from '../errors.js';
import { badToken, decodeToken, encodeToken } from '../paging.js';
import type { CustomerDomainRecord, CustomerRecord } from '../store/records.js';
import type { Store, StoreTx } from '../store/store.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The customer, when it exists and belongs to the partner; else 403 20002 (the same answer for both). */
export async function requireCustomer(store: StoreTx, partnerId: string, customerId: string): Promise<CustomerRecord> {
  if (!GUID.test(customerId)) throw noRelationship();
  const customer = await store.getCustomer(customerId);
  if (customer?.partnerId !== partnerId) throw noRelationship();
  return customer;
}

export interface CustomerPage {
  customers: CustomerRecord[];
  next: string | undefined;
}

export class CustomerService {
  constructor(private readonly store: Store) {}

  async get(partnerId: string, customerId: string): Promise<{ customer: CustomerRecord; domains: CustomerDomainRecord[] }> {
    const customer = await requireCustomer(this.store, partnerId, customerId);
    return { customer, domains: await this.store.customerDomains(customer.id) };
  }

  async list(partnerId: string, size: number, token: string | undefined): Promise<CustomerPage> {
    let after: number | undefined;
    if (token !== undefined) {
      const t = decodeToken(token);
      if (t.k !== 'customers' || typeof t.q !== 'number') throw badToken();
      after = t.q;
    }
    const rows = await this.store.listCustomers(partnerId, after, size + 1);
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      customers: page.map((r) => r.customer),
      next: rows.length > size && last ? encodeToken({ k: 'customers', q: last.seq }) : undefined,
    };
  }
}
