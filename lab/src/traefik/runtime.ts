// The Traefik stand-in's runtime: routers compiled from the dynamic configuration, the
// entrypoints' redirections (routers of Traefik's internal provider), and the routing itself.
import http from 'node:http';
import type { LoadedConf, ReadPair } from './file-provider';
import type { EntryPointConfig } from './flags';
import type { Logger } from './log';
import { type Matcher, type RequestInfo, parseRule } from './rules';
import { type Ctx, type Handler, buildService, plain } from './services';
import { type LoadedCert, loadCertificate } from './tls';

export interface Router {
  name: string;
  entryPoints: string[];
  tls: boolean;
  priority: number;
  match: Matcher;
  handle: Handler;
}
export interface Runtime {
  certs: LoadedCert[];
  defaultCert?: LoadedCert;
  routers: Router[];
}

const MAX_PRIORITY = 2 ** 31 - 2; // Traefik's priority for entrypoint redirections (MaxInt32-1)

function stripPort(host: string | undefined): string {
  const h = (host ?? '').trim();
  return /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(h)?.[1] ?? h;
}

function canonicalHost(host: string | undefined): string {
  return stripPort(host).toLowerCase().replace(/\.$/, '');
}

/** Each entrypoint's redirection, a permanent one (301 for GET, else 308); they survive dynamic-config errors. */
export function internalRedirections(eps: Record<string, EntryPointConfig>, log: Logger): Router[] {
  const routers: Router[] = [];
  for (const [name, ep] of Object.entries(eps)) {
    if (!ep.redirect) continue;
    const { to, scheme = 'https' } = ep.redirect;
    const fixedPort = to && /^:(\d+)$/.exec(to)?.[1];
    if (!to) {
      log('error', 'Unable to create redirection: the entry point or the port is missing', { entryPointName: name });
      continue;
    }
    if (!fixedPort && !eps[to]) {
      log('error', `'to' entry point field references a non-existing entry point: ${to}`, { entryPointName: name });
      continue;
    }
    routers.push({
      name: `${name}-to-${to.replace(/[^A-Za-z0-9-]/g, '-')}@internal`,
      entryPoints: [name],
      tls: false,
      priority: MAX_PRIORITY,
      match: (r) => r.host !== '',
      handle: (req, res, c) => {
        const port = fixedPort || String(c.ports[to] ?? '');
        const keep = port && !((scheme === 'https' && port === '443') || (scheme === 'http' && port === '80'));
        const status = req.method === 'GET' ? 301 : 308;
        const body = http.STATUS_CODES[status]!;
        res.writeHead(status, {
          Location: `${scheme}://${stripPort(req.headers.host)}${keep ? `:${port}` : ''}${req.url ?? '/'}`,
          'Content-Length': body.length,
        });
        res.end(body);
      },
    });
  }
  return routers;
}

/** The certificates (the first of each domain set) and the routers of a loaded configuration; what fails is logged and left out. */
export function compileRuntime({ conf, pairs, def }: LoadedConf, known: string[], log: Logger): Runtime {
  const certs: LoadedCert[] = [];
  const seen = new Set<string>();
  const load = (p: ReadPair): LoadedCert | undefined => {
    try {
      if (p.error) throw new Error(p.error);
      return loadCertificate(p.cert!, p.key!);
    } catch (e) {
      log('error', `Unable to append certificate ${p.certFile} to store: ${(e as Error).message}`, { tlsStoreName: 'default' });
      return undefined;
    }
  };
  for (const p of pairs) {
    const c = load(p);
    if (!c) continue;
    const key = c.domains.join(',');
    if (seen.has(key)) {
      log('debug', `Skipping addition of certificate for domain(s) "${key}", to TLS Store default, as it already exists for this store.`);
      continue;
    }
    seen.add(key);
    certs.push(c);
    // Traefik logs this at debug; the stand-in adds the fingerprint and logs at info.
    log('info', `Adding certificate for domain(s) ${key}`, { tlsStoreName: 'default', certFile: p.certFile, sha256: c.fingerprint, notAfter: c.notAfter });
  }
  const defaultCert = def && load(def);
  if (defaultCert) log('info', 'Using the configured default certificate', { tlsStoreName: 'default', sha256: defaultCert.fingerprint });

  const services = conf.http?.services ?? {};
  const routers: Router[] = [];
  for (const [name, r] of Object.entries(conf.http?.routers ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const fields = { routerName: `${name}@file` };
    try {
      if (!r.rule) throw new Error('router has no rule');
      const svcName = (r.service ?? '').replace(/@file$/, '');
      const svc = services[svcName];
      if (!svc) throw new Error(`the service "${svcName}@file" does not exist`);
      const entryPoints = r.entryPoints ?? known;
      for (const ep of entryPoints) if (!known.includes(ep)) log('error', "EntryPoint doesn't exist", { ...fields, entryPointName: ep });
      if (!entryPoints.some((ep) => known.includes(ep))) throw new Error('no valid entryPoint for this router');
      routers.push({
        name: `${name}@file`,
        entryPoints,
        tls: r.tls !== undefined,
        priority: r.priority || r.rule.length,
        match: parseRule(r.rule),
        handle: buildService(svcName, svc),
      });
    } catch (e) {
      log('error', (e as Error).message, fields);
    }
  }
  routers.sort((a, b) => b.priority - a.priority);
  return { certs, defaultCert, routers };
}

/** Serves a request with the first router (by priority) of its entrypoint, TLS-ness and rule; none: 404 page not found. */
export function dispatch(routers: Router[], req: http.IncomingMessage, res: http.ServerResponse, c: Ctx, log: Logger): void {
  const info: RequestInfo = { host: canonicalHost(req.headers.host), path: (req.url ?? '/').split('?')[0]! };
  const r = routers.find((x) => x.tls === c.secure && x.entryPoints.includes(c.entryPoint) && x.match(info));
  if (!r) return plain(res, 404, '404 page not found\n');
  log('debug', `${req.method} ${info.host}${req.url}`, { entryPointName: c.entryPoint, routerName: r.name });
  r.handle(req, res, c);
}
