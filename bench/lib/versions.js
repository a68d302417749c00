'use strict';
// Versions of the competitors, recorded with each result. Read from the
// package.json files directly: some packages (lmdb) do not export it.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** The installed version of an npm package, or null. */
function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

module.exports = { packageVersion };
