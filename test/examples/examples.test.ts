/**
 * The examples run and do what their comments say: each is started as a
 * user would (node examples/X.js 0) against the built package (dist/, made
 * by `npm test`'s pretest), and checked with a real client.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { nodeRequest, opensslReconnect, opensslRequest } from '../tls/fixtures/clients';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { childEnv, waitUntil } from '../tls/fixtures/harness';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

/** Starts an example with port 0; resolves with the first port it prints. */
async function start(t: Test, name: string, env: Record<string, string> = {}, extra: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  // Plain node: the examples are JavaScript on the built package, like a user's app.
  const child = spawn(process.execPath, [path.join(EXAMPLES, name), '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  let output = '';
  let exited = false;
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', () => (exited = true));
  t.teardown(async () => {
    if (exited) return;
    child.kill('SIGINT'); // the examples close their cache on Ctrl-C
    await waitUntil(() => exited, `${name} to stop`, 5000).catch(() => child.kill('SIGKILL'));
  });
  const port = () => /listening on (?:https:\/\/localhost:)?(\d+)/.exec(output)?.[1];
  await waitUntil(() => port() !== undefined || exited, `${name} to listen`, 20000);
  if (!port()) throw new Error(`${name} did not start:\n${output}`);
  return { child, port: Number(port()) };
}

t.before(() => {
  if (!fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'index.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
});

t.test('cluster.js resumes session IDs across its workers', async (t) => {
  const { port } = await start(t, 'cluster.js');
  const outcomes = await opensslReconnect(port, ['-no_ticket', '-tls1_2']);
  t.ok(outcomes.filter((o) => o === 'Reused').length >= 5, outcomes.join(' '));
});

t.test('single-process.js resumes from its private cache', async (t) => {
  const { port } = await start(t, 'single-process.js');
  t.same(await opensslReconnect(port, ['-no_ticket', '-tls1_2']), ['New', 'Reused', 'Reused', 'Reused', 'Reused', 'Reused']);
});

t.test('masterless.js: two processes with different arguments share sessions through the file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-cache-masterless-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // One application: both processes serve the same certificate (the session
  // ID context depends on it, so processes with different ones share nothing).
  const cert = makeTestCertificate();
  t.teardown(cert.cleanup);
  const env = { TLS_SHM_CACHE_PATH: path.join(dir, 'sessions.cache'), TLS_CERT: cert.certPath, TLS_KEY: cert.keyPath };
  const a = await start(t, 'masterless.js', env);
  const b = await start(t, 'masterless.js', env, ['--another-argument']);
  const file = path.join(dir, 'session.pem');
  const flags = ['-no_ticket', '-tls1_2'];
  t.equal((await opensslRequest(a.port, { flags, sessOut: file })).reused, false);
  t.equal((await opensslRequest(b.port, { flags, sessIn: file })).reused, true, 'a session made by one resumes on the other');
});

t.test('sticky-balancer.js: tickets resume on whichever worker gets the socket', async (t) => {
  const { port } = await start(t, 'sticky-balancer.js');
  let session = (await nodeRequest(port)).session;
  const pids = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const r = await nodeRequest(port, { session });
    t.equal(r.reused, true, `request ${i + 2} resumed`);
    session = r.session ?? session;
    pids.add(r.pid);
  }
  t.equal(pids.size, 2, 'on both workers');
});

t.test('socket-io.js: polling clients talk to one worker each; TLS session IDs resume through the runner', async (t) => {
  const { port } = await start(t, 'socket-io.js');
  const { io } = await import('socket.io-client');
  for (let i = 0; i < 3; i++) {
    const socket = io(`https://127.0.0.1:${port}`, { transports: ['polling'], rejectUnauthorized: false, reconnection: false, forceNew: true });
    t.teardown(() => socket.close());
    const replies: string[] = [];
    for (let m = 0; m < 3; m++) replies.push(await socket.timeout(20000).emitWithAck('echo', `m${m}`));
    t.match(replies[0], /^worker \d \(pid \d+\) to 127\.0\.0\.1: m0$/, `client ${i + 1}: echoed, with the client's address`);
    t.equal(new Set(replies.map((r) => r.split(' ')[1])).size, 1, `client ${i + 1}: one worker answered all its messages`);
    socket.close();
  }
  // Plain TLS to the same port: the runner set the shared session cache up.
  const outcomes = await opensslReconnect(port, ['-no_ticket', '-tls1_2']);
  t.ok(outcomes.filter((o) => o === 'Reused').length >= 5, `session IDs resume: ${outcomes.join(' ')}`);
});
