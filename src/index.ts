export { SharedCache, LIMITS, segmentBytes } from './shared-cache';
export type { SharedCacheOptions, CacheStats } from './shared-cache';
export { TlsShmCacheError } from './errors';
export type { TlsShmCacheErrorCode } from './errors';
export type { TlsVersion, HandshakeOutcome } from './counters';
