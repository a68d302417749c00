/**
 * The scaling benchmarks run end to end on tiny parameters (so they cannot
 * rot): bench:native (the C++ table and the IPC floor, with the JavaScript
 * layers beside them) and bench:tls's workers sweep. As in bench.test.ts,
 * nothing asserts a time or a speed; these check that every case was really
 * measured, succeeded, and was recorded.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { runScript, tempResults, checkResultFiles } from './fixtures/bench-run';

// Each run writes to its own directory; the scale model reads all three.
const dirs = { tls: tempResults(t), native: tempResults(t), micro: tempResults(t), model: tempResults(t) };

t.test('bench:tls --workers 1,2 sweeps the cluster size and keeps worker and primary CPU apart', async (t) => {
  const dir = dirs.tls;
  const run = await runScript(
    t,
    'bench/tls/run.js',
    ['--workers', '1,2', '--stores', 'none,ipc,shm', '--clients', 'tls12-id,tls13-ticket', '--balancers', 'rr', '--duration', '0.4', '--warmup', '0.3', '--concurrency', '1', '--waitIdle', '0', '--results', dir],
    120_000,
  );
  t.equal(run.code, 0, `bench:tls exits 0 (stderr: ${run.stderr.slice(-500)})`);
  const result = checkResultFiles(t, dir, 'tls');
  t.same(result.parameters.workers, [1, 2]);
  for (const store of ['ipc', 'shm']) {
    for (const workers of [1, 2]) {
      const c = result.cells.find((x: any) => x.store === store && x.workers === workers && x.client === 'tls12-id');
      t.ok(c, `${store} with ${workers} worker(s) was measured`);
      if (!c) continue;
      t.ok(c.handshakes > 0, `${store} x${workers}: handshakes happened`);
      t.equal(c.perWorkerHandshakes.length, workers, `${store} x${workers}: the cluster had ${workers} worker(s)`);
      t.ok(c.workerCpuUsPerHandshake > 0 && c.primaryCpuUsPerHandshake >= 0, `${store} x${workers}: worker and primary CPU per handshake`);
      // A TLS 1.2 client without tickets resumes by session ID: a lookup on every resumed handshake.
      t.ok(c.lookupsPerHandshake > 0.9, `${store} x${workers}: about one session lookup per handshake (${c.lookupsPerHandshake})`);
    }
  }
  t.match(fs.readFileSync(path.join(dir, 'tls.md'), 'utf8'), /## Workers sweep/, 'tls.md has the workers sweep');
});

t.test('bench:native builds the C++ benchmark, runs it and records the table with the JavaScript layers', async (t) => {
  const dir = dirs.native;
  const run = await runScript(
    t,
    'bench/native/run.js',
    ['--items', '200', '--ms', '30', '--rounds', '1', '--jsDuration', '0.03', '--waitIdle', '0', '--results', dir],
    170_000,
  );
  t.equal(run.code, 0, `bench:native exits 0 (stderr: ${run.stderr.slice(-500)})`);
  for (const ext of ['json', 'md', 'svg']) t.ok(fs.existsSync(path.join(dir, `native.${ext}`)), `native.${ext} written`);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8'));
  t.equal(result.benchmark, 'native');
  t.equal(result.machine.cores >= 1, true, 'machine recorded');
  const names = result.native.cases.map((c: any) => `${c.name}/${c.valueBytes}`);
  for (const expected of ['get/160', 'set (replace)/160', 'get, 2 processes at once/160', 'get/1000', 'set (replace)/1000', 'set (new key, evicts)/160', 'write lock + unlock, uncontended/0', 'round trip, Unix domain socket/160', 'round trip, pipes/160']) {
    t.ok(names.includes(expected), `native case ${expected} measured`);
  }
  for (const c of result.native.cases) {
    t.ok(c.medianNs > 0 && c.p99Ns >= c.medianNs && c.ops > 0, `${c.name}, ${c.valueBytes} B: median, p99, ops`);
    // Every get hits, every set stores, every round trip brought back its own answer.
    t.equal(c.okRatio, 1, `${c.name}, ${c.valueBytes} B: every operation succeeded`);
  }
  t.equal(result.native.cases.find((c: any) => c.processes === 2 && c.op === 'get').processes, 2, 'two readers ran');
  for (const layer of ['binding', 'SharedCache']) {
    for (const op of ['get', 'set']) {
      for (const valueBytes of [160, 1000]) {
        const c = result.js.find((x: any) => x.layer === layer && x.op === op && x.valueBytes === valueBytes);
        t.ok(c && c.medianNs > 0 && c.okRatio === 1, `JavaScript ${layer} ${op} ${valueBytes} B measured, every call succeeded`);
      }
    }
  }
  const md = fs.readFileSync(path.join(dir, 'native.md'), 'utf8');
  t.match(md, /^\| operation \|/m, 'native.md has the C++ table');
  t.match(md, /N-API call/, 'native.md splits the JavaScript cost');
  t.ok(fs.readFileSync(path.join(dir, 'native.svg'), 'utf8').startsWith('<svg'), 'the chart is an SVG document');
  t.match(run.stdout, /round trip, Unix domain socket/, 'the table is printed');
});

t.test('bench:model projects both stores from the recorded native, micro and tls results', async (t) => {
  const micro = await runScript(
    t,
    'bench/micro/run.js',
    ['--duration', '0.1', '--warmup', '0.05', '--rounds', '1', '--items', '100', '--workers', '1', '--drivers', 'ipc', '--pollMs', '0', '--waitIdle', '0', '--results', dirs.micro],
    60_000,
  );
  t.equal(micro.code, 0, `bench:micro (ipc) exits 0 (stderr: ${micro.stderr.slice(-500)})`);
  const run = await runScript(
    t,
    'bench/model/run.js',
    ['--native', path.join(dirs.native, 'native.json'), '--micro', path.join(dirs.micro, 'micro.json'), '--tls', path.join(dirs.tls, 'tls.json'), '--results', dirs.model],
    60_000,
  );
  t.equal(run.code, 0, `bench:model exits 0 (stderr: ${run.stderr.slice(-500)})`);
  const result = JSON.parse(fs.readFileSync(path.join(dirs.model, 'model.json'), 'utf8'));
  t.same(result.kinds.map((k: any) => k.kind), ['tls12-full', 'tls12-resumed', 'tls13-ticket'], 'all three handshake kinds are modelled');
  for (const k of result.kinds) {
    t.ok(k.workerCpuUs.shm > 0 && k.workerCpuUs.ipc > 0, `${k.kind}: worker CPU per handshake from the sweep`);
    t.ok(k.ipcPrimaryUsPerHandshake > 0 && k.ipcBottleneckCores > 1, `${k.kind}: the IPC primary's share and its bottleneck`);
  }
  for (const n of [8, 16, 64]) {
    for (const store of ['shm', 'ipc']) {
      t.ok(result.projections.some((p: any) => p.cores === n && p.store === store && p.handshakesPerSec > 0), `${store} projected at ${n} cores`);
    }
  }
  // The model's own arithmetic: the IPC store never beats the primary's cap, shm has no cap but its lock.
  for (const p of result.projections.filter((x: any) => x.store === 'ipc')) {
    const k = result.kinds.find((x: any) => x.kind === p.kind);
    t.ok(p.handshakesPerSec <= k.ipcPrimaryCapPerSec * 1.0001, `ipc ${p.kind} at ${p.cores} cores stays under the primary's cap`);
  }
  t.ok(result.lock.holdNs > 0 && result.lock.utilisation > 0 && result.lock.utilisation < 1, 'the write lock utilisation at 64 cores is computed');
  t.ok(result.measured.length > 0, 'the measured points are carried for the chart');
  t.ok(fs.readFileSync(path.join(dirs.model, 'model.svg'), 'utf8').startsWith('<svg'), 'the chart is an SVG document');
  t.match(fs.readFileSync(path.join(dirs.model, 'model.md'), 'utf8'), /## Projected handshakes\/s/, 'model.md has the projection table');
});
