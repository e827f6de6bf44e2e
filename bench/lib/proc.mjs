/* global fetch, AbortSignal */
// Child processes of the benchmark: every one is started here, pinned to a core with taskset, registered, and
// killed when the harness ends, whatever the reason (normal end, error, Ctrl-C, SIGTERM).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** The core the targets run on, and the core of the load generator. */
export const SERVER_CORE = '0';
export const LOADGEN_CORE = '1';

const live = new Set();
const cleanups = [];

/** A task run (once) before the harness exits on a signal or an error: e.g. dropping a scratch database. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

function killNow(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every child still running (SIGKILL: used when the harness itself is going away). */
export function killAllNow() {
  for (const child of live) killNow(child, 'SIGKILL');
  live.clear();
}

let handlersInstalled = false;
/** Makes sure no child outlives the harness: on exit, on SIGINT/SIGTERM/SIGHUP and on an uncaught error. */
export function installExitHandlers(log) {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllNow);
  let leaving = false;
  const leave = async (code, why) => {
    if (leaving) return;
    leaving = true;
    log(`\n${why}: stopping every process the benchmark started`);
    killAllNow();
    // Bounded: each cleanup gets at most 5 s.
    for (const fn of cleanups.splice(0)) {
      await Promise.race([Promise.resolve().then(fn).catch(() => undefined), sleep(5000)]);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void leave(130, 'SIGINT'));
  process.on('SIGTERM', () => void leave(143, 'SIGTERM'));
  process.on('SIGHUP', () => void leave(129, 'SIGHUP'));
  process.on('uncaughtException', (err) => {
    log(`uncaught error: ${err.stack ?? String(err)}`);
    void leave(1, 'error');
  });
  process.on('unhandledRejection', (err) => {
    log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void leave(1, 'error');
  });
}

/** Runs the registered cleanups now (end of a normal run). */
export async function runCleanups() {
  for (const fn of cleanups.splice(0)) {
    await Promise.race([Promise.resolve().then(fn).catch(() => undefined), sleep(5000)]);
  }
}

/**
 * Starts `cmd args` pinned to `core` (taskset execs the command, so the pid is the command's own).
 * Returns a handle with its output so far, an `exited` promise and `stop()`.
 */
export function startPinned(core, cmd, args, opts = {}) {
  const child = spawn('taskset', ['-c', core, cmd, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const keep = (d) => {
    out += d.toString();
    // Bounded memory: a chatty child keeps only its last 256 KiB.
    if (out.length > 512 * 1024) out = out.slice(-256 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      live.delete(child);
      out += `\n${err.message}`;
      resolve({ code: -1, signal: null });
    });
  });
  const handle = {
    child,
    pid: child.pid,
    output: () => out,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
    async stop(graceMs = 5000) {
      if (!handle.running) return exited;
      killNow(child, 'SIGTERM');
      const r = await Promise.race([exited, sleep(graceMs).then(() => undefined)]);
      if (r !== undefined) return r;
      killNow(child, 'SIGKILL');
      return Promise.race([exited, sleep(5000).then(() => ({ code: null, signal: 'SIGKILL' }))]);
    },
  };
  return handle;
}

/** Waits until `re` matches the handle's output; fails when the process exits first or after `timeoutMs`. */
export async function waitForOutput(handle, re, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const m = re.exec(handle.output());
    if (m) return m;
    if (!handle.running) throw new Error(`exited (${describeExit(handle)}) before it was ready:\n${tail(handle.output())}`);
    await sleep(5);
  }
  throw new Error(`not ready within ${timeoutMs} ms:\n${tail(handle.output())}`);
}

function describeExit(handle) {
  const { exitCode, signalCode } = handle.child;
  return signalCode ? `signal ${signalCode}` : `code ${String(exitCode)}`;
}

