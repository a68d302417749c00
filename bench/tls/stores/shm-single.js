'use strict';
// tls-shm-cache on its single-key fallback path: the workers run as a
// runtime without SecureContext.enableTicketKeyCallback() would (a future
// Node, Bun, Deno), so the ring's current key goes through setTicketKeys().
// Compared with 'shm' (the ring callback) in the same run.
const shm = require('./shm');

module.exports = {
  name: 'shm-single',
  label: 'tls-shm-cache, single-key fallback',
  /** Only ticket clients tell this store from 'shm'. */
  clients: ['tls13-ticket', 'tls12-ticket', 'tls13-single'],
  setupPrimary: shm.setupPrimary,
  attachWorker(server) {
    const tls = require('node:tls');
    delete Object.getPrototypeOf(tls.createSecureContext().context).enableTicketKeyCallback;
    shm.attachWorker(server);
  },
};
