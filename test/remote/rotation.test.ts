/**
 * Automatic fleet rotation of the ticket ring: one host at a time rotates it
 * in Redis, a "next" key reaches every host before any seals with it, and a
 * client alternating between hosts with the ticket of its previous connection
 * keeps resuming through several rotations.
 */
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { connect, remoteSetup, sessionFile, startHost, TICKETS, waitSameRing } from './fixtures/hosts';
import { startRedis } from './fixtures/redis';

t.setTimeout(900_000);
const SECRET = 'a fleet secret of at least sixteen bytes';

t.test('a ticket client alternating hosts resumes through automatic fleet rotations', async (t) => {
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const redis = await startRedis(t);
  const setup = { ...remoteSetup(redis.url, SECRET), tickets: { rotate: 3 } };
  const a = await startHost(t, 'A', cert, setup);
  const b = await startHost(t, 'B', cert, setup);
  const first = await waitSameRing([a, b]);
  let previous: string | undefined;
  let connections = 0;
  let misses = 0;
  let generation = first;
  // Until two rotations have happened (and at least 20 connections).
  for (let i = 0; connections < 20 || generation < first + 2; i++) {
    const host = i % 2 === 0 ? a : b;
    const file = sessionFile(cert.dir, `rot-${i}`);
    const r = await connect(host, TICKETS, ['-tls1_3'], previous, file);
    if (previous !== undefined) {
      connections++;
      if (!r.reused) misses++;
    }
    previous = file;
    generation = (await a.remote()).ring.generation;
    if (i > 400) break;
  }
  t.ok(generation >= first + 2, `the fleet ring rotated from generation ${first} to ${generation}`);
  t.equal(misses, 0, `every one of ${connections} connections resumed on the other host's ticket`);
  const ra = await a.remote();
  const rb = await b.remote();
  t.ok(ra.ring.rotations + rb.ring.rotations >= 2, `rotations counted (A ${ra.ring.rotations}, B ${rb.ring.rotations})`);
  const none = { malformed: 0, unknownSecret: 0, forged: 0, backlogFull: 0, outboxLost: 0 };
  t.same([ra.dropped, rb.dropped], [none, none], 'nothing dropped on either host');
  t.equal(redis.cli(['HLEN', 'tls-shm-cache:ring:hosts']).trim(), '2', 'both hosts acknowledge the ring');
});
