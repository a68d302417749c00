/**
 * The runner's benchmarks on tiny parameters: bench:hash (sticky routing
 * schemes with the real sticky-session and sticky-cluster hashes) and the
 * `sticky` balancer row of bench:tls. Checks that they run and record
 * well-formed results; no speed is asserted.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function run(script: string, args: string[], dir: string, timeout: number) {
  return spawnSync(process.execPath, [path.join(ROOT, script), ...args, '--results', dir], { cwd: ROOT, encoding: 'utf8', timeout });
}

t.test('bench:hash compares the three routing schemes and records hash.json/md/svg', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-bench-hash-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = run('bench/hash/run.js', ['--keys', '4000', '--workers', '2,5', '--repeat', '1'], dir, 60_000);
  t.equal(r.status, 0, r.status === 0 ? 'exits 0' : r.stderr.slice(-500));
  for (const ext of ['json', 'md', 'svg']) t.ok(fs.existsSync(path.join(dir, `hash.${ext}`)), `hash.${ext}`);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'hash.json'), 'utf8'));
  t.equal(result.benchmark, 'hash');
  t.equal(result.cells.length, 6, '3 schemes x 2 worker counts');
  const cell = (scheme: string, n: number) => result.cells.find((c: { scheme: string; workers: number }) => c.scheme === scheme && c.workers === n);
  // Properties of the schemes themselves (not speeds): what moves when one of 5 dies.
  t.ok(Math.abs(cell('rendezvous', 5).movedOnDeath - 0.2) < 0.05, 'rendezvous moves about 1/5 of the keys');
  t.equal(cell('rendezvous', 5).strandedOnDeath, 0, 'and strands none');
  t.ok(cell('int31', 5).movedOnDeath > 0.6, 'sticky-session moves most keys');
  t.equal(cell('djb2', 5).movedOnDeath, 0, 'sticky-cluster moves none...');
  t.ok(cell('djb2', 5).strandedOnDeath > 0.1, '...but strands the dead worker\'s');
  t.match(result.versions, { 'sticky-session': /^\d/, 'sticky-cluster': /^\d/ });
});

t.test("bench:tls's sticky balancer row runs through the runner's routing and resumes", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-bench-sticky-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = run(
    'bench/tls/run.js',
    ['--stores', 'shm', '--balancers', 'sticky', '--clients', 'tls12-id,tls13-ticket', '--concurrency', '1', '--duration', '0.4', '--warmup', '0.3', '--waitIdle', '0'],
    dir,
    150_000,
  );
  t.equal(r.status, 0, r.status === 0 ? 'exits 0' : r.stderr.slice(-500));
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'tls.json'), 'utf8'));
  for (const client of ['tls12-id', 'tls13-ticket']) {
    const c = result.cells.find((x: { client: string; balancer: string }) => x.client === client && x.balancer === 'sticky');
    t.ok(c?.handshakes > 0, `${client}: handshakes through the sticky balancer`);
    t.equal(c?.clientFailures, 0, `${client}: no client failed`);
    t.ok(c?.resumption > 0.75, `${client}: sessions resume (${c?.resumption})`);
  }
});
