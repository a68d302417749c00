#!/usr/bin/env node
/**
 * The `tls-shm-cache` command: `demo` starts a demo HTTPS cluster, `stats`
 * shows a running server's statistics. Exit status 2 means bad arguments.
 */
import path from 'node:path';
import { EXIT_USAGE, runStatsCommand } from '../stats/command';

const USAGE = `Usage: tls-shm-cache <command> [options]

Commands:
  demo     start an HTTPS cluster that shares its TLS sessions, and show how
           to check that handshakes resume across workers
  stats    show a running server's cache and handshake statistics
           (tls-shm-cache stats --help for its options)

Options:
  -h, --help      show this text
  -v, --version   show the version
`;

/** What src/demo.ts exports; loaded only for `demo`, so `stats` starts fast and never needs TLS setup. */
interface DemoModule {
  runDemo(args?: string[]): unknown;
}

function version(): string {
  // dist/cli/main.js and src/cli/main.ts both sit two levels below package.json.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;
}

/** Runs the command line `args` (without node and the script); resolves with the exit status. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'stats':
      return runStatsCommand(rest);
    case 'demo': {
      // A path require keeps tsc from resolving the module at compile time.
      const file = path.join(__dirname, 'demo');
      let demo: DemoModule;
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        demo = require(file) as DemoModule;
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        if (e.code !== 'MODULE_NOT_FOUND' || !e.message.includes(file)) throw error;
        process.stderr.write('tls-shm-cache: this build has no demo (demo.js is missing next to main.js)\n');
        return 1;
      }
      const result = await demo.runDemo(rest);
      return typeof result === 'number' ? result : 0;
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return EXIT_USAGE;
    default:
      process.stderr.write(`tls-shm-cache: unknown command '${command}'\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`tls-shm-cache: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
