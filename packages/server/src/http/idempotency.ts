/**
 * MS-RequestId replay for POST, PATCH and DELETE: for 24 h a repeated (partner, MS-RequestId) with the same
 * request replays the stored answer without running the operation again; a different request with the same id
 * is refused (409 800004); a repeat that arrives while the first is running waits for it, on whichever instance
 * it arrives. The answer is written by the operation itself, inside its transaction (`record`).
 */
import { hash, randomUUID } from 'node:crypto';
import { PartnerKitError } from '../errors.js';
import type { IdempotencyRecord } from '../store/records.js';
import { IDEMPOTENCY_PENDING, type Store, type StoreTx } from '../store/store.js';

export const REPLAY_WINDOW_MS = 24 * 3_600_000;
/** A pending claim older than this is taken to belong to an instance that died: another request may take it over. */
export const STALE_CLAIM_MS = 60_000;
/** How often a repeat polls the store while another instance runs the first request. */
const POLL_MS = 20;
/** How long a repeat waits for the first request before giving up with 503 (the client may retry). */
const WAIT_MS = 30_000;

export interface IdempotencyTicket {
  partnerId: string;
  requestId: string;
  fingerprint: string;
  claimId: string;
  /**
   * Ends the claim once the request has been answered. Unless its answer was recorded (`record`) and committed
   * (`committed`: the request succeeded), the pending record is removed, so a repeat runs the request again.
   */
  release: (committed?: boolean) => Promise<void>;
}

export type IdempotencyOutcome = { replay: IdempotencyRecord } | { ticket: IdempotencyTicket };

/** The store queries the guard needs. */
export type IdempotencyStore = Pick<
  Store, 'sharedByProcesses' | 'claimIdempotency' | 'getIdempotency' | 'takeOverIdempotency' | 'releaseIdempotency' | 'purgeIdempotency'
>;

export function fingerprint(method: string, url: string, body: unknown): string {
  // crypto.hash, one call: half the cost of createHash().update().digest() on a short text (the same digest).
  return hash('sha256', `${method} ${url}\n${body === undefined ? '' : JSON.stringify(body)}`, 'base64url');
}

const reused = (): PartnerKitError =>
  new PartnerKitError('requestIdReused', 'The MS-RequestId was already used for a different request. Use a new MS-RequestId for each call.', {
    data: [{ header: 'MS-RequestId' }],
  });

