'use strict';
// Recorded results: bench/results/<name>.json holds everything a run measured;
// <name>.md (a table with ratios) and <name>.svg (a bar chart) are derived from
// it, by the renderer of its benchmark kind, and can be regenerated at any time
// (`npm run bench:report`).
const fs = require('node:fs');
const path = require('node:path');
const { renderSvg } = require('./chart');

const DEFAULT_DIR = path.join(__dirname, '..', 'results');

/** The renderer for a result's benchmark kind: { markdown(result), chart(result) }. */
function rendererFor(result) {
  switch (result.benchmark) {
    case 'micro':
      return require('../micro/render');
    case 'tls':
      return require('../tls/render');
    case 'native':
      return require('../native/render');
    case 'model':
      return require('../model/render');
    case 'hash':
      return require('../hash/render');
    default:
      throw new Error(`unknown benchmark kind '${result.benchmark}'`);
  }
}

/** Writes <name>.md and <name>.svg beside <name>.json. Returns the three paths. */
async function render(dir, name, result) {
  const renderer = rendererFor(result);
  const md = path.join(dir, `${name}.md`);
  const svg = path.join(dir, `${name}.svg`);
  fs.writeFileSync(md, renderer.markdown(result, { svgFile: `${name}.svg` }));
  fs.writeFileSync(svg, await renderSvg(renderer.chart(result)));
  return { json: path.join(dir, `${name}.json`), md, svg };
}

/** Records a run: writes <dir>/<name>.json, then its markdown and chart. */
async function writeResult(dir, name, result) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  return render(dir, name, result);
}

/**
 * The end of a benchmark run: records the result, prints its markdown table to
 * stdout and the files written to stderr.
 */
async function publishResult(dir, name, result) {
  const files = await writeResult(dir, name, result);
  process.stdout.write(fs.readFileSync(files.md, 'utf8'));
  process.stderr.write(`wrote ${files.json}, ${files.md}, ${files.svg}\n`);
  return files;
}

/** Runs a benchmark's async main, printing its error and failing the process if it throws. */
function runMain(main) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

/**
 * Re-renders the markdown and chart of every <name>.json in `dir` that is a
 * result (has a `benchmark` kind). Other JSON files there (bench/remote's
 * remote.json and remote-redis-cost.json: raw figures with no renderer) are
 * left alone and listed in `skipped`.
 * @returns {Promise<{written: {json: string, md: string, svg: string}[], skipped: string[]}>}
 */
async function renderAll(dir) {
  const written = [];
  const skipped = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.json')) continue;
    const name = file.slice(0, -'.json'.length);
    const result = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (result.benchmark === undefined) skipped.push(path.join(dir, file));
    else written.push(await render(dir, name, result));
  }
  return { written, skipped };
}

module.exports = { DEFAULT_DIR, writeResult, publishResult, runMain, render, renderAll };
