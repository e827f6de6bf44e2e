// Versions of everything measured and notes on the machine, recorded with every run.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { runSync } from './proc.mjs';

const BENCH = new URL('../', import.meta.url).pathname;

function pkgVersion(dir, name) {
  const p = join(dir, 'node_modules', name, 'package.json');
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')).version : undefined;
}

function firstLine(s) {
  return s.trim().split('\n')[0] ?? '';
}

export function machineNotes() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const mhz = /cpu MHz\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim();
  const nproc = Number(runSync('nproc', []).stdout.trim()) || availableParallelism();
  const osRelease = existsSync('/etc/os-release') ? (/PRETTY_NAME="?([^"\n]+)"?/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '') : '';
  return {
    nproc,
    cpuModel: model,
    cpuMHz: mhz ? Number(mhz) : undefined,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os: osRelease,
  };
}

/** Versions of the tools and servers measured (each lookup is bounded; a missing one is left out). */
export function versions({ root, sqliteOf }) {
  const v = { node: process.version };
  const wrk = runSync('wrk', ['--version']);
  v.wrk = /wrk\s+(\S+)/.exec(wrk.stdout + wrk.stderr)?.[1];
  const java = runSync('java', ['-version']);
  v.java = firstLine(java.stderr || java.stdout) || undefined;
  v.wiremock = pkgVersion(BENCH, 'wiremock');
  v.prism = pkgVersion(BENCH, '@stoplight/prism-cli');
  v.pg = pkgVersion(BENCH, 'pg');
  v.betterSqlite3Bench = pkgVersion(BENCH, 'better-sqlite3');
  v.betterSqlite3Server = pkgVersion(root, 'better-sqlite3');
  v.fastify = pkgVersion(root, 'fastify');
  v.sqliteBench = sqliteOf(BENCH);
  v.sqliteServer = sqliteOf(root);
  const git = runSync('git', ['-C', root, 'rev-parse', 'HEAD']);
  v.commit = git.status === 0 ? git.stdout.trim() : undefined;
  const dirty = runSync('git', ['-C', root, 'status', '--porcelain', '--', 'packages']);
  v.serverTreeDirty = dirty.status === 0 ? dirty.stdout.trim() !== '' : undefined;
  return v;
}

/** SQLite's version as seen by the better-sqlite3 installed under `dir` (a child process: each copy has its own addon). */
export function sqliteVersionOf(dir) {
  const r = runSync(process.execPath, ['-e', "const D=require('better-sqlite3');process.stdout.write(new D(':memory:').prepare('select sqlite_version() v').all()[0].v)"], { cwd: dir, timeoutMs: 20_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
