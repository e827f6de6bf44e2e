import type { UserRecord } from './records.js';
import { textHash } from './replay-keys.js';

/** Most of the writer's users the SQLite store keeps (see `KeptUsers`): the ones changed often. */
export const MAX_WRITER_USERS = 1024;

/**
 * Users kept by id (lower case), frozen and shared (whoever gets one must not change it); past `max` ids, the id
 * kept first goes first. An id keeps its place while it is kept again or dropped (a drop leaves the place empty):
 * each PATCH drops its user and keeps it again, and a Map entry deleted and set anew would leave a hole in the
 * Map's table each time; a long-lived Map's table is in the old generation, and in V8 each table it outgrows keeps
 * the entries it held, users included, until the next full collection (docs/performance.md, "Garbage").
 * The SQLite store keeps two such sets: users read outside transactions, as committed (`Store.getUser`),
 * and the writer's users, below.
 *
 * The writer's users are the users as the SQLite store's writer connection has them: what a transaction would read
 * there, including the changes of transactions kept in the open batch but not yet committed (sqlite-driver.ts). A
 * change of a user reads the user first; when it finds the user here, that read is saved.
 *
 * Kept true this way (the store's transactions take turns on the writer, so nothing runs between these steps):
 * - a user is dropped before any write of it is sent (by a transaction or outside one);
 * - a transaction that read a user it had not written may keep what it read (that is the writer's state);
 * - once a transaction is kept in its batch, the users it wrote are set to the states it wrote, where it knows
 *   them, and stay dropped where it does not;
 * - when a batch is lost (its commit failed, or SQLite rolled it back), everything is dropped: what it held may
 *   include changes that are now undone.
 */
export class KeptUsers {
  /** By id, in the order the ids were first kept; `undefined` where the user was dropped. */
  private readonly users = new Map<string, UserRecord | undefined>();

  constructor(private readonly max = MAX_WRITER_USERS) {}

  get(id: string): UserRecord | undefined {
    return this.users.get(id);
  }

  set(id: string, user: UserRecord): void {
    if (!this.users.has(id) && this.users.size >= this.max) {
      const oldest = this.users.keys().next();
      if (oldest.done !== true) this.users.delete(oldest.value);
    }
    // Keyed by the user's own id where it is the same text: `id` often comes from the request's path, a slice of
    // its URL that would keep the whole URL alive with the entry (about 120 bytes a user, a fifth of what it takes).
    this.users.set(user.id === id ? user.id : id, Object.isFrozen(user) ? user : Object.freeze(user));
  }

  delete(id: string): void {
    if (this.users.has(id)) this.users.set(id, undefined);
  }

  clear(): void {
    this.users.clear();
  }
}

/** Slots of `RecentReads` by default (256 KiB). */
export const RECENT_READ_SLOTS = 1 << 16;

/**
 * The ids read lately, by hash: a slot per hash's low bits holds the hash of the id read last with those bits.
 * The store keeps a user it has read only on a second read while its slot still names it (`Store.getUser`). Where
 * reads come back to the same users (a customer of thousands), each is kept from its second read on; where they
 * spread over a million users, few are read twice before their slot is taken again, so the reads no longer fill
 * the kept users with users read once, each to be pushed out, old-generation garbage, by the next ones
 * (docs/performance.md, "Before and after").
 */
export class RecentReads {
  private readonly hashes: Uint32Array;
  private readonly mask: number;

  constructor(slots = RECENT_READ_SLOTS) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError('slots must be a power of two');
    this.hashes = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  /** Notes a read of `id`; true when it was read before and no other id has taken its slot since. */
  again(id: string): boolean {
    const h = textHash(id);
    const i = h & this.mask;
    if (this.hashes[i] === h) return true;
    this.hashes[i] = h;
    return false;
  }
}
