/**
 * socket.io over HTTPS with the polling transport only, the case sticky
 * balancers exist for: a client's handshake and every later poll must reach
 * the worker that holds its session. Through runCluster() (sticky by
 * address) clients connect and exchange messages; with `sticky: 'none'`
 * (Node's round-robin) the same clients fail.
 */
import t from 'tap';
import { io } from 'socket.io-client';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

interface Outcome {
  ok: boolean;
  /** The pids that answered the client's messages. */
  pids: string[];
  error?: string;
}

/** One client: connect over polling, send three echoes, disconnect. */
function session(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = io(`https://127.0.0.1:${port}`, {
      transports: ['polling'],
      rejectUnauthorized: false,
      reconnection: false,
      timeout: 20000,
      forceNew: true,
    });
    const pids: string[] = [];
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      socket.close();
    };
    const timer = setTimeout(() => finish({ ok: false, pids, error: 'timed out' }), 30000);
    socket.on('connect_error', (error: Error) => finish({ ok: false, pids, error: `connect_error: ${error.message}` }));
    socket.on('disconnect', (reason: string) => finish({ ok: false, pids, error: `disconnect: ${reason}` }));
    socket.on('connect', async () => {
      try {
        for (let i = 0; i < 3; i++) {
          const reply: string = await socket.timeout(15000).emitWithAck('echo', `m${i}`);
          if (!reply.endsWith(`:m${i}`)) throw new Error(`bad reply ${reply}`);
          pids.push(reply.split(':')[0]);
        }
        finish({ ok: true, pids });
      } catch (error) {
        finish({ ok: false, pids, error: (error as Error).message });
      }
    });
  });
}

const CLIENTS = 6;

t.test("through runCluster (sticky by address) every polling client connects and talks to one worker", async (t) => {
  const runner = await startRunner(t, cert, { socketIo: true, options: { workers: 2 } });
  const outcomes = await Promise.all(Array.from({ length: CLIENTS }, () => session(runner.port)));
  for (const [i, o] of outcomes.entries()) {
    t.ok(o.ok, `client ${i + 1}: ${o.ok ? 'three echoes' : o.error}`);
    t.equal(new Set(o.pids).size, 1, `client ${i + 1}: one worker answered all its messages`);
  }
});

t.test("with sticky: 'none' (Node's round-robin) the same clients fail", async (t) => {
  const runner = await startRunner(t, cert, { socketIo: true, options: { workers: 2, sticky: 'none' } });
  const outcomes = await Promise.all(Array.from({ length: CLIENTS }, () => session(runner.port)));
  const failed = outcomes.filter((o) => !o.ok);
  for (const o of failed) t.comment(`failed as expected: ${o.error}`);
  t.ok(failed.length >= CLIENTS / 2, `${failed.length} of ${CLIENTS} clients failed: their polls reached a worker without their session`);
});
