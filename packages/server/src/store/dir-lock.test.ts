/** The SQLite data directory belongs to one process: a second one is refused with a clear message. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnServer, suiteTempDir } from '../testing/harness.js';
import { DataDirInUseError, LOCK_FILE } from './dir-lock.js';
import { openSqliteStore } from './sqlite.js';

const root = suiteTempDir('pk-lock-');

test('a second store on an open data directory is refused; once the first is closed, it opens', async () => {
  const dir = join(root(), 'same-process');
  const first = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  try {
    await assert.rejects(openSqliteStore({ dataDir: dir, synchronous: 'normal' }), (err: unknown) => {
      assert.ok(err instanceof DataDirInUseError);
      assert.match(err.message, /already open in this process/);
      return true;
    });
  } finally {
    await first.close();
  }
  assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'the lock is given back on close');
  const again = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  await again.close();
});

test('a lock left by a process that no longer runs is taken over', async () => {
  const dir = join(root(), 'stale');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  assert.ok(deadPid > 0);
  const store0 = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  await store0.close();
  writeFileSync(join(dir, LOCK_FILE), `${String(deadPid)}\n`);
  const store = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  await store.close();
});

test('a lock naming this process\'s own pid, left by an earlier process with the same pid, is taken over', async () => {
  const dir = join(root(), 'same-pid');
  const store0 = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  await store0.close();
  // As after a container restart: the crashed server was pid 1, and so is the new one.
  writeFileSync(join(dir, LOCK_FILE), `${String(process.pid)}\n`);
  const store = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  await store.close();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});

test('a second partnerkit-server on a running one\'s data directory exits with a message naming the owner', async () => {
  const dir = join(root(), 'servers');
  const first = await spawnServer(['--port', '0', '--data-dir', dir, '--log-level', 'warn']);
  try {
    const second = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'main.js'), '--port', '0', '--data-dir', dir], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`could not start: the data directory .* is in use by another PartnerKit process \\(pid ${String(first.proc.pid)}\\)`));
    assert.match(second.stderr, /If no PartnerKit process uses the directory, delete .*partnerkit\.sqlite-lock/);
    // The first goes on serving.
    assert.equal((await fetch(`${first.baseUrl}/healthz`)).status, 200);
  } finally {
    first.proc.kill('SIGTERM');
    await first.exited;
  }
  assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'a server stopped by SIGTERM gives the lock back');
});
