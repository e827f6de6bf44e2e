/**
 * Which (partner, MS-RequestId) pairs may have a stored answer, on a store one process owns (SQLite): this process
 * writes every answer there, so a pair it has not recorded has none, once the answers written before it started
 * have expired (`knownFrom`). From then on a PATCH with a new MS-RequestId skips the store's look-up, which costs a
 * read on the reader connection whose page cache every commit empties (about 19 µs of a 300 µs PATCH, measured).
 *
 * A Bloom filter per half replay window of the answers' creation times (three are alive at most): 512 KiB each,
 * four hashes. At 500,000 answers in 12 h about 2 % of new ids are "maybe" and are looked up as before; it never
 * says "no" for an id it was given. A filter that fills up only makes look-ups come back.
 */
const BITS = 1 << 22;
const MASK = BITS - 1;
const HASHES = 4;

/** Two 32-bit FNV-1a hashes of the string's UTF-16 code units, with different offsets. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  // The step must be odd so that the HASHES positions differ.
  return [a >>> 0, (b | 1) >>> 0];
}

export class RecordedRequestIds {
  private readonly span: number;
  /** Filters by generation: creation time / span. */
  private readonly generations = new Map<number, Uint32Array>();

  /**
   * The instant from which every unexpired answer was written by this process (the newest answer found in the
   * store, plus the window); before it, and until `knownFrom` is set, every id "may" have one.
   */
  private knownFrom = Number.POSITIVE_INFINITY;

  /** `windowMs`: how long an answer is replayed. */
  constructor(private readonly windowMs: number) {
    this.span = Math.ceil(windowMs / 2);
  }

  /**
   * Starts answering "no": `newestStored` is the creation time of the newest answer in the store (undefined: none),
   * read after this filter was created, so every answer since is either counted there or was given to `add`.
   */
  open(newestStored: number | undefined): void {
    this.knownFrom = newestStored === undefined ? 0 : newestStored + this.windowMs;
  }

  /** Notes that an answer for `key` was written at `createdAt`. */
  add(key: string, createdAt: number): void {
    const g = Math.floor(createdAt / this.span);
    let bits = this.generations.get(g);
    if (bits === undefined) {
      bits = new Uint32Array(BITS / 32);
      this.generations.set(g, bits);
    }
    const [h1, h2] = hashes(key);
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & MASK;
      bits[bit >>> 5] = (bits[bit >>> 5] ?? 0) | (1 << (bit & 31));
    }
  }

  /** False only when no unexpired answer for `key` can exist at `now`. */
  mayHave(key: string, now: number): boolean {
    if (now < this.knownFrom) return true;
    const oldest = Math.floor((now - this.windowMs) / this.span);
    let h: [number, number] | undefined;
    for (const [g, bits] of this.generations) {
      if (g < oldest) {
        this.generations.delete(g);
        continue;
      }
      h ??= hashes(key);
      let all = true;
      for (let i = 0; i < HASHES && all; i++) {
        const bit = (h[0] + Math.imul(i, h[1])) & MASK;
        all = ((bits[bit >>> 5] ?? 0) & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }
}
