'use strict';
// A throwaway RSA-2048 certificate for the benchmark server, made with the
// openssl command line in a temporary directory (RSA-2048 is what most
// servers still present, and its private-key operation is what a full
// handshake costs and a resumed one saves).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** @returns {{dir: string, keyFile: string, certFile: string, cleanup(): void}} */
function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-bench-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=localhost', '-days', '2'],
    { stdio: 'ignore' },
  );
  return { dir, keyFile, certFile, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

module.exports = { makeCertificate };
