'use strict';
// A load client that uses each TLS 1.3 ticket once, as browsers do: every
// connection offers only the ticket received on the previous one and makes a
// full handshake when none arrived. openssl s_time cannot (it keeps offering
// the ticket it holds), so this one is Node: more client CPU per connection
// than s_time, the same for every store it is compared across.
// Output mimics s_time's so client.js parses both: "starting", then one
// character per connection ('r' resumed, 'n' full), then "N connections in Xs".
//   node single-use-client.js PORT SECONDS
const tls = require('node:tls');

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
const REQUEST = 'GET / HTTP/1.0\r\n\r\n';

function connect(session) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, session, minVersion: 'TLSv1.3', rejectUnauthorized: false });
    let ticket;
    let reused = false;
    socket.on('session', (s) => (ticket = s));
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(REQUEST);
    });
    socket.on('data', () => {});
    socket.on('error', () => resolve({ ok: false }));
    socket.on('close', () => resolve({ ok: true, reused, ticket }));
  });
}

async function main() {
  process.stdout.write('starting\n');
  const started = Date.now();
  let session;
  let connections = 0;
  while (Date.now() - started < seconds * 1000) {
    const r = await connect(session);
    if (!r.ok) {
      process.stdout.write('!');
      session = undefined;
      continue;
    }
    connections++;
    process.stdout.write(r.reused ? 'r' : 'n');
    session = r.ticket; // used once
  }
  process.stdout.write(`\n\n${connections} connections in ${((Date.now() - started) / 1000).toFixed(2)}s\n`);
}

main();
