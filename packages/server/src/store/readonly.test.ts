/**
 * The data directory turns read-only while the service runs (SQLite only). The data directory is on a small ext4
 * file system in an image file on a loop device, mounted with `errors=remount-ro`; the fault is ext4's own error
 * path, `ext4_error()`, reached through `/sys/fs/ext4/<device>/trigger_fs_error`: the kernel aborts the journal
 * and makes the file system read-only under the running service, exactly as when ext4 meets a failing disk or
 * corrupt metadata. (A plain `mount -o remount,ro` is refused with `EBUSY` while the service holds its files open
 * for writing.) Then the file system is recovered as an operator would: unmounted, `e2fsck -fy`, mounted again.
 *
 * Needs root, a loop device, ext4 and util-linux / e2fsprogs (`losetup`, `mount`, `mkfs.ext4`, `e2fsck`): where
 * one is missing the test fails and says which (it is not skipped). Every mount and loop device is released at
 * the end, pass or fail. Run: `npx tsc -b && node --test packages/server/dist/store/readonly.test.js`.
 */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  assertFault, type CallResult, demoAgentToken, DEMO, DEMO_IDS, httpCall, spawnServer, sqliteIntegrity, TEST_ENGINE, type ServerProcess,
} from '../testing/harness.js';
import { SQLITE_FILE } from './sqlite.js';

const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
/** The longest wait for any answer: a slower one fails the test as a hang. */
const ANSWER_MS = 10_000;
const WORKERS = 4;

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Throws, naming what is missing, unless this machine can make the fault. */
function requireLoopExt4(): void {
  if (process.getuid?.() !== 0) throw new Error('readonly.test needs root (it mounts a loop device); run the tests as root');
  for (const [cmd, pkg] of [['losetup', 'mount'], ['mount', 'mount'], ['umount', 'mount'], ['mkfs.ext4', 'e2fsprogs'], ['e2fsck', 'e2fsprogs']] as const) {
    const r = spawnSync(cmd, ['-V'], { stdio: 'ignore' });
    if (r.error) throw new Error(`readonly.test needs ${cmd} (Debian package ${pkg}): ${r.error.message}`);
  }
  if (!readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim() === 'ext4')) throw new Error('readonly.test needs ext4 in the kernel');
  // Containers with a static /dev may lack the loop control node; it is a fixed character device.
  if (!existsSync('/dev/loop-control')) {
    const r = spawnSync('mknod', ['/dev/loop-control', 'c', '10', '237'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`readonly.test needs /dev/loop-control (loop devices); mknod failed: ${r.stderr.trim()}`);
  }
}

/** A 64 MiB ext4 file system on a loop device, mounted with `errors=remount-ro`. */
class Ext4Disk {
  readonly root = mkdtempSync(join(tmpdir(), 'partnerkit-ro-'));
  readonly image = join(this.root, 'disk.img');
  readonly dir = join(this.root, 'mnt');
  device: string | undefined;
  mounted = false;

  /** Made after the disk is registered for release, so that a failure half-way leaves nothing behind. */
  create(): void {
    writeFileSync(this.image, '');
    run('truncate', ['-s', '64M', this.image]);
    run('mkfs.ext4', ['-q', '-F', this.image]);
    mkdirSync(this.dir);
    this.device = run('losetup', ['--find', '--show', this.image]);
    this.mount();
  }

  mount(): void {
    run('mount', ['-t', 'ext4', '-o', 'errors=remount-ro', this.device ?? '', this.dir]);
    this.mounted = true;
  }

  /** ext4's error path: the journal is aborted and the file system is read-only from now on. */
  fault(): void {
    const trigger = `/sys/fs/ext4/${basename(this.device ?? '')}/trigger_fs_error`;
    if (!existsSync(trigger)) throw new Error(`readonly.test needs ${trigger} (ext4 in Linux 5.14 or newer)`);
    writeFileSync(trigger, 'partnerkit readonly.test');
    const probe = join(this.dir, `probe-${randomUUID()}`);
    assert.throws(() => {
      writeFileSync(probe, 'x');
    }, (err: NodeJS.ErrnoException) => err.code === 'EROFS' || err.code === 'EIO', 'the file system refuses writes after the fault');
  }

  /** What an operator does: unmount, repair, mount again (read-write). */
  recover(): void {
    run('umount', [this.dir]);
    this.mounted = false;
    const fsck = spawnSync('e2fsck', ['-f', '-y', this.device ?? ''], { encoding: 'utf8' });
    // 0: clean; 1: errors corrected (the error flag the fault left in the superblock).
    assert.ok(fsck.status === 0 || fsck.status === 1, `e2fsck exit ${String(fsck.status)}: ${fsck.stdout}${fsck.stderr}`);
    this.mount();
  }

