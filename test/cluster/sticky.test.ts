/**
 * Sticky routing through runCluster(): clients from 39 loopback source
 * addresses (127.0.0.2 … 127.0.0.40), real TLS, real worker processes.
 */
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { info, sources, startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

/** Which worker index serves each source address. */
async function route(port: number, addresses: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const localAddress of addresses) out.set(localAddress, (await info(port, { localAddress })).index);
  return out;
}

t.test('each address always reaches the same worker, all workers get addresses, a dead worker moves only its own', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 3, respawnDelay: 5000 } });
  const addresses = sources(39);
  const first = await route(runner.port, addresses);
  const again = await route(runner.port, addresses);
  t.same([...again], [...first], 'the same worker for every address, twice over');
  const counts = [0, 1, 2].map((i) => [...first.values()].filter((w) => w === i).length);
  t.ok(counts.every((c) => c > 0), `the addresses spread over all 3 workers (${counts.join('/')})`);

  const before = await runner.workers();
  const victim = before.find((w) => w.index === 1)!;
  process.kill(victim.pid!, 'SIGKILL');
  // respawnDelay (5 s) keeps index 1 down while the addresses are routed again.
  await runner.cluster.waitFor(() => true, 'noop');
  const isDown = async () => !(await runner.workers()).find((w) => w.index === 1)!.ready;
  const deadline = Date.now() + 20000;
  while (!(await isDown())) {
    if (Date.now() > deadline) throw new Error('the killed worker was never seen down');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const during = await route(runner.port, addresses);
  t.ok(await isDown(), 'index 1 was down for the whole pass');
  for (const [address, worker] of first) {
    if (worker === 1) t.not(during.get(address), 1, `${address} moved off the dead worker`);
    else t.equal(during.get(address), worker, `${address} stayed on worker ${worker}`);
  }

  await waitForReady(runner, 1, victim.pid!);
  const after = await runner.workers();
  const replacement = after.find((w) => w.index === 1)!;
  t.not(replacement.pid, victim.pid, 'a new process holds index 1');
  t.same(
    after.filter((w) => w.index !== 1).map((w) => w.pid),
    before.filter((w) => w.index !== 1).map((w) => w.pid),
    'the other workers were left alone',
  );
  const back = await route(runner.port, addresses);
  t.same([...back], [...first], 'the replacement takes the same index and gets back exactly the addresses of the dead worker');
  const extra = await info(runner.port, { localAddress: [...first].find(([, w]) => w === 1)![0] });
  t.equal(extra.extra, 'extra-1', 'env(index) reached the replacement');
});

async function waitForReady(runner: Awaited<ReturnType<typeof startRunner>>, index: number, oldPid: number): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    const w = (await runner.workers()).find((x) => x.index === index)!;
    if (w.ready && w.pid !== oldPid) return;
    if (Date.now() > deadline) throw new Error(`worker ${index} was not replaced`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
