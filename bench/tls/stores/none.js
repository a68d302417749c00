'use strict';
// No session store: TLS 1.2 clients without tickets never resume (Node runs
// OpenSSL with its internal session cache off); tickets still work where the
// workers share a ticket key (Node's cluster with a shared listening port).
module.exports = {
  name: 'none',
  label: 'no store',
  async setupPrimary() {
    return { env: {}, close: async () => {} };
  },
  attachWorker() {},
};
