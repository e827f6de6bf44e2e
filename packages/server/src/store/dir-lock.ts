/**
 * The SQLite data directory belongs to one process: group commit holds SQLite's write lock across turns of the
 * event loop, and MS-RequestId claims live in that process's memory (http/idempotency.ts). A second process on the
 * same directory is refused at start, with a message that says why; several instances need PostgreSQL.
 *
 * The lock is a file holding the owner's process id, created exclusively. A lock whose process no longer runs
 * (it was killed) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const LOCK_FILE = 'partnerkit.sqlite-lock';

const errno = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

function owner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export class DataDirInUseError extends Error {
  constructor(dir: string, pid: number) {
    super(
      pid === process.pid
        ? `the data directory ${dir} is already open in this process.`
        : `the data directory ${dir} is in use by another PartnerKit process (pid ${String(pid)}). ` +
          'Stop it, or give this one another --data-dir; several instances on one store need PostgreSQL (--database-url). ' +
          `If no PartnerKit process uses the directory, delete ${join(dir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** The directories this process holds (a lock file naming this process's pid may be older than it: see below). */
const held = new Set<string>();

/** Takes the data directory's lock; returns the function that gives it back. */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  const key = resolve(dir);
  if (held.has(key)) throw new DataDirInUseError(dir, process.pid);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if (errno(err) !== 'EEXIST' || attempt >= 2) throw err;
      const pid = owner(file);
      // A lock naming this process's own pid, which this process does not hold, was left by an earlier process
      // that had the same pid (a container restarted after a crash, where the server is pid 1 each time).
      if (pid !== undefined && pid !== process.pid && running(pid)) throw new DataDirInUseError(dir, pid);
      // Left by a process that died (or being written this instant: then the retry finds it complete).
      if (pid === undefined && attempt === 0) continue;
      try {
        unlinkSync(file);
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
      }
      continue;
    }
    try {
      writeSync(fd, `${String(process.pid)}\n`);
    } finally {
      closeSync(fd);
    }
    held.add(key);
    return () => {
      if (!held.delete(key)) return;
      try {
        if (owner(file) === process.pid) unlinkSync(file);
      } catch {
        // Gone already.
      }
    };
  }
}
