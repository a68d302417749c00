'use strict';
// What a result was measured on. The figures only compare within one run on
// one machine; this says which machine, and how busy it was.
const os = require('node:os');
const { execFileSync } = require('node:child_process');

function opensslCliVersion() {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** @returns {object} cpu model, cores, memory, kernel, node / OpenSSL versions, load average */
function describeMachine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    // The OpenSSL that Node's TLS uses, and the one the `openssl` command line uses (the s_time client).
    nodeOpenssl: process.versions.openssl,
    opensslCli: opensslCliVersion(),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

module.exports = { describeMachine };
