'use strict';
// A session store in each worker's own memory: what a server gets without
// cluster-wide sharing. A session resumes only when the client lands on the
// worker that made it (~1/N of the time with N workers).
module.exports = {
  name: 'map',
  label: 'per-worker Map',
  async setupPrimary() {
    return { env: {}, close: async () => {} };
  },
  attachWorker(server) {
    const sessions = new Map();
    server.on('newSession', (id, data, done) => {
      sessions.set(id.toString('latin1'), data);
      done();
    });
    server.on('resumeSession', (id, done) => done(null, sessions.get(id.toString('latin1')) || null));
  },
};
