'use strict';
// tls-shm-cache's ring callback answering "use" (1) rather than "renew" (2)
// for tickets under the current key: what renewing every decrypt costs TLS 1.2
// ticket clients (each resumption then also seals and sends a new ticket).
// Not in the default matrix: `--stores shm,shm-norenew --clients tls12-ticket`.
const shm = require('./shm');

module.exports = {
  name: 'shm-norenew',
  label: 'tls-shm-cache, ring without renewing current-key tickets',
  clients: ['tls13-ticket', 'tls12-ticket', 'tls13-single'],
  setupPrimary: shm.setupPrimary,
  attachWorker(server) {
    require('../../../dist/tls/ticket-keys').setRenewCurrent(false);
    shm.attachWorker(server);
  },
};
