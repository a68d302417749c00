'use strict';
// strong-cluster-tls-store: sessions kept in the cluster primary, reached by
// an IPC round trip from the worker's newSession / resumeSession listeners.
// The primary must load it too (its side answers the workers' requests).
module.exports = {
  name: 'ipc',
  label: 'strong-cluster-tls-store (IPC)',
  async setupPrimary() {
    require('strong-cluster-tls-store');
    return { env: {}, close: async () => {} };
  },
  attachWorker(server) {
    require('strong-cluster-tls-store')(server);
  },
};
