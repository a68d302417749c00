#!/usr/bin/env node
'use strict';
// npm's prepack hook (`npm pack`, `npm publish`): refuses to pack a tarball
// that users without a compiler could not install. It needs:
//   - prebuilds/linux-x64 and prebuilds/linux-arm64 (glibc), made by
//     `npm run prebuildify`;
//   - each within the glibc 2.28 / GCC 8 floor (scripts/check-prebuilds.js);
//   - none older than the native sources it was built from (a prebuild made
//     before an edit to native/ or binding.gyp would ship the old code).
// There is no override: a tarball without prebuilds is never what we mean.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const REQUIRED = ['linux-x64', 'linux-arm64'];

function fail(message) {
  console.error(`prepack: ${message}`);
  console.error('prepack: run `npm run prebuildify` (needs root; see README "Platforms, building, prebuilds") and pack again');
  process.exit(1);
}

const prebuilds = path.join(ROOT, 'prebuilds');
const addons = [];
for (const target of REQUIRED) {
  const dir = path.join(prebuilds, target);
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.glibc\.node$/.test(f)) : [];
  if (found.length !== 1) fail(`expected one glibc prebuild in prebuilds/${target}, found ${found.length}`);
  addons.push(path.join(dir, found[0]));
}

const sources = [
  path.join(ROOT, 'binding.gyp'),
  ...fs.readdirSync(path.join(ROOT, 'native')).filter((f) => /\.(cc|h)$/.test(f)).map((f) => path.join(ROOT, 'native', f)),
];
const newest = sources.reduce((a, b) => (fs.statSync(a).mtimeMs >= fs.statSync(b).mtimeMs ? a : b));
for (const addon of addons) {
  if (fs.statSync(addon).mtimeMs < fs.statSync(newest).mtimeMs) {
    fail(`${path.relative(ROOT, addon)} is older than ${path.relative(ROOT, newest)}: it may not hold the current native code`);
  }
}

const check = spawnSync(process.execPath, [path.join(__dirname, 'check-prebuilds.js'), prebuilds, '--expect', REQUIRED.join(',')], {
  stdio: ['ignore', 2, 2], // stdout is npm pack --json's
});
if (check.status !== 0) fail('the prebuilds need symbol versions newer than the floor (above)');
