/**
 * A balancer that hands sockets to workers (sticky-session style:
 * net.createServer({ pauseOnConnect: true }) in the primary, worker.send(
 * 'connection', socket), server.emit('connection', socket) in the worker).
 * The workers never listen(), so Node's cluster never copies a ticket key
 * between them: each has its own random key, and a ticket from one worker is
 * refused by the other. Only the cluster key from the segment makes tickets
 * resume across workers; the `tickets: false` run shows that this test
 * measures exactly that.
 */
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest, NodeRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

/** Six requests, each resuming the ticket of the previous one; the balancer alternates workers. */
async function chain(port: number, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<NodeRequest[]> {
  const results: NodeRequest[] = [];
  let session: Buffer | undefined;
  for (let i = 0; i < 6; i++) {
    const r = await nodeRequest(port, { session, maxVersion });
    results.push(r);
    session = r.session ?? session;
  }
  return results;
}

/** Resumed handshakes whose ticket came from the other worker (the previous request's). */
function crossWorkerResumptions(results: NodeRequest[]): { tried: number; resumed: number } {
  let tried = 0;
  let resumed = 0;
  for (let i = 1; i < results.length; i++) {
    if (results[i].pid === results[i - 1].pid) continue;
    tried++;
    if (results[i].reused) resumed++;
  }
  return { tried, resumed };
}

t.test('tickets resume across workers behind a socket-passing balancer', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}], balancer: true });
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const results = await chain(cluster.balancerPort, maxVersion);
    t.ok(results.every((r) => r.protocol === maxVersion), maxVersion);
    const { tried, resumed } = crossWorkerResumptions(results);
    t.equal(tried, 5, `${maxVersion}: each request went to the other worker`);
    t.equal(resumed, tried, `${maxVersion}: every ticket resumed on the worker that did not issue it`);
  }
});

t.test('without the shared key (tickets: false) the same traffic does not resume across workers', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: { tickets: false }, workers: 2, servers: [{}], balancer: true });
  const results = await chain(cluster.balancerPort, 'TLSv1.3');
  const { tried, resumed } = crossWorkerResumptions(results);
  t.equal(tried, 5, 'each request went to the other worker');
  t.equal(resumed, 0, "no worker could decrypt the other's tickets");
  const stats = (await cluster.command<{ stats: { ticketKey: { generation: number; applied: number } } }>('stats')).stats;
  t.equal(stats.ticketKey.generation, 0, 'no cluster key was published');
  t.equal(stats.ticketKey.applied, 0, 'and none applied');
});
