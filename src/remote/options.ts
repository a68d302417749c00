/**
 * The `remote` option of setupSharedCache() / attachSharedCache(): where the
 * fleet's Redis (or Valkey) is, the secret that seals what goes there, and the
 * few knobs of replication. Validated here, in TypeScript, before anything
 * connects.
 */
import { checkInteger, checkNumber, checkOptions, checkString, rangeError, typeError } from '../core/validate';
import type { RemoteOptions } from '../tls/remote-hook';

export type { RemoteOptions };

export const REMOTE_OPTIONS = ['url', 'secret', 'client', 'sentinel', 'prefix', 'ringPrefix', 'maxLength', 'publishInterval', 'pollInterval', 'hostId'] as const;

/** The validated, defaulted form of {@link RemoteOptions}. */
export interface ResolvedRemoteOptions {
  /** Undefined with `sentinel`. */
  url: string | undefined;
  sentinel: Record<string, unknown> | undefined;
  secrets: Buffer[];
  client: Record<string, unknown>;
  prefix: string;
  ringPrefix: string;
  maxLength: number;
  publishIntervalMs: number;
  pollIntervalMs: number;
  hostId: string | undefined;
}

/** Shortest accepted secret, in bytes. */
export const MIN_SECRET_BYTES = 16;

export function resolveRemoteOptions(value: unknown, where: string): ResolvedRemoteOptions {
  const o = checkOptions<RemoteOptions>(value, `${where}: remote`, REMOTE_OPTIONS);
  if (value === undefined) throw typeError(`${where}: remote must be an object with url and secret`);
  const sentinel = o.sentinel;
  if (sentinel !== undefined) {
    if (typeof sentinel !== 'object' || sentinel === null || Array.isArray(sentinel)) {
      throw typeError(`${where}: remote.sentinel must be an object of node-redis createSentinel options ({ name, sentinelRootNodes })`);
    }
    if (typeof sentinel.name !== 'string' || !Array.isArray(sentinel.sentinelRootNodes) || sentinel.sentinelRootNodes.length === 0) {
      throw typeError(`${where}: remote.sentinel needs name (the master's name) and sentinelRootNodes ([{ host, port }, …])`);
    }
  }
  let url: string | undefined;
  if (o.url !== undefined || sentinel === undefined) {
    url = checkString(o.url, `${where}: remote.url`);
    if (!/^rediss?:\/\//.test(url)) throw typeError(`${where}: remote.url must start with redis:// or rediss://, got '${url.replace(/\/\/[^@]*@/, '//…@')}'`);
  }
  const list = Array.isArray(o.secret) ? (o.secret as unknown[]) : [o.secret];
  if (list.length === 0) throw rangeError(`${where}: remote.secret must not be an empty list`);
  const secrets = list.map((s, i) => {
    const name = Array.isArray(o.secret) ? `${where}: remote.secret[${i}]` : `${where}: remote.secret`;
    if (typeof s !== 'string' && !Buffer.isBuffer(s)) throw typeError(`${name} must be a string or a Buffer, got ${s === undefined ? 'undefined' : typeof s}`);
    const bytes = Buffer.from(s);
    if (bytes.length < MIN_SECRET_BYTES) throw rangeError(`${name} must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`);
    return bytes;
  });
  const client = o.client === undefined ? {} : o.client;
  if (typeof client !== 'object' || client === null || Array.isArray(client)) {
    throw typeError(`${where}: remote.client must be an object of node-redis client options`);
  }
  const prefix = o.prefix === undefined ? 'tls-shm-cache' : checkString(o.prefix, `${where}: remote.prefix`);
  return {
    url,
    sentinel,
    secrets,
    client,
    prefix,
    ringPrefix: o.ringPrefix === undefined ? prefix : checkString(o.ringPrefix, `${where}: remote.ringPrefix`),
    maxLength: checkInteger(o.maxLength, `${where}: remote.maxLength`, 100, 100_000_000, 100_000),
    publishIntervalMs: Math.round(checkNumber(o.publishInterval, `${where}: remote.publishInterval`, 0.005, 60, 0.05) * 1000),
    pollIntervalMs: Math.round(checkNumber(o.pollInterval, `${where}: remote.pollInterval`, 0.05, 3600, 5) * 1000),
    hostId: o.hostId === undefined ? undefined : checkString(o.hostId, `${where}: remote.hostId`),
  };
}
