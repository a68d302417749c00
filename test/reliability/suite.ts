/**
 * The reliability suite (issue 8): the failure modes an operator meets, each
 * tried many times with real processes and real signals, with the figures
 * printed at the end (the README's "Reliability" section quotes them).
 *
 *   npm run test:reliability                      full: >= 1000 SIGKILL trials
 *   RELIABILITY_SHORT=1 npm run test:reliability  a few minutes (CI)
 *
 * Not part of `npm test`. Parts:
 * 1. writers SIGKILLed at random moments (native stress driver, real forked
 *    processes, AddressSanitizer) while a reader verifies every value;
 * 2. damaged file caches: opened alone (random bytes damaged), and damaged
 *    while another process is attached and working;
 * 3. hostile files planted by another user (setpriv --reuid=nobody; root only);
 * 4. a lock holder frozen with SIGSTOP: how long a set() can block;
 * 5. worker threads terminated in the middle of calls.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { SharedCache } from '../../src/index';
import { scratchDir, spawnFixture } from '../core/fixtures/harness';

const SHORT = process.env.RELIABILITY_SHORT === '1';
const KILL_TRIALS = Number(process.env.RELIABILITY_KILLS ?? (SHORT ? 200 : 1000));
const DAMAGE_TRIALS = SHORT ? 60 : 400;
const STOP_TRIALS = SHORT ? 20 : 100;
const TERMINATIONS = SHORT ? 40 : 200;
const ROOT = path.join(__dirname, '..', '..');
const FIX = '../../reliability/fixtures/';
const figures: string[] = [];

function figure(line: string): void {
  figures.push(line);
  t.comment(line);
}

t.test('1. writers SIGKILLed at random moments while a reader verifies every value', async (t) => {
  // The native stress driver: 3 writer processes SIGKILLed one after another,
  // 100 rounds per unit of scale, a reader process checking every value it
  // reads against the checksum each value carries, the parent writing after
  // every kill. Built here with AddressSanitizer.
  const out = path.join(ROOT, 'native', 'test', 'out', 'reliability');
  fs.mkdirSync(out, { recursive: true });
  const bin = path.join(out, 'stress');
  // The core is every native/*.cc but the Node binding (as native/bench/build.sh builds it).
  const core = fs.readdirSync(path.join(ROOT, 'native')).filter((f) => f.endsWith('.cc') && f !== 'binding.cc');
  const sources = ['native/test/stress.cc', ...core.map((f) => `native/${f}`)];
  execFileSync('g++', ['-std=c++17', '-O1', '-g', '-pthread', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
    ...sources.map((s) => path.join(ROOT, s)), '-o', bin], { stdio: 'inherit' });
  const scale = Math.ceil(KILL_TRIALS / 100);
  const run = spawnSync(bin, ['processes', String(scale)], { encoding: 'utf8', timeout: 1_500_000 });
  const text = `${run.stdout}\n${run.stderr}`;
  t.equal(run.status, 0, `the stress driver passed\n${text.slice(-2000)}`);
  const kills = Number(/SIGKILLed (\d+) times/.exec(text)?.[1] ?? 0);
  const hits = Number(/verified (\d+) hits/.exec(text)?.[1] ?? 0);
  const torn = Number(/torn\/foreign: (\d+)/.exec(text)?.[1] ?? -1);
  const recoveries = Number(/(\d+) recoveries/.exec(text)?.[1] ?? 0);
  const sets = Number(/; (\d+) sets, /.exec(text)?.[1] ?? 0);
  t.ok(kills >= KILL_TRIALS, `${kills} writers SIGKILLed (at least ${KILL_TRIALS})`);
  t.ok(hits > 0, 'the reader verified values');
  t.equal(torn, 0, 'no torn or foreign value was ever read');
  figure(`SIGKILL: ${kills} writers killed at random moments; ${sets} sets, ${recoveries} lock recoveries (EOWNERDEAD); ` +
    `${hits} values read and verified, ${torn} torn or foreign; writes resumed after every kill`);
});

t.test('2a. damaged file caches opened alone', async (t) => {
  const dir = scratchDir(t);
  const child = spawnFixture(t, FIX + 'damaged.ts', [JSON.stringify({ mode: 'alone', dir, trials: DAMAGE_TRIALS, seed: 8 })]);
  const r = await child.next('alone', 1_500_000);
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, `no crash (${child.stderr.slice(-500)})`);
  const refused = r.refused as Record<string, number>;
  const refusedTotal = Object.values(refused).reduce((a, b) => a + b, 0);
  t.equal(Number(r.opened) + refusedTotal, DAMAGE_TRIALS, 'every file was opened or refused with an error');
  for (const code of Object.keys(refused)) t.match(code, /^ERR_TLS_SHM_/, `refused with a stable code (${code})`);
  t.equal(r.usable, r.opened, 'every file that opened took a new value and returned it');
  t.equal(r.tooLong, 0, 'no value longer than blocksize was ever returned');
  figure(`damaged files opened alone: ${DAMAGE_TRIALS} files with 1-64 random bytes changed: ${r.opened} opened ` +
    `(rebuilt, all usable), ${refusedTotal} refused (${Object.entries(refused).map(([k, v]) => `${k} ${v}`).join(', ')}); 0 crashes`);
});

t.test('2b. a file cache damaged while another process is attached', async (t) => {
  const dir = scratchDir(t);
  const file = path.join(dir, 'live.cache');
  const cache = SharedCache.create({ items: 64, blocksize: 128, timeout: 600, maxKeyLength: 32, path: file });
  t.teardown(() => cache.close());
  const ms = SHORT ? 5_000 : 30_000;
  const child = spawnFixture(t, FIX + 'damaged.ts', [JSON.stringify({ mode: 'attached', handle: cache.handle, stopAfterMs: ms, seed: 9 })]);
  await child.next('ready', 60_000);
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  let writes = 0;
  let rnd = 12345;
  const next = () => (rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (let i = 0; i < 20; i++) {
      const at = next() < 0.5 ? Math.floor(next() * Math.min(size, 16384)) : Math.floor(next() * size);
      fs.writeSync(fd, Buffer.from([Math.floor(next() * 256)]), 0, 1, at);
      writes++;
    }
    // This process goes on using it too.
    cache.set(Buffer.from(`p-${writes}`), Buffer.from('x'));
    cache.get(Buffer.from(`p-${writes - 20}`));
    cache.stats();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  fs.closeSync(fd);
  const r = await child.next('attached', 120_000);
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, `the attached process survived (${child.stderr.slice(-500)})`);
  t.equal(r.tooLong, 0, 'no value longer than blocksize was ever returned');
  figure(`damaged while attached: ${writes} random bytes written into a live file cache over ${ms / 1000} s ` +
    `while two processes used it (${r.ops} operations in the other one): 0 crashes, 0 hangs`);
});

t.test('3. hostile files planted by another user are refused', async (t) => {
  if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) {
    t.skip('needs root and setpriv (util-linux)');
    return;
  }
  const asNobody = (...args: string[]) =>
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args], { stdio: 'pipe' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-hostile-'));
  fs.chmodSync(dir, 0o1777); // like /tmp or /dev/shm
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let planted = 0;
  let refused = 0;
  const expectRefused = (what: string, open: () => SharedCache, code: RegExp) => {
    planted++;
    try {
      open().close();
      t.fail(`${what} was accepted`);
    } catch (error) {
      const c = (error as { code?: string }).code ?? '';
      if (code.test(c)) refused++;
      t.match(c, code, `${what}: refused (${c})`);
    }
  };
  // A valid 0600 cache owned by nobody, where a root server expects its own.
  const source = path.join(dir, 'source.cache');
  SharedCache.create({ items: 16, blocksize: 64, timeout: 60, path: source }).close();
  fs.chmodSync(source, 0o644);
  const planted1 = path.join(dir, 'cache.bin');
  asNobody('cp', source, planted1);
  asNobody('chmod', '600', planted1);
  expectRefused('a valid cache owned by nobody (open)', () => SharedCache.open('file:' + planted1), /ERR_TLS_SHM_PERMISSIONS/);
  expectRefused('a valid cache owned by nobody (create-or-open)',
    () => SharedCache.create({ items: 16, blocksize: 64, timeout: 60, path: planted1 }), /ERR_TLS_SHM_PERMISSIONS/);
  // A symlink planted at the path, pointing at root's own cache.
  fs.chmodSync(source, 0o600);
  const link = path.join(dir, 'link.bin');
  asNobody('ln', '-s', source, link);
  expectRefused('a symlink planted at the path', () => SharedCache.open('file:' + link), /ERR_TLS_SHM_/);
  // A FIFO at the path.
  const fifo = path.join(dir, 'fifo.bin');
  asNobody('mkfifo', '-m', '600', fifo);
  expectRefused('a FIFO at the path', () => SharedCache.open('file:' + fifo), /ERR_TLS_SHM_/);
  // A shm entry shaped like a stale segment of a dead creator, owned by nobody.
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
  const shmName = `tls-shm-cache.${deadPid}.0123456789abcdef`;
  asNobody('sh', '-c', `umask 077; head -c 65536 /dev/zero > /dev/shm/${shmName}`);
  t.teardown(() => fs.rmSync(`/dev/shm/${shmName}`, { force: true }));
  expectRefused('a shm entry owned by nobody', () => SharedCache.open(`shm:/${shmName}`), /ERR_TLS_SHM_PERMISSIONS/);
  SharedCache.create({ items: 16, blocksize: 64, timeout: 60 }).close();
  t.ok(fs.existsSync(`/dev/shm/${shmName}`), 'stale-entry cleanup leaves another user’s entry alone');
  // A file shaped like a dead creator's temporary, owned by nobody, next to root's cache.
  const mine = path.join(dir, 'mine.bin');
  const tempName = `${mine}.${deadPid}.0123456789abcdef.tmp`;
  asNobody('cp', '--no-preserve=mode', '/dev/null', tempName);
  const own = SharedCache.create({ items: 16, blocksize: 64, timeout: 60, path: mine });
  own.close();
  t.ok(fs.existsSync(tempName), 'temp-file cleanup leaves another user’s file alone');
  t.equal(refused, planted, 'every hostile file was refused');
  figure(`hostile files: ${planted} planted by another user (setpriv --reuid=nobody): valid cache (open and create), ` +
    `symlink, FIFO, shm entry: ${refused} refused; cleanup removed none of that user's files`);
});

t.test('4. a lock holder frozen with SIGSTOP', async (t) => {
  const cache = SharedCache.create({ items: 1 << 18, blocksize: 16, timeout: 600 });
  t.teardown(() => cache.close());
  const holder = spawnFixture(t, FIX + 'stopped-holder.ts', [cache.handle]);
  await holder.next('sweeping', 60_000);
  let caught = 0;
  let firstMax = 0;
  let laterMax = 0;
  let recovered = 0;
  const timed = (fn: () => boolean): [boolean, number] => {
    const started = performance.now();
    const ok = fn();
    return [ok, performance.now() - started];
  };
  for (let trial = 0; trial < STOP_TRIALS; trial++) {
    await new Promise((resolve) => setTimeout(resolve, 2 + (trial % 7)));
    holder.process.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 5)); // let it stop
    const key = Buffer.from(`k${trial}`);
    const [ok, first] = timed(() => cache.set(key, Buffer.from('v')));
    if (!ok) {
      caught++;
      firstMax = Math.max(firstMax, first);
      for (let i = 0; i < 10; i++) {
        const [, later] = timed(() => cache.set(key, Buffer.from('v')));
        laterMax = Math.max(laterMax, later);
      }
    }
    holder.process.kill('SIGCONT');
    // Once the holder runs again, writes go through again.
    for (let i = 0; i < 2000; i++) {
      if (cache.set(key, Buffer.from('v'))) {
        recovered++;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  t.ok(caught > 0, `the holder was frozen holding the lock in ${caught} of ${STOP_TRIALS} trials`);
  t.equal(recovered, STOP_TRIALS, 'writes resumed after every SIGCONT');
  t.ok(firstMax < 1000, 'no set() blocked its event loop for a second');
  figure(`SIGSTOP: holder frozen holding the write lock in ${caught} of ${STOP_TRIALS} trials: the first set() gave up ` +
    `after at most ${firstMax.toFixed(1)} ms, the next ones at once (at most ${laterMax.toFixed(2)} ms); ` +
    `writes resumed after every SIGCONT`);
});

t.test('5. worker threads terminated in the middle of calls', async (t) => {
  const cache = SharedCache.create({ items: 64, blocksize: 64, timeout: 60 });
  t.teardown(() => cache.close());
  const child = spawnFixture(t, 'terminate-workers.ts', [JSON.stringify({ handle: cache.handle, rounds: TERMINATIONS, seed: 3 })]);
  const done = await child.next('done', 1_500_000).catch((e: Error) => ({ error: e.message }));
  t.same(done, { type: 'done', rounds: TERMINATIONS });
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, `no abort (${child.stderr.slice(-300)})`);
  figure(`worker threads: ${TERMINATIONS} terminated in the middle of cache calls (including throwing ones): 0 aborts`);
});

t.teardown(() => {
  // eslint-disable-next-line no-console
  console.log(`\nreliability figures (${SHORT ? 'short' : 'full'} run):\n${figures.map((f) => `- ${f}`).join('\n')}`);
});
