'use strict';
// IPC to the cluster primary, through the real strong-cluster-tls-store
// (which stores through strong-store-cluster): the way Node clusters have
// shared TLS sessions until now. Requiring it in the primary installs the
// store's message handler for every worker that comes online; in a worker,
// installing it on a tls.Server adds 'newSession' / 'resumeSession' listeners
// that send a request to the primary and call back when the reply arrives.
// The benchmark emits those two events exactly as Node's TLS server does
// during a handshake, so the package's own code runs end to end: key and
// value encoding, process.send, the primary's lookup, the reply.
const tls = require('node:tls');
const { packageVersion } = require('../../lib/versions');

module.exports = {
  name: 'ipc',
  label: 'strong-cluster-tls-store (IPC)',
  async: true,
  warmInEveryWorker: false,
  statsPoller: false,

  async setupPrimary() {
    require('strong-cluster-tls-store'); // sets up the primary's side before any fork
    return {
      env: {},
      describe: () => ({
        'strong-cluster-tls-store': packageVersion('strong-cluster-tls-store'),
        'strong-store-cluster': packageVersion('strong-store-cluster'),
      }),
      close: async () => {},
    };
  },

  async openWorker() {
    const shareTlsSessions = require('strong-cluster-tls-store');
    const server = tls.createServer({});
    shareTlsSessions(server);
    return {
      /** get(key, done(value | undefined)): a resumeSession lookup. */
      get: (key, done) => server.emit('resumeSession', key, (err, data) => done(err ? undefined : data || undefined)),
      /** set(key, value, done()): a newSession store. */
      set: (key, value, done) => server.emit('newSession', key, value, () => done(true)),
      close: () => server.close(),
    };
  },
};
