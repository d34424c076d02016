// The Traefik stand-in's services: a load balancer proxying to its servers in turn (Host passed
// through, X-Forwarded-* added), or a fixed response (a stand-in extension).
import http from 'node:http';
import https from 'node:https';
import { hostname } from 'node:os';
import type { ServiceConf } from './dynamic';

export interface Ctx {
  entryPoint: string;
  secure: boolean;
  /** Bound port of each entrypoint (redirections to a port-0 entrypoint use the real one). */
  ports: Record<string, number>;
}
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, c: Ctx) => void;

export function plain(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

function loadBalancer(servers: URL[]): Handler {
  let next = 0;
  return (req, res, c) => {
    if (servers.length === 0) return plain(res, 503, 'Service Unavailable');
    const target = servers[next++ % servers.length]!;
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const peer = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    Object.assign(headers, {
      'x-forwarded-for': xff ? `${String(xff)}, ${peer}` : peer,
      'x-forwarded-host': req.headers.host ?? '',
      'x-forwarded-port': String(c.ports[c.entryPoint] ?? ''),
      'x-forwarded-proto': c.secure ? 'https' : 'http',
      'x-forwarded-server': hostname(),
      'x-real-ip': peer,
    });
    const base = target.pathname.replace(/\/$/, '');
    const upstream = (target.protocol === 'https:' ? https : http).request(
      { hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, method: req.method, path: base + (req.url ?? '/'), headers },
      (up) => {
        const out = Object.fromEntries(Object.entries(up.headers).filter(([k]) => !HOP_BY_HOP.includes(k)));
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : plain(res, 502, 'Bad Gateway')));
    req.pipe(upstream);
  };
}

export function buildService(name: string, s: ServiceConf): Handler {
  if (s.static && s.loadBalancer) throw new Error(`the service "${name}@file" has more than one type`);
  if (s.static) {
    const { status = 200, contentType = 'text/plain; charset=utf-8', body = '' } = s.static;
    return (_req, res) => {
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
  }
  if (s.loadBalancer) return loadBalancer((s.loadBalancer.servers ?? []).map((x) => new URL(x.url)));
  throw new Error(`the service "${name}@file" has no type (lab stand-in: static or loadBalancer)`);
}
