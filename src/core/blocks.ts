/**
 * How many blocks an item takes, the arithmetic of native/chain.h: the key in
 * whole 8-byte words, then the value, in blocks of `blocksize` rounded up to 8.
 * Shared by the sizing of a new cache (shared-cache.ts) and the in-process
 * store's block figures (in-process.ts).
 */

/** Bytes of an item a block holds: blocksize rounded up to 8. */
export const blockPayload = (blocksize: number): number => Math.ceil(blocksize / 8) * 8;

/** Blocks an item of this key and value length takes. */
export function itemBlocks(keyLength: number, valueLength: number, blocksize: number): number {
  return Math.ceil((Math.ceil(keyLength / 8) * 8 + valueLength) / blockPayload(blocksize));
}
