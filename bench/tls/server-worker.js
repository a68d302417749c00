'use strict';
// A worker of the benchmark's TLS cluster: a TLS server with the store under
// test attached, answering each connection's one request with a tiny HTTP
// response (the client, openssl s_time -www, sends one and reads to the end,
// which is also when it receives TLS 1.3 tickets). It counts handshakes and
// resumptions and reports them with its CPU time when the primary asks.
const fs = require('node:fs');
const tls = require('node:tls');
const { loadStore } = require('./stores');
const { balancers } = require('./balancers');

const RESPONSE = 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';

async function main() {
  const params = JSON.parse(process.env.BENCH_TLS_PARAMS);
  const store = loadStore(params.store);
  const server = tls.createServer({
    key: fs.readFileSync(params.keyFile),
    cert: fs.readFileSync(params.certFile),
  });
  const counts = { handshakes: 0, resumed: 0, clientErrors: 0, byProtocol: {} };
  server.on('secureConnection', (socket) => {
    counts.handshakes++;
    const resumed = socket.isSessionReused();
    if (resumed) counts.resumed++;
    const row = (counts.byProtocol[socket.getProtocol()] ||= { handshakes: 0, resumed: 0 });
    row.handshakes++;
    if (resumed) row.resumed++;
    socket.on('error', () => {});
    socket.once('data', () => socket.end(RESPONSE));
  });
  server.on('tlsClientError', () => counts.clientErrors++);
  await store.attachWorker(server, process.env, params);
  // How many session lookups and stores each handshake causes (the IPC store
  // makes a round trip to the primary for each). Counted only where the store
  // listens: a listener of our own would switch Node's session hooks on.
  counts.lookups = 0;
  counts.stores = 0;
  if (server.listenerCount('resumeSession') > 0) server.on('resumeSession', () => counts.lookups++);
  if (server.listenerCount('newSession') > 0) server.on('newSession', () => counts.stores++);

  process.on('message', (msg) => {
    if (msg && msg.cmd === 'snapshot') {
      process.send({ type: 'snapshot', pid: process.pid, ...counts, byProtocol: structuredClone(counts.byProtocol), cpu: process.cpuUsage() });
    }
  });
  const port = await balancers[params.balancer].worker(server);
  process.send({ type: 'ready', port });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
