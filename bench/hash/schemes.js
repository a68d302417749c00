'use strict';
// The routing schemes compared, each with the real hash function of its
// package and the way that package picks a worker from it:
//
// int31       sticky-session 1.1.2 (lib/sticky/master.js): Master.prototype.hash
//             over ip.toBuffer(remoteAddress), seeded at random;
//             workers[hash % workers.length], and a dead worker is spliced
//             out of that array (its replacement is pushed at the end).
// djb2        sticky-cluster 0.3.x (lib/master.js): string-hash (djb2) over
//             the remoteAddress string; worker index = hash % concurrency,
//             fixed: a dead worker's index keeps its keys (its connections
//             have no live worker until the respawn).
// rendezvous  this package (src/cluster/rendezvous.ts): a keyed
//             HalfSipHash-2-4 of the address, then the highest of one mixed
//             weight per live worker.
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const ip = require(path.join(ROOT, 'node_modules', 'ip'));
const stringHash = require(path.join(ROOT, 'node_modules', 'string-hash'));
const StickySessionMaster = require(path.join(ROOT, 'node_modules', 'sticky-session', 'lib', 'sticky', 'master.js'));
const { Rendezvous, routingAddress } = require(path.join(ROOT, 'dist', 'cluster', 'rendezvous.js'));

const seed = (Math.random() * 0xffffffff) | 0;
const int31 = StickySessionMaster.prototype.hash.bind({ seed });

/**
 * Each scheme: route(address, live) -> worker id, where `live` lists the live
 * worker ids in the order the package keeps them; and how that order changes
 * when a worker dies.
 */
const schemes = {
  int31: {
    label: 'sticky-session (int31, hash % live workers)',
    route: (address, live) => live[int31(ip.toBuffer(address)) % live.length],
    afterDeath: (ids, dead) => ids.filter((id) => id !== dead),
  },
  djb2: {
    label: 'sticky-cluster (djb2, hash % concurrency)',
    route: (address, live, all) => all[stringHash(address) % all.length],
    afterDeath: (ids) => ids, // the index stays; its keys wait for the respawn
  },
  rendezvous: {
    label: 'tls-shm-cache runner (keyed rendezvous)',
    make() {
      const r = new Rendezvous();
      return (address, live) => r.pick(routingAddress(address), live);
    },
    afterDeath: (ids, dead) => ids.filter((id) => id !== dead),
  },
};

module.exports = { schemes };
