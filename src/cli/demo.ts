/**
 * `tls-shm-cache demo` (and `npm run demo`): a cluster HTTPS server on the
 * embedded defaults, with a localhost certificate made by the openssl
 * command line into a temporary directory, that prints how to watch its
 * handshakes resume across workers. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the
 * workers, removes the shared-memory segment and the certificate.
 *
 * The same function runs in the primary and in every worker: cluster.fork()
 * starts the same command line again, and cluster.isPrimary tells them apart.
 */
import { execFileSync } from 'node:child_process';
import cluster, { Worker } from 'node:cluster';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { parseArgs } from 'node:util';
import { attachSharedCache } from '../tls/attach';
import { setupSharedCache } from '../tls/primary';

const USAGE = `Usage: tls-shm-cache demo [options]

Starts an HTTPS cluster whose workers share TLS sessions and the ticket key.

Options:
  --port N        HTTPS port (default 8443; 0 picks a free one)
  --host ADDR     address to listen on (default 127.0.0.1)
  --workers N     worker processes (default 2)
  --stats-port N  statistics endpoint port (default 9090, or a free one if taken)
  --no-stats      no statistics endpoint
  -h, --help      show this text
`;

/** Exit statuses: 0 stopped cleanly, 1 could not start, 2 bad arguments. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const CERT_ENV = 'TLS_SHM_CACHE_DEMO_CERT';
const KEY_ENV = 'TLS_SHM_CACHE_DEMO_KEY';

interface DemoOptions {
  port: number;
  host: string;
  workers: number;
  statsPort: number | null;
}

/**
 * Runs the demo. In the primary it resolves with the exit status once stopped
 * (Ctrl-C / SIGTERM); in a worker it serves until the primary stops it.
 *
 * @param args the command line after `demo`.
 */
