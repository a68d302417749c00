'use strict';
// Not a store: a resumeSession listener that finds nothing, at once. It
// isolates what any session store costs a TLS 1.3 handshake through Node
// itself: with a resumeSession listener, Node stops every handshake at the
// ClientHello, parses it, and calls into JavaScript (under TLS 1.3 always
// with a random session id that no store holds) before OpenSSL may go on.
module.exports = {
  name: 'hook',
  label: 'no-op resumeSession listener',
  async setupPrimary() {
    return { env: {}, close: async () => {} };
  },
  attachWorker(server) {
    server.on('resumeSession', (id, done) => done(null, null));
  },
};