  /** Releases everything, whatever state the test left: the mount (lazily if it is still busy), the loop device, the files. */
  release(): void {
    if (this.mounted && spawnSync('umount', [this.dir]).status !== 0) spawnSync('umount', ['-l', this.dir]);
    this.mounted = false;
    if (this.device !== undefined) spawnSync('losetup', ['-d', this.device]);
    this.device = undefined;
    rmSync(this.root, { recursive: true, force: true });
  }
}

interface Worker {
  id: string;
  /** Display names the service acknowledged (200), in order. */
  acked: string[];
  /** How many of them were acknowledged before the fault began. */
  ackedBefore: number;
  /** The first change refused after the last acknowledged one: it was in flight when the fault came. */
  inFlight: string | undefined;
  refused: number;
}

/** Each acknowledged display name of each worker's user, with its audit record, read from a SQLite file beside the service. */
function readStored(dataDir: string, workers: readonly Worker[]): { names: Map<string, string>; audited: Map<string, Set<string>> } {
  const db = new BetterSqlite3(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
  try {
    const ids = workers.map((w) => w.id);
    const marks = ids.map(() => '?').join(', ');
    const users = db.prepare(`select id, display_name from users where id in (${marks})`).all(...ids) as { id: string; display_name: string }[];
    const audits = db.prepare("select new_value from audit_records where resource_type = 'customer_user' and new_value is not null").all() as { new_value: string }[];
    const audited = new Map<string, Set<string>>();
    for (const a of audits) {
      const v = JSON.parse(a.new_value) as { Id?: string; DisplayName?: string };
      if (v.Id === undefined || v.DisplayName === undefined) continue;
      const id = v.Id.toLowerCase();
      audited.set(id, (audited.get(id) ?? new Set<string>()).add(v.DisplayName));
    }
    return { names: new Map(users.map((u) => [u.id.toLowerCase(), u.display_name])), audited };
  } finally {
    db.close();
  }
}

/**
 * On the disk, a worker's user is in the last state acknowledged before the fault began, or in a later one: one
 * acknowledged while the fault was being made, or the change refused when it was in flight. A commit whose sync
 * overlaps the moment ext4 aborts its journal may be reported synced and still not reach the disk (seen with SQLite
 * alone: `fsync` returned 0 while the fault was made, and the commit was gone after the repair); one refused may
 * have reached it before the sync that failed.
 */
function assertDurable(w: Worker, actual: string | undefined, where: string): void {
  const allowed = [...w.acked.slice(Math.max(0, w.ackedBefore - 1)), ...(w.inFlight === undefined ? [] : [w.inFlight])];
  assert.ok(actual !== undefined && allowed.includes(actual),
    `${where}: user ${w.id} is "${String(actual)}"; last acknowledged before the fault "${String(w.acked[w.ackedBefore - 1])}", then ${JSON.stringify(allowed.slice(1))}`);
}

/**
 * The database is intact; each worker's user is in its last state acknowledged before the fault (or a later one,
 * `assertDurable`) and every change acknowledged before the fault has its audit record. `before`: only those
 * acknowledged before the fault must be there (on the disk after the repair); otherwise every acknowledged one, in
 * the state last acknowledged (the files as the service saw them).
 */
function assertAcknowledgedPresent(dataDir: string, workers: readonly Worker[], where: string, before: boolean): void {
  assert.equal(sqliteIntegrity(dataDir), 'ok', `${where}: PRAGMA integrity_check`);
  const { names, audited } = readStored(dataDir, workers);
  for (const w of workers) {
    if (before) assertDurable(w, names.get(w.id), where);
    else assert.equal(names.get(w.id), w.acked.at(-1), `${where}: user ${w.id} in its last acknowledged state`);
    for (const name of before ? w.acked.slice(0, w.ackedBefore) : w.acked) assert.ok(audited.get(w.id)?.has(name), `${where}: the audit record of "${name}" on ${w.id}`);
  }
}

const servers: ServerProcess[] = [];
const disks: Ext4Disk[] = [];
after(() => {
  for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  // A killed process lets go of its files before `exited` resolves; release() falls back to a lazy unmount anyway.
  for (const d of disks) d.release();
});

/** Stops a server with SIGTERM; it must exit 0 within 10 s. */
async function stop(s: ServerProcess): Promise<void> {
  s.proc.kill('SIGTERM');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
  const { code, signal } = await s.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `the service stops cleanly on SIGTERM (exit ${String(code)}, signal ${String(signal)}):\n${s.output().slice(-2000)}`);
}

