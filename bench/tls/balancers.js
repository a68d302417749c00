'use strict';
// How connections reach the workers.
//
// rr: Node's cluster round-robin. Every worker listen()s on the same port; the
//     primary accepts and passes each connection on. Because the workers share
//     a listening port, Node's cluster copies the first worker's ticket key to
//     all of them: tickets resume on any worker, with no help.
// handoff: the primary owns a plain net server ({ pauseOnConnect: true }) and
//     hands each socket to a worker with worker.send('conn', socket), which
//     emits it into its TLS server as a 'connection' (what sticky-session
//     balancers do). The workers never listen, so each has its own random
//     ticket key: a ticket resumes only on the worker that issued it, unless
//     something shares the key.
// sticky: the runCluster() primary's routing (src/cluster): the same
//     pauseOnConnect hand-off, but each connection's worker is picked by the
//     runner's keyed rendezvous hash over the live workers. Every benchmark
//     client connects from 127.0.0.1 (openssl s_time cannot bind a source
//     address), so keying by address alone would put all load on one worker:
//     the key here is address:port, which costs the same hashing per
//     connection and spreads like many client addresses would.
const net = require('node:net');
const path = require('node:path');

const CONN = 'tls-bench:conn';

const balancers = {
  rr: {
    label: 'cluster round-robin',
    /** In the primary, once the workers are ready: the port clients connect to. */
    async primary(workers, workerPorts) {
      const ports = new Set(workerPorts);
      if (ports.size !== 1) throw new Error(`workers listen on different ports: ${[...ports]}`);
      return { port: workerPorts[0], close: async () => {} };
    },
    /** In a worker: start taking connections; resolves to the port listened on. */
    worker(server) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        // Port 0 in a cluster: the primary picks one port for every worker.
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
      });
    },
  },
  handoff: {
    label: 'socket hand-off',
    async primary(workers) {
      let next = 0;
      const front = net.createServer({ pauseOnConnect: true }, (socket) => {
        const worker = workers[next++ % workers.length];
        worker.send(CONN, socket);
      });
      await new Promise((resolve, reject) => {
        front.once('error', reject);
        front.listen(0, '127.0.0.1', resolve);
      });
      return { port: front.address().port, close: () => new Promise((resolve) => front.close(() => resolve())) };
    },
    worker(server) {
      process.on('message', (msg, socket) => {
        if (msg !== CONN || !socket) return;
        server.emit('connection', socket);
        socket.resume();
      });
      return Promise.resolve(0);
    },
  },
  sticky: {
    label: 'sticky (runner: rendezvous hash)',
    async primary(workers) {
      const { Rendezvous, routingAddress } = require(path.join(__dirname, '..', '..', 'dist', 'cluster', 'rendezvous.js'));
      const rendezvous = new Rendezvous();
      const live = workers.map((_, i) => i);
      const front = net.createServer({ pauseOnConnect: true }, (socket) => {
        const index = rendezvous.pick(`${routingAddress(socket.remoteAddress)}:${socket.remotePort}`, live);
        workers[index].send(CONN, socket);
      });
      await new Promise((resolve, reject) => {
        front.once('error', reject);
        front.listen(0, '127.0.0.1', resolve);
      });
      return { port: front.address().port, close: () => new Promise((resolve) => front.close(() => resolve())) };
    },
    worker(server) {
      return balancers.handoff.worker(server);
    },
  },
};

module.exports = { balancers, NAMES: Object.keys(balancers) };
