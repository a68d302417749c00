'use strict';
// The marginal cost of the session stream, for the README's scaling on paper:
// on a real redis-server, `--entries` sealed sessions in the tier's own entry
// format are added with XADD MAXLEN ~ (pipelined, as the publisher does) and
// then read in full by `--readers` hosts with XREAD COUNT 512 (as each host
// does). Redis's own CPU (INFO used_cpu_user + sys) and network bytes are
// measured around each phase; the host-side cost of sealing and of opening +
// inserting one session is timed in this process.
//
//   node bench/remote/redis-cost.js [--entries 20000] [--readers 4]
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { parseArgs } = require('../lib/args');
const { createClient, RESP_TYPES } = require('redis');
const { deriveKeys, seal, open, sessionAad } = require('../../dist/remote/seal.js');
const { SharedCache } = require('../../dist/index.js');

const args = parseArgs(process.argv.slice(2), { entries: 20000, readers: 4, out: path.join(__dirname, '..', 'results', 'remote-redis-cost.json') });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  while (spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') await sleep(50);
  const info = () => {
    const text = execFileSync('redis-cli', ['-p', String(port), 'INFO'], { encoding: 'utf8' });
    const get = (k) => Number((new RegExp(`^${k}:([0-9.]+)`, 'm').exec(text) || [])[1] || 0);
    return { cpu: get('used_cpu_user') + get('used_cpu_sys'), netIn: get('total_net_input_bytes'), netOut: get('total_net_output_bytes') };
  };
  const connect = async () => {
    const c = createClient({ url: `redis://127.0.0.1:${port}` }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    await c.connect();
    return c;
  };
  const keys = deriveKeys([Buffer.from('benchmark secret, at least sixteen bytes')], 'session');
  // A TLS 1.2 session DER is about 160 bytes (README: sizing); its content does not matter to the cost.
  const der = crypto.randomBytes(160);
  const host = crypto.randomBytes(8).toString('hex');

  // Host side: seal one session (publisher), open + insert one (every other host).
  const n = args.entries;
  const ids = Array.from({ length: n }, () => crypto.randomBytes(32));
  const expires = Date.now() + 300000;
  let t0 = process.hrtime.bigint();
  const sealed = ids.map((id) => seal(keys[0], der, sessionAad('default', id, expires, host)));
  const sealNs = Number(process.hrtime.bigint() - t0) / n;
  const cache = SharedCache.create({ items: n, timeout: 300 });
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const plain = open(keys, sealed[i], sessionAad('default', ids[i], expires, host));
    cache.set(ids[i], plain, 300); // the default namespace's key: the session ID (src/tls/session-key.ts)
  }
  const applyNs = Number(process.hrtime.bigint() - t0) / n;
  cache.close();

  const writer = await connect();
  await sleep(300);
  let before = info();
  for (let i = 0; i < n; i += 512) {
    await Promise.all(
      ids.slice(i, i + 512).map((id, k) =>
        writer.sendCommand(['XADD', 'tls-shm-cache:sessions', 'MAXLEN', '~', '1000000', '*', 'k', 's', 'o', host, 'p', 'abcd1234', 'q', String(i + k + 1), 'n', 'default', 'i', id, 'e', String(expires), 't', String(Date.now()), 'c', sealed[i + k]]),
      ),
    );
  }
  let after = info();
  const write = { cpuUs: ((after.cpu - before.cpu) / n) * 1e6, inBytes: (after.netIn - before.netIn) / n, outBytes: (after.netOut - before.netOut) / n };
  const memory = Number(spawnSync('redis-cli', ['-p', String(port), 'MEMORY', 'USAGE', 'tls-shm-cache:sessions', 'SAMPLES', '0'], { encoding: 'utf8' }).stdout.trim()) / n;

  const readers = await Promise.all(Array.from({ length: args.readers }, connect));
  await sleep(300);
  before = info();
  await Promise.all(
    readers.map(async (r) => {
      let last = '0';
      for (;;) {
        const reply = await r.sendCommand(['XREAD', 'COUNT', '512', 'STREAMS', 'tls-shm-cache:sessions', last]);
        if (!reply) break;
        const entries = Array.isArray(reply) ? reply[0][1] : Object.values(reply)[0];
        if (!entries || entries.length === 0) break;
        last = String(entries[entries.length - 1][0]);
      }
    }),
  );
  after = info();
  const reads = n * args.readers;
  const read = { cpuUs: ((after.cpu - before.cpu) / reads) * 1e6, inBytes: (after.netIn - before.netIn) / reads, outBytes: (after.netOut - before.netOut) / reads };
  for (const c of [writer, ...readers]) c.destroy();
  redis.kill('SIGKILL');
  const result = { entries: n, readers: args.readers, sealNs, applyNs, write, read, streamBytesPerEntry: memory };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
  console.log(`per session published: Redis CPU ${write.cpuUs.toFixed(2)} µs, ${Math.round(write.inBytes)} B in, ${Math.round(write.outBytes)} B out; stream memory ${Math.round(memory)} B`);
  console.log(`per session read by one host: Redis CPU ${read.cpuUs.toFixed(2)} µs, ${Math.round(read.outBytes)} B out, ${read.inBytes.toFixed(1)} B in`);
  console.log(`host side: seal ${(sealNs / 1000).toFixed(2)} µs per published session; open + insert ${(applyNs / 1000).toFixed(2)} µs per applied session`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
