/**
 * TLS resumption across the runner's workers, with real clients. All the
 * clients here connect from 127.0.0.1, so by address they would all reach one
 * worker: the runner is started with a `sticky` function that returns no key
 * (round-robin), and each test checks that the resumptions really happened on
 * a worker other than the one that made the session or ticket. The shared
 * cache (session IDs) and the cluster ticket key are set up by runCluster()
 * itself, nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { curlUrls, opensslReconnect, opensslRequest, pythonResume } from '../tls/fixtures/clients';
import { startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

t.test('session IDs resume across workers (openssl -no_ticket, curl, Python)', async (t) => {
  const runner = await startRunner(t, cert, { stickyFunction: 'rr', noTicket: true, options: { workers: 2 } });
  const outcomes = await opensslReconnect(runner.port, ['-no_ticket', '-tls1_2']);
  t.equal(outcomes[0], 'New');
  t.ok(outcomes.slice(1).filter((o) => o === 'Reused').length >= 5, `openssl: ${outcomes.join(' ')}`);

  const curl = await curlUrls(runner.port, 6, ['--tls-max', '1.2']);
  t.equal(curl.pids.length, 6, 'curl: six responses');
  t.equal(new Set(curl.pids).size, 2, 'curl: served by both workers');
  t.ok(curl.offered >= 5, `curl re-used the session ID ${curl.offered} times`);

  const python = await pythonResume(runner.port, 6);
  t.equal(python[0].reused, false);
  for (let i = 1; i < python.length; i++) {
    t.ok(python[i].reused, `python connection ${i + 1} resumed (worker ${python[i].pid}, session made on ${python[0].pid})`);
  }
  t.ok(python.slice(1).some((r) => r.pid !== python[0].pid), 'python: resumed on the worker that did not make the session');
});

t.test('TLS 1.3 and 1.2 tickets resume across workers (openssl -sess_in/-sess_out, curl, Node)', async (t) => {
  const runner = await startRunner(t, cert, { stickyFunction: 'rr', options: { workers: 2 } });
  const dir = fs.mkdtempSync(path.join(cert.dir, 'sess-'));
  const file = path.join(dir, 'session.pem');
  const results = [await opensslRequest(runner.port, { flags: ['-tls1_3'], sessOut: file })];
  for (let i = 0; i < 5; i++) results.push(await opensslRequest(runner.port, { flags: ['-tls1_3'], sessIn: file, sessOut: file }));
  t.ok(results.every((r) => r.protocol === 'TLSv1.3'), 'openssl: TLS 1.3');
  let crossed = 0;
  for (let i = 1; i < results.length; i++) {
    t.ok(results[i].reused, `openssl: connection ${i + 1} resumed from its ticket`);
    if (results[i].pid !== results[i - 1].pid) crossed++;
  }
  t.ok(crossed >= 2, `openssl: ${crossed} of 5 tickets resumed on the other worker than the one that issued them`);

  const curl = await curlUrls(runner.port, 6, ['--tlsv1.3']);
  t.equal(new Set(curl.pids).size, 2, 'curl: both workers served');
  t.ok(curl.offered >= 5, `curl offered its ticket ${curl.offered} times`);

  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    let previous = await infoWith(runner.port, undefined, maxVersion);
    t.equal(previous.reused, false, `node ${maxVersion}: the first request is a full handshake`);
    let session = previous.session;
    let resumedElsewhere = 0;
    for (let i = 0; i < 5; i++) {
      const r = await infoWith(runner.port, session, maxVersion);
      t.ok(r.reused, `node ${maxVersion}: request ${i + 2} resumed`);
      if (r.pid !== previous.pid) resumedElsewhere++;
      previous = r;
      session = r.session ?? session;
    }
    t.ok(resumedElsewhere >= 2, `node ${maxVersion}: ${resumedElsewhere} tickets resumed on the other worker`);
  }
});

/** /info with a session and a maximum version (the app reports whether the server resumed). */
async function infoWith(port: number, session: Buffer | undefined, maxVersion: 'TLSv1.2' | 'TLSv1.3') {
  const tls = await import('node:tls');
  return new Promise<{ pid: number; reused: boolean; session?: Buffer }>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, session, maxVersion });
    let body = '';
    let next: Buffer | undefined;
    socket.on('session', (s: Buffer) => (next = s));
    socket.once('secureConnect', () => socket.write('GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    socket.on('data', (c: Buffer) => (body += c.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const json = JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4));
      resolve({ pid: json.pid, reused: json.reused, session: next });
    });
  });
}
