/**
 * The native core's own tests, from `npm test`: native/test/run.sh builds the
 * C++ unit tests, the concurrency stress (threads and SIGKILLed processes) and
 * the table fuzz target with AddressSanitizer + UndefinedBehaviorSanitizer and
 * ThreadSanitizer, runs them (plus a bounded libFuzzer run when clang++ is
 * there), and exits non-zero on any failure or sanitizer report.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'native', 'test', 'run.sh');

// Below the runner's per-file timeout (180 s in package.json), so that a hang
// is reported here with the script's output rather than by a killed file.
const TIMEOUT_MS = 170_000;

function missingTool(): string | undefined {
  if (process.platform !== 'linux') {
    return `the native core tests need Linux (POSIX shm under /dev/shm, OFD locks); this is ${process.platform}`;
  }
  const gxx = spawnSync(process.env.CXX || 'g++', ['--version'], { encoding: 'utf8' });
  if (gxx.error !== undefined || gxx.status !== 0) return 'g++ is not installed: the native tests cannot be built';
  return undefined;
}

const skip = missingTool();

t.test('native unit, stress and fuzz tests pass under the sanitizers', { skip }, async (t) => {
  const result = spawnSync('bash', [SCRIPT], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const passed = result.status === 0;
  if (!passed) {
    // The whole output: which step failed, the sanitizer report, the failed expectations.
    t.comment(output);
    if (result.error !== undefined) t.comment(`spawning run.sh: ${result.error.message}`);
    if (result.signal !== null) t.comment(`run.sh was killed by ${result.signal} (timeout ${TIMEOUT_MS} ms?)`);
  }
  t.equal(result.status, 0, 'native/test/run.sh exits 0');
  t.match(output, /native tests: all passed/, 'the summary says every step passed');
  // Each step ran (a step silently missing would make the exit code meaningless).
  for (const step of [
    'unit (asan+ubsan)',
    'stress threads (asan+ubsan)',
    'stress processes (asan+ubsan)',
    'stress threads (tsan)',
    'fuzz driver (asan+ubsan)',
  ]) {
    t.ok(output.includes(`ok    ${step}`), `step ran and passed: ${step}`);
  }
  t.match(output, /unit: \d+ tests, 0 failed/, 'the unit driver ran its tests');
  t.notMatch(output, /ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:/,
    'no sanitizer report');
});
