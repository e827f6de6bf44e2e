/**
 * Read-mostly records (customers and the GDAP grants of a partner user on a customer) that every customer-scoped
 * request reads first, kept for a few seconds. They change only when seed data is loaded: this process's writes
 * empty the cache (when written, and again once their transaction has committed); another instance's writes on a
 * shared PostgreSQL database are seen within the time to live.
 */
export const REFERENCE_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export class ReferenceCache {
  private readonly entries = new Map<string, { expires: number; value: Promise<unknown> }>();

  constructor(
    private readonly ttlMs: number = REFERENCE_TTL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The cached value of `key`, or `load()`'s (cached unless it fails). Callers must not change what they get. */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expires > now) return hit.value as Promise<T>;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const value = load();
    const entry = { expires: now + this.ttlMs, value };
    this.entries.set(key, entry);
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