/**
 * Runs the service on a fresh ext4 disk with `--sqlite-synchronous sync` under write load from `WORKERS` workers
 * (each PATCHes its own user with distinct names), makes the disk read-only while they run, and checks every
 * answer given during the fault. Leaves the service stopped and the disk read-only (still mounted).
 */
async function faultUnderLoad(t: TestContext, sync: 'normal' | 'full'): Promise<{ disk: Ext4Disk; dataDir: string; args: string[]; workers: Worker[]; readsWork: boolean }> {
  requireLoopExt4();
  const disk = new Ext4Disk();
  disks.push(disk);
  disk.create();
  const dataDir = join(disk.dir, 'data');
  const args = ['--port', '0', '--data-dir', dataDir, '--demo', '--log-level', 'fatal', '--sqlite-synchronous', sync];
  const server = await spawnServer(args);
  servers.push(server);
  const token = await demoAgentToken(server.baseUrl);
  const call = (method: string, path: string, body?: unknown): Promise<CallResult<{ id?: string; displayName?: string }>> =>
    httpCall(server.baseUrl, method, path, { token, body, headers: { 'MS-RequestId': randomUUID() }, timeoutMs: ANSWER_MS });
  /** 503 800005 with Retry-After and the context headers: Partner Center's answer when it cannot write now. */
  const assertUnavailable = (r: CallResult, what: string): void => {
    assertFault(r, 503, 800005);
    assert.equal(r.headers.get('retry-after'), '1', `${what}: Retry-After`);
    assert.ok(r.headers.get('ms-requestid'), `${what}: MS-RequestId`);
    assert.ok(r.headers.get('ms-correlationid'), `${what}: MS-CorrelationId`);
  };

  const workers: Worker[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const name = `RO W${String(i)} N0`;
    const r = await call('POST', usersPath, { userPrincipalName: `ro-${randomUUID().slice(0, 12)}@fabrikam.example`, displayName: name, passwordProfile: { password: 'Correct-Horse-42!' } });
    assert.equal(r.status, 201, r.text);
    workers.push({ id: String(r.json.id).toLowerCase(), acked: [name], ackedBefore: 0, inFlight: undefined, refused: 0 });
  }
  let faulted = false;
  let serial = 0;
  const load = workers.map(async (w, i) => {
    // Until the fault, then until this worker has been refused 3 times.
    while (w.refused < 3) {
      const name = `RO W${String(i)} N${String(++serial)}`;
      const r = await call('PATCH', `${usersPath}/${w.id}`, { displayName: name });
      if (r.status === 200) {
        assert.equal(r.json.displayName, name);
        assert.equal(w.refused, 0, 'no change is acknowledged once one was refused');
        w.acked.push(name);
      } else {
        assert.ok(faulted, `refused before the fault: ${String(r.status)} ${r.text}`);
        assertUnavailable(r, 'PATCH during the fault');
        if (w.refused === 0) w.inFlight = name;
        w.refused++;
      }
    }
  });
  // The fault comes while every worker is writing.
  while (workers.some((w) => w.acked.length < 6)) await new Promise((resolve) => setTimeout(resolve, 10));
  faulted = true;
  for (const w of workers) w.ackedBefore = w.acked.length;
  disk.fault();
  await Promise.all(load);

  // Writes of every kind are refused the same way.
  assertUnavailable(await call('PATCH', `${usersPath}/${F.users.noah}`, { displayName: 'Refused' }), 'PATCH');
  assertUnavailable(await call('POST', usersPath, { userPrincipalName: `ro-${randomUUID().slice(0, 12)}@fabrikam.example`, displayName: 'Refused', passwordProfile: { password: 'Correct-Horse-42!' } }), 'POST');
  assertUnavailable(await call('DELETE', `${usersPath}/${F.users.noah}`), 'DELETE');

  // Reads: answered from what is stored where the kernel still reads the file system (ext4's `emergency_ro`, Linux
  // 6.16 and newer; `ro` before 6.6), refused cleanly where it makes every read fail too (6.6 to 6.15).
  let readsWork = true;
  try {
    readFileSync(join(dataDir, SQLITE_FILE));
  } catch {
    readsWork = false;
  }
  for (const w of workers) {
    const r = await call('GET', `${usersPath}/${w.id}`);
    if (!readsWork) assertUnavailable(r, 'GET');
    else {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.displayName, w.acked.at(-1), 'a read shows the last acknowledged change');
    }
  }
  const list = await call('GET', `${usersPath}?size=50`);
  if (readsWork) assert.equal(list.status, 200, list.text);
  else assertUnavailable(list, 'list');
  assert.equal((await httpCall(server.baseUrl, 'GET', '/healthz', { timeoutMs: ANSWER_MS })).status, readsWork ? 200 : 503, '/healthz');
  // The token endpoint signs in (reading the store) or says it cannot now, in OAuth terms.
  const grant = await httpCall<{ access_token?: string; error?: string }>(server.baseUrl, 'POST', `/${DEMO.tenantId}/oauth2/v2.0/token`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, timeoutMs: ANSWER_MS,
    rawBody: new URLSearchParams({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, scope: 'https://api.partnercenter.microsoft.com/.default' }).toString(),
  });
  if (readsWork) assert.equal(grant.status, 200, grant.text);
  else assert.equal(grant.json.error, 'temporarily_unavailable', grant.text);

  assert.equal(server.proc.exitCode, null, `the service is still running:\n${server.output().slice(-2000)}`);
  await stop(server);
  const sum = (f: (w: Worker) => number): string => String(workers.reduce((n, w) => n + f(w), 0));
  t.diagnostic(`${sync}: ${sum((w) => w.ackedBefore)} changes acknowledged before the fault (creates included), ${sum((w) => w.acked.length - w.ackedBefore)} answered after it began, ` +
    `then ${sum((w) => w.refused)} refused with 503; reads during the fault: ${readsWork ? 'served' : 'refused (503)'}`);
  return { disk, dataDir, args, workers, readsWork };
}

