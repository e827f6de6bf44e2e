/**
 * Where the replay records of a store one process owns (SQLite) are found by their key, (partner, MS-RequestId):
 * in memory instead of in a SQLite index. The key is the client's random MS-RequestId, so in an index each new
 * record lands on a B-tree page of its own, which the batch's commit then writes to the WAL: measured, that index
 * was about half of SQLite's time per PATCH (docs/performance.md). Without it the replay table is appended in
 * order, and this table finds a record's row:
 *
 * - open addressing with linear probing, two typed arrays: a 32-bit hash of the key (0 marks a free slot) and the
 *   record's `seq` (its rowid); 8 bytes a slot, with more than one slot in eight and at most three in four used
 *   (11 bytes a record just before it doubles, 21 just after; up to 64 just before it halves);
 * - a hash names candidate rows only: the caller reads each by `seq` and compares the key itself, so a collision
 *   costs a read, never a wrong answer;
 * - removal shifts the probe chain back (no tombstones), and the table halves when seven slots in eight are free.
 *
 * The store keeps it exact: built from the table when the store opens, a record added once its insert has
 * committed, removed once its purge has, or when it is forgotten past the store's limit (`forgetSome`, `forgetBelow`:
 * its row is then still there, and no longer found).
 *
 * The idempotency guard (http/idempotency.ts) keeps a second one, of the requests under way in this process by the
 * same key's hash (every `seq` 0), for any store.
 */

import { randomInt } from 'node:crypto';

/** The fewest slots (8 KiB). */
const MIN_SLOTS = 1 << 10;
/** The largest `seq` a slot holds. */
export const MAX_REPLAY_SEQ = 0xffff_ffff;

/**
 * This process's own start for the hash. The hash is never stored (the table is built anew at each start), so it
 * may differ from one process to the next: MS-RequestIds a client picked to share one hash, and so one probe chain
 * (every look-up of them would read each one's row), share it only by chance.
 */
const BASIS = (0x811c9dc5 ^ randomInt(2 ** 32)) >>> 0;

/** FNV-1a over `text`, from `h`. */
function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** MurmurHash3's finaliser, so the low bits that pick a slot mix well; never 0 (0 marks a free slot). */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0 || 1;
}

/** The key's hash: FNV-1a over both texts, then MurmurHash3's finaliser. Never 0. */
export function replayKeyHash(partnerId: string, requestId: string): number {
  // A separator between the texts: ("ab", "c") and ("a", "bc") differ.
  return finish(fnv1a(Math.imul(fnv1a(BASIS, partnerId) ^ 0x0a, 0x01000193), requestId));
}

/** The same hash of one text (store/kept-users.ts). Never 0. */
export function textHash(text: string): number {
  return finish(fnv1a(BASIS, text));
}

export class ReplayKeys {
  private hashes = new Uint32Array(MIN_SLOTS);
  private seqs = new Uint32Array(MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private count = 0;
  private top = 0;

  /** How many records it holds. */
  get size(): number {
    return this.count;
  }

  /** The largest `seq` added so far (0 before any). */
  get newest(): number {
    return this.top;
  }

  /** Bytes of its two arrays. */
  get bytes(): number {
    return this.hashes.byteLength + this.seqs.byteLength;
  }

  /** Whether any record has this hash (finds nothing new: no array). */
  has(hash: number): boolean {
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const h = this.hashes[i] ?? 0;
      if (h === 0) return false;
      if (h === hash) return true;
    }
  }

  /** The `seq` of every record whose key has this hash: usually none, or the one sought. */
  find(hash: number): number[] {
    const found: number[] = [];
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const h = this.hashes[i] ?? 0;
      if (h === 0) return found;
      if (h === hash) found.push(this.seqs[i] ?? 0);
    }
  }

  /** Adds a record (its key must not be held yet; `seq` at most `MAX_REPLAY_SEQ`). */
  add(hash: number, seq: number): void {
    if (!(seq >= 0 && seq <= MAX_REPLAY_SEQ)) throw new RangeError(`replay record seq ${String(seq)} out of range`);
    if ((this.count + 1) * 4 > this.hashes.length * 3) this.resize(this.hashes.length * 2);
    this.place(hash, seq);
    this.count++;
    if (seq > this.top) this.top = seq;
  }

  /** Removes the record `seq` of this hash; false when it is not held. */
  remove(hash: number, seq: number): boolean {
    const mask = this.mask;
    let i = hash & mask;
    for (; ; i = (i + 1) & mask) {
      const h = this.hashes[i] ?? 0;
      if (h === 0) return false;
      if (h === hash && this.seqs[i] === seq) break;
    }
    this.removeAt(i);
    this.shrink();
    return true;
  }

  /** Removes every record whose `seq` is below `floor`; answers how many it removed. */
  forgetBelow(floor: number): number {
    // An entry that a removal shifts in from the start of the array (a chain that wraps) was looked at already and
    // is kept.
    const removed = this.forgetIn(floor, 0, this.seqs.length);
    this.shrink();
    return removed;
  }

  /** The slot `forgetSome` goes on from. */
  private cursor = 0;

  /**
   * Removes, from the next `slots` slots on (after where the last call stopped, wrapping around at the end), every
   * record whose `seq` is below `floor`: a share of `forgetBelow`'s pass, so that no caller waits for a whole one.
   * Answers how many it removed. A record that a removal moves back behind the share waits for the next round.
   */
  forgetSome(floor: number, slots: number): number {
    const end = Math.min(this.cursor + slots, this.seqs.length);
    const removed = this.forgetIn(floor, this.cursor, end);
    this.cursor = end === this.seqs.length ? 0 : end;
    return removed;
  }

  /** Removes the records whose `seq` is below `floor` from slots `from` to `to` (not included); answers how many. */
  private forgetIn(floor: number, from: number, to: number): number {
    const before = this.count;
    const { hashes, seqs } = this;
    for (let i = from; i < to; i++) {
      // A removal shifts a later entry of the chain into slot i, which is then looked at again. (A free slot's seq
      // is 0.)
      while ((seqs[i] ?? 0) < floor && hashes[i] !== 0) this.removeAt(i);
    }
    return before - this.count;
  }

  /** Removes the entry in slot `i`. */
  private removeAt(i: number): void {
    const mask = this.mask;
    // Backward shift: move each later entry of the chain whose home slot is not in (i, j] into the gap.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const h = this.hashes[j] ?? 0;
      if (h === 0) break;
      const home = h & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        this.hashes[i] = h;
        this.seqs[i] = this.seqs[j] ?? 0;
        i = j;
      }
    }
    this.hashes[i] = 0;
    this.seqs[i] = 0;
    this.count--;
  }

  /** Halves the table while seven slots in eight are free. */
  private shrink(): void {
    while (this.hashes.length > MIN_SLOTS && this.count * 8 < this.hashes.length) this.resize(this.hashes.length / 2);
  }

  private place(hash: number, seq: number): void {
    let i = hash & this.mask;
    while ((this.hashes[i] ?? 0) !== 0) i = (i + 1) & this.mask;
    this.hashes[i] = hash;
    this.seqs[i] = seq;
  }

  private resize(slots: number): void {
    const hashes = this.hashes;
    const seqs = this.seqs;
    this.hashes = new Uint32Array(slots);
    this.seqs = new Uint32Array(slots);
    this.mask = slots - 1;
    this.cursor = 0;
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i] ?? 0;
      if (h !== 0) this.place(h, seqs[i] ?? 0);
    }
  }
}
