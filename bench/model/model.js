'use strict';
// The scale model. A handshake costs CPU in the worker that serves it (c, µs)
// and, with the IPC store, CPU in the one primary that answers its session
// lookups and stores (p, µs): p = lookups × (primary CPU per get) + stores ×
// (primary CPU per set). With N cores all busy serving handshakes:
//
//   shm:  X(N) = N / c                         (no centre: every worker reads and
//                                               writes the segment itself)
//   IPC:  X(N) = min(N / (c + p), 1 / p)       (the primary is one process: it
//                                               saturates at one core)
//
// so the IPC primary becomes the bottleneck at N* = (c + p) / p cores. The
// shm cache has one shared resource, its write lock, held once per new session
// for `hold` ns: at X new sessions/s it is busy X × hold of the time (the
// chance that a writer finds it taken); it saturates at 1 / hold.
//
// Inputs (all measured here; see buildModel):
// - c per handshake kind and store: worker CPU per handshake, bench:tls workers
//   sweep (median over worker counts);
// - lookups and stores per handshake: counted by the workers in the same cells;
// - primary CPU per IPC get / set: bench:micro, process.cpuUsage() of the primary
//   (the trial with the least per get, at the typical session size);
// - hold: bench:native, C++ set of a new key into a full table (evicts).
// The model leaves out what is the same for both stores (the kernel's accept,
// the balancer) and what this machine cannot show (memory bandwidth, NUMA,
// cross-socket cache-line traffic on the lock); it is an upper bound for both.
const { median, round } = require('../lib/summary');
const { upgrade: upgradeMicro, typicalOps } = require('../micro/result');

/** The three kinds of handshake the model covers, and where their inputs come from. */
const KINDS = [
  {
    kind: 'tls12-full',
    label: 'TLS 1.2 full handshake (new session)',
    client: 'tls12-id',
    // A client without a session: no lookup; Node stores the new session once.
    workerStore: { shm: 'none', ipc: 'none' },
    ops: () => ({ lookups: 0, stores: 1 }),
    newSessions: 1,
  },
  {
    kind: 'tls12-resumed',
    label: 'TLS 1.2 resumed by session ID',
    client: 'tls12-id',
    workerStore: { shm: 'shm', ipc: 'ipc' },
    ops: (cells) => measuredOps(cells.ipc),
    newSessions: 0,
  },
  {
    kind: 'tls13-ticket',
    label: 'TLS 1.3 resumed with a ticket',
    client: 'tls13-ticket',
    workerStore: { shm: 'shm', ipc: 'ipc' },
    // Node looks up the ClientHello's random legacy session id on every TLS 1.3 handshake.
    ops: (cells) => measuredOps(cells.ipc),
    // The shm cache skips TLS 1.3 sessions (DESIGN.md): no writes.
    newSessions: 0,
  },
];

function measuredOps(cells) {
  return {
    lookups: median(cells.map((c) => c.lookupsPerHandshake)),
    stores: median(cells.map((c) => c.storesPerHandshake)),
  };
}

/** The sweep's cells of one store and client (first balancer, largest concurrency), every worker count. */
function sweepCells(tls, store, client) {
  const p = tls.parameters;
  const balancer = p.balancers[0];
  const concurrency = p.concurrency[p.concurrency.length - 1];
  return tls.cells.filter((c) => c.store === store && c.client === client && c.balancer === balancer && c.concurrency === concurrency);
}

function nativeCase(native, name, valueBytes) {
  const c = native.native.cases.find((x) => x.name === name && (valueBytes === undefined || x.valueBytes === valueBytes));
  if (!c) throw new Error(`native.json has no case '${name}'`);
  return c;
}

/**
 * The IPC figures of the micro result's trial whose primary spent the least
 * CPU per get, at the typical session's size: on a loaded machine the figure
 * only grows (cache misses, fewer messages per wake-up), so the least is the
 * closest to the primary's own cost, and it gives the IPC store the benefit of
 * the doubt. Returns { workers, ops } of that trial, and every trial's.
 */
function ipcTrials(micro) {
  const m = upgradeMicro(micro);
  const trials = m.trials
    .filter((t) => t.driver === 'ipc')
    .map((t) => ({ workers: t.workers, ops: typicalOps(t, m.parameters.sizes) }))
    .filter((t) => t.ops && t.ops.get.primaryCpuNsPerOp);
  if (!trials.length) throw new Error("the micro result has no IPC trial with the primary's CPU per operation; run npm run bench:micro again");
  return { least: [...trials].sort((a, b) => a.ops.get.primaryCpuNsPerOp - b.ops.get.primaryCpuNsPerOp)[0], all: trials };
}

/** X(N) for one store: handshakes/s at `cores` cores, and what limits it. */
function project(store, cUs, pUs, cores) {
  if (store === 'shm' || pUs <= 0) return { handshakesPerSec: (cores * 1e6) / cUs, limitedBy: 'workers' };
  const workers = (cores * 1e6) / (cUs + pUs);
  const primary = 1e6 / pUs;
  return workers <= primary ? { handshakesPerSec: workers, limitedBy: 'workers' } : { handshakesPerSec: primary, limitedBy: 'IPC primary' };
}

/**
 * @param {{native: object, micro: object, tls: object, cores: number[]}} sources
 * @returns {{inputs: object[], kinds: object[], projections: object[], curves: object[], measured: object[], lock: object, rrPrimary: object}}
 */
