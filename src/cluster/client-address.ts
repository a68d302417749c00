/**
 * clientAddress(socket): the address of the client behind a PROXY-protocol
 * load balancer, as the primary read it from the header. With TLS no
 * `X-Forwarded-For` header can be read before the handshake; the PROXY
 * header comes before it, so the primary reads it, strips it, and hands the
 * worker the address with the socket.
 */
import net from 'node:net';
import type { ProxiedAddress } from './proxy-protocol';
import { routingAddress } from './rendezvous';

const addresses = new WeakMap<net.Socket, ProxiedAddress>();

/** Records the address for a socket the worker is handed (runner-internal). */
export function rememberClientAddress(socket: net.Socket, address: ProxiedAddress): void {
  addresses.set(socket, address);
}

/**
 * The client's address for a connection served through runCluster():
 * from the PROXY header when `proxyProtocol` is on (and the header carried
 * one), else the socket's own peer.
 *
 * @param socket `req.socket` of an http/https request, the `tls.TLSSocket`
 *   of a 'secureConnection', a plain `net.Socket`, or an HTTP/2 request's
 *   `req.socket` / `stream.session.socket`.
 * @returns `{ address, port, family }` (an IPv4 client of a dual-stack
 *   listener as plain IPv4, not `::ffff:a.b.c.d`), or undefined when the socket is
 *   closed and no PROXY address was recorded.
 */
export function clientAddress(socket: net.Socket): ProxiedAddress | undefined {
  if (!(socket instanceof net.Socket) && (typeof socket !== 'object' || socket === null)) {
    throw Object.assign(new TypeError(`clientAddress: socket must be a net.Socket or tls.TLSSocket, got ${socket === null ? 'null' : typeof socket}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  // A TLS server wraps the socket it was handed: the raw one is its _parent.
  for (let s: net.Socket | undefined = socket, hops = 0; s && hops < 4; s = (s as { _parent?: net.Socket })._parent, hops++) {
    const found = addresses.get(s);
    if (found) return found;
  }
  const { remoteAddress, remotePort, remoteFamily } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d: report it as the IPv4 address it is.
  const address = routingAddress(remoteAddress);
  return { address, port: remotePort, family: address === remoteAddress && remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
}
