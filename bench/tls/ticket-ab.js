'use strict';
// node bench/tls/ticket-ab.js [-- --rounds 5 --seconds 2 --clients tls13-ticket,tls12-ticket,tls13-full]
//
// The ticket key ring's own cost, measured in paired rounds so that a shared,
// busy machine's drift cancels out: one single-process TLS server per mode
// (ring: the ticket key callback, renewing every ticket; norenew: the callback
// answering "use" for current-key tickets; single: the setTicketKeys fallback),
// and in each round every mode in turn gets the same `openssl s_time` load for
// `seconds`. Per round and mode: handshakes/s and the server's CPU per
// handshake (process.cpuUsage of that server alone); reported as the median
// over rounds of each mode's ratio to `single` in the same round.
// Prints a table; writes nothing.
const { fork, spawn } = require('node:child_process');
const path = require('node:path');
const { parseArgs, list } = require('../lib/args');
const { makeCertificate } = require('./cert');
const { parseOutput } = require('./client');

const MODES = ['ring', 'norenew', 'single'];
const CLIENTS = {
  'tls13-ticket': ['-tls1_3', '-reuse'],
  'tls12-ticket': ['-tls1_2', '-reuse'],
  'tls13-full': ['-tls1_3', '-new'],
};

if (process.argv[2] === 'server') {
  // A server process: node ticket-ab.js server MODE KEY CERT
  const [, , , mode, keyFile, certFile] = process.argv;
  const fs = require('node:fs');
  const tls = require('node:tls');
  if (mode === 'single') delete Object.getPrototypeOf(tls.createSecureContext().context).enableTicketKeyCallback;
  const dist = path.join(__dirname, '..', '..', 'dist');
  if (mode === 'norenew') require(path.join(dist, 'tls', 'ticket-keys')).setRenewCurrent(false);
  process.removeAllListeners('warning');
  const server = tls.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) });
  let handshakes = 0;
  let resumed = 0;
  server.on('secureConnection', (socket) => {
    handshakes++;
    if (socket.isSessionReused()) resumed++;
    socket.on('error', () => {});
    socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  require(dist).attachSharedCache(server, { items: 1000, tickets: { rotate: 3600 } });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => process.send({ handshakes, resumed, cpu: process.cpuUsage() }));
  return;
}

const ask = (child) => new Promise((resolve) => { child.once('message', resolve); child.send('snapshot'); });

function sTime(port, args, seconds) {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-www', '/', '-time', String(seconds), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', () => resolve(parseOutput(out)));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

async function main() {
  const args = parseArgs(process.argv.slice(2), { rounds: 5, seconds: 2, clients: Object.keys(CLIENTS).join(',') });
  const cert = makeCertificate();
  const servers = {};
  try {
    for (const mode of MODES) {
      const child = fork(__filename, ['server', mode, cert.keyFile, cert.certFile], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      const { port } = await new Promise((resolve) => child.once('message', resolve));
      servers[mode] = { child, port };
    }
    for (const client of list(args.clients)) {
      const rows = { ring: [], norenew: [], single: [] };
      for (let r = 0; r < args.rounds; r++) {
        const order = r % 2 === 0 ? MODES : [...MODES].reverse();
        const round = {};
        for (const mode of order) {
          const { child, port } = servers[mode];
          const a = await ask(child);
          const t0 = process.hrtime.bigint();
          const c = await sTime(port, CLIENTS[client], args.seconds);
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          const b = await ask(child);
          const n = b.handshakes - a.handshakes;
          const cpu = b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system;
          round[mode] = { hps: n / seconds, cpu: cpu / n, resumed: (b.resumed - a.resumed) / n, clientConnections: c.connections };
        }
        for (const mode of MODES) rows[mode].push(round[mode]);
      }
      console.log(`\n${client}: ${args.rounds} paired rounds of ${args.seconds} s, s_time ${CLIENTS[client].join(' ')}`);
      console.log('mode      handshakes/s  server CPU µs/hs  resumed   ratio to single (median of rounds): handshakes/s  CPU/handshake');
      for (const mode of MODES) {
        const hps = median(rows[mode].map((x) => x.hps));
        const cpu = median(rows[mode].map((x) => x.cpu));
        const res = median(rows[mode].map((x) => x.resumed));
        const rh = median(rows[mode].map((x, i) => x.hps / rows.single[i].hps));
        const rc = median(rows[mode].map((x, i) => x.cpu / rows.single[i].cpu));
        console.log(`${mode.padEnd(9)} ${hps.toFixed(0).padStart(12)}  ${cpu.toFixed(0).padStart(16)}  ${(res * 100).toFixed(1).padStart(6)} %   ${rh.toFixed(3).padStart(40)}  ${rc.toFixed(3).padStart(13)}`);
      }
    }
  } finally {
    for (const { child } of Object.values(servers)) child.kill();
    cert.cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
