/** The caller's customer and effective GDAP roles on it: the first step of every customer-scoped operation. */
import type { Actor } from '../actor.js';
import { requireCustomer } from '../customers/service.js';
import type { CustomerRecord } from '../store/records.js';
import type { StoreTx } from '../store/store.js';
import { effectiveRolesAt } from './gdap.js';

export interface CustomerAccess {
  customer: CustomerRecord;
  /** Effective role template ids (empty for app-only callers); shared between requests, read-only. */
  roles: ReadonlySet<string>;
}

export async function customerAccess(tx: StoreTx, actor: Actor, customerId: string, now: number): Promise<CustomerAccess> {
  const customer = await requireCustomer(tx, actor.partnerId, customerId);
  const grants = actor.userId === undefined ? [] : await tx.gdapGrants(actor.partnerId, customer.id, actor.userId);
  return { customer, roles: effectiveRolesAt(grants, now) };
}
