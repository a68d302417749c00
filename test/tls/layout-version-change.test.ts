/**
 * Masterless (PM2-style) processes that meet a cache file made by another
 * layout version (an upgrade of tls-shm-cache) or by a build for another C
 * library: as for a changed geometry (geometry-change.test.ts), the service
 * never stops. A file nobody has open is replaced by a new one, with one
 * warning; a file that processes of the other version still have open cannot
 * be shared with them, so the new process serves TLS from a private cache and
 * says so once. The old-version file is a file of this build whose header's
 * layout_version (the u32 after the 8-byte magic, native/layout.h) is
 * patched; a process that opened the file before the patch keeps its own
 * validated copy of the header, as a process of the old version would. Real
 * processes, real TLS clients.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { attachSharedCache, SharedCache } from '../../src/index';
import { loadNative } from '../../src/core/native';
import type { CacheStats } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import { opensslRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';
import type { MasterlessConfig } from './fixtures/masterless-server';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);
const IDS = 1;
const flags = ['-no_ticket', '-tls1_2'];
const geometry = { items: 1000, timeout: 300 };
/** Header offsets (native/layout.h Header): layout_version after the magic; lock_abi_libc after hash_key. */
const LAYOUT_VERSION_OFFSET = 8;
const LOCK_ABI_LIBC_OFFSET = 128;

type Warning = { type: 'warning'; code?: string; message: string };

function start(t: Test, entry: 'a' | 'b', attach: MasterlessConfig['attach']): Promise<TestCluster> {
  const full: MasterlessConfig = { attach, keyPath: cert.keyPath, certPath: cert.certPath };
  return TestCluster.spawn(t, path.join(__dirname, 'fixtures', `masterless-${entry}.ts`), { TLS_TEST_MASTERLESS: JSON.stringify(full) }, 2);
}
const stats = async (p: TestCluster) => (await p.command<{ stats: CacheStats }>('stats')).stats;
const handleOf = async (p: TestCluster) => (await p.command<{ handle: string }>('identity')).handle;
const warningsOf = (p: TestCluster, code: string) =>
  p.messages.filter((m): m is Warning => m.type === 'warning' && (m as Warning).code === code);
const attachErrors = (p: TestCluster) => p.messages.filter((m) => m.type === 'attach-error');

function readU32(file: string, offset: number): number {
  const fd = fs.openSync(file, 'r');
  const bytes = Buffer.alloc(4);
  fs.readSync(fd, bytes, 0, 4, offset);
  fs.closeSync(fd);
  return bytes.readUInt32LE(0);
}

function writeU32(file: string, offset: number, value: number): void {
  const fd = fs.openSync(file, 'r+');
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value, 0);
  fs.writeSync(fd, bytes, 0, 4, offset);
  fs.closeSync(fd);
}

/** A cache file of this build with the geometry the processes ask for, closed. */
function currentFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(cert.dir, `${name}-`));
  const file = path.join(dir, 'sessions.cache');
  SharedCache.create({ ...geometry, path: file }).close();
  return file;
}

/** Makes `file` a file of the previous layout version; returns that version. */
function makeOldLayout(file: string): number {
  const current = readU32(file, LAYOUT_VERSION_OFFSET);
  writeU32(file, LAYOUT_VERSION_OFFSET, current - 1);
  return current - 1;
}

const tempFiles = (file: string) => fs.readdirSync(path.dirname(file)).filter((n) => n.endsWith('.tmp'));

t.test('an old-layout file nobody has open is replaced, and sessions are shared again', async (t) => {
  const file = currentFile('unused');
  const current = readU32(file, LAYOUT_VERSION_OFFSET);
  const old = makeOldLayout(file);
  t.throws(() => SharedCache.open('file:' + file), { code: 'ERR_TLS_SHM_VERSION' }, 'this build cannot open it');
  const inode = fs.statSync(file).ino;

  const a = await start(t, 'a', { ...geometry, path: file });
  t.same(attachErrors(a), [], 'the new process starts: no ERR_TLS_SHM_VERSION, no crash loop');
  const replaced = warningsOf(a, 'TLS_SHM_GEOMETRY_REPLACED');
  t.equal(replaced.length, 1, 'one warning');
  t.match(replaced[0]?.message, new RegExp(`has layout version ${old} .*this build reads version ${current}`), 'naming both versions');
  t.match(replaced[0]?.message, /another version or build of tls-shm-cache made it.*no process had it open, so it was replaced/);
  t.equal(warningsOf(a, 'TLS_SHM_FILE_INCOMPATIBLE').length, 0, 'nothing about a private cache');
  t.not(fs.statSync(file).ino, inode, 'a new file');
  t.equal(readU32(file, LAYOUT_VERSION_OFFSET), current, 'of this layout version');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
  t.same(tempFiles(file), [], 'no temporary file left next to it');
  t.equal(await handleOf(a), 'file:' + file, 'the process uses the file');

  const b = await start(t, 'b', { ...geometry, path: file });
  t.equal(b.messages.filter((m) => m.type === 'warning').length, 0, 'the next process opens the new file without a warning');
  t.equal((await stats(b)).attached, 2, 'both processes are attached to it');
  const session = path.join(path.dirname(file), 'session.pem');
  const made = await opensslRequest(a.ports[IDS], { flags, sessOut: session });
  t.equal(made.reused, false);
  t.equal(made.pid, a.child.pid);
  const inB = await opensslRequest(b.ports[IDS], { flags, sessIn: session });
  t.equal(inB.pid, b.child.pid);
  t.equal(inB.reused, true, 'a session made in one process resumes in the other');
});

