#!/usr/bin/env node
'use strict';
// Reads every prebuild's ELF dynamic section with readelf (which reads any
// architecture, unlike the host's objdump) and fails when a prebuild needs
// a symbol version newer than the oldest system it must load on:
//   glibc      at most GLIBC_2.28 (Node 18-24's own floor: RHEL 8, Debian 10)
//   libstdc++  at most what GCC 8 ships: GLIBCXX_3.4.25, CXXABI_1.3.11
//   libgcc_s   at most GCC_8.0.0
// It also checks that each file is an ELF for the architecture its folder
// names, that it links only the C runtime's own libraries, and that every
// undefined symbol is either versioned (bound to a library at link time) or
// one of Node's N-API functions.
//
// The versions checked are the ones in the .gnu.version_r section ("version
// needs"): exactly what the dynamic loader compares with the system's
// libraries before it runs anything, so a prebuild that passes here cannot
// fail to load with "version `GLIBC_2.xx' not found".
//
// Usage: node scripts/check-prebuilds.js [dir]   (default: ./prebuilds)
//        --expect linux-x64,linux-arm64   also fail when one of these is missing
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** The newest version allowed for each version-name family. */
const FLOORS = {
  GLIBC: [2, 28],
  GLIBCXX: [3, 4, 25],
  CXXABI: [1, 3, 11],
  GCC: [8, 0, 0],
};

/** Libraries a prebuild may link: glibc's own, and the GCC runtime. */
const ALLOWED_LIBS = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|librt\.so\.1|libdl\.so\.2|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux[-\w.]*\.so\.\d)$/;

/** readelf's "Machine:" for each folder's architecture. */
const MACHINES = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

/** Compares two version arrays; negative when a < b. */
function compare(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] || 0) - (b[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Splits a version name such as GLIBC_2.34 or GLIBCXX_3.4.29 into its
 * family and numbers; null for names with no floor (e.g. GLIBC_PRIVATE,
 * which no prebuild may need either, so it is reported separately).
 */
function parseVersion(name) {
  const m = /^([A-Z]+)_(\d+(?:\.\d+)*)$/.exec(name);
  if (!m || !(m[1] in FLOORS)) return null;
  return { family: m[1], numbers: m[2].split('.').map(Number) };
}

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Checks one .node file; returns a list of problems (empty when it passes) and what it needs. */
function checkFile(file, arch) {
  const problems = [];
  const header = readelf(['-h', '-W'], file);
  const machine = /Machine:\s+(.*)/.exec(header)?.[1]?.trim();
  if (MACHINES[arch] && machine !== MACHINES[arch]) problems.push(`is built for "${machine}", the folder says ${arch}`);

  const dynamic = readelf(['-d', '-W'], file);
  const libs = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  for (const lib of libs) if (!ALLOWED_LIBS.test(lib)) problems.push(`links ${lib}, which is not part of glibc or the GCC runtime`);

  // "Version needs" entries: `Name: GLIBC_2.28  Flags: none  Version: 5`.
  const versions = [...new Set([...readelf(['-V', '-W'], file).matchAll(/Name: (\S+)\s+Flags:/g)].map((m) => m[1]))];
  // Which symbols need which version, to name the offenders: `shm_open@GLIBC_2.34 (3)`.
  const symbols = readelf(['--dyn-syms', '-W'], file)
    .split('\n')
    .map((line) => /\sUND\s+(\S+?)@+(\S+)/.exec(line))
    .filter(Boolean)
    .map((m) => ({ name: m[1], version: m[2].replace(/\s.*$/, '') }));
  // A strong undefined symbol with no version was not found in any library at
  // link time (say dlsym without -ldl on glibc < 2.34): it would be looked up
  // in whatever the process has loaded, unchecked. Only Node's own N-API
  // functions may be unversioned.
  const unversioned = readelf(['--dyn-syms', '-W'], file)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[6] === 'UND' && f[4] === 'GLOBAL' && f[7] && !f[7].includes('@'))
    .map((f) => f[7])
    .filter((name) => !/^(napi|node_api)_/.test(name));
  if (unversioned.length) problems.push(`needs ${unversioned.join(', ')} from no library (unversioned, not N-API)`);
  const tooNew = [];
  for (const name of versions) {
    if (name === 'GLIBC_PRIVATE') {
      problems.push('needs GLIBC_PRIVATE symbols, which change between every glibc release');
      continue;
    }
    const v = parseVersion(name);
    if (!v) continue;
    if (compare(v.numbers, FLOORS[v.family]) > 0) {
      const users = symbols.filter((s) => s.version === name).map((s) => s.name);
      tooNew.push(`${name} (${users.join(', ') || 'no symbol named'})`);
    }
  }
  for (const entry of tooNew) {
    problems.push(`needs ${entry}, newer than the floor ${Object.entries(FLOORS).map(([k, v]) => `${k}_${v.join('.')}`).join(' / ')}`);
  }
  return { problems, libs, versions: versions.sort() };
}

function main() {
  const args = process.argv.slice(2);
  let expect = [];
  const e = args.indexOf('--expect');
  if (e >= 0) {
    expect = args[e + 1].split(',');
    args.splice(e, 2);
  }
  const dir = path.resolve(args[0] || 'prebuilds');
  let failed = false;
  const folders = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isDirectory()) : [];
  for (const want of expect) {
    const files = folders.includes(want) ? fs.readdirSync(path.join(dir, want)).filter((f) => f.endsWith('.node')) : [];
    if (files.length === 0) {
      console.error(`FAIL ${want}: no prebuild in ${path.join(dir, want)}`);
      failed = true;
    }
  }
  let checked = 0;
  for (const folder of folders.sort()) {
    const arch = folder.split('-')[1];
    for (const name of fs.readdirSync(path.join(dir, folder)).filter((f) => f.endsWith('.node')).sort()) {
      const file = path.join(dir, folder, name);
      checked++;
      const musl = name.includes('.musl.');
      const { problems, libs, versions } = checkFile(file, arch);
      // A musl build needs no glibc versions at all; any GLIBC_ name means it is mislabelled.
      if (musl && versions.some((v) => v.startsWith('GLIBC_'))) problems.push('is tagged musl but needs glibc versions');
      const label = path.join(folder, name);
      if (problems.length) {
        failed = true;
        for (const p of problems) console.error(`FAIL ${label}: ${p}`);
      } else {
        console.log(`ok   ${label}: links ${libs.join(' ')}; needs ${versions.join(' ') || 'no versioned symbols'}`);
      }
    }
  }
  if (checked === 0) {
    console.error(`FAIL no .node files under ${dir}`);
    failed = true;
  }
  process.exit(failed ? 1 : 0);
}

if (require.main === module) main();

module.exports = { checkFile, FLOORS };
