/**
 * Checkpoints of the SQLite store: off the main thread once the store is written to in earnest.
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
 *
 * The worker starts only when a checkpoint first finds more than `mainThreadFrames` frames in the WAL. Until then
 * the checkpoints, just as often, run on the writer itself: half a millisecond for a few frames, 5 ms at most.
 * Starting a thread costs some 60–95 ms of CPU on a slow machine (a Node environment of its own), which a service
 * starting on one core would otherwise spend before it is healthy (the schema and the signing key of an empty
 * store are some 70 frames, the demo data set about 100), and a store written a little never needs the thread.
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
  /** Shortest time between two checkpoints (the worker's, or the writer's own before the worker starts). */
  intervalMs?: number;
  /**
   * Most frames a checkpoint on the writer itself may find in the WAL: the first that finds more starts the worker,
   * which does every checkpoint after it (0: the worker does every checkpoint).
   */
  mainThreadFrames?: number;
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
/**
 * 128 frames: half a MiB at SQLite's default page size. A PASSIVE checkpoint of a WAL that size took about 5 ms on
 * the writer (its copy and two syncs), of a few frames 0.6 ms (docs/performance.md, 2026-12-07): under light writing
 * the main thread spends at most that per `intervalMs`, and more writing starts the thread.
 */
export const MAIN_THREAD_FRAMES = 128;
/** SQLite's own automatic checkpoint threshold, in frames. */
const SQLITE_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  private worker: Worker | undefined;
  private readonly intervalMs: number;
  private readonly mainThreadFrames: number;
  private readonly workerData: CheckpointWorkerData;
  /** The writer's own checkpoint statement, until the worker starts. */
  private checkpointHere: BetterSqlite3.Statement | undefined;
  private inFlight = false;
  /** Batches committed since the last checkpoint was asked for. */
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Settles once the worker has exited (at once when it never started). */
  private exited: Promise<void> = Promise.resolve();
  /** Figures for tests and benchmarks (`onWriter`: the checkpoints the writer ran itself). */
  readonly stats = { checkpoints: 0, failures: 0, largestLog: 0, onWriter: 0 };

  constructor(
    private readonly writer: BetterSqlite3.Database,
    private readonly opts: CheckpointerOptions = {},
  ) {
    const restartFrames = opts.restartFrames ?? RESTART_FRAMES;
    this.intervalMs = opts.intervalMs ?? CHECKPOINT_INTERVAL_MS;
    this.mainThreadFrames = opts.mainThreadFrames ?? MAIN_THREAD_FRAMES;
    const synchronous = writer.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'NORMAL';
    const pageSize = Number(writer.pragma('page_size', { simple: true }));
    writer.pragma(`wal_autocheckpoint = ${String(restartFrames)}`);
    writer.pragma(`journal_size_limit = ${String(restartFrames * pageSize)}`);
    this.workerData = { file: writer.name, synchronous };
  }

  /** True once the worker was started (it may have stopped since): until then the writer checkpoints itself. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /**
   * A checkpoint on the writer, while the WAL is small: the same PASSIVE checkpoint the worker runs. One that finds
   * more than `mainThreadFrames` frames starts the worker for the next ones.
   */
  private checkpointOnWriter(): void {
    // Inside the writer's open batch a checkpoint cannot copy what the batch will add: the next commit asks again.
    if (this.writer.inTransaction) {
      this.dirty = true;
      return;
    }
    try {
      this.checkpointHere ??= this.writer.prepare('PRAGMA wal_checkpoint(PASSIVE)');
      const row = this.checkpointHere.get() as { busy: number; log: number; checkpointed: number };
      this.stats.onWriter++;
      this.noteCheckpoint({ ok: true, busy: row.busy !== 0, log: row.log, checkpointed: row.checkpointed });
      if (row.log > this.mainThreadFrames) this.start();
    } catch {
      // The writer hears of a failing disk through its own statements; the next commit asks again.
      this.stats.failures++;
    }
  }

  private noteCheckpoint(report: CheckpointReport): void {
    if (report.ok) {
      this.stats.checkpoints++;
      this.stats.largestLog = Math.max(this.stats.largestLog, report.log);
    } else {
      this.stats.failures++;
    }
  }

  private start(): Worker {
    const worker = new Worker(this.opts.workerUrl ?? new URL('./checkpoint-worker.js', import.meta.url), { workerData: this.workerData });
    this.worker = worker;
    // The worker never keeps the process alive; a closing store ends it (close()).
    worker.unref();
    worker.on('message', (report: CheckpointReport) => {
      this.inFlight = false;
      this.noteCheckpoint(report);
      if (this.dirty) this.schedule();
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        // A worker that stopped by itself (it could not start, or failed): the writer's automatic checkpoint does
        // the whole work again, at SQLite's default threshold.
        if (!this.stopped && this.writer.open) this.writer.pragma(`wal_autocheckpoint = ${String(SQLITE_AUTOCHECKPOINT)}`);
        this.stopped = true;
        this.inFlight = false;
        resolve();
      });
    });
    // An error ends the worker (its 'exit' follows); the writer goes on checkpointing by itself.
    worker.on('error', () => undefined);
    return worker;
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
      this.dirty = false;
      if (this.worker === undefined && this.mainThreadFrames > 0) {
        this.checkpointOnWriter();
        return;
      }
      this.inFlight = true;
      (this.worker ?? this.start()).postMessage('checkpoint' satisfies CheckpointRequest);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Ends the worker (before the writer closes, which checkpoints what is left). */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.stopped && this.worker !== undefined) {
      // Waiting for its exit keeps the process alive meanwhile.
      this.worker.ref();
      this.worker.postMessage('close' satisfies CheckpointRequest);
    }
    this.stopped = true;
    await this.exited;
  }
}