export function tail(text, lines = 15) {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** GET `url` until it answers 200 (every 5 ms, at most `timeoutMs`); returns the milliseconds waited. */
export async function waitHealthy(url, handle, timeoutMs = 30_000) {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (handle && !handle.running) throw new Error(`exited before it was healthy:\n${tail(handle.output())}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    await sleep(5);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/**
 * Starts the Node script `file` (one of bench/servers/) pinned to the server core, waits for its listening line and
 * for GET /healthz 200. Returns { handle, baseUrl, startMs } (from spawn to the listening line's read).
 */
export async function startScript(file, args) {
  const handle = startPinned(SERVER_CORE, process.execPath, [file, ...args]);
  try {
    const t0 = performance.now();
    const m = await waitForOutput(handle, /listening on (\S+)/, 120_000);
    await waitHealthy(`${m[1]}/healthz`, handle, 10_000);
    return { handle, baseUrl: m[1], startMs: performance.now() - t0 };
  } catch (err) {
    await handle.stop(2000);
    throw err;
  }
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot pick their own and report it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A process and its descendants (from /proc/<pid>/task/<tid>/children), those still there. */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) walk(Number(c));
      }
    } catch {
      // gone meanwhile
    }
  };
  walk(pid);
  return out;
}

/**
 * Stops the processes `pids` and their descendants (SIGSTOP); returns the function that lets them go on (SIGCONT).
 * An idle target's own work (a JVM's threads, PartnerKit's purge at rest, a checkpoint) then takes nothing from the
 * core of the one measured.
 */
export function stopProcesses(pids) {
  const stopped = [];
  for (const p of pids.flatMap((q) => processTree(q))) {
    try {
      process.kill(p, 'SIGSTOP');
      stopped.push(p);
    } catch {
      // gone
    }
  }
  return () => {
    for (const p of stopped.splice(0)) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        // gone
      }
    }
  };
}

/** Runs `fn` with the processes `pids` stopped (`stopProcesses`), and lets them go on after it, also when it throws. */
export async function withStopped(pids, fn) {
  const resume = stopProcesses(pids);
  try {
    return await fn();
  } finally {
    resume();
  }
}

/** Resident memory of a process in bytes: current (VmRSS) and peak (VmHWM), with its descendants' added (`processTree`). */
export function memoryOf(pid) {
  let rss = 0;
  let hwm = 0;
  for (const p of processTree(pid)) {
    try {
      const s = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(s)?.[1] ?? 0) * 1024;
      hwm += Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return { rss, hwm };
}

/**
 * Bytes the process (all its threads) has had read from the storage layer (`read_bytes` of /proc/<pid>/io): reads
 * the page cache did not answer. Undefined when the file cannot be read.
 */
export function diskReadBytes(pid) {
  try {
    const m = /^read_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a command to completion and returns its output (for versions and setup steps). Bounded by `timeoutMs`. */
export function runSync(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, cwd: opts.cwd, stdio: opts.stdio ?? 'pipe' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/**
 * CPU time of every process now, in clock ticks (utime+stime of the process and of its reaped children), read
 * from /proc/<pid>/stat. Two snapshots tell how much CPU other processes used meanwhile.
 */
export function cpuSnapshot() {
  const snap = new Map();
  let names;
  try {
    names = readdirSync('/proc');
  } catch {
    return snap;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const f = s.slice(close + 2).split(' ');
      // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
      const ppid = Number(f[1]);
      const own = Number(f[11]) + Number(f[12]);
      const ticks = own + Number(f[13]) + Number(f[14]);
      // PostgreSQL's processes show what they serve in their title (backends: "user database host(port) …").
      const title = comm === 'postgres' ? readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() : undefined;
      snap.set(Number(name), { comm, ppid, ticks, own, title });
    } catch {
      // ended meanwhile
    }
  }
  return snap;
}

let clkTck;
function ticksPerSecond() {
  if (clkTck === undefined) clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return clkTck;
}

/**
 * Whether a process is part of the local PostgreSQL that a benchmark database uses: its auxiliary processes
 * (checkpointer, WAL writer, …) and the backends serving a database whose name starts with `prefix`, but not
 * backends serving other databases (another session's tests, say).
 */
export function isPostgresFor(info, prefix) {
  if (info.comm !== 'postgres') return false;
  const t = info.title ?? '';
  const backend = /\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]|\[[0-9a-f:]+\]\(\d+\)/.test(t);
  return !backend || t.includes(prefix);
}

/**
 * Seconds of CPU that processes other than the benchmark's own used between two snapshots. `ours(pid, info)`
 * names the benchmark's processes (the harness, the target and its children, a database server it uses);
 * kernel threads are left out (they mostly carry the benchmark's own loopback traffic).
 */
export function foreignCpuSeconds(before, after, ours) {
  return cpuSecondsOf(before, after, (pid, info) => !(pid === 2 || info.ppid === 2 || ours(pid, info)));
}

/**
 * Seconds of CPU used between two snapshots by the processes `which(pid, info)` names: with their reaped
 * children (`field` 'ticks'), or their own only ('own': e.g. so that PostgreSQL's postmaster does not bring in
 * the backends of other databases it reaped).
 */
export function cpuSecondsOf(before, after, which, field = 'ticks') {
  let ticks = 0;
  // A process that ended between the snapshots is left out: what it used since the first is unknown, and counting
  // it as 0 would subtract all it had used before (an idle pool's PostgreSQL backend closing during another
  // target's run once took a run's CPU below zero). One that started meanwhile counts whole.
  for (const [pid, info] of after) {
    if (!which(pid, info)) continue;
    ticks += info[field] - (before.get(pid)?.[field] ?? 0);
  }
  return Math.max(0, ticks) / ticksPerSecond();
}
