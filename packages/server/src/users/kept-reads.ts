/**
 * Reads kept while the store's users version stays the same (`Store.usersVersion`: a store one process owns, where
 * the number moves on whenever a change of users commits). A kept value is shared by every request that finds it,
 * so it must not be changed.
 *
 * Read the version before reading the store, and keep what was read under that version: a change that commits in
 * between moves the version on, so what was read is never found by a later request even if it missed the change.
 */
export class KeptReads<V> {
  private version = -1;
  private readonly entries = new Map<string, V>();

  /** `max`: most values kept; when full, all are dropped (the hot ones come back with the next reads). */
  constructor(private readonly max: number) {}

  get(version: number, key: string): V | undefined {
    return version === this.version ? this.entries.get(key) : undefined;
  }

  set(version: number, key: string, value: V): void {
    // A read that began before a newer version was seen is not kept: it may miss that version's change.
    if (version < this.version) return;
    if (version > this.version || this.entries.size >= this.max) {
      this.entries.clear();
      this.version = version;
    }
    this.entries.set(key, value);
  }

  get size(): number {
    return this.entries.size;
  }
}
