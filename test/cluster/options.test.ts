/**
 * runCluster()'s and clientAddress()'s bad input: refused with a TypeError /
 * RangeError naming the option, before anything is set up or forked.
 */
import net from 'node:net';
import t from 'tap';
import { clientAddress, runCluster } from '../../src/index';

const init = () => net.createServer();

t.test('runCluster refuses bad arguments before it forks anything', async (t) => {
  await t.rejects(runCluster(undefined as never), { name: 'TypeError', message: /init must be a function/ });
  await t.rejects(runCluster(init, 'x' as never), { name: 'TypeError', message: /options must be an object/ });
  await t.rejects(runCluster(init, { wokers: 2 } as never), { name: 'TypeError', message: /unknown option 'wokers' \(did you mean 'workers'\?\)/ });
  await t.rejects(runCluster(init, { concurrency: 2 } as never), { name: 'TypeError', message: /unknown option 'concurrency'/ });
  await t.rejects(runCluster(init, { workers: 0 }), { name: 'RangeError', message: /workers must be an integer from 1/ });
  await t.rejects(runCluster(init, { port: 70000 }), { name: 'RangeError', message: /port/ });
  await t.rejects(runCluster(init, { sticky: 'cookie' as never }), { name: 'TypeError', message: /sticky must be 'ip', 'none' or a function/ });
  await t.rejects(runCluster(init, { sticky: 'none', proxyProtocol: true }), { name: 'TypeError', message: /proxyProtocol needs the primary/ });
  await t.rejects(runCluster(init, { proxyProtocol: 'yes' as never }), { name: 'TypeError', message: /proxyProtocol must be a boolean/ });
  await t.rejects(runCluster(init, { hardShutdownDelay: -1 }), { name: 'RangeError', message: /hardShutdownDelay/ });
  await t.rejects(runCluster(init, { env: { A: '1' } as never }), { name: 'TypeError', message: /env must be a function/ });
  await t.rejects(runCluster(init, { logger: { info: 'x' } as never }), { name: 'TypeError', message: /logger.info must be a function/ });
  await t.rejects(runCluster(init, { shutdownSignals: ['INT'] as never }), { name: 'TypeError', message: /shutdownSignals/ });
  await t.rejects(runCluster(init, { cache: 'big' as never }), { name: 'TypeError', message: /cache must be/ });
  await t.rejects(runCluster(init, { cache: { itms: 5 } as never }), { name: 'TypeError', message: /unknown option 'itms'/ }, 'cache options are setupSharedCache()\'s, checked too');
});

t.test('a port in use rejects runCluster with the listen error, and nothing is left behind', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  await t.rejects(runCluster(init, { port, host: '127.0.0.1', workers: 1, shutdownSignals: [] }), { code: 'EADDRINUSE' });
  t.equal(process.env.TLS_SHM_CACHE_HANDLE, undefined, 'the shared cache was closed and withdrawn');
});

t.test('clientAddress refuses what is not a socket', async (t) => {
  t.throws(() => clientAddress(null as never), { name: 'TypeError', message: /clientAddress: socket must be/ });
  t.throws(() => clientAddress('127.0.0.1' as never), TypeError);
  t.equal(clientAddress(new net.Socket()), undefined, 'an unconnected socket has no address');
});
