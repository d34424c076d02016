// The Traefik stand-in's entrypoints: one TCP listener each, taking HTTP and TLS on the same port
// (sniffed per connection, as Traefik's TCP router does).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from './log';

/** A listener handing each connection to `secure` when its first byte opens a TLS ClientHello (0x16), else to `plain`. */
export function listenSniffing(plain: http.Server, secure: https.Server, sockets: Set<net.Socket>): net.Server {
  return net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    // Peek one byte in paused mode; the TLS wrap picks up the unshifted byte from the buffer.
    sock.once('readable', () => {
      const first = sock.read(1) as Buffer | null;
      if (!first) return void sock.destroy();
      sock.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', sock);
    });
  });
}

/** Binds, or throws Traefik's error for the entrypoint (with Go's text for the errno). */
function listen(listener: net.Server, name: string, address: string, host: string | undefined, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    listener.once('error', (e: NodeJS.ErrnoException) => {
      const why: Record<string, string> = {
        EADDRINUSE: 'address already in use',
        EACCES: 'permission denied',
        EADDRNOTAVAIL: 'cannot assign requested address',
      };
      const detail = why[e.code ?? ''] ?? e.message;
      reject(new Error(`error while building entryPoint ${name}: error preparing server: error opening listener: listen tcp ${address}: bind: ${detail}`));
    });
    listener.listen({ host, port }, resolve);
  });
}

export interface EntryPointAddress {
  /** As configured, for messages. */
  address: string;
  host?: string;
  port: number;
}

export class EntryPoints {
  /** Bound port of each entrypoint, filled as they open. */
  readonly ports: Record<string, number> = {};
  readonly addresses: Record<string, { address: string; port: number }> = {};
  private readonly tlsServers: https.Server[] = [];
  private readonly listeners: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly log: Logger) {}

  /** Opens every entrypoint in turn; when one fails, those opened are closed and its error thrown. */
  async open(
    eps: Record<string, EntryPointAddress>,
    tlsOptions: https.ServerOptions,
    handler: (entryPoint: string, secure: boolean) => http.RequestListener,
  ): Promise<void> {
    try {
      for (const [name, { address, host, port }] of Object.entries(eps)) {
        const tlsServer = https.createServer(tlsOptions, handler(name, true));
        tlsServer.on('tlsClientError', (e, s) =>
          this.log('debug', `http: TLS handshake error from ${s.remoteAddress}:${s.remotePort}: ${e.message}`, { entryPointName: name }),
        );
        this.tlsServers.push(tlsServer);
        const listener = listenSniffing(http.createServer(handler(name, false)), tlsServer, this.sockets);
        await listen(listener, name, address, host, port);
        this.listeners.push(listener);
        const a = listener.address() as net.AddressInfo;
        this.addresses[name] = { address: a.address, port: a.port };
        this.ports[name] = a.port;
        this.log('debug', 'Starting TCP Server', { entryPointName: name, address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` });
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** The certificate of connections without SNI (the TLS servers' own context). */
  setDefaultCertificate(pair: { cert: string; key: string }): void {
    for (const s of this.tlsServers) s.setSecureContext(pair);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.listeners.map((l) => new Promise<void>((res) => l.close(() => res()))));
  }
}
