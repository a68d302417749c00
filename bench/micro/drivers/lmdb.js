'use strict';
// lmdb-js: a memory-mapped B+tree many processes can open at once, what a user
// might pick instead of this project. One environment in a temporary
// directory, opened by every worker. Values and keys are raw bytes
// (encoding / keyEncoding 'binary'); getBinary() returns a copy like
// SharedCache.get(); putSync() is one write transaction. Durability is off
// (noSync), as a session cache needs none: with the default, every putSync
// would wait for an fsync and the set figures would measure the disk.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { packageVersion } = require('../../lib/versions');

const OPTIONS = { encoding: 'binary', keyEncoding: 'binary', noSync: true };

module.exports = {
  name: 'lmdb',
  label: 'lmdb-js',
  async: false,
  warmInEveryWorker: false,
  statsPoller: false,

  async setupPrimary() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-bench-lmdb-'));
    return {
      env: { BENCH_LMDB_PATH: path.join(dir, 'sessions.mdb') },
      describe: () => ({ lmdb: packageVersion('lmdb'), options: OPTIONS }),
      close: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },

  async openWorker(env) {
    const { open } = require('lmdb');
    const db = open({ path: env.BENCH_LMDB_PATH, ...OPTIONS });
    return {
      get: (key) => db.getBinary(key),
      set: (key, value) => db.putSync(key, value),
      close: () => db.close(),
    };
  },
};
