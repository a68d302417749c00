/**
 * The demo (`npm run demo`, `tls-shm-cache demo`): it starts a cluster,
 * prints a URL, an openssl line that really shows resumption, and the stats
 * URL; Ctrl-C stops every process and removes the segment.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeRequest, run } from '../tls/fixtures/clients';
import { alive, childEnv, waitUntil } from '../tls/fixtures/harness';

const ENTRY = path.join(__dirname, 'fixtures', 'demo-entry.ts');

t.test('bad arguments exit with status 2 and the usage', async (t) => {
  const result = await run(process.execPath, [...process.execArgv, ENTRY, '--workers', 'many']);
  t.equal(result.code, 2);
  t.match(result.stderr, /--workers must be an integer/);
  t.match(result.stderr, /Usage: tls-shm-cache demo/);
});

t.test('the demo serves, prints what resumes, and stops cleanly on SIGINT', async (t) => {
  const child = spawn(process.execPath, [...process.execArgv, ENTRY, '--port', '0', '--stats-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv({}),
  });
  let stdout = '';
  let stderr = '';
  let exitCode: number | null | undefined;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('exit', (code) => (exitCode = code));
  t.teardown(() => {
    if (exitCode === undefined) child.kill('SIGKILL');
  });

  await waitUntil(() => stdout.includes('Ctrl-C stops it') || exitCode !== undefined, 'the demo banner', 30000);
  t.equal(exitCode, undefined, `running (stderr: ${stderr.slice(-300)})`);
  const url = /URL\s+(https:\/\/localhost:(\d+)\/)/.exec(stdout);
  const verify = /^\s+(openssl s_client .*)$/m.exec(stdout);
  const stats = /stats\s+(http:\/\/127\.0\.0\.1:\d+)\/stats/.exec(stdout);
  const segment = /segment\s+memfd:(\/proc\/\d+\/fd\/\d+)/.exec(stdout);
  t.ok(url && verify && stats && segment, 'prints the URL, the openssl line, the stats URL and the segment');
  const port = Number(url![2]);

  const printed = await run('bash', ['-c', verify![1]]);
  const lines = printed.stdout.trim().split('\n');
  t.equal(lines.length, 6, 'the printed openssl line shows six handshakes');
  t.ok(lines.filter((l) => l.startsWith('Reused,')).length >= 5, `at least five reused (${lines.map((l) => l.split(",")[0]).join(" ")})`);

  const pids = new Set<number>();
  for (let i = 0; i < 6; i++) pids.add((await nodeRequest(port)).pid);
  t.equal(pids.size, 2, 'two workers serve');
  const document = (await fetch(`${stats![1]}/stats`).then((r) => r.json())) as Record<string, unknown>;
  t.ok(JSON.stringify(document).includes('TLSv1.2'), 'the stats endpoint counts the handshakes');

  const link = segment![1];
  t.match(fs.readlinkSync(link), /^\/memfd:tls-shm-cache/, 'the segment exists while running');
  child.kill('SIGINT');
  await waitUntil(() => exitCode !== undefined, 'the demo to exit', 10000);
  t.equal(exitCode, 0, 'exit status 0');
  t.match(stdout, /SIGINT: stopping the workers/);
  t.notOk(fs.existsSync(link), 'the segment is gone with the primary');
  await waitUntil(() => [...pids].every((pid) => !alive(pid)), 'the workers to be gone', 5000);
  t.pass('no worker is left');
});
