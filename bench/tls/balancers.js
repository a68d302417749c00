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
const net = require('node:net');

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
};

module.exports = { balancers, NAMES: Object.keys(balancers) };
