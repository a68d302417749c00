/**
 * scripts/check-prebuilds.js holds every prebuild to the glibc 2.28 / GCC 8
 * floor: it passes the prebuilds `npm run prebuildify` made, and it fails,
 * naming the symbols, on an addon linked against this machine's newer glibc
 * and on a prebuild filed under the wrong architecture.
 *
 * Needs the prebuilds (`npm run prebuildify`) and g++; run by .ci/run through
 * `npm run test:build`, not by `npm test`.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, run, scratchDir } from './fixtures/package';

const check = path.join(ROOT, 'scripts', 'check-prebuilds.js');

t.test('the prebuilds in prebuilds/ are within the floor', async (t) => {
  const ran = await run(process.execPath, [check, path.join(ROOT, 'prebuilds'), '--expect', 'linux-x64,linux-arm64']);
  t.equal(ran.code, 0, 'the check passes') || t.comment(ran.stderr);
  t.match(ran.stdout, /^ok {3}linux-arm64\/tls-shm-cache\.glibc\.node: .*needs .*GLIBC_2\.17/m, 'the arm64 prebuild was read');
  t.match(ran.stdout, /^ok {3}linux-x64\/tls-shm-cache\.glibc\.node: .*needs .*GLIBC_2\.2\.5/m, 'the x64 prebuild was read');
  t.notMatch(ran.stdout, /GLIBCXX|CXXABI|libstdc\+\+/, 'libstdc++ is linked in statically: no load-time need of it');
});

t.test('an addon linked against this machine\'s glibc fails the check, naming the symbols', async (t) => {
  const dir = scratchDir(t, 'tls-shm-cache-symbols-');
  const src = path.join(dir, 'new.cc');
  // shm_open is GLIBC_2.34 and fstat GLIBC_2.33 when linked against glibc >= 2.34.
  fs.writeFileSync(
    src,
    '#include <fcntl.h>\n#include <sys/mman.h>\n#include <sys/stat.h>\n' +
      'extern "C" int probe(const char* n) { struct stat st; int fd = shm_open(n, O_RDONLY, 0); return fd < 0 ? -1 : fstat(fd, &st); }\n',
  );
  fs.mkdirSync(path.join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
  const out = path.join(dir, 'prebuilds', 'linux-x64', 'new.glibc.node');
  const built = await run('g++', ['-shared', '-fPIC', '-O2', '-o', out, src]);
  t.equal(built.code, 0, 'g++ built the probe') || t.comment(built.stderr);
  const glibc = await run('ldd', ['--version']);
  const minor = Number(/2\.(\d+)/.exec(glibc.stdout)?.[1] ?? 0);
  if (minor < 34) {
    t.comment(`this machine's glibc is 2.${minor}: shm_open is not newer than the floor here`);
    return;
  }
  const ran = await run(process.execPath, [check, path.join(dir, 'prebuilds')]);
  t.equal(ran.code, 1, 'the check fails');
  t.match(ran.stderr, /FAIL linux-x64\/new\.glibc\.node: needs GLIBC_2\.34 \(.*shm_open.*\)/, 'naming shm_open@GLIBC_2.34');
  t.match(ran.stderr, /needs GLIBC_2\.33 \(.*fstat/, 'and fstat@GLIBC_2.33');
});

t.test('a prebuild filed under the wrong architecture, or a missing one, fails the check', async (t) => {
  const dir = scratchDir(t, 'tls-shm-cache-symbols-');
  fs.mkdirSync(path.join(dir, 'linux-arm64'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'prebuilds', 'linux-x64', 'tls-shm-cache.glibc.node'), path.join(dir, 'linux-arm64', 'tls-shm-cache.glibc.node'));
  const ran = await run(process.execPath, [check, dir, '--expect', 'linux-x64,linux-arm64']);
  t.equal(ran.code, 1, 'the check fails');
  t.match(ran.stderr, /FAIL linux-x64: no prebuild/, 'the missing x64 prebuild is named');
  t.match(ran.stderr, /FAIL linux-arm64\/tls-shm-cache\.glibc\.node: is built for "Advanced Micro Devices X86-64", the folder says arm64/);
});

t.test('an undefined symbol bound to no library (not N-API) fails the check', async (t) => {
  const dir = scratchDir(t, 'tls-shm-cache-symbols-');
  const src = path.join(dir, 'unbound.cc');
  // Linked as a shared object, an undefined function is allowed by the linker and left unversioned.
  fs.writeFileSync(src, 'extern "C" int napi_ok(int);\nextern "C" int not_in_any_library(int);\nextern "C" int probe(int x) { return napi_ok(x) + not_in_any_library(x); }\n');
  fs.mkdirSync(path.join(dir, 'linux-x64'));
  const built = await run('g++', ['-shared', '-fPIC', '-o', path.join(dir, 'linux-x64', 'unbound.glibc.node'), src]);
  t.equal(built.code, 0, 'g++ built the probe') || t.comment(built.stderr);
  const ran = await run(process.execPath, [check, dir]);
  t.equal(ran.code, 1, 'the check fails');
  t.match(ran.stderr, /needs not_in_any_library from no library/, 'naming the unbound symbol');
  t.notMatch(ran.stderr, /napi_ok/, 'N-API names (provided by Node itself) are allowed unversioned');
});
