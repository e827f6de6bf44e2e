/** Reading audit records: a date window (default the last 30 days, at most 90 days back), one filter, seek paging. */
import { invalidProperty } from '../errors.js';
import { badToken, decodeToken, encodeToken, isPageSize } from '../paging.js';
import { operationDate } from './records.js';
import type { AuditRecordRow } from '../store/records.js';
import type { Store } from '../store/store.js';

const DAY = 86_400_000;

export interface AuditFilter {
  field: 'CustomerId' | 'ResourceType' | 'CompanyName';
  value: string;
}

export interface AuditListOptions {
  startDate: string | undefined;
  endDate: string | undefined;
  filter: string | undefined;
  size: number;
  continuationToken: string | undefined;
}

export interface AuditPage {
  records: AuditRecordRow[];
  next: string | undefined;
}

/** Accepts `yyyy-mm-dd` and any date the platform parses (the .NET SDK sends `06/01/2017 00:00:00`). */
function parseDate(text: string, property: string, endOfDay: boolean): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const t = dateOnly ? Date.parse(`${text}T00:00:00Z`) : Date.parse(text);
  if (Number.isNaN(t)) throw invalidProperty({ property, rule: 'format', message: `${property} is not a date (use yyyy-mm-dd)` });
  const isMidnight = dateOnly || /^\D*\d{1,4}\D\d{1,2}\D\d{1,4}(\s+0?0:00(:00)?(\s*AM)?)?\s*$/i.test(text);
  return endOfDay && isMidnight ? t + DAY : t;
}

/** CamelCase or PascalCase resource types both name the wire value: `CustomerUser` → `customer_user`. */
const snake = (v: string): string => v.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

export function parseAuditFilter(text: string): AuditFilter {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalidProperty({ property: 'filter', rule: 'format', message: 'filter is not JSON' });
  }
  if (typeof v !== 'object' || v === null) throw invalidProperty({ property: 'filter', rule: 'format', message: 'filter must be a JSON object' });
  const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toLowerCase(), x as unknown]));
  const field = typeof o.field === 'string' ? o.field.toLowerCase() : '';
  const value = typeof o.value === 'string' ? o.value : undefined;
  const operator = typeof o.operator === 'string' ? o.operator.toLowerCase() : '';
  if (value === undefined) throw invalidProperty({ property: 'filter.Value', rule: 'required', message: 'filter needs a string Value' });
  if (value.includes('\u0000')) throw invalidProperty({ property: 'filter.Value', rule: 'characters', message: 'filter Value must not hold U+0000' });
  if (field === 'customerid' && operator === 'equals') return { field: 'CustomerId', value: value.toLowerCase() };
  if (field === 'resourcetype' && operator === 'equals') return { field: 'ResourceType', value: snake(value) };
  if (field === 'companyname' && operator === 'substring') return { field: 'CompanyName', value };
  throw invalidProperty({
    property: 'filter',
    rule: 'value',
    message: 'supported filters: CustomerId equals, ResourceType equals, CompanyName substring',
  });
}

/** Epoch milliseconds a Date can hold. */
const isInstant = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15;

const isAuditFilter = (v: unknown): v is AuditFilter =>
  typeof v === 'object' && v !== null && 'field' in v && 'value' in v && typeof v.value === 'string' &&
  (v.field === 'CustomerId' || v.field === 'ResourceType' || v.field === 'CompanyName');

export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async list(partnerId: string, opts: AuditListOptions): Promise<AuditPage> {
    let q: { from: number; to: number; filter: AuditFilter | undefined; size: number; after: number | undefined };
    if (opts.continuationToken !== undefined) {
      const t = decodeToken(opts.continuationToken);
      // Tokens are not signed: everything in one is checked like a query parameter would be.
      if (t.k !== 'audit' || !isInstant(t.from) || !isInstant(t.to) || !isPageSize(t.size) || typeof t.q !== 'number') {
        throw badToken();
      }
      const f = t.f ?? undefined;
      if (f !== undefined && !isAuditFilter(f)) throw badToken();
      q = { from: t.from, to: t.to, filter: f, size: t.size, after: t.q };
    } else {
      const now = this.now();
      const today = Math.floor(now / DAY) * DAY;
      const from = opts.startDate === undefined ? now - 30 * DAY : parseDate(opts.startDate, 'startDate', false);
      if (from < today - 90 * DAY) {
        throw invalidProperty({ property: 'startDate', rule: 'range', message: 'audit records are kept for 90 days; startDate may be at most 90 days back' });
      }
      const to = opts.endDate === undefined ? now + 1 : parseDate(opts.endDate, 'endDate', true);
      if (to <= from) throw invalidProperty({ property: 'endDate', rule: 'range', message: 'endDate must be after startDate' });
      const filter = opts.filter === undefined ? undefined : parseAuditFilter(opts.filter);
      q = { from, to, filter, size: opts.size, after: undefined };
    }
    const rows = await this.store.listAudit({
      partnerId,
      from: operationDate(q.from),
      to: operationDate(q.to),
      ...(q.filter?.field === 'CustomerId' ? { customerId: q.filter.value } : {}),
      ...(q.filter?.field === 'ResourceType' ? { resourceType: q.filter.value } : {}),
      ...(q.filter?.field === 'CompanyName' ? { companyNameContains: q.filter.value } : {}),
      afterSeq: q.after,
      limit: q.size + 1,
    });
    const page = rows.slice(0, q.size);
    const last = page[page.length - 1];
    return {
      records: page.map((r) => r.record),
      next: rows.length > q.size && last ? encodeToken({ k: 'audit', from: q.from, to: q.to, f: q.filter ?? null, size: q.size, q: last.seq }) : undefined,
    };
  }
}
