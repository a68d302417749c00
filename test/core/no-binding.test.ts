/**
 * No native build for this platform (no prebuild matches, and npm skipped or
 * could not run the install script): the first use throws a
 * TlsShmCacheError ERR_TLS_SHM_NO_BINDING that names the platform and what to
 * do, instead of node-gyp-build's raw "No native build was found".
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { TlsShmCacheError } from '../../src/index';
import { loadBindingFrom } from '../../src/core/native';
import { scratchDir, spawnFixture } from './fixtures/harness';

const root = path.resolve(__dirname, '..', '..');
const ADVICE = [/npm rebuild tls-shm-cache/, /npm install-scripts approve tls-shm-cache/, /build-essential python3/];

t.test('node-gyp-build finding nothing in the package becomes ERR_TLS_SHM_NO_BINDING', async (t) => {
  const empty = scratchDir(t, 'tls-shm-cache-no-build-');
  fs.writeFileSync(path.join(empty, 'package.json'), JSON.stringify({ name: 'tls-shm-cache', version: '0.0.0' }));
  const error = t.throws(() => loadBindingFrom(empty)) as TlsShmCacheError;
  t.ok(error instanceof TlsShmCacheError, 'a TlsShmCacheError');
  t.equal(error.code, 'ERR_TLS_SHM_NO_BINDING');
  t.match(error.message, new RegExp(`platform=${process.platform} arch=${process.arch} libc=(glibc|musl)`), 'names the platform');
  for (const advice of ADVICE) t.match(error.message, advice);
  t.match(String((error.cause as Error).message), /No native build was found/, "node-gyp-build's own error is kept as the cause");
});

t.test('TLS_SHM_CACHE_BINDING naming a missing file is the same error, naming the variable', async (t) => {
  const error = t.throws(() => loadBindingFrom(root, '/nonexistent/tls_shm_cache.node')) as TlsShmCacheError;
  t.equal(error.code, 'ERR_TLS_SHM_NO_BINDING');
  t.match(error.message, /TLS_SHM_CACHE_BINDING=\/nonexistent\/tls_shm_cache\.node/);
});

t.test('a package copy without prebuilds/ and build/: the first use throws it', async (t) => {
  const pkg = scratchDir(t, 'tls-shm-cache-no-binding-pkg-');
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  fs.cpSync(path.join(root, 'src'), path.join(pkg, 'src'), { recursive: true });
  fs.cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'), {
    recursive: true,
    dereference: true,
  });
  t.notOk(fs.existsSync(path.join(pkg, 'build')) || fs.existsSync(path.join(pkg, 'prebuilds')), 'no build of the addon at all');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TLS_SHM_CACHE_BINDING;
  const child = spawnFixture(t, 'no-binding.ts', [pkg], { env, cwd: pkg });
  const [report, exit] = await Promise.all([child.next('done', 60_000), child.exited]);
  t.same(exit, { code: 0, signal: null });
  t.match(report, { threw: true, name: 'TlsShmCacheError', code: 'ERR_TLS_SHM_NO_BINDING', isLibraryError: true });
  t.match(report.message, new RegExp(`no native build for platform=${process.platform}`));
  t.match(report.message, path.join(pkg, 'prebuilds'), 'names where it looked');
  for (const advice of ADVICE) t.match(report.message, advice);
});
