'use strict';
// Waiting for one message from a cluster worker, as both benchmarks' primaries do.

/**
 * Resolves with the next message of `type` from `worker`; rejects if the
 * worker exits first (naming its pid and what was awaited).
 */
function nextMessage(worker, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg && msg.type === type) {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve(msg);
      }
    };
    const onExit = (code) => reject(new Error(`worker ${worker.process.pid} exited (${code}) while waiting for '${type}'`));
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

module.exports = { nextMessage };