/** The in-process key of a (partner, MS-RequestId) pair. */
const keyOf = (partnerId: string, requestId: string): string => `${partnerId}\n${requestId}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Within one process, a repeat waits in memory for the first request with its id. Across processes:
 * - On a store several instances share (PostgreSQL), the store is the source of truth: the first request with an
 *   id inserts a pending record (insert-if-absent) and owns the id; its operation's transaction turns that record
 *   into the answer; a failed operation removes it. A repeat finds the answer (replay), a different request (409),
 *   or a pending record with its own fingerprint: it polls until the answer is there or the record is gone (then
 *   it claims the id itself).
 * - On a store one process owns (SQLite, whose data directory is locked), the in-memory wait is the claim: a
 *   request looks for a committed answer, and its operation's transaction writes the answer (insert or replace).
 *   That saves a write and a commit per request. The store finds answers by key in memory there
 *   (store/replay-keys.ts), so a new id costs no read.
 */
export class IdempotencyGuard {
  private readonly inflight = new Map<string, Promise<void>>();
  /** A shared store's claims whose answer `record` wrote (their release keeps the record if the request succeeded). */
  private readonly recorded = new Set<string>();

  constructor(
    private readonly store: IdempotencyStore,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(partnerId: string, requestId: string, print: string): Promise<IdempotencyOutcome> {
    const key = keyOf(partnerId, requestId);
    for (let running = this.inflight.get(key); running; running = this.inflight.get(key)) await running;
    // Claim the id in this process before the first await below: a repeat arriving meanwhile waits for this one.
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    this.inflight.set(key, done);
    const finish = (): void => {
      if (this.inflight.get(key) === done) this.inflight.delete(key);
      resolveDone();
    };
    try {
      const outcome = this.store.sharedByProcesses ? await this.claim(partnerId, requestId, print) : await this.lookUp(partnerId, requestId, print);
      if ('replay' in outcome) {
        finish();
        return outcome;
      }
      const claimId = outcome.claimId;
      let released = false;
      const release = async (committed = false): Promise<void> => {
        if (released) return;
        released = true;
        const wasRecorded = this.recorded.delete(claimId);
        try {
          if (this.store.sharedByProcesses && !(committed && wasRecorded)) await this.store.releaseIdempotency(partnerId, requestId, claimId);
        } catch {
          // The store is unreachable: the pending record is taken over once it is stale (STALE_CLAIM_MS).
        } finally {
          finish();
        }
      };
      return { ticket: { partnerId, requestId, fingerprint: print, claimId, release } };
    } catch (err) {
      finish();
      throw err;
    }
  }

  /** One process owns the store: the stored answer, if any (a different request with the id is refused). */
  private async lookUp(partnerId: string, requestId: string, print: string): Promise<{ replay: IdempotencyRecord } | { claimId: string }> {
    const stored = await this.store.getIdempotency(partnerId, requestId);
    // A pending record (left by an older version that claimed in the store) or an expired answer is free to take.
    if (stored && stored.status !== IDEMPOTENCY_PENDING && stored.createdAt > this.now() - REPLAY_WINDOW_MS) {
      if (stored.fingerprint !== print) throw reused();
      return { replay: stored };
    }
    return { claimId: randomUUID() };
  }

  private async claim(partnerId: string, requestId: string, print: string): Promise<{ replay: IdempotencyRecord } | { claimId: string }> {
    const giveUpAt = performance.now() + WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && performance.now() > giveUpAt) {
        throw new PartnerKitError('unavailable', 'The first request with this MS-RequestId is still running. Try again later.', { retryAfterSeconds: 1 });
      }
      const claim = { partnerId, requestId, fingerprint: print, claimId: randomUUID(), createdAt: this.now() };
      if (await this.store.claimIdempotency(claim)) return { claimId: claim.claimId };
      const stored = await this.store.getIdempotency(partnerId, requestId);
      if (!stored) continue; // released meanwhile: claim it
      const now = this.now();
      const expired = stored.createdAt <= now - REPLAY_WINDOW_MS;
      const pending = stored.status === IDEMPOTENCY_PENDING;
      if (expired || (pending && stored.createdAt <= now - STALE_CLAIM_MS)) {
        if (await this.store.takeOverIdempotency(stored, claim)) return { claimId: claim.claimId };
        continue;
      }
      if (stored.fingerprint !== print) throw reused();
      if (!pending) return { replay: stored };
      await sleep(POLL_MS);
    }
  }

  /**
   * Turns the ticket's pending record into the answer; called inside the operation's transaction, so the answer
   * commits with the change. A claim that was taken over meanwhile (this instance was too slow) fails the
   * operation, which rolls back: the other request is the one that runs.
   */
  async record(tx: StoreTx, ticket: IdempotencyTicket, status: number, headers: Record<string, string>, body: string): Promise<void> {
    const { partnerId, requestId, fingerprint, claimId } = ticket;
    const createdAt = this.now();
    if (!this.store.sharedByProcesses) {
      // One literal, not `{ ...answer, fingerprint, claimId }`: in Node 20's V8 a literal that adds properties after
      // a spread gives each object a hidden class of its own once the code is warm, and every PATCH would leave one
      // in the old generation (docs/performance.md, "Garbage"). `recorded` matters only to a shared store's release.
      await tx.saveIdempotency({ partnerId, requestId, fingerprint, status, headers, body, createdAt, claimId });
      return;
    }
    const answer = { partnerId, requestId, status, headers, body, createdAt };
    await tx.completeIdempotency(ticket.claimId, answer, () =>
      new PartnerKitError('unavailable', 'The request took too long and another attempt with its MS-RequestId took over. Try again.', { retryAfterSeconds: 1 }));
    this.recorded.add(ticket.claimId);
  }

  async purgeExpired(): Promise<void> {
    await this.store.purgeIdempotency(this.now() - REPLAY_WINDOW_MS);
  }
}