function buildModel({ native, micro, tls, cores }) {
  const { least: ipc, all: ipcAll } = ipcTrials(micro);
  const getNs = ipc.ops.get.primaryCpuNsPerOp;
  const setNs = ipc.ops.set.primaryCpuNsPerOp;
  const holdNs = nativeCase(native, 'set (new key, evicts)', 160).medianNs;
  const inputs = [
    { name: 'primary CPU per IPC lookup (get)', value: round(getNs / 1000), unit: 'µs', source: `bench:micro, ipc, ${ipc.workers} worker(s) (the least of the trials)` },
    { name: 'primary CPU per IPC store (set)', value: round(setNs / 1000), unit: 'µs', source: `bench:micro, ipc, the same trial` },
    {
      name: 'primary CPU per IPC lookup, every trial',
      value: null,
      shown: ipcAll.map((t) => `${round(t.ops.get.primaryCpuNsPerOp / 1000, 3)} µs (${t.workers} worker${t.workers === 1 ? '' : 's'})`).join(', '),
      unit: '',
      source: 'bench:micro (load inflates it; the model takes the least)',
    },
    { name: 'IPC lookups/s that saturate the primary (1 core)', value: round(1e9 / getNs), unit: '/s', source: '1 s ÷ primary CPU per lookup' },
    { name: 'shm write lock hold per new session (C++ set of a new key, evicting)', value: round(holdNs), unit: 'ns', source: 'bench:native' },
    { name: 'Unix socket round trip (32 B out, 160 B back)', value: round(nativeCase(native, 'round trip, Unix domain socket').medianNs / 1000), unit: 'µs', source: 'bench:native' },
  ];

  const kinds = [];
  for (const k of KINDS) {
    const cells = { shm: sweepCells(tls, k.workerStore.shm, k.client), ipc: sweepCells(tls, k.workerStore.ipc, k.client) };
    if (!cells.shm.length || !cells.ipc.length) continue;
    const ops = k.ops(cells);
    const c = {
      shm: median(cells.shm.map((x) => x.workerCpuUsPerHandshake)),
      ipc: median(cells.ipc.map((x) => x.workerCpuUsPerHandshake)),
    };
    const pUs = (ops.lookups * getNs + ops.stores * setNs) / 1000;
    kinds.push({
      kind: k.kind,
      label: k.label,
      workerCpuUs: { shm: round(c.shm), ipc: round(c.ipc) },
      handshakesPerSecPerCore: { shm: round(1e6 / c.shm), ipc: round(1e6 / c.ipc) },
      lookupsPerHandshake: round(ops.lookups),
      storesPerHandshake: round(ops.stores),
      newSessionsPerHandshake: k.newSessions,
      ipcPrimaryUsPerHandshake: round(pUs),
      ipcPrimaryCapPerSec: pUs > 0 ? round(1e6 / pUs) : null,
      // N* = (c + p) / p: the core count where the workers could do more than the primary answers.
      ipcBottleneckCores: pUs > 0 ? round((c.ipc + pUs) / pUs) : null,
      measuredFrom: { shm: k.workerStore.shm, ipc: k.workerStore.ipc, client: k.client },
    });
  }

  const projections = [];
  const curves = [];
  const curveCores = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];
  for (const k of kinds) {
    for (const store of ['shm', 'ipc']) {
      const pUs = store === 'ipc' ? k.ipcPrimaryUsPerHandshake : 0;
      for (const n of cores) {
        const x = project(store, k.workerCpuUs[store], pUs, n);
        projections.push({ kind: k.kind, store, cores: n, handshakesPerSec: round(x.handshakesPerSec), limitedBy: x.limitedBy });
      }
      for (const n of curveCores) curves.push({ kind: k.kind, store, cores: n, handshakesPerSec: round(project(store, k.workerCpuUs[store], pUs, n).handshakesPerSec) });
    }
  }

  // The shm write lock under the worst write load: every handshake a full one.
  const full = kinds.find((k) => k.kind === 'tls12-full');
  const maxCores = Math.max(...cores);
  const lock = full
    ? {
        holdNs: round(holdNs),
        cores: maxCores,
        newSessionsPerSec: round(project('shm', full.workerCpuUs.shm, 0, maxCores).handshakesPerSec),
        utilisation: round((project('shm', full.workerCpuUs.shm, 0, maxCores).handshakesPerSec * holdNs) / 1e9),
        saturatesAtPerSec: round(1e9 / holdNs),
        coresToSaturate: round((1e9 / holdNs) * (full.workerCpuUs.shm / 1e6)),
      }
    : null;

  // Node's default cluster (SCHED_RR on Linux) accepts every connection in the
  // primary too: a cap on any store, measured as the primary's CPU per
  // handshake with no store at all.
  const rrCells = tls.cells.filter((c) => c.store === 'none' && c.balancer === 'rr');
  const rrUs = rrCells.length ? median(rrCells.map((c) => c.primaryCpuUsPerHandshake)) : null;
  const rrPrimary = rrUs ? { primaryUsPerHandshake: round(rrUs), capPerSec: round(1e6 / rrUs) } : null;

  const kindOf = (cell) => (cell.store === 'none' ? (cell.client === 'tls12-id' ? 'tls12-full' : null) : cell.client === 'tls12-id' ? 'tls12-resumed' : 'tls13-ticket');
  const measured = tls.cells
    .filter((c) => kindOf(c) && (c.store === 'none' || c.store === 'shm' || c.store === 'ipc'))
    .map((c) => ({ kind: kindOf(c), store: c.store, workers: c.workers, balancer: c.balancer, serverCpuCores: c.serverCpuCores, handshakesPerSec: c.handshakesPerSec }));

  return { inputs, kinds, projections, curves, measured, lock, rrPrimary };
}

module.exports = { buildModel, project, KINDS };
