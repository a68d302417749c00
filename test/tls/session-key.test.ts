// The cache keys of TLS sessions (src/tls/session-key.ts): the bare ID in the
// default namespace, `namespace \0 id` elsewhere, and the two forms never meet.
import crypto from 'node:crypto';
import t from 'tap';
import { DEFAULT_NAMESPACE, parseSessionKey, sessionKey, sessionKeys } from '../../src/tls/session-key';

t.test('the default namespace keys a session by its ID alone', async (t) => {
  const id = crypto.randomBytes(32);
  const key = sessionKeys(DEFAULT_NAMESPACE)(id)!;
  t.same(key, id, '32 bytes: the ID');
  t.same(parseSessionKey(key), { namespace: DEFAULT_NAMESPACE, id }, 'and back');
  for (const n of [0, 1, 16, 31, 33]) {
    t.equal(sessionKeys(DEFAULT_NAMESPACE)(Buffer.alloc(n, 1)), undefined, `a ${n}-byte ID has no key (OpenSSL makes 32-byte IDs)`);
  }
});

t.test('another namespace prefixes the ID, and its keys are always longer than any default key', async (t) => {
  const id = crypto.randomBytes(32);
  const key = sessionKey('api', id)!;
  t.same(key, Buffer.concat([Buffer.from('api\0'), id]));
  t.same(parseSessionKey(key), { namespace: 'api', id });
  // A client that knows a default-namespace session ID cannot make another
  // namespace look it up: `api` makes keys of 36 bytes only.
  for (let n = 1; n <= 32; n++) {
    const k = sessionKeys('api')(crypto.randomBytes(n));
    t.ok(n === 32 ? k?.length === 36 : k === undefined, `${n}-byte ID`);
  }
  t.equal(sessionKeys('a')(crypto.randomBytes(32))!.length, 34);
});

t.test('keys no namespace makes are not parsed as sessions', async (t) => {
  t.equal(parseSessionKey(Buffer.alloc(0)), undefined, 'empty');
  t.equal(parseSessionKey(Buffer.alloc(40, 1)), undefined, 'long, no NUL');
  t.equal(parseSessionKey(Buffer.concat([Buffer.from('\0'), Buffer.alloc(40, 1)])), undefined, 'an empty namespace');
  t.equal(parseSessionKey(Buffer.concat([Buffer.from('default\0'), Buffer.alloc(32, 1)])), undefined, 'the default namespace in the long form');
  t.equal(parseSessionKey(Buffer.concat([Buffer.from('api\0'), Buffer.alloc(33, 1)])), undefined, 'an ID over 32 bytes');
  t.equal(parseSessionKey(Buffer.concat([Buffer.from('api\0'), Buffer.alloc(31, 1)])), undefined, 'an ID under 32 bytes');
  t.equal(parseSessionKey(Buffer.from('user:42')), undefined, 'a short key something else stored in the cache');
});
