'use strict';
// The load generator: `concurrency` openssl s_time processes in parallel,
// each opening new TLS connections one after another and resuming its session
// every time (s_time -reuse: the first connection is a full handshake, every
// later one offers the session it holds; under TLS 1.3 that is the latest
// ticket received). s_time is a C client that spends little CPU per
// connection, so on a small machine more of the CPU is left to the servers
// than a Node client would leave, and it prints one character per connection:
// 'r' when the session was resumed, another letter when the handshake was full.
//
// Client kinds:
// - tls12-id: TLS 1.2 without tickets, so sessions resume by session ID
//   through the server's session store. s_time has no -no_ticket flag; an
//   OpenSSL config file given to it alone (OPENSSL_CONF) sets
//   `Options = -SessionTicket` (SSL_OP_NO_TICKET) on its context.
// - tls13-ticket: TLS 1.3 with tickets (s_time keeps offering the ticket it
//   holds until a new one arrives: a multi-use client).
// - tls12-ticket: TLS 1.2 with tickets (the session, with its ticket, reused).
// - tls13-single: TLS 1.3, each ticket used once, as browsers do
//   (single-use-client.js, a Node client); measured with the ticket stores only.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const NO_TICKET_CONFIG = `openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Options = -SessionTicket
`;

const KINDS = {
  'tls12-id': { label: 'TLS 1.2, session ID (no tickets)', args: ['-tls1_2'], noTicket: true },
  'tls13-ticket': { label: 'TLS 1.3, tickets', args: ['-tls1_3'], noTicket: false },
  'tls12-ticket': { label: 'TLS 1.2, tickets', args: ['-tls1_2'], noTicket: false, stores: ['none', 'shm', 'shm-single', 'shm-norenew'] },
  'tls13-single': {
    label: 'TLS 1.3, each ticket used once (Node client)',
    node: true,
    noTicket: false,
    stores: ['none', 'shm', 'shm-single', 'shm-norenew'],
  },
};

let noTicketConfigFile;
function noTicketConfig() {
  if (!noTicketConfigFile) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-bench-client-'));
    noTicketConfigFile = path.join(dir, 'no-ticket.cnf');
    fs.writeFileSync(noTicketConfigFile, NO_TICKET_CONFIG);
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return noTicketConfigFile;
}

/** Counts s_time's per-connection characters in its output. */
function parseOutput(text) {
  const start = text.indexOf('starting\n');
  const body = start >= 0 ? text.slice(start + 'starting\n'.length) : '';
  const marks = body.split('\n')[0];
  let resumed = 0;
  let full = 0;
  for (const ch of marks) {
    if (ch === 'r') resumed++;
    else if (/[a-z*]/i.test(ch)) full++;
  }
  const total = /(\d+) connections in [\d.]+s/.exec(text);
  return { connections: total ? Number(total[1]) : resumed + full, resumed, full, completed: Boolean(total) };
}

/**
 * Starts the clients. Each runs for `seconds` (whole seconds: s_time counts
 * time() ticks, so it stops between `seconds` and `seconds + 1` later).
 * @returns {{ done: Promise<{processes: object[], connections: number, resumed: number, failed: number, errors: string[]}>, kill(): void }}
 */
function startClients({ port, kind, concurrency, seconds }) {
  const spec = KINDS[kind];
  if (!spec) throw new Error(`unknown client kind '${kind}'; known: ${Object.keys(KINDS).join(', ')}`);
  const env = { ...process.env };
  if (spec.noTicket) env.OPENSSL_CONF = noTicketConfig();
  const args = ['s_time', '-connect', `127.0.0.1:${port}`, '-www', '/', '-reuse', '-time', String(Math.ceil(seconds)), ...(spec.args ?? [])];
  const [command, commandArgs] = spec.node
    ? [process.execPath, [path.join(__dirname, 'single-use-client.js'), String(port), String(Math.ceil(seconds))]]
    : ['openssl', args];
  const children = [];
  const runs = [];
  let killed = false;
  for (let i = 0; i < concurrency; i++) {
    const child = spawn(command, commandArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    runs.push(
      new Promise((resolve) => {
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code, signal) => {
          // A client that stopped by itself before it was told to has failed (server unreachable, handshake error).
          const failed = !killed || code !== null ? code !== 0 : false;
          resolve({ code, signal, failed, ...parseOutput(out), error: failed ? err.trim().split('\n').slice(-2).join(' ') : undefined });
        });
      }),
    );
  }
  const done = Promise.all(runs).then((processes) => ({
    processes,
    connections: processes.reduce((n, p) => n + p.connections, 0),
    resumed: processes.reduce((n, p) => n + p.resumed, 0),
    failed: processes.filter((p) => p.failed).length,
    errors: processes.filter((p) => p.error).map((p) => p.error).slice(0, 3),
  }));
  return {
    done,
    /** Stops every client still running (their per-connection output so far is kept). */
    kill: () => {
      killed = true;
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}

module.exports = { KINDS, startClients, parseOutput };
