/** Query-string and paging helpers shared by the collection routes. Parameter names match without regard to case. */
import { ObjectTypes, type Collection, type Link } from '@partnerkit/contract';
import type { FastifyRequest } from 'fastify';
import { invalidProperty } from '../errors.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../paging.js';

export type Query = ReadonlyMap<string, string>;

export function readQuery(req: FastifyRequest): Query {
  const out = new Map<string, string>();
  const q: Record<string, unknown> = typeof req.query === 'object' && req.query !== null ? (req.query as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(q)) {
    const value: unknown = Array.isArray(v) ? (v as unknown[])[0] : v;
    if (typeof value === 'string') out.set(k.toLowerCase(), value);
  }
  return out;
}

/** `size`: absent or 0 means the default (100); at most 500. */
export function pageSize(q: Query): number {
  const raw = q.get('size');
  if (raw === undefined || raw === '') return DEFAULT_PAGE_SIZE;
  if (!/^\d{1,9}$/.test(raw)) throw invalidProperty({ property: 'size', rule: 'format', message: 'size must be a whole number' });
  const n = Number(raw);
  if (n === 0) return DEFAULT_PAGE_SIZE;
  if (n > MAX_PAGE_SIZE) throw invalidProperty({ property: 'size', rule: 'range', message: `size may be at most ${String(MAX_PAGE_SIZE)}` });
  return n;
}

/** The continuation token of a `seekOperation=Next` request (header or query), or undefined for a first page. */
export function continuation(req: FastifyRequest, q: Query): string | undefined {
  const headerValue = req.headers['ms-continuationtoken'];
  const header = (Array.isArray(headerValue) ? headerValue[0] : headerValue)?.trim();
  const token = header !== undefined && header !== '' ? header : q.get('continuationtoken')?.trim() || undefined;
  const seek = q.get('seekoperation')?.toLowerCase();
  if (seek === undefined || seek === 'next') {
    if (seek === 'next' && token === undefined) {
      throw invalidProperty({ property: 'MS-ContinuationToken', rule: 'required', message: 'seekOperation=Next needs the MS-ContinuationToken header from links.next' });
    }
    return token;
  }
  if (seek === 'first') return undefined;
  throw invalidProperty({ property: 'seekOperation', rule: 'value', message: 'supported seek operations: Next, First' });
}

export const link = (uri: string, headers: { key: string; value: string }[] = []): Link => ({ uri, method: 'GET', headers });

export function collection<T>(items: T[], self: string, next?: { uri: string; token: string }): Collection<T> {
  const out: Collection<T> = { totalCount: items.length, items, links: { self: link(self) }, attributes: { objectType: ObjectTypes.collection } };
  if (next && out.links) {
    out.links.next = link(next.uri, [{ key: 'MS-ContinuationToken', value: next.token }]);
    out.continuationToken = next.token;
  }
  return out;
}
