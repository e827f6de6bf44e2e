/** Customers of the caller's partner: lookup with the one answer for "absent" and "not yours", and listing. */
import { invalidProperty, noRelationship } from '../errors.js';
import { badToken, decodeToken, encodeToken, isPageSize } from '../paging.js';
import type { CustomerDomainRecord, CustomerFilter, CustomerRecord } from '../store/records.js';
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
  /** The page size used (a continuation token carries its own). */
  size: number;
}

export class CustomerService {
  constructor(private readonly store: Store) {}

  async get(partnerId: string, customerId: string): Promise<{ customer: CustomerRecord; domains: CustomerDomainRecord[] }> {
    const customer = await requireCustomer(this.store, partnerId, customerId);
    return { customer, domains: await this.store.customerDomains(customer.id) };
  }

  async list(partnerId: string, size: number, token: string | undefined, filterText: string | undefined): Promise<CustomerPage> {
    let after: number | undefined;
    let filter = filterText === undefined || filterText === '' ? undefined : parseCustomerFilter(filterText);
    if (token !== undefined) {
      const t = decodeToken(token);
      if (t.k !== 'customers' || typeof t.q !== 'number' || !isPageSize(t.size)) throw badToken();
      after = t.q;
      size = t.size;
      filter = isCustomerFilter(t.f) ? t.f : undefined;
    }
    const rows = await this.store.listCustomers(partnerId, after, size + 1, filter);
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      customers: page.map((r) => r.customer),
      next: rows.length > size && last ? encodeToken({ k: 'customers', q: last.seq, size, f: filter ?? null }) : undefined,
      size,
    };
  }
}

const isCustomerFilter = (v: unknown): v is CustomerFilter =>
  typeof v === 'object' && v !== null && 'field' in v && 'operator' in v && 'value' in v &&
  (v.field === 'companyName' || v.field === 'domain') && (v.operator === 'equals' || v.operator === 'startsWith') && typeof v.value === 'string';

/** `{"Field":"CompanyName"|"Domain","Value":…,"Operator":"starts_with"|"equals"}`, names and values without regard to case. */
export function parseCustomerFilter(text: string): CustomerFilter {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalidProperty({ property: 'filter', rule: 'format', message: 'filter is not JSON' });
  }
  const o = typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toLowerCase(), x as unknown])) : {};
  const field = typeof o.field === 'string' ? o.field.toLowerCase() : '';
  const operator = typeof o.operator === 'string' ? o.operator.toLowerCase() : '';
  if (typeof o.value !== 'string' || o.value === '') throw invalidProperty({ property: 'filter.Value', rule: 'required', message: 'filter needs a non-empty string Value' });
  if (o.value.includes('\u0000')) throw invalidProperty({ property: 'filter.Value', rule: 'characters', message: 'filter Value must not hold U+0000' });
  if (field !== 'companyname' && field !== 'domain') {
    throw invalidProperty({ property: 'filter.Field', rule: 'value', message: 'customers can be filtered by CompanyName or Domain' });
  }
  if (operator !== 'starts_with' && operator !== 'equals') {
    throw invalidProperty({ property: 'filter.Operator', rule: 'value', message: 'Customer search only allows starts with and equals operation.' });
  }
  return { field: field === 'companyname' ? 'companyName' : 'domain', operator: operator === 'equals' ? 'equals' : 'startsWith', value: o.value };
}
