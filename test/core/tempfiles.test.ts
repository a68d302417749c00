import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SharedCache } from '../../src';

t.test('creating a file cache removes temporary files a killed creator left, and nothing else', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-cache-tmp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A pid that is certainly gone: a child that has already exited.
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
  const file = path.join(dir, 'cache.bin');
  const stale = `cache.bin.${deadPid}.0123456789abcdef.tmp`;
  const live = `cache.bin.${process.pid}.0123456789abcdef.tmp`; // a creator still at work
  const oddShape = `cache.bin.${deadPid}.not-hex.tmp`;
  const otherCache = `other.bin.${deadPid}.0123456789abcdef.tmp`;
  for (const name of [stale, live, oddShape, otherCache]) fs.writeFileSync(path.join(dir, name), '');

  const cache = SharedCache.create({ items: 16, blocksize: 64, timeout: 10, path: file });
  t.teardown(() => cache.close());

  const left = fs.readdirSync(dir).sort();
  t.notOk(left.includes(stale), 'the dead creator’s temporary file is gone');
  t.same(left, ['cache.bin', live, oddShape, otherCache].sort(), 'everything else is untouched');
});
