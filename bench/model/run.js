'use strict';
// npm run bench:model [-- --native bench/results/native.json --micro bench/results/micro-ipc.json
//                        --tls bench/results/tls-workers.json --cores 8,16,64 --results DIR]
//
// The scale model: where each design stops scaling, from figures measured
// here. It runs nothing; it reads three recorded results:
//   native.json       (npm run bench:native)  the shm write lock's hold time per new session
//   micro-ipc.json    (npm run bench:micro -- --drivers shm,ipc --name micro-ipc)
//                                             the IPC store's primary CPU per get / set
//   tls-workers.json  (npm run bench:tls -- --workers 1,2,3 ... --name tls-workers)
//                     worker CPU per handshake of each kind and store, session
//                     lookups and stores per handshake, and the measured points
// and projects handshakes/s of each store at more cores (see model.js).
// Writes <results>/model.json, model.md and model.svg, and prints the table.
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs, list } = require('../lib/args');
const { describeMachine } = require('../lib/machine');
const { DEFAULT_DIR, publishResult, runMain } = require('../lib/results');
const { buildModel } = require('./model');

const DEFAULTS = {
  native: path.join(DEFAULT_DIR, 'native.json'),
  /** A bench:micro run of the IPC store (and shm beside it): npm run bench:micro -- --drivers shm,ipc --name micro-ipc */
  micro: path.join(DEFAULT_DIR, 'micro-ipc.json'),
  tls: path.join(DEFAULT_DIR, 'tls-workers.json'),
  /** Core counts to project to. */
  cores: '8,16,64',
  results: DEFAULT_DIR,
  name: 'model',
};

function readResult(file, kind) {
  let result;
  try {
    result = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the ${kind} result ${file} (${error.message}); run npm run bench:${kind} first`);
  }
  if (result.benchmark !== kind) throw new Error(`${file} is a '${result.benchmark}' result, not '${kind}'`);
  return result;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), DEFAULTS);
  const cores = list(args.cores).map(Number);
  const native = readResult(args.native, 'native');
  const micro = readResult(args.micro, 'micro');
  const tls = readResult(args.tls, 'tls');
  const model = buildModel({ native, micro, tls, cores });
  const result = {
    benchmark: 'model',
    startedAt: new Date().toISOString(),
    machine: describeMachine(),
    parameters: { cores, sources: { native: args.native, micro: args.micro, tls: args.tls } },
    sourceRuns: {
      native: { startedAt: native.startedAt, loadAverage: native.machine.loadAverage },
      micro: { startedAt: micro.startedAt, loadAverage: micro.machine.loadAverage },
      tls: { startedAt: tls.startedAt, loadAverage: tls.machine.loadAverage, parameters: tls.parameters },
    },
    ...model,
  };
  await publishResult(args.results, args.name, result);
}

runMain(main);
