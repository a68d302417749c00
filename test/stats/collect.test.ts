/**
 * collectStats(): the cache's metrics registered in an application's own
 * prom-client registry (the real prom-client, a devDependency only), served
 * the same as GET /metrics.
 */
import { AggregatorRegistry, Counter, Registry } from 'prom-client';
import t, { Test } from 'tap';
import { collectStats, SharedCache, startStatsServer } from '../../src/index';
import { handshakeCounter } from '../../src/core/counters';
import { parsePrometheus, request } from './fixtures/helpers';

function newCache(t: Test): SharedCache {
  const cache = SharedCache.create({ items: 32, blocksize: 128, timeout: 60 });
  t.teardown(() => cache.close());
  return cache;
}

/** name{labels} -> value of every sample. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of parsePrometheus(text)) {
    for (const m of f.metrics) {
      const labels = Object.entries(m.labels ?? {})
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      out.set(`${f.name}{${labels}}`, Number(m.value));
    }
  }
  return out;
}

t.test('collectStats refuses what is not a cache, a stats() holder or a function', async (t) => {
  for (const bad of [undefined, null, 42, 'cache', {}, { stats: 1 }]) {
    t.throws(() => collectStats(bad as never), { name: 'TypeError', message: /collectStats: source must be/ });
  }
});

t.test('registered in a prom-client registry, the metrics read the live counters on every scrape', async (t) => {
  const cache = newCache(t);
  const registry = new Registry();
  for (const metric of collectStats(cache)) registry.registerMetric(metric as never);
  // The app's own metrics live beside ours.
  const own = new Counter({ name: 'app_requests_total', help: 'requests', registers: [registry] });
  own.inc(3);

  cache.set(Buffer.from('a'), Buffer.from('1'));
  cache.get(Buffer.from('a'));
  cache.count(handshakeCounter('TLSv1.2', 'cache'), 2);
  let s = samples(await registry.metrics());
  t.equal(s.get('tls_shm_cache_hits_total{}'), 1);
  t.equal(s.get('tls_shm_cache_handshakes_total{outcome=cache,version=TLSv1.2}'), 2);
  t.equal(s.get('app_requests_total{}'), 3);

  cache.get(Buffer.from('a'));
  cache.get(Buffer.from('b'));
  s = samples(await registry.metrics());
  t.equal(s.get('tls_shm_cache_hits_total{}'), 2, 'the next scrape sees new traffic');
  t.equal(s.get('tls_shm_cache_misses_total{}'), 1);

  registry.resetMetrics();
  s = samples(await registry.metrics());
  t.equal(s.get('tls_shm_cache_hits_total{}'), 2, 'resetMetrics() leaves the shared counters alone');
  t.equal(s.get('app_requests_total{}'), 0);
});

t.test('a prom-client registry serves the same families, types and values as GET /metrics', async (t) => {
  const cache = newCache(t);
  for (let i = 0; i < 5; i++) cache.set(Buffer.from(`k${i}`), Buffer.from('v'));
  for (let i = 0; i < 8; i++) cache.get(Buffer.from(`k${i}`));
  cache.count(handshakeCounter('TLSv1.3', 'ticket'), 7);
  const registry = new Registry();
  for (const metric of collectStats(() => cache.stats())) registry.registerMetric(metric as never);
  const server = startStatsServer(() => cache.stats());
  t.teardown(() => server.close());
  const served = (await request(`${await server.ready}/metrics`)).body;
  const mine = await registry.metrics();

  const a = parsePrometheus(served);
  const b = parsePrometheus(mine);
  t.same(
    b.map((f) => [f.name, f.type, f.help]),
    a.map((f) => [f.name, f.type, f.help]),
    'same families in the same order with the same type and help',
  );
  const sa = samples(served);
  const sb = samples(mine);
  t.same([...sb.keys()], [...sa.keys()], 'same samples');
  for (const [k, v] of sa) {
    if (/uptime|age_seconds/.test(k)) continue; // read a moment apart
    t.equal(sb.get(k), v, k);
  }
});

t.test('an OpenMetrics registry names the counter families without _total and their samples with it', async (t) => {
  const cache = newCache(t);
  cache.get(Buffer.from('nothing'));
  // (prom-client's typings pick the content type by type parameter; the constructor takes it at run time.)
  const OpenMetricsRegistry = Registry as unknown as new (contentType: string) => Registry;
  const registry = new OpenMetricsRegistry(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of collectStats(cache)) registry.registerMetric(metric as never);
  const text = await registry.metrics();
  t.match(text, /^# TYPE tls_shm_cache_misses counter$/m);
  t.match(text, /^tls_shm_cache_misses_total 1$/m);
  t.notMatch(text, /_total_total/);
  t.match(text, /# EOF\n$/);
});

t.test("prom-client's cluster aggregation does not add up the workers' copies of the shared counters", async (t) => {
  const cache = newCache(t);
  for (let i = 0; i < 3; i++) cache.get(Buffer.from(`x${i}`));
  const perWorker = async () => {
    const r = new Registry();
    for (const metric of collectStats(cache)) r.registerMetric(metric as never);
    return r.getMetricsAsJSON();
  };
  // What AggregatorRegistry does with the JSON each worker sends to the primary.
  const aggregate = (AggregatorRegistry as unknown as { aggregate(perWorker: unknown[]): Registry }).aggregate;
  const merged = aggregate([await perWorker(), await perWorker()]);
  const s = samples(await merged.metrics());
  t.equal(s.get('tls_shm_cache_misses_total{}'), 3, 'two workers reading one segment still report 3');
});

t.test('one scrape reads the segment once for all families, and each scrape reads it again', async (t) => {
  const cache = newCache(t);
  let reads = 0;
  const registry = new Registry();
  for (const metric of collectStats(() => (reads++, cache.stats()))) registry.registerMetric(metric as never);
  await registry.metrics();
  t.equal(reads, 1);
  await registry.metrics();
  await registry.getMetricsAsJSON();
  t.equal(reads, 3);
});
