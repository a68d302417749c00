/**
 * Counter totals are monotonic by construction and exact: sums taken without
 * a lock, continuously, while processes attach, close and are SIGKILLed never
 * go back (a Prometheus scrape must never see a counter reset), and at the end
 * they equal exactly what every process did. Counts are never moved between
 * stripes: a stripe whose owner left keeps them and its next owner adds on top.
 */
import t from 'tap';
import { SharedCache } from '../../src/index';
import { spawnFixture, waitFor } from './fixtures/harness';

t.test('sums never go back while processes attach, close and die, and end exact', async (t) => {
  const cache = SharedCache.create({ items: 64, blocksize: 64, timeout: 600 });
  t.teardown(() => cache.close());
  const key = 'the-key';
  t.ok(cache.set(Buffer.from(key), Buffer.from('v')));

  const sampler = spawnFixture(t, 'counter-sampler.ts', [cache.handle]);
  await sampler.next('ready');

  // Two processes attach and close in a tight loop; meanwhile others attach,
  // read, and are SIGKILLed while attached.
  const loops = [1, 2].map(() =>
    spawnFixture(t, 'counter-churn.ts', [JSON.stringify({ handle: cache.handle, key, mode: 'loop', gets: 5, cycles: 1500 })]),
  );
  let expected = 0;
  for (let i = 0; i < 6; i++) {
    const victim = spawnFixture(t, 'counter-churn.ts', [JSON.stringify({ handle: cache.handle, key, mode: 'stay', gets: 50 + i })]);
    expected += Number((await victim.next('stay', 60_000)).hits);
    const exit = await victim.kill('SIGKILL');
    t.equal(exit.signal, 'SIGKILL');
  }
  for (const loop of loops) expected += Number((await loop.next('done', 120_000)).hits);

  sampler.send({ cmd: 'stop' });
  const report = await sampler.next('sampled', 60_000);
  t.ok(Number(report.samples) > 1000, `sampled continuously (${report.samples} sums)`);
  t.equal(report.backward, 0, `no total went back (${report.first || 'none'})`);

  t.equal(expected, 6 * 50 + 15 + 2 * 1500 * 5, 'every read was a hit');
  const final = cache.stats();
  t.equal(final.hits, expected, 'the total is exactly what the processes did, killed ones included');
  t.ok(Number((report.last as { hits: number }).hits) <= final.hits);
  // The loop and sampler processes reported and are exiting: once they are
  // gone (and the killed ones reaped), only this process holds a stripe.
  await waitFor('the other processes to leave', () => cache.stats().attached === 1, 30_000);
  t.equal(cache.stats().attached, 1, 'only this process is still attached');
  t.equal(cache.stats().hits, expected, 'and the total did not move as they left');
});