describe('the data directory turns read-only while the service runs', { skip: TEST_ENGINE === 'sqlite' ? false : 'SQLite only' }, () => {
  test('--sqlite-synchronous full: writes answer 503 800005 with Retry-After, reads still answer, nothing acknowledged is lost after the disk is repaired, and the service serves it again', async (t) => {
    const { disk, dataDir, args, workers } = await faultUnderLoad(t, 'full');
    disk.recover();
    assertAcknowledgedPresent(dataDir, workers, 'after e2fsck', true);

    const again = await spawnServer(args);
    servers.push(again);
    const token = await demoAgentToken(again.baseUrl);
    const w = workers[0];
    assert.ok(w);
    const read = await httpCall<{ displayName?: string }>(again.baseUrl, 'GET', `${usersPath}/${w.id}`, { token, timeoutMs: ANSWER_MS });
    assert.equal(read.status, 200, read.text);
    assertDurable(w, read.json.displayName, 'served after the repair');
    const write = await httpCall(again.baseUrl, 'PATCH', `${usersPath}/${w.id}`, { token, body: { displayName: 'After The Repair' }, headers: { 'MS-RequestId': randomUUID() }, timeoutMs: ANSWER_MS });
    assert.equal(write.status, 200, write.text);
    await stop(again);
    assert.equal(sqliteIntegrity(dataDir), 'ok');
  });

  test('--sqlite-synchronous normal (the default): the same answers; the store as the service saw it holds every acknowledged change; after the repair the database is intact and the service starts on it', async (t) => {
    const { disk, dataDir, args, workers } = await faultUnderLoad(t, 'normal');
    // The files as the service left them, read through the page cache of the read-only file system.
    const copy = mkdtempSync(join(tmpdir(), 'partnerkit-ro-copy-'));
    try {
      for (const f of [SQLITE_FILE, `${SQLITE_FILE}-wal`]) if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(copy, f));
      assertAcknowledgedPresent(copy, workers, 'a copy taken during the fault', false);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }

    // WAL commits not yet synced by a checkpoint were only in the page cache, which the aborted journal never
    // writes: as after a power loss, they may be gone, but the database is consistent (docs/configuration.md).
    disk.recover();
    assert.equal(sqliteIntegrity(dataDir), 'ok', 'after e2fsck: PRAGMA integrity_check');
    let kept = 0;
    try {
      const { names } = readStored(dataDir, workers);
      kept = workers.filter((w) => names.get(w.id) === w.acked.at(-1)).length;
    } catch (err) {
      // Not even the schema had been synced: an empty database.
      if (!(err instanceof Error && /no such table/.test(err.message))) throw err;
    }
    t.diagnostic(`normal: after the repair, ${String(kept)} of ${String(workers.length)} users are in their last acknowledged state`);
    const again = await spawnServer(args);
    servers.push(again);
    assert.equal((await httpCall(again.baseUrl, 'GET', '/healthz', { timeoutMs: ANSWER_MS })).status, 200);
    await stop(again);
  });
});
