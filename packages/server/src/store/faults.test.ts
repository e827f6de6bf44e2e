/**
 * Disk faults under the SQLite store (SQLite only: PostgreSQL's own disk is the database server's business, and
 * its outages are covered by the multi-instance tests). The data directory is a small tmpfs mounted for the test
 * (the tests run as root, where file modes do not stop writes): it is filled while the service runs, and mounted
 * read-only before a start. Skipped, saying why, where mounting is not permitted.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_IDS, SERVER_MAIN, sqliteIntegrity, startTestService, TEST_ENGINE, type TestService } from '../testing/harness.js';
import { isStoreUnavailable } from './errors.js';

const F = DEMO_IDS.fabrikam;
const userPath = `/v1/customers/${F.customerId}/users/${F.users.noah}`;

/** Mounts a tmpfs of `size` at a new directory; undefined (with the reason) when that is not permitted here. */
function mountTmpfs(size: string): { dir: string } | { reason: string } {
  const dir = mkdtempSync(join(tmpdir(), 'partnerkit-fault-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `cannot mount a tmpfs here (${(r.stderr || r.error?.message || 'mount failed').trim()}); needs root` };
  }
  return { dir };
}
function unmount(dir: string): void {
  spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
}

/** Writes a filler file until the file system is full. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024, 0x5a);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

const probe = TEST_ENGINE === 'sqlite' ? mountTmpfs('1m') : { reason: 'SQLite only' };
if ('dir' in probe) unmount(probe.dir);
const skip = 'reason' in probe ? probe.reason : false;

describe('SQLite store on a faulty disk', { skip }, () => {
  const mounts: string[] = [];
  const services: TestService[] = [];
  after(async () => {
    for (const s of services) await s.close().catch(() => undefined);
    for (const m of mounts) unmount(m);
  });
  const mount = (size: string): string => {
    const m = mountTmpfs(size);
    if ('reason' in m) throw new Error(m.reason);
    mounts.push(m.dir);
    return m.dir;
  };

  test('a full disk: writes answer 503 800005 with Retry-After, reads still 200, nothing half-written; writes work again once space is freed', async () => {
    const mnt = mount('4m');
    const dataDir = join(mnt, 'data');
    const s = await startTestService({ dataDir, engine: 'sqlite' });
    services.push(s);
    const token = await s.userToken();
    const patch = (displayName: string) => s.call<{ code?: number; displayName?: string; source?: string }>('PATCH', userPath, {
      token, body: { displayName }, headers: { 'MS-RequestId': randomUUID() },
    });
    assert.equal((await patch('Before The Disk Filled')).status, 200);

    const filler = join(mnt, 'filler');
    fill(filler);
    // Pages the WAL already holds may be reused for a few writes; one that needs new space fails.
    let refused: Awaited<ReturnType<typeof patch>> | undefined;
    let lastWritten = 'Before The Disk Filled';
    for (let i = 0; i < 200 && !refused; i++) {
      const r = await patch(`While Full ${String(i)} ${'x'.repeat(200)}`.slice(0, 256));
      if (r.status === 200) lastWritten = r.json.displayName ?? '';
      else refused = r;
    }
    assert.ok(refused, 'a write on the full disk is refused');
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.code, 800005);
    assert.equal(refused.json.source, 'PartnerFD');
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.ok(refused.headers.get('ms-requestid'));

    // Reads are served from what is stored: the refused change is not there.
    const read = await s.call<{ displayName: string }>('GET', userPath, { token });
    assert.equal(read.status, 200);
    assert.equal(read.json.displayName, lastWritten);
    assert.equal((await s.call('GET', '/healthz')).status, 200);
    const create = await s.call('POST', `/v1/customers/${F.customerId}/users`, {
      token, headers: { 'MS-RequestId': randomUUID() },
      body: { userPrincipalName: `full-${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Full Disk', passwordProfile: { password: 'Correct-Horse-42!' } },
    });
    assert.equal(create.status, 503, create.text);

    rmSync(filler);
    const again = await patch('After Space Was Freed');
    assert.equal(again.status, 200, again.text);
    assert.equal((await s.call<{ displayName: string }>('GET', userPath, { token })).json.displayName, 'After Space Was Freed');
    await s.close();
    services.splice(services.indexOf(s), 1);
    assert.equal(sqliteIntegrity(dataDir), 'ok');
  });

  test('a read-only data directory at start: the service refuses to start, says why, and leaves the database intact', async () => {
    const mnt = mount('8m');
    const dataDir = join(mnt, 'data');
    const s = await startTestService({ dataDir, engine: 'sqlite' });
    await s.close();
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const r = spawnSync(process.execPath, [SERVER_MAIN, '--port', '0', '--data-dir', dataDir, '--log-level', 'fatal'], { encoding: 'utf8', timeout: 15_000 });
    assert.notEqual(r.status, 0, `it must not start: ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /PartnerKit listening/);
    assert.match(r.stderr, /readonly|read-only|unable to open|cannot open/i);
    execFileSync('mount', ['-o', 'remount,rw', mnt]);
    assert.equal(sqliteIntegrity(dataDir), 'ok');
    const back = await startTestService({ dataDir, engine: 'sqlite' });
    services.push(back);
    const token = await back.userToken();
    assert.equal((await back.call('GET', userPath, { token })).status, 200);
  });
});

describe('SQLite errors that mean "cannot write now" are 503, not 500', () => {
  test('full disk, read-only, I/O errors, cannot open, busy after the timeout', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_READONLY_DIRECTORY', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE',
      'SQLITE_IOERR_FSYNC', 'SQLITE_IOERR_SHMMAP', 'SQLITE_CANTOPEN', 'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT']) {
      assert.equal(isStoreUnavailable(Object.assign(new Error('x'), { code })), true, code);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_CORRUPT', 'SQLITE_MISMATCH', 'SQLITE_FULLY']) {
      assert.equal(isStoreUnavailable(Object.assign(new Error('x'), { code })), false, code);
    }
  });
});
