/** Opaque continuation tokens for seek paging: base64url JSON, checked on the way back in. */
import { invalidInput, type PartnerKitError } from './errors.js';

export function encodeToken(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...value }), 'utf8').toString('base64url');
}

export const badToken = (): PartnerKitError =>
  invalidInput('The continuation token is not valid.', [{ header: 'MS-ContinuationToken' }]);

function plain(v: unknown, depth: number): boolean {
  if (typeof v === 'number') return Number.isSafeInteger(v);
  if (typeof v === 'string') return !v.includes('\u0000');
  if (typeof v !== 'object' || v === null) return true;
  return depth < 2 && Object.values(v).every((x) => plain(x, depth + 1));
}

export function decodeToken(token: string): Record<string, unknown> {
  try {
    if (!/^[A-Za-z0-9_-]{1,4096}$/.test(token)) throw new Error('shape');
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v) || (v as Record<string, unknown>).v !== 1) throw new Error('shape');
    // Tokens are not signed: every value in one is checked before it reaches a query. Positions, sizes and instants are
    // whole numbers a database column holds, and no text holds U+0000 (PostgreSQL cannot store or compare it).
    if (!plain(v, 0)) throw new Error('values');
    return v as Record<string, unknown>;
  } catch {
    throw badToken();
  }
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

/** A page size a token may carry: a whole number from 1 to the maximum. */
export const isPageSize = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_PAGE_SIZE;
