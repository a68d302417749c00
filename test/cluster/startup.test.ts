/**
 * The runner's start and respawn: a crash loop stops with a clear error,
 * IPv6 (::1) with an async init(), a connection that comes while no worker
 * is ready waits for the replacement. (Shutdown: lifecycle.test.ts.)
 */
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { alive, waitUntil } from '../tls/fixtures/harness';
import { info, startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

t.test('a worker whose init() always throws stops the runner with ERR_TLS_SHM_CRASH_LOOP', async (t) => {
  const error = await startRunner(t, cert, { initThrows: true, options: { workers: 1, crashLimit: 3, respawnDelay: 20 } }).then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.equal(error?.code, 'ERR_TLS_SHM_CRASH_LOOP', error?.message ?? 'runCluster did not fail');
  t.match(error?.message, /worker 0 exited 3 times/);
});

t.test('IPv6 (::1) and an async init()', async (t) => {
  const runner = await startRunner(t, cert, { initDelay: 500, options: { workers: 2, host: '::1' } });
  const r = await info(runner.port, { host: '::1' });
  t.equal(r.client.family, 'IPv6');
  t.equal(r.client.address, '::1', 'the app sees the IPv6 client');
  const again = await info(runner.port, { host: '::1' });
  t.equal(again.index, r.index, 'the same IPv6 client reaches the same worker');
});

t.test('a connection that comes while no worker is ready waits for the replacement', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 1, respawnDelay: 2000 } });
  const [only] = await runner.workers();
  process.kill(only.pid!, 'SIGKILL');
  await waitUntil(() => !alive(only.pid!), 'the worker to die', 10000);
  const down = (await runner.workers())[0];
  t.equal(down.ready, false, 'no worker is ready');
  const r = await info(runner.port);
  t.not(r.pid, only.pid, 'the request was served by the replacement');
  t.equal(r.index, 0, 'which took index 0');
});
