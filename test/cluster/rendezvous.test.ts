/**
 * The routing function alone: deterministic under one key, different under
 * another, moving only the dead worker's keys, IPv4-mapped addresses routed
 * as IPv4. (The scatter and speed against sticky-session's and
 * sticky-cluster's hashes are measured in bench/hash, not asserted here.)
 */
import t from 'tap';
import { halfSipHash, Rendezvous, routingAddress } from '../../src/cluster/rendezvous';

const keys = Array.from({ length: 4000 }, (_, i) => (i % 2 ? `10.${(i >> 8) & 255}.${i & 255}.7` : `2001:db8::${i.toString(16)}`));

t.test('bad input', async (t) => {
  t.throws(() => new Rendezvous(Buffer.alloc(7)), RangeError);
  t.equal(new Rendezvous().pick('a', []), -1, 'no live worker: -1');
});

t.test('the same key and live set give the same worker; another hash key gives another mapping', async (t) => {
  const a = new Rendezvous(Buffer.from('0123456789abcdef', 'hex'));
  const b = new Rendezvous(Buffer.from('0123456789abcdef', 'hex'));
  const c = new Rendezvous(Buffer.from('fedcba9876543210', 'hex'));
  const live = [0, 1, 2, 3];
  t.same(keys.map((k) => a.pick(k, live)), keys.map((k) => b.pick(k, live)));
  const differ = keys.filter((k) => a.pick(k, live) !== c.pick(k, live)).length;
  t.ok(differ > keys.length / 2, `${differ} of ${keys.length} keys route elsewhere under another key`);
  t.not(halfSipHash(1, 2, 'ab'), halfSipHash(1, 2, 'ba'), 'order matters');
  t.not(halfSipHash(1, 2, 'a'), halfSipHash(1, 2, 'a\0'), 'length matters');
});

t.test('a dead worker moves only its own keys; its return brings back exactly those', async (t) => {
  const r = new Rendezvous();
  const all = [0, 1, 2, 3, 4];
  const before = keys.map((k) => r.pick(k, all));
  const counts = all.map((w) => before.filter((x) => x === w).length);
  t.ok(Math.max(...counts) / Math.min(...counts) < 1.25, `even spread ${counts.join('/')}`);
  const without2 = keys.map((k) => r.pick(k, [0, 1, 3, 4]));
  keys.forEach((_, i) => {
    if (before[i] !== 2 && without2[i] !== before[i]) t.fail(`key ${keys[i]} moved from ${before[i]}`);
  });
  t.ok(without2.every((w) => w !== 2));
  t.same(keys.map((k) => r.pick(k, all)), before, 'back to the same mapping');
});

t.test('IPv4-mapped IPv6 routes as IPv4', async (t) => {
  t.equal(routingAddress('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(routingAddress('2001:db8::1'), '2001:db8::1');
  t.equal(routingAddress(undefined), '');
});
