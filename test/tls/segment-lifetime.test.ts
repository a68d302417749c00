/**
 * The cluster's segment is unnamed (memfd): it lives exactly as long as some
 * process maps it. However the primary and its workers die, SIGKILL included,
 * nothing is left in /dev/shm for an operator to clean up (a named segment
 * was left behind until the next start).
 */
import fs from 'node:fs';
import t from 'tap';
import { makeTestCertificate } from './fixtures/certificate';
import { nodeRequest } from './fixtures/clients';
import { alive, TestCluster, waitUntil } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

t.test('SIGKILL of the primary and every worker leaves nothing in /dev/shm', async (t) => {
  const cluster = await TestCluster.start(t, cert, { setup: {}, workers: 2, servers: [{}] });
  const primary = cluster.child.pid!;
  const { handle } = await cluster.command<{ handle: string }>('handle');
  t.match(handle, new RegExp(`^memfd:/proc/${primary}/fd/\\d+$`), 'the primary made an unnamed segment');
  t.match(fs.readlinkSync(handle.slice('memfd:'.length)), /^\/memfd:tls-shm-cache/, 'reachable through the primary\'s /proc entry');

  const first = await nodeRequest(cluster.ports[0], { maxVersion: 'TLSv1.2' });
  const again = await nodeRequest(cluster.ports[0], { maxVersion: 'TLSv1.2', session: first.session });
  t.equal(again.reused, true, 'the workers share it');

  const { pids } = await cluster.command<{ pids: number[] }>('workers');
  t.equal(pids.length, 2);
  const named = () => fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`tls-shm-cache.${primary}.`));
  t.same(named(), [], 'nothing named in /dev/shm while running');

  for (const pid of [primary, ...pids]) process.kill(pid, 'SIGKILL');
  await waitUntil(() => ![primary, ...pids].some(alive), 'every process to be gone', 15000);
  t.same(named(), [], 'and nothing after every process was SIGKILLed');
  t.notOk(fs.existsSync(handle.slice('memfd:'.length)), 'the handle names nothing any more');
});
