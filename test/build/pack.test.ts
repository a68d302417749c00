/**
 * The published package: `npm pack` ships exactly the runtime files, the
 * LICENSE, both prebuilds and source maps that resolve; the prepack guard
 * refuses a tarball without (current) prebuilds; and the tarball installs into
 * a fresh project with no compiler on PATH, where the public entry point,
 * its types and the bin work and internals cannot be deep-imported.
 *
 * Needs the prebuilds: run `npm run prebuildify` first (.ci/run does). Not in
 * the default `npm test` (see package.json "tap.exclude"); `npm run test:build`.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BUILD_TOOLS, installTarball, lastJson, pack, ROOT, run, scratchDir } from './fixtures/package';

/** Every file the tarball may hold; anything else (tests, scripts, build/) is a mistake. */
const ALLOWED = [
  /^(LICENSE|README\.md|package\.json|binding\.gyp)$/,
  /^dist\/.+\.(js|d\.ts|js\.map)$/,
  /^src\/.+\.ts$/,
  /^native\/[^/]+\.(cc|h)$/,
  /^prebuilds\/linux-(x64|arm64)\/tls-shm-cache\.glibc\.node$/,
];

/** Files the tarball must hold. */
const REQUIRED = [
  'LICENSE',
  'README.md',
  'package.json',
  'binding.gyp',
  'native/binding.cc',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/cli/main.js',
  'prebuilds/linux-x64/tls-shm-cache.glibc.node',
  'prebuilds/linux-arm64/tls-shm-cache.glibc.node',
];

t.test('npm pack ships the runtime files, the LICENSE and both prebuilds, and nothing else', async (t) => {
  const packed = await pack(t);
  t.equal(packed.result.code, 0, 'npm pack succeeded') || t.comment(packed.result.stderr);
  for (const file of REQUIRED) t.ok(packed.files.includes(file), `ships ${file}`);
  const stray = packed.files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  t.same(stray, [], 'no file outside the allowed set (tests, scripts, bench, build/ stay home)');
  // Every .ts under src/ (what the maps point at) and every compiled module.
  const sources = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  for (const source of sources) {
    const rel = source.split(path.sep).join('/');
    t.ok(packed.files.includes(`src/${rel}`), `ships src/${rel}`);
    t.ok(packed.files.includes(`dist/${rel.replace(/\.ts$/, '.js')}`), `ships dist/${rel.replace(/\.ts$/, '.js')}`);
  }

  // Source maps: every `sources` entry of every shipped map is a shipped file.
  const unpacked = scratchDir(t, 'tls-shm-cache-unpacked-');
  const untar = await run('tar', ['-xzf', packed.tarball, '-C', unpacked]);
  t.equal(untar.code, 0, 'the tarball unpacks');
  const maps = packed.files.filter((f) => f.endsWith('.map'));
  t.ok(maps.length > 0, 'source maps ship');
  const dangling: string[] = [];
  for (const map of maps) {
    const file = path.join(unpacked, 'package', map);
    const { sources: mapped } = JSON.parse(fs.readFileSync(file, 'utf8')) as { sources: string[] };
    for (const s of mapped) {
      const target = path.relative(path.join(unpacked, 'package'), path.resolve(path.dirname(file), s)).split(path.sep).join('/');
      if (!packed.files.includes(target)) dangling.push(`${map} -> ${s}`);
    }
  }
  t.same(dangling, [], 'every source map points at a file in the tarball');
});

