/**
 * The cross-host tier (src/remote): loaded by src/index.ts, it registers
 * itself with the TLS layer, which starts it when setupSharedCache() or
 * attachSharedCache() is given a `remote` option. node-redis is loaded only then.
 */
import { registerRemoteTier } from '../tls/remote-hook';
import { resolveRemoteOptions } from './options';
import { RemoteTier } from './tier';

registerRemoteTier((options, context) => new RemoteTier(context.cache, resolveRemoteOptions(options, context.where), context).start());

export type { RemoteOptions } from './options';
export type { LocalKeyRing, RingSnapshot } from './key-ring';