t.test('an old-layout file still open in processes of that version: the new process serves from a private cache', async (t) => {
  const file = currentFile('held');
  const dir = path.dirname(file);
  // The process of the old version: it opened the file while it was readable
  // and keeps its own copy of the header, whatever the file says afterwards.
  const oldProcess = await start(t, 'a', { ...geometry, path: file });
  const old = makeOldLayout(file);
  const inode = fs.statSync(file).ino;

  const fresh = await start(t, 'b', { ...geometry, path: file });
  t.same(attachErrors(fresh), [], 'the new process starts: no ERR_TLS_SHM_VERSION, no crash loop');
  const incompatible = warningsOf(fresh, 'TLS_SHM_FILE_INCOMPATIBLE');
  t.equal(incompatible.length, 1, 'one warning');
  t.match(incompatible[0]?.message, file, 'naming the file');
  t.match(incompatible[0]?.message, new RegExp(`layout version ${old}`), 'and its layout version');
  t.match(incompatible[0]?.message, /NOT shared with those processes.*Restart all processes together/, 'saying what it means and what to do');
  t.equal(warningsOf(fresh, 'TLS_SHM_GEOMETRY_REPLACED').length, 0);
  t.match(await handleOf(fresh), /^(memfd|shm):/, 'its cache is its own shared memory, not the file');
  t.equal((await stats(fresh)).attached, 1, 'attached by this process alone');
  t.equal(fs.statSync(file).ino, inode, 'the file was not replaced under the process using it');
  t.equal(readU32(file, LAYOUT_VERSION_OFFSET), old, 'nor rewritten');
  t.same(tempFiles(file), [], 'no temporary file left next to it');

  const session = path.join(dir, 'session.pem');
  const made = await opensslRequest(fresh.ports[IDS], { flags, sessOut: session });
  t.equal(made.reused, false);
  const hitsBefore = (await stats(fresh)).hits;
  const again = await opensslRequest(fresh.ports[IDS], { flags, sessIn: session });
  t.equal(again.pid, fresh.child.pid);
  t.equal(again.reused, true, 'the new process resumes its own sessions (Node keeps none itself)');
  t.equal((await stats(fresh)).hits, hitsBefore + 1, 'from its private cache');

  const oldSession = path.join(dir, 'old-session.pem');
  await opensslRequest(oldProcess.ports[IDS], { flags, sessOut: oldSession });
  t.equal((await opensslRequest(oldProcess.ports[IDS], { flags, sessIn: oldSession })).reused, true, 'the old process serves on from the file');
  t.equal((await opensslRequest(fresh.ports[IDS], { flags, sessIn: oldSession })).reused, false, 'but its sessions are not shared with the new one');

  // Everyone of the old version is gone (a restart of all processes): the next process replaces the file.
  await oldProcess.stop();
  const next = await start(t, 'a', { ...geometry, path: file });
  t.equal(warningsOf(next, 'TLS_SHM_GEOMETRY_REPLACED').length, 1, 'once nobody has it open, the file is replaced');
  t.equal(warningsOf(next, 'TLS_SHM_FILE_INCOMPATIBLE').length, 0);
  t.equal(await handleOf(next), 'file:' + file);
  t.equal(readU32(file, LAYOUT_VERSION_OFFSET), old + 1, 'by a file of this layout version');
});

t.test('processes of the new version started all at once on an old-layout file end up on one file', async (t) => {
  const file = currentFile('burst');
  makeOldLayout(file);
  // PM2 starts every instance of the new version together: they race to replace the file.
  const attach = { ...geometry, path: file };
  const group = await Promise.all([start(t, 'a', attach), start(t, 'b', attach), start(t, 'a', attach)]);
  for (const p of group) {
    t.same(attachErrors(p), [], 'each process started');
    t.equal(warningsOf(p, 'TLS_SHM_FILE_INCOMPATIBLE').length, 0, 'none took a private cache: the users of the new file are of its version');
  }
  t.same(await Promise.all(group.map(handleOf)), group.map(() => 'file:' + file), 'each uses the file');
  t.same((await Promise.all(group.map(stats))).map((s) => s.attached), [3, 3, 3], 'one and the same file');
  t.equal(group.map((p) => warningsOf(p, 'TLS_SHM_GEOMETRY_REPLACED').length).reduce((x, y) => x + y), 1, 'replaced once, by one of them');
  const session = path.join(path.dirname(file), 'session.pem');
  await opensslRequest(group[0].ports[IDS], { flags, sessOut: session });
  t.equal((await opensslRequest(group[2].ports[IDS], { flags, sessIn: session })).reused, true, 'they share sessions');
  t.same(tempFiles(file), [], 'no temporary file left behind');
});

