/**
 * Clients that authenticate with a certificate make sessions that carry it:
 * an RSA-4096 client certificate issued by an RSA-4096 CA makes a TLS 1.2
 * session of about 1.5 KB, ten typical sessions' worth. With the default configuration
 * (setupSharedCache() and attachSharedCache(server) given no blocksize or
 * maxValueBytes) it must still be stored and resume on another worker of
 * the cluster. The server asks for the certificate (requestCert) and trusts
 * only the CA; it runs with SSL_OP_NO_TICKET, so that the only way to resume
 * is the session ID, i.e. the shared cache. Real cluster workers, real
 * certificates made with openssl, Node's own client.
 */
import t from 'tap';
import type { CacheStats } from '../../src/index';
import { makeIssuedClientCertificate, makeTestCertificate } from './fixtures/certificate';
import { nodeRequest } from './fixtures/clients';
import type { NodeRequest } from './fixtures/clients';
import { TestCluster } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

type ClientHandshake = { type: 'handshake'; pid: number; reused: boolean; authorized: boolean; peerBits: number };

t.test('an RSA-4096 client certificate session resumes on another worker with the default configuration', async (t) => {
  const client = makeIssuedClientCertificate(cert.dir, 'rsa:4096');
  const cluster = await TestCluster.start(t, cert, {
    setup: {},
    workers: 2,
    servers: [{ noTicket: true, clientCaPath: client.caPath }],
  });
  const port = cluster.ports[0];
  const stats = async () => (await cluster.command<{ stats: CacheStats }>('stats')).stats;
  const handshakes = () => cluster.messages.filter((m): m is ClientHandshake => m.type === 'handshake');
  const connect = (session?: Buffer) => nodeRequest(port, { maxVersion: 'TLSv1.2', key: client.key, cert: client.cert, session });

  const empty = await stats();
  t.equal(empty.maxValueBytes, 10 * 1024, 'the default configuration (maxValueBytes 10 KiB)');
  t.equal(empty.blocksize, 96, 'and the default 96-byte blocks');
  await t.rejects(nodeRequest(port, { maxVersion: 'TLSv1.2' }), 'a client without a certificate is refused: the server really asks for one');

  const made = await connect();
  t.equal(made.reused, false, 'the first connection is a full handshake');
  t.equal(made.protocol, 'TLSv1.2');
  await cluster.waitFor(() => handshakes().length >= 1, 'the handshake report');
  t.match(handshakes()[0], { pid: made.pid, authorized: true, peerBits: 4096 }, 'the server verified the RSA-4096 certificate against the CA');

  const stored = await stats();
  t.equal(stored.sets - empty.sets, 1, 'one session stored');
  t.equal(stored.tooLarge, 0, 'none refused as too large');
  t.ok(stored.bytesStored > 1024, `and it is large: ${stored.bytesStored} bytes`);
  t.ok(stored.bytesStored < 2048, 'about 1.5 KB (README Sizing: 1519 B measured)');
  // The key (the 32-byte session ID) heads the chain: 32 + 1519 bytes.
  t.equal(stored.blocksUsed, Math.ceil((32 + stored.bytesStored) / stored.blocksize), 'in the blocks its key and size need');

  // Node's cluster hands connections to the workers in turn: try until another worker answers.
  const attempts: NodeRequest[] = [];
  for (let i = 0; i < 8 && !attempts.some((r) => r.pid !== made.pid); i++) attempts.push(await connect(made.session));
  const elsewhere = attempts.find((r) => r.pid !== made.pid);
  t.ok(elsewhere, `another worker answered (${attempts.length} attempts)`);
  t.equal(elsewhere?.reused, true, 'and resumed the session made on the first one');
  t.ok(attempts.every((r) => r.reused), 'as every attempt did');
  await cluster.waitFor(() => handshakes().length >= 1 + attempts.length, 'the handshake reports');
  const resumedThere = handshakes().find((h) => h.pid === elsewhere?.pid);
  t.match(resumedThere, { reused: true, authorized: true, peerBits: 4096 }, "its session held the client's certificate");

  const after = await stats();
  t.ok(after.hits - stored.hits >= attempts.length, 'each resumption was a cache hit');
  t.equal(after.handshakes['TLSv1.2'].cache, attempts.length, 'counted as resumed from the cache');
});
