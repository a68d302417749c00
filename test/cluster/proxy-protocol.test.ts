/**
 * PROXY protocol v1 and v2 through runCluster(): a small TCP relay in the
 * test plays HAProxy's `send-proxy` / `send-proxy-v2`. It waits for the
 * client's first bytes (the TLS ClientHello) and writes the header and those
 * bytes in ONE write, so the primary reads the header and the ClientHello in
 * the same read: the worker's TLS stack sees the handshake only if the
 * primary passes on the bytes it read past the header.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { buildProxyHeader, parseProxyHeader } from '../../src/cluster/proxy-protocol';
import type { ProxiedAddress } from '../../src/cluster/proxy-protocol';
import { makeTestCertificate } from '../tls/fixtures/certificate';
import { info, startRunner } from './fixtures/harness';

const cert = makeTestCertificate();
t.teardown(cert.cleanup);

type Claim = { version: 1 | 2; source: ProxiedAddress; split?: boolean } | { raw: Buffer };

/**
 * A relay on a free port: each accepted connection is forwarded to `port`
 * with the header of the next claim in front. `split`: header and client
 * bytes in two writes 100 ms apart (the primary reads the header alone).
 */
async function relay(t: Test, port: number, claims: Claim[]): Promise<number> {
  const server = net.createServer((client) => {
    const claim = claims.shift()!;
    const header = 'raw' in claim ? claim.raw : buildProxyHeader(claim.version, claim.source, { address: claim.source.family === 'IPv4' ? '10.9.9.9' : 'fd00::9', port: 443, family: claim.source.family });
    const upstream = net.connect({ host: '127.0.0.1', port });
    client.once('data', (first: Buffer) => {
      if ('split' in claim && claim.split) {
        upstream.write(header);
        setTimeout(() => upstream.write(first), 100);
      } else {
        upstream.write(Buffer.concat([header, first]));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

t.test('parseProxyHeader: bad input', async (t) => {
  t.same(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).state, 'error', 'not a header');
  t.same(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')).state, 'incomplete', 'a v1 line not yet complete');
  t.same(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).state, 'error', 'a v1 line past 107 bytes');
  t.same(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n')).state, 'error', 'a port out of range');
  t.same(parseProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 1\r\n')).state, 'error', 'IPv4 addresses under TCP6');
  const v2 = buildProxyHeader(2, { address: '192.0.2.1', port: 1234, family: 'IPv4' }, { address: '192.0.2.2', port: 443, family: 'IPv4' });
  t.same(parseProxyHeader(v2.subarray(0, 20)).state, 'incomplete', 'a v2 header cut short');
  const badVersion = Buffer.from(v2);
  badVersion[12] = 0x31;
  t.same(parseProxyHeader(badVersion).state, 'error', 'v2 with version 3');
  const parsed = parseProxyHeader(Buffer.concat([v2, Buffer.from('rest')]));
  t.match(parsed, { state: 'done', version: 2, length: v2.length, source: { address: '192.0.2.1', port: 1234, family: 'IPv4' } });
  const v6 = parseProxyHeader(buildProxyHeader(2, { address: '2001:db8::1', port: 5, family: 'IPv6' }, { address: '2001:db8::2', port: 443, family: 'IPv6' }));
  t.match(v6, { state: 'done', source: { address: '2001:db8::1', port: 5, family: 'IPv6' } });
  const local = Buffer.from(v2.subarray(0, 16));
  local[12] = 0x20;
  local.writeUInt16BE(0, 14);
  t.match(parseProxyHeader(local), { state: 'done', length: 16, source: undefined }, 'LOCAL: no client address');
});

t.test('PROXY v1 and v2 in front of TLS: the handshake succeeds, routing and the app follow the header', async (t) => {
  const runner = await startRunner(t, cert, { options: { workers: 3, proxyProtocol: true } });
  const clients: ProxiedAddress[] = Array.from({ length: 12 }, (_, i) => ({ address: `198.51.100.${i + 1}`, port: 40000 + i, family: 'IPv4' as const }));
  clients.push({ address: '2001:db8::7', port: 50007, family: 'IPv6' });

  const direct = new Map<string, number>();
  for (const version of [1, 2] as const) {
    for (const split of [false, true]) {
      const claims: Claim[] = clients.map((source) => ({ version, source, split }));
      const port = await relay(t, runner.port, claims);
      for (const source of clients) {
        const r = await info(port);
        const what = `v${version}${split ? ' (header and ClientHello in separate writes)' : ' (header and ClientHello in one write)'} ${source.address}`;
        t.same(r.client, source, `${what}: the app sees the client's address and port`);
        const earlier = direct.get(source.address);
        if (earlier === undefined) direct.set(source.address, r.index);
        else t.equal(r.index, earlier, `${what}: the same worker as before`);
      }
    }
  }
  t.ok(new Set(direct.values()).size >= 2, `13 claimed addresses from one real peer spread over workers (${[...direct.values()].join(',')})`);

  // A peer that sends no valid header is cut off; the others are unaffected.
  const port = await relay(t, runner.port, [{ raw: Buffer.from('HELLO\r\n') }]);
  await t.rejects(info(port), 'no valid header: closed');
  t.ok((await info(await relay(t, runner.port, [{ version: 2, source: clients[0] }]))).pid > 0, 'the next connection is served');
});

t.test('plain HTTP behind PROXY v2: the bytes after the header reach the HTTP parser too', async (t) => {
  const runner = await startRunner(t, cert, { plain: true, options: { workers: 2, proxyProtocol: true } });
  const source: ProxiedAddress = { address: '203.0.113.5', port: 6000, family: 'IPv4' };
  const port = await relay(t, runner.port, [{ version: 2, source }, { version: 1, source }]);
  t.same((await info(port, { plain: true })).client, source, 'v2');
  t.same((await info(port, { plain: true })).client, source, 'v1');
});

t.test('HTTP/2 behind PROXY v2: clientAddress(req.socket) gives the header\'s client', async (t) => {
  const runner = await startRunner(t, cert, { http2: true, options: { workers: 2, proxyProtocol: true } });
  const source: ProxiedAddress = { address: '203.0.113.77', port: 7000, family: 'IPv4' };
  const port = await relay(t, runner.port, [{ version: 2, source }]);
  const session = http2.connect('https://localhost', {
    createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false }),
  });
  t.teardown(() => session.close());
  const body = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ':path': '/info' });
    let data = '';
    req.on('data', (chunk: Buffer) => (data += chunk.toString()));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
  t.same(JSON.parse(body).client, source);
});

t.test('control: a naive primary that unshift()s the bytes after the header and sends the socket loses the ClientHello', async (t) => {
  // A worker as sticky balancers write them: emit the handed socket into a TLS server.
  const { fork } = await import('node:child_process');
  const workerCode = `
    const tls = require('node:tls');
    const fs = require('node:fs');
    const server = tls.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) }, (s) => s.end('hello'));
    process.on('message', (m, socket) => { if (m === 'conn' && socket) { server.emit('connection', socket); socket.resume(); } });
    process.send('ready');`;
  const worker = fork('-e', [workerCode, cert.keyPath, cert.certPath], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] } as never);
  t.teardown(() => worker.kill('SIGKILL'));
  await new Promise((resolve) => worker.once('message', resolve));
  // The naive primary: reads the first chunk, unshift()s what follows the header, sends the socket.
  const naive = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      const parsed = parseProxyHeader(chunk);
      if (parsed.state !== 'done') return socket.destroy();
      socket.unshift(chunk.subarray(parsed.length));
      worker.send('conn', socket);
    });
    socket.resume();
  });
  await new Promise<void>((resolve) => naive.listen(0, '127.0.0.1', resolve));
  t.teardown(() => naive.close());
  const port = await relay(t, (naive.address() as net.AddressInfo).port, [{ version: 2, source: { address: '198.51.100.1', port: 1, family: 'IPv4' } }]);
  // The same worker behind a primary that reads nothing: the handshake works (the worker is fine).
  const plain = net.createServer({ pauseOnConnect: true }, (socket) => worker.send('conn', socket));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.teardown(() => plain.close());
  t.equal(await handshake((plain.address() as net.AddressInfo).port), 'handshake', 'without a header, the same worker completes the handshake');
  const outcome = await handshake(port);
  t.not(outcome, 'handshake', `the ClientHello stayed in the primary's buffer (${outcome}); the runner's PROXY tests above pass the same traffic`);
});

function handshake(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
    // Generous: the handshake over loopback takes milliseconds when the ClientHello arrives.
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('no handshake');
    }, 10000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('handshake');
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
  });
}
