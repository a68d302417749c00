'use strict';
// Shared by the examples: the certificate from TLS_CERT / TLS_KEY (PEM file
// paths), or else a self-signed localhost one made once with the openssl
// command into a private temporary directory.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function loadCertificate() {
  if (process.env.TLS_CERT && process.env.TLS_KEY) {
    return { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) };
  }
  // Made by the first process and reused by the others (workers inherit the env).
  if (!process.env.EXAMPLE_CERT_DIR) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-cache-example-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    process.env.EXAMPLE_CERT_DIR = dir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const dir = process.env.EXAMPLE_CERT_DIR;
  return { cert: fs.readFileSync(path.join(dir, 'cert.pem')), key: fs.readFileSync(path.join(dir, 'key.pem')) };
}

module.exports = { loadCertificate };
