/**
 * The prebuild path: prebuildify --napi --strip --tag-libc (the command
 * `npm run prebuildify` runs inside a Debian 11 root for the release
 * prebuilds; here on this machine's own toolchain) makes
 * prebuilds/linux-x64/*.node, and a copy of the package with prebuilds/ but
 * no build/ loads the addon through node-gyp-build and works, with no
 * compiler step. The release prebuilds themselves are tested in test/build/.
 *
 * Both steps run in scratch copies of the package: prebuildify runs
 * `node-gyp rebuild`, which would otherwise replace the build/ directory that
 * other tests are loading the addon from at the same moment.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { scratchDir, spawnFixture } from './fixtures/harness';

const root = path.resolve(__dirname, '..', '..');

function installed(name: string): boolean {
  try {
    require.resolve(`${name}/package.json`, { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to completion; resolves with its exit code and the tail of its output. */
function runCommand(command: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-6000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const missing = ['prebuildify', 'node-gyp', 'node-gyp-build', 'typescript'].filter((name) => !installed(name));
if (missing.length > 0) {
  t.plan(0, `skipped: ${missing.join(', ')} not installed (npm install -D prebuildify node-gyp)`);
} else if (process.platform !== 'linux' || process.arch !== 'x64') {
  t.plan(0, `skipped: this test checks the linux-x64 prebuild, this is ${process.platform}-${process.arch}`);
} else {
  t.test('prebuildify makes prebuilds/linux-x64/*.node, and a package copy without build/ loads and uses it', async (t) => {
    // 1. Build the prebuild in a copy of the sources.
    const source = scratchDir(t, 'tls-shm-cache-prebuild-src-');
    fs.copyFileSync(path.join(root, 'package.json'), path.join(source, 'package.json'));
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(source, 'binding.gyp'));
    fs.mkdirSync(path.join(source, 'native'));
    for (const file of fs.readdirSync(path.join(root, 'native'))) {
      if (/\.(cc|h)$/.test(file)) fs.copyFileSync(path.join(root, 'native', file), path.join(source, 'native', file));
    }
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(source, 'node_modules'), 'dir');
    const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
    const built = await runCommand(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc'], source, 170_000);
    t.equal(built.code, 0, 'prebuildify succeeded') || t.comment(built.output);
    const prebuilds = path.join(source, 'prebuilds', 'linux-x64');
    const files = fs.existsSync(prebuilds) ? fs.readdirSync(prebuilds) : [];
    const addons = files.filter((f) => f.endsWith('.node'));
    t.equal(addons.length, 1, `one addon in prebuilds/linux-x64 (${files.join(', ')})`);
    t.match(addons[0], /^tls-shm-cache\..*(glibc|musl)\.node$/, 'named after the package and tagged with the libc');
    t.notMatch(addons[0], /abi\d+/, 'an N-API build, not tied to one Node ABI');
    if (addons.length !== 1) return;

    // 2. A package copy with dist/, prebuilds/ and node-gyp-build: no build/, no native sources.
    const pkg = scratchDir(t, 'tls-shm-cache-prebuild-pkg-');
    fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    // dist/ compiled from the current sources, so that it matches the addon just built.
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const compiled = await runCommand(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json'), '--outDir', path.join(pkg, 'dist')], root, 120_000);
    t.equal(compiled.code, 0, 'tsc compiled dist/') || t.comment(compiled.output);
    fs.cpSync(path.join(source, 'prebuilds'), path.join(pkg, 'prebuilds'), { recursive: true });
    fs.cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'), {
      recursive: true,
      dereference: true,
    });
    t.notOk(fs.existsSync(path.join(pkg, 'build')), 'the copy has no build/ directory');

    // 3. Load it in a child with an empty PATH: no compiler, no node-gyp could run.
    const emptyBin = scratchDir(t, 'tls-shm-cache-empty-path-');
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: emptyBin };
    delete env.TLS_SHM_CACHE_BINDING;
    const child = spawnFixture(t, 'load-prebuild.ts', [pkg], { env, cwd: pkg });
    const [report, exit] = await Promise.all([child.next('done', 60_000), child.exited]);
    t.same(exit, { code: 0, signal: null }, 'the child exited cleanly');
    const expected = path.join(pkg, 'prebuilds', 'linux-x64', addons[0]);
    t.equal(report.resolved, expected, 'node-gyp-build picks the prebuild');
    t.same(report.addons, [expected], 'the only addon loaded is the prebuild');
    t.equal(report.value, 'from a prebuild', 'SharedCache set/get work through the prebuild');
    t.match(report, { sets: 1, hits: 1 });
  });
}
