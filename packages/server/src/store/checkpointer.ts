/**
 * Checkpoints of the SQLite store, off the main thread.
 *
 * In WAL mode every commit appends pages to the WAL, and a checkpoint copies them back into the database file and
 * syncs it. SQLite's automatic checkpoint runs on the connection that committed, right after its commit: on the
 * main thread, which serves no request meanwhile (tens of milliseconds for a few MiB, most of it waiting for the
 * disk), and every request of the next batches waits behind it.
 *
 * Here a worker thread with its own connection runs a PASSIVE checkpoint (it never blocks the writer or readers)
 * whenever batches have committed since its last one, at most every `intervalMs`. The writer keeps SQLite's
 * automatic checkpoint, at `restartFrames` frames instead of 1,000: by then the worker has copied nearly all of
 * the WAL, so the writer's checkpoint copies only the last few batches, and it lets SQLite start the WAL over
 * from its beginning (which needs the whole WAL copied while no transaction is open: only the writer sees that
 * moment). So the WAL stays bounded (`journal_size_limit` trims the file back after a restart), and if the worker
 * stops, the writer's automatic checkpoint does the whole work as before.
 */
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

export type CheckpointRequest = 'checkpoint' | 'close';
export type CheckpointReport = { ok: true; busy: boolean; log: number; checkpointed: number } | { ok: false; code: string };
export interface CheckpointWorkerData {
  file: string;
  synchronous: 'NORMAL' | 'FULL';
}

export interface CheckpointerOptions {
  /** Frames (pages) in the WAL at which the writer checkpoints and the WAL starts over. */
  restartFrames?: number;
  /** Shortest time between two of the worker's checkpoints. */
  intervalMs?: number;
  /** The worker's module (tests give one that cannot start). */
  workerUrl?: URL;
}

/**
 * 16,384 frames: 64 MiB of WAL at SQLite's default page size. The writer's checkpoint at this size is the one
 * sync the main thread waits for; at 4,096 frames it came four times as often, and random users' PATCHes on the
 * 1 M-user store ran 3–11 % slower (docs/performance.md, 2026-12-06). A start after `kill -9` reads the WAL back:
 * 60 ms or so more at this size.
 */
export const RESTART_FRAMES = 16_384;
export const CHECKPOINT_INTERVAL_MS = 100;
/** SQLite's own automatic checkpoint threshold, in frames. */
const SQLITE_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly intervalMs: number;
  private inFlight = false;
  /** Batches committed since the last checkpoint was asked for. */
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly exited: Promise<void>;
  /** Figures for tests and benchmarks. */
  readonly stats = { checkpoints: 0, failures: 0, largestLog: 0 };

  constructor(writer: BetterSqlite3.Database, opts: CheckpointerOptions = {}) {
    const restartFrames = opts.restartFrames ?? RESTART_FRAMES;
    this.intervalMs = opts.intervalMs ?? CHECKPOINT_INTERVAL_MS;
    const synchronous = writer.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'NORMAL';
    const pageSize = Number(writer.pragma('page_size', { simple: true }));
    writer.pragma(`wal_autocheckpoint = ${String(restartFrames)}`);
    writer.pragma(`journal_size_limit = ${String(restartFrames * pageSize)}`);
    const data: CheckpointWorkerData = { file: writer.name, synchronous };
    this.worker = new Worker(opts.workerUrl ?? new URL('./checkpoint-worker.js', import.meta.url), { workerData: data });
    // The worker never keeps the process alive; a closing store ends it (close()).
    this.worker.unref();
    this.worker.on('message', (report: CheckpointReport) => {
      this.inFlight = false;
      if (report.ok) {
        this.stats.checkpoints++;
        this.stats.largestLog = Math.max(this.stats.largestLog, report.log);
      } else {
        this.stats.failures++;
      }
      if (this.dirty) this.schedule();
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => {
        // A worker that stopped by itself (it could not start, or failed): the writer's automatic checkpoint does
        // the whole work again, at SQLite's default threshold.
        if (!this.stopped && writer.open) writer.pragma(`wal_autocheckpoint = ${String(SQLITE_AUTOCHECKPOINT)}`);
        this.stopped = true;
        this.inFlight = false;
        resolve();
      });
    });
    // An error ends the worker (its 'exit' follows); the writer goes on checkpointing by itself.
    this.worker.on('error', () => undefined);
  }

  /** True while a checkpoint is due or running. */
  get busy(): boolean {
    return !this.stopped && (this.inFlight || this.dirty || this.timer !== undefined);
  }

  /** Called after each commit of the writer. */
  committed(): void {
    this.dirty = true;
    if (!this.inFlight) this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight || this.stopped) return;
      this.inFlight = true;
      this.dirty = false;
      this.worker.postMessage('checkpoint' satisfies CheckpointRequest);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Ends the worker (before the writer closes, which checkpoints what is left). */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.stopped) {
      // Waiting for its exit keeps the process alive meanwhile.
      this.worker.ref();
      this.worker.postMessage('close' satisfies CheckpointRequest);
    }
    this.stopped = true;
    await this.exited;
  }
}
