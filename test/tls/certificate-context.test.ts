/**
 * The session ID context depends on the server's certificates (as nginx's
 * does): two applications with different certificates that share one cache
 * and one namespace resume nothing of each other's, neither a session ID
 * from the cache nor a ticket sealed with the shared key; and a certificate
 * reload through setSecureContext() starts new sessions.
 */
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { constants } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import { attachSharedCache } from '../../src/index';
import type { CacheStats } from '../../src/index';
import { makeTestCertificate } from './fixtures/certificate';
import type { TestCertificate } from './fixtures/certificate';
import { nodeRequest, opensslRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';
import type { MasterlessConfig } from './fixtures/masterless-server';

const certA = makeTestCertificate();
const certB = makeTestCertificate();
t.teardown(() => {
  certA.cleanup();
  certB.cleanup();
});
const TICKETS = 0;
const IDS = 1;

function start(t: Test, entry: 'a' | 'b', cert: TestCertificate, attach: MasterlessConfig['attach']): Promise<TestCluster> {
  const full: MasterlessConfig = { attach, keyPath: cert.keyPath, certPath: cert.certPath };
  return TestCluster.spawn(t, path.join(__dirname, 'fixtures', `masterless-${entry}.ts`), { TLS_TEST_MASTERLESS: JSON.stringify(full) }, 2);
}
const stats = async (p: TestCluster) => (await p.command<{ stats: CacheStats }>('stats')).stats;

t.test('two applications with different certificates on one cache resume nothing of each other', async (t) => {
  const file = path.join(certA.dir, 'shared.cache');
  const attach = { path: file, items: 1000, blocksize: 2048 };
  const appA = await start(t, 'a', certA, attach);
  const appB = await start(t, 'b', certB, attach);
  // A second process of application A (another entry script, so another argv):
  // the control, showing that what keeps B out is the certificate.
  const appA2 = await start(t, 'b', certA, attach);

  t.test('session IDs (openssl -no_ticket -tls1_2)', async (t) => {
    const session = path.join(fs.mkdtempSync(path.join(certA.dir, 'ids-')), 'session.pem');
    const flags = ['-no_ticket', '-tls1_2'];
    const made = await opensslRequest(appA.ports[IDS], { flags, sessOut: session });
    t.equal(made.reused, false);
    const before = await stats(appB);
    const inB = await opensslRequest(appB.ports[IDS], { flags, sessIn: session });
    t.equal((await stats(appB)).hits, before.hits + 1, "B's lookup found A's session in the shared cache");
    t.equal(inB.reused, false, 'but B, serving another certificate, did not resume it');
    t.equal((await opensslRequest(appA2.ports[IDS], { flags, sessIn: session })).reused, true, 'another process of A does');
  });

  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.test(`tickets (${maxVersion}), sealed with the cache's shared key`, async (t) => {
      const made = await nodeRequest(appA.ports[TICKETS], { maxVersion });
      t.equal(made.protocol, maxVersion);
      t.ok(made.session, 'A issued a ticket');
      const inB = await nodeRequest(appB.ports[TICKETS], { maxVersion, session: made.session });
      t.equal(inB.reused, false, "B does not resume A's ticket");
      const inA2 = await nodeRequest(appA2.ports[TICKETS], { maxVersion, session: made.session });
      t.equal(inA2.reused, true, 'another process of A does: same key, same context');
    });
  }
});

t.test('a certificate reload through setSecureContext() starts new sessions', async (t) => {
  const server = https.createServer({ key: certA.key, cert: certA.cert, secureOptions: constants.SSL_OP_NO_TICKET }, (_req, res) => {
    res.setHeader('connection', 'close');
    res.end(`${process.pid}\n`);
  });
  const attachment = attachSharedCache(server, { items: 100 });
  t.teardown(() => {
    attachment.detach();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const tls12 = { maxVersion: 'TLSv1.2' } as const;

  const first = await nodeRequest(port, tls12);
  t.equal((await nodeRequest(port, { ...tls12, session: first.session })).reused, true, 'resumes under the first certificate');

  server.setSecureContext({ key: certB.key, cert: certB.cert, secureOptions: constants.SSL_OP_NO_TICKET });
  const afterReload = await nodeRequest(port, { ...tls12, session: first.session });
  t.equal(afterReload.reused, false, 'a session made under the old certificate is not resumed under the new one');
  t.equal(
    (await nodeRequest(port, { ...tls12, session: afterReload.session })).reused,
    true,
    'sessions made under the new certificate resume',
  );
  t.equal(attachment.cache.stats().hits >= 2, true, 'from the shared cache');

  server.setSecureContext({ key: certB.key, cert: certB.cert, secureOptions: constants.SSL_OP_NO_TICKET });
  t.equal(
    (await nodeRequest(port, { ...tls12, session: afterReload.session })).reused,
    true,
    'reloading the same certificate keeps its sessions',
  );
});
