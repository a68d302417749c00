/**
 * `tls-shm-cache stats`: reads a server's stats endpoint and shows it, once
 * as a table, as JSON for scripts, or live (`--watch`), redrawn in place with
 * rates between polls the way uwsgitop watches a uWSGI stats server.
 *
 * Exit status: 0 done, 1 the endpoint could not be read, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_STATS_URL, fetchStats, StatsFetchError, statsUrl } from './client';
import type { StatsDocument } from './document';
import { formatLive, formatSnapshot } from './render';

export const STATS_USAGE = `Usage: tls-shm-cache stats [--url URL] [--watch SECONDS] [--json] [--timeout SECONDS]

Shows the statistics of a server that shares its TLS sessions through
tls-shm-cache and serves them with setupSharedCache({ stats: { port } }).

Options:
  --url URL          the stats endpoint (default ${DEFAULT_STATS_URL});
                     /stats is added to a URL without a path
  --watch SECONDS    poll every SECONDS and redraw in place, with rates per
                     second between polls; q or Ctrl-C quits
  --json             print the JSON document instead of the table
                     (with --watch: one document per line)
  --timeout SECONDS  how long to wait for an answer (default 5)
  -h, --help         show this text

Exit status: 0 done, 1 the endpoint could not be read, 2 bad arguments.
`;

export const EXIT_OK = 0;
export const EXIT_UNREACHABLE = 1;
export const EXIT_USAGE = 2;

interface StatsArgs {
  url: URL;
  watchSeconds?: number;
  json: boolean;
  timeoutMs: number;
}

class UsageError extends Error {}

function seconds(text: string, flag: string, min: number, max: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`${flag} takes a number of seconds from ${min} to ${max}, got '${text}'`);
  }
  return v;
}

function parse(args: string[]): StatsArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        url: { type: 'string' },
        watch: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  let url: URL;
  try {
    url = statsUrl(v.url ?? DEFAULT_STATS_URL);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    url,
    watchSeconds: v.watch === undefined ? undefined : seconds(v.watch, '--watch', 0.1, 86400),
    json: v.json === true,
    timeoutMs: v.timeout === undefined ? 5000 : seconds(v.timeout, '--timeout', 0.1, 600) * 1000,
  };
}

/** Runs the command with `args` (what follows `stats` on the command line); resolves with the exit status. */
export async function runStatsCommand(args: string[]): Promise<number> {
  let options: StatsArgs | 'help';
  try {
    options = parse(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`tls-shm-cache stats: ${error.message}\n\n${STATS_USAGE}`);
    return EXIT_USAGE;
  }
  if (options === 'help') {
    process.stdout.write(STATS_USAGE);
    return EXIT_OK;
  }
  try {
    if (options.watchSeconds === undefined) {
      const doc = await fetchStats(options.url, options.timeoutMs);
      process.stdout.write(options.json ? JSON.stringify(doc, null, 2) + '\n' : formatSnapshot(doc, options.url.href));
      return EXIT_OK;
    }
    return await watch(options, options.watchSeconds);
  } catch (error) {
    if (!(error instanceof StatsFetchError)) throw error;
    process.stderr.write(`tls-shm-cache stats: ${error.message}\n`);
    return EXIT_UNREACHABLE;
  }
}

// ANSI control sequences of the live view.
const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const CURSOR_HIDE = '\x1b[?25l';
const CURSOR_SHOW = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

/**
 * Polls until asked to stop. On a terminal each frame overwrites the last
 * (cursor home, each line cleared to its end, the rest of the screen cleared:
 * no flicker from clearing everything first) on the alternate screen, which
 * is left on exit. Piped, frames follow one another.
 *
 * The first poll must succeed (a wrong URL should fail at once); later
 * failures are shown under the last good figures and retried, as a server
 * restart is something to watch through.
 */
async function watch(options: StatsArgs, intervalSeconds: number): Promise<number> {
  const out = process.stdout;
  const live = out.isTTY === true && !options.json;
  let polledAt = Date.now();
  const first = await fetchStats(options.url, options.timeoutMs);

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let quitting = false;
  const quit = () => {
    quitting = true;
    stop();
  };
  const stdin = process.stdin;
  const keys = (data: Buffer) => {
    const text = data.toString('latin1');
    if (text.includes('q') || text.includes('Q') || text.includes('\x03')) quit();
  };
  const rawInput = live && stdin.isTTY === true;
  if (rawInput) {
    stdin.setRawMode(true);
    stdin.on('data', keys);
    stdin.resume();
  }
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  if (live) out.write(ALT_SCREEN_ON + CURSOR_HIDE);

  const draw = (frame: string) => {
    if (live) out.write(HOME + frame.split('\n').join(CLEAR_LINE_END + '\n') + CLEAR_BELOW);
    else out.write(frame + '\n');
  };

  let status = EXIT_OK;
  try {
    let last: StatsDocument = first;
    let before: StatsDocument | undefined;
    let error: string | undefined;
    const source = options.url.href;
    for (;;) {
      if (options.json) out.write(JSON.stringify(last) + '\n');
      else draw(formatLive(last, before, { source, intervalSeconds, error }));
      const wait = Math.max(0, intervalSeconds * 1000 - (Date.now() - polledAt));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)))]);
      clearTimeout(timer);
      if (quitting) break;
      polledAt = Date.now();
      try {
        const doc = await fetchStats(options.url, options.timeoutMs);
        before = last;
        last = doc;
        error = undefined;
      } catch (e) {
        if (!(e instanceof StatsFetchError)) throw e;
        // Scripts reading --json lines want a clean end, not a stale line.
        if (options.json) {
          process.stderr.write(`tls-shm-cache stats: ${e.message}\n`);
          status = EXIT_UNREACHABLE;
          break;
        }
        error = e.message;
      }
      if (quitting) break;
    }
  } finally {
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
    if (rawInput) {
      stdin.off('data', keys);
      stdin.setRawMode(false);
      stdin.pause();
    }
    if (live) out.write(CURSOR_SHOW + ALT_SCREEN_OFF);
  }
  return status;
}