export async function runDemo(args: string[] = []): Promise<number> {
  let options: DemoOptions;
  try {
    const parsed = parseDemoArgs(args);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`tls-shm-cache demo: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  return cluster.isPrimary ? runPrimary(options) : runWorker(options);
}

function parseDemoArgs(args: string[]): DemoOptions | 'help' {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      workers: { type: 'string' },
      'stats-port': { type: 'string' },
      'no-stats': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const integer = (value: string | undefined, name: string, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  };
  return {
    port: integer(values.port, 'port', 8443, 0, 65535),
    host: values.host ?? '127.0.0.1',
    workers: integer(values.workers, 'workers', 2, 1, 64),
    statsPort: values['no-stats'] ? null : integer(values['stats-port'], 'stats-port', 9090, 0, 65535),
  };
}

/** True if `port` can be bound on `host` right now. */
function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/**
 * A self-signed certificate for localhost and 127.0.0.1, valid 30 days, as PEM
 * text. openssl writes it into a private temporary directory that is removed
 * before this returns, so no kill (SIGHUP from a closed terminal, SIGKILL) can
 * leave it behind.
 */
function makeLocalhostCertificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-shm-cache-demo-'));
  const keyPath = path.join(dir, 'localhost-key.pem');
  const certPath = path.join(dir, 'localhost-cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
        '-keyout', keyPath, '-out', certPath,
      ],
      { stdio: 'ignore' },
    );
    return { key: fs.readFileSync(keyPath, 'utf8'), cert: fs.readFileSync(certPath, 'utf8') };
  } catch (error) {
    throw new Error(`could not make a localhost certificate with the openssl command (${(error as Error).message}); install openssl`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runPrimary(options: DemoOptions): Promise<number> {
  const say = (text: string) => process.stdout.write(`${text}\n`);
  if (options.port !== 0 && !(await portIsFree(options.port, options.host))) {
    process.stderr.write(`tls-shm-cache demo: port ${options.port} on ${options.host} is in use; pass --port N (0 for any)\n`);
    return EXIT_FAILURE;
  }
  let statsPort = options.statsPort;
  if (statsPort !== null && statsPort !== 0 && !(await portIsFree(statsPort, '127.0.0.1'))) {
    say(`(port ${statsPort} is taken: the statistics get a free port instead)`);
    statsPort = 0;
  }

  let cert: ReturnType<typeof makeLocalhostCertificate>;
  try {
    cert = makeLocalhostCertificate();
  } catch (error) {
    process.stderr.write(`tls-shm-cache demo: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  const setup = setupSharedCache(statsPort === null ? {} : { stats: { port: statsPort } });
  // Workers (also ones forked later to replace a crashed one) get the PEM
  // text in their environment, readable only by this user, never a file.
  process.env[CERT_ENV] = cert.cert;
  process.env[KEY_ENV] = cert.key;

  const workers = new Set<Worker>();
  const listening = new Set<Worker>();
  let stopping = false;
  let port = 0;
  let announced = false;
  let onListening: () => void = () => undefined;
  const allListening = new Promise<void>((resolve) => (onListening = resolve));

  const fork = () => {
    const worker = cluster.fork();
    workers.add(worker);
    worker.on('message', (message: { type?: string; port?: number }) => {
      if (message.type !== 'listening') return;
      port = message.port ?? port;
      listening.add(worker);
      if (!announced && listening.size >= options.workers) onListening();
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      listening.delete(worker);
      if (stopping) return;
      if (!announced) {
        // Failing before it ever served (port taken, bad certificate): replacing it would fail the same way.
        process.stderr.write(`tls-shm-cache demo: worker ${worker.process.pid} exited before listening (${signal ?? code})\n`);
        void shutdown('SIGTERM', EXIT_FAILURE);
        return;
      }
      say(`worker ${worker.process.pid} exited (${signal ?? code}); starting a replacement: its sessions stay in the cache`);
      fork();
    });
  };
  for (let i = 0; i < options.workers; i++) fork();

  let stop: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  const shutdown = async (signal: NodeJS.Signals, code = 0) => {
    if (stopping) return;
    stopping = true;
    if (code === 0) say(`\n${signal}: stopping the workers and removing the shared-memory segment`);
    for (const worker of workers) worker.kill('SIGTERM');
    const deadline = Date.now() + 3000;
    while (workers.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    for (const worker of workers) worker.process.kill('SIGKILL');
    await setup.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    stop(code);
  };
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal); // the terminal was closed

  await Promise.race([allListening, stopped]);
  if (!stopping) {
    announced = true;
    const statsUrl = setup.statsUrl ? await setup.statsUrl.catch(() => undefined) : undefined;
    const shown = options.host === '127.0.0.1' || options.host === '::1' ? 'localhost' : options.host;
    const connect = options.host.includes(':') ? `[${options.host}]:${port}` : `${options.host}:${port}`;
    say(`tls-shm-cache demo: ${options.workers} workers share one TLS session cache and ticket key`);
    say(`  segment  ${setup.cache.handle}  (${setup.stats().items} sessions of up to ${setup.stats().maxValueBytes} bytes; gone with the last process)`);
    say(`  URL      https://${shown}:${port}/   (self-signed certificate: curl -k, or accept it in the browser)`);
    say('  verify   session IDs through the shared cache (TLS 1.2, no tickets), expect 1 New and 5 Reused:');
    say(`           openssl s_client -connect ${connect} -reconnect -no_ticket -tls1_2 </dev/null 2>/dev/null | grep -E '^(New|Reused),'`);
    say(`           tickets under the shared key (TLS 1.3): curl -sk https://${shown}:${port}/ https://${shown}:${port}/ -H 'Connection: close'`);
    if (statsUrl) {
      say(`  stats    ${statsUrl}/stats  ${statsUrl}/metrics`);
      say(`           npx tls-shm-cache stats --url ${statsUrl} --watch 1`);
    }
    say('  Ctrl-C stops it.');
  }
  return stopped;
}

async function runWorker(options: DemoOptions): Promise<number> {
  // Ctrl-C reaches every process of the terminal's group: the primary decides when workers stop.
  process.on('SIGINT', () => undefined);
  const certPem = process.env[CERT_ENV];
  const keyPem = process.env[KEY_ENV];
  if (!certPem || !keyPem) {
    process.stderr.write('tls-shm-cache demo: a worker started without the certificate of its primary\n');
    return EXIT_FAILURE;
  }
  const server = https.createServer({ key: keyPem, cert: certPem }, (req, res) => {
    const socket = req.socket as tls.TLSSocket;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('x-worker-pid', String(process.pid));
    res.end(
      `Hello from worker ${process.pid}: ${socket.getProtocol()}, ` +
        `${socket.isSessionReused() ? 'resumed session' : 'full handshake'}\n`,
    );
  });
  attachSharedCache(server);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    process.stderr.write(`tls-shm-cache demo: worker ${process.pid} cannot listen: ${(error as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
  process.send?.({ type: 'listening', port: (server.address() as net.AddressInfo).port });
  // Serve until the primary disconnects or kills this worker.
  return new Promise<number>(() => undefined);
}
