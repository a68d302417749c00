/**
 * HAProxy's PROXY protocol, versions 1 (text) and 2 (binary), as sent by a
 * TCP load balancer (HAProxy `send-proxy` / `send-proxy-v2`, AWS NLB, ...)
 * before the client's own bytes: the client's address survives the hop.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 *
 * parseProxyHeader() is a bounded, incremental parse: given the bytes read so
 * far it says "need more", "here is the header and its exact length", or
 * "this is not a PROXY header". The caller keeps every byte after that
 * length: the client's TLS ClientHello often arrives in the same read.
 */
import net from 'node:net';

/** An address as the PROXY header carries it (the client's, or the balancer's side it connected to). */
export interface ProxiedAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export type ProxyParse =
  | { state: 'incomplete' }
  | { state: 'error'; reason: string }
  | {
      state: 'done';
      version: 1 | 2;
      /** Bytes the header takes: everything after them is the client's. */
      length: number;
      /** The client; undefined for v1 `UNKNOWN`, v2 `LOCAL` and v2 non-IP families (the socket's own peer applies). */
      source: ProxiedAddress | undefined;
      destination: ProxiedAddress | undefined;
    };

/** The longest v1 line, CRLF included (spec section 2.1). */
export const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** v2's fixed part: signature, version/command, family/protocol, length. */
const V2_FIXED = 16;
/** The most a v2 header can take (its length field is 16 bits). */
export const V2_MAX_LENGTH = V2_FIXED + 0xffff;

const INCOMPLETE = { state: 'incomplete' } as const;
const error = (reason: string) => ({ state: 'error', reason }) as const;

/** Whether `data` so far agrees with `prefix` (over the shorter of the two). */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

export function parseProxyHeader(data: Buffer): ProxyParse {
  if (data.length === 0) return INCOMPLETE;
  if (startsLike(data, V2_SIGNATURE)) return data.length < V2_FIXED ? INCOMPLETE : parseV2(data);
  if (startsLike(data, V1_PREFIX)) return parseV1(data);
  return error('the connection did not start with a PROXY protocol header');
}

function parseV1(data: Buffer): ProxyParse {
  const end = data.indexOf('\r\n');
  if (end < 0) return data.length >= V1_MAX_LENGTH ? error('PROXY v1 line longer than 107 bytes') : INCOMPLETE;
  if (end + 2 > V1_MAX_LENGTH) return error('PROXY v1 line longer than 107 bytes');
  const fields = data.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { state: 'done', version: 1, length, source: undefined, destination: undefined };
  if (fields.length !== 6) return error('PROXY v1 line must have 6 fields');
  const [, proto, src, dst, sport, dport] = fields;
  const family = proto === 'TCP4' ? 'IPv4' : proto === 'TCP6' ? 'IPv6' : undefined;
  if (!family) return error(`PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN, got '${proto.slice(0, 10)}'`);
  const check = family === 'IPv4' ? net.isIPv4 : net.isIPv6;
  if (!check(src) || !check(dst)) return error(`PROXY v1 addresses are not ${family} addresses`);
  const ports = [sport, dport].map((p) => (/^(0|[1-9][0-9]{0,4})$/.test(p) ? Number(p) : NaN));
  if (!ports.every((p) => p <= 65535)) return error('PROXY v1 ports must be decimal numbers from 0 to 65535');
  return {
    state: 'done',
    version: 1,
    length,
    source: { address: src, port: ports[0], family },
    destination: { address: dst, port: ports[1], family },
  };
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Canonical (compressed) form through URL parsing, so it matches what sockets report.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function parseV2(data: Buffer): ProxyParse {
  const versionCommand = data[12];
  if (versionCommand >> 4 !== 2) return error(`PROXY v2 version nibble must be 2, got ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return error(`PROXY v2 command must be LOCAL (0) or PROXY (1), got ${command}`);
  const length = V2_FIXED + data.readUInt16BE(14);
  if (data.length < length) return INCOMPLETE;
  const familyProtocol = data[13];
  const body = data.subarray(V2_FIXED, length);
  // LOCAL: the balancer's own connection (health checks): the socket's peer is the client.
  if (command === 0) return { state: 'done', version: 2, length, source: undefined, destination: undefined };
  switch (familyProtocol >> 4) {
    case 1: // AF_INET
      if (body.length < 12) return error('PROXY v2 IPv4 block shorter than 12 bytes');
      return {
        state: 'done',
        version: 2,
        length,
        source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8), family: 'IPv4' },
        destination: { address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10), family: 'IPv4' },
      };
    case 2: // AF_INET6
      if (body.length < 36) return error('PROXY v2 IPv6 block shorter than 36 bytes');
      return {
        state: 'done',
        version: 2,
        length,
        source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32), family: 'IPv6' },
        destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34), family: 'IPv6' },
      };
    default: // AF_UNSPEC, AF_UNIX: no IP address to route by
      return { state: 'done', version: 2, length, source: undefined, destination: undefined };
  }
}

/** Builds a header (for tests and benchmarks that play the load balancer). */
export function buildProxyHeader(version: 1 | 2, source: ProxiedAddress, destination: ProxiedAddress): Buffer {
  if (version === 1) {
    const proto = source.family === 'IPv4' ? 'TCP4' : 'TCP6';
    return Buffer.from(`PROXY ${proto} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
  }
  const v4 = source.family === 'IPv4';
  const body = Buffer.alloc(v4 ? 12 : 36);
  const put = (address: string, at: number) => {
    if (v4) address.split('.').forEach((octet, i) => (body[at + i] = Number(octet)));
    else ipv6Bytes(address).copy(body, at);
  };
  put(source.address, 0);
  put(destination.address, v4 ? 4 : 16);
  body.writeUInt16BE(source.port, v4 ? 8 : 32);
  body.writeUInt16BE(destination.port, v4 ? 10 : 34);
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x21; // version 2, PROXY
  fixed[1] = v4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const part = (s: string) => (s ? s.split(':') : []);
  const h = part(head);
  const t = address.includes('::') ? part(tail) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