t.test('a file made by a build for another C library (lock ABI)', async (t) => {
  // In this process: attachSharedCache warns here, and another descriptor of
  // this process holding the file counts as a user, as another process would.
  const warnings: (Error & { code?: string })[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const otherLibc = (file: string) => writeU32(file, LOCK_ABI_LIBC_OFFSET, readU32(file, LOCK_ABI_LIBC_OFFSET) === 1 ? 2 : 1);
  const attach = (t: Test, file: string) => {
    const server = tls.createServer({ key: cert.key, cert: cert.cert });
    const attachment = attachSharedCache(server, { ...geometry, path: file });
    t.teardown(() => attachment.detach());
    return attachment;
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  t.test('nobody has it open: replaced, with one warning naming the C libraries', async (t) => {
    const file = currentFile('libc-unused');
    otherLibc(file);
    t.throws(() => SharedCache.open('file:' + file), { code: 'ERR_TLS_SHM_VERSION' });
    const attachment = attach(t, file);
    await tick();
    t.equal(attachment.cache.handle, 'file:' + file, 'the server uses the file');
    const replaced = warnings.filter((w) => w.code === 'TLS_SHM_GEOMETRY_REPLACED' && w.message.includes(file));
    t.equal(replaced.length, 1);
    t.match(replaced[0]?.message, /was created by a process built for (glibc|musl)/);
    const reopened = SharedCache.open('file:' + file);
    t.teardown(() => reopened.close());
    attachment.cache.set(Buffer.from('k'), Buffer.from('v'));
    t.equal(reopened.get(Buffer.from('k'))?.toString(), 'v', 'a file this build opens, shared with the server');
  });

  t.test('still open: a private cache, with one warning', async (t) => {
    const file = currentFile('libc-held');
    const holder = SharedCache.open('file:' + file);
    t.teardown(() => holder.close());
    otherLibc(file);
    const attachment = attach(t, file);
    await tick();
    t.match(attachment.cache.handle, /^(memfd|shm):/, 'not the file');
    const key = Buffer.from('k');
    attachment.cache.set(key, Buffer.from('v'));
    t.equal(attachment.cache.get(key)?.toString(), 'v', 'a working cache');
    t.equal(holder.get(key), undefined, 'that the file does not see');
    const incompatible = warnings.filter((w) => w.code === 'TLS_SHM_FILE_INCOMPATIBLE' && w.message.includes(file));
    t.equal(incompatible.length, 1);
    t.match(incompatible[0]?.message, /was created by a process built for (glibc|musl)/);
    t.equal(holder.stats().attached, 1, 'the file keeps its one user');
  });
});

t.test('a process that finds the old-layout file replaced by another new process meanwhile joins it', async (t) => {
  // The race of processes started together, made certain in this process:
  // just before it asks to replace the file, another process of the new
  // version replaces it and attaches. The file then is in use, but by
  // processes of this version: it must be opened, not left for a private cache.
  const file = currentFile('race');
  makeOldLayout(file);
  const native = loadNative();
  const replaceUnusedFile = native.replaceUnusedFile!;
  t.teardown(() => {
    native.replaceUnusedFile = replaceUnusedFile;
  });
  let other: SharedCache | undefined;
  native.replaceUnusedFile = (target: string, replacement: string) => {
    if (!other && target === file) {
      const next = path.join(path.dirname(file), 'other-process.cache');
      other = SharedCache.create({ ...geometry, path: next });
      t.equal(replaceUnusedFile(file, next), 0, 'the other process replaced the old file first');
    }
    return replaceUnusedFile(target, replacement);
  };
  t.teardown(() => other?.close());
  const warnings: (Error & { code?: string })[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));

  const server = tls.createServer({ key: cert.key, cert: cert.cert });
  const attachment = attachSharedCache(server, { ...geometry, path: file });
  t.teardown(() => attachment.detach());
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(other, 'the race happened');
  t.equal(attachment.cache.handle, 'file:' + file, 'this process uses the file');
  attachment.cache.set(Buffer.from('k'), Buffer.from('v'));
  t.equal(other?.get(Buffer.from('k'))?.toString(), 'v', 'the one the other process uses');
  t.same(warnings.filter((w) => w.message.includes(file)).map((w) => w.code), [], 'and this process replaced nothing and kept nothing of its own');
});
