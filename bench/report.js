'use strict';
// npm run bench:report [-- --results DIR]
// Regenerates every <name>.md and <name>.svg from the recorded <name>.json
// files, without running anything (for example after changing a renderer).
const { parseArgs } = require('./lib/args');
const { DEFAULT_DIR, renderAll } = require('./lib/results');

async function main() {
  const args = parseArgs(process.argv.slice(2), { results: DEFAULT_DIR });
  const { written, skipped } = await renderAll(args.results);
  for (const w of written) console.log(`${w.md}\n${w.svg}`);
  for (const file of skipped) console.log(`skipped ${file} (not a result with a renderer)`);
  if (written.length === 0) console.log(`no results in ${args.results}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
