/**
 * The runner's end: graceful shutdown finishes a slow request, a request
 * still running past hardShutdownDelay is cut, SIGINT to the primary leaves
 * no process and no /dev/shm segment. (Start and respawn: startup.test.ts.)
 */
import fs from 'node:fs';
import tls from 'node:tls';
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { alive, waitUntil } from '../tls/fixtures/harness';
import { info, startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

/** Starts GET /slow/<ms>; resolves `sent` once the request is on the wire after the handshake, `done` with what came back. */
function slowRequest(port: number, ms: number) {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
  let body = '';
  const sent = new Promise<void>((resolve) => {
    socket.once('secureConnect', () => {
      socket.write(`GET /slow/${ms} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      resolve();
    });
  });
  socket.on('data', (chunk: Buffer) => (body += chunk.toString()));
  const done = new Promise<{ body: string; error?: string }>((resolve) => {
    socket.on('error', (error) => resolve({ body, error: error.message }));
    socket.on('close', () => resolve({ body }));
  });
  return { sent, done };
}

t.test('graceful shutdown lets a slow in-flight request finish, then everything stops', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 2, hardShutdownDelay: 60000 } });
  const request = slowRequest(runner.port, 2000);
  await request.sent;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const closed = runner.cluster.command('close');
  const result = await request.done;
  t.match(result.body, /^HTTP\/1\.1 200 /, 'the in-flight request got its full response');
  t.match(result.body, /\r\n\r\n\d+\n$/, 'with its body');
  await closed;
  await t.rejects(info(runner.port), 'no new connection is accepted after close()');
});

t.test('a request still running after hardShutdownDelay is cut', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 2, hardShutdownDelay: 1000 } });
  const pids = (await runner.workers()).map((w) => w.pid!);
  const request = slowRequest(runner.port, 60000);
  await request.sent;
  await new Promise((resolve) => setTimeout(resolve, 300));
  await runner.cluster.command('close');
  const result = await request.done;
  t.notMatch(result.body, /200/, 'no response came: the request was cut');
  t.ok(pids.every((pid) => !alive(pid)), 'the busy worker was killed');
});

t.test('SIGINT to the primary: no process and no /dev/shm segment is left', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 2, hardShutdownDelay: 5000 } });
  t.match(runner.handle, /^memfd:\/proc\/\d+\/fd\/\d+$/, 'the runner set up an unnamed shared-memory cache');
  const segment = runner.handle!.slice('memfd:'.length);
  t.match(fs.readlinkSync(segment), /^\/memfd:tls-shm-cache/, `${segment} exists while the cluster runs`);
  const primary = runner.cluster.child.pid!;
  const named = () => fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`tls-shm-cache.${primary}.`));
  const pids = (await runner.workers()).map((w) => w.pid!);
  t.equal(pids.length, 2);
  t.ok((await info(runner.port)).pid > 0, 'serving');
  const exited = new Promise<NodeJS.Signals | null>((resolve) => runner.cluster.child.once('exit', (_code, signal) => resolve(signal)));
  runner.cluster.child.kill('SIGINT');
  t.equal(await exited, 'SIGINT', 'the primary shut down and ended as SIGINT would have ended it');
  await waitUntil(() => pids.every((pid) => !alive(pid)), 'the workers to be gone', 10000);
  t.pass('no worker process is left');
  t.notOk(fs.existsSync(segment), 'the segment was removed');
  t.same(named(), [], 'and nothing of the primary is in /dev/shm');
});