t.test('the prepack guard refuses to pack without prebuilds, or with prebuilds older than native/', async (t) => {
  const copy = scratchDir(t, 'tls-shm-cache-guard-');
  for (const entry of ['package.json', 'binding.gyp', 'README.md', 'LICENSE', 'tsconfig.json', 'scripts', 'native', 'src']) {
    fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');

  const bare = await pack(t, copy);
  t.not(bare.result.code, 0, 'npm pack fails with no prebuilds/');
  t.match(bare.result.stderr, /expected one glibc prebuild in prebuilds\/linux-x64, found 0/, 'and says which one is missing');
  t.match(bare.result.stderr, /npm run prebuildify/, 'and how to make it');

  fs.cpSync(path.join(ROOT, 'prebuilds'), path.join(copy, 'prebuilds'), { recursive: true });
  fs.rmSync(path.join(copy, 'prebuilds', 'linux-arm64'), { recursive: true });
  const half = await pack(t, copy);
  t.not(half.result.code, 0, 'npm pack fails with the arm64 prebuild missing');
  t.match(half.result.stderr, /prebuilds\/linux-arm64, found 0/);

  fs.cpSync(path.join(ROOT, 'prebuilds', 'linux-arm64'), path.join(copy, 'prebuilds', 'linux-arm64'), { recursive: true });
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(path.join(copy, 'native', 'cache.cc'), later, later);
  const stale = await pack(t, copy);
  t.not(stale.result.code, 0, 'npm pack fails when native/ changed after the prebuilds were made');
  t.match(stale.result.stderr, /is older than native\/cache\.cc/);
});

t.test('the tarball installs with no compiler on PATH and works through its public entry point only', async (t) => {
  const packed = await pack(t);
  t.equal(packed.result.code, 0, 'npm pack succeeded') || t.comment(packed.result.stderr);
  const installed = await installTarball(t, packed.tarball);
  t.equal(installed.result.code, 0, 'npm install of the tarball succeeded') || t.comment(installed.result.stderr);
  t.match(installed.result.stdout, /> node-gyp-build/, 'the install script ran (and found the prebuild: nothing to compile)');
  const bin = installed.env.PATH as string;
  t.same(
    BUILD_TOOLS.filter((tool) => fs.existsSync(path.join(bin, tool))),
    [],
    'no compiler, make or python on the PATH the install ran with',
  );
  t.same(fs.readdirSync(bin).sort(), ['node', 'sh'], 'PATH holds node and sh only');
  t.notOk(fs.existsSync(path.join(installed.pkgdir, 'build')), 'nothing was compiled: no build/ in the installed package');

  // The public entry point works, through the prebuild.
  const smoke = await run(process.execPath, [path.join(__dirname, 'fixtures', 'old-system.js'), 'smoke', installed.pkgdir], {
    cwd: installed.project,
    env: installed.env,
  });
  const report = lastJson(smoke);
  t.match(report, { value: 'from a prebuild', sets: 1, hits: 1 }, 'SharedCache set/open/get work') || t.comment(report);
  t.equal(
    (report.addon as { file: string } | undefined)?.file,
    path.join(installed.pkgdir, 'prebuilds', `linux-${process.arch}`, 'tls-shm-cache.glibc.node'),
    'node-gyp-build loads the glibc prebuild',
  );

  // The exports map: the entry point and package.json resolve; internals do not.
  const probe = `
    const out = { main: typeof require('tls-shm-cache').SharedCache, version: require('tls-shm-cache/package.json').version };
    for (const deep of ['tls-shm-cache/dist/core/native', 'tls-shm-cache/dist/core/native.js', 'tls-shm-cache/src/index.ts']) {
      try { require(deep); out[deep] = 'loaded'; } catch (err) { out[deep] = err.code; }
    }
    console.log(JSON.stringify(out));`;
  const resolved = lastJson(await run(process.execPath, ['-e', probe], { cwd: installed.project, env: installed.env }));
  t.same(
    resolved,
    {
      main: 'function',
      version: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      'tls-shm-cache/dist/core/native': 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'tls-shm-cache/dist/core/native.js': 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'tls-shm-cache/src/index.ts': 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    },
    'require("tls-shm-cache") works; deep imports are refused',
  );

  // The bin, as npm linked it.
  const cli = await run(path.join(installed.project, 'node_modules', '.bin', 'tls-shm-cache'), ['--help'], {
    cwd: installed.project,
    env: installed.env,
  });
  t.equal(cli.code, 0, 'the tls-shm-cache bin runs');
  t.match(cli.stdout + cli.stderr, /Usage: tls-shm-cache/, 'and prints its usage');

  // The "types" condition: TypeScript (node16 resolution) finds the types of
  // the entry point and refuses the same deep import.
  fs.writeFileSync(
    path.join(installed.project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, skipLibCheck: true, types: [] } }),
  );
  fs.writeFileSync(
    path.join(installed.project, 'good.ts'),
    "import { SharedCache } from 'tls-shm-cache';\nexport const open: (handle: string) => SharedCache = SharedCache.open;\n",
  );
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const good = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: installed.project, env: installed.env });
  t.equal(good.code, 0, 'TypeScript resolves the types of the entry point') || t.comment(good.stdout);
  fs.writeFileSync(path.join(installed.project, 'deep.ts'), "import { loadNative } from 'tls-shm-cache/dist/core/native';\nexport const x = loadNative;\n");
  const deep = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: installed.project, env: installed.env });
  t.not(deep.code, 0, 'TypeScript refuses a deep import');
  t.match(deep.stdout, /deep\.ts.*TS2307/, 'as a module it cannot find');
});

