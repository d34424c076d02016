// `gitea web`: the HTTP server. Middleware in routers/api/v1/api.go's order: security headers, the
// deprecation warning for query tokens, authentication (a bad credential is a 401 on every route),
// then the route; the access log line as Gitea's router logs it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { authenticate } from './auth';
import { goJson } from './go';
import { apiError, type App, type Ctx, HttpDone, json, send, swaggerUrl, TEXT } from './http';
import { Router } from './router';
import { commentRoutes } from './routes/comments';
import { orgRoutes } from './routes/orgs';
import { repoRoutes } from './routes/repos';
import { statusRoutes } from './routes/statuses';
import { userRoutes } from './routes/users';
import { unix } from './state';
import { Store } from './store';

export interface GiteaOptions {
  statePath: string;
  host?: string;
  port?: number;
  baseUrl?: string;
  log?: (l: string) => void;
  now?: () => Date;
}
export interface RunningGitea {
  url: string;
  close(): Promise<void>;
}

const QUERY_TOKEN_WARNING =
  'token and access_token API authentication is deprecated and will be removed in gitea 1.23. Please use AuthorizationHeaderToken instead. Existing queries will continue to work but without authorization.';

function handleApi(c: Ctx, router: Router): void {
  if (c.rawPath !== '/api/v1' && !c.rawPath.startsWith('/api/v1/')) return send(c, 404, '404 page not found\n', TEXT);
  c.res.setHeader('X-Content-Type-Options', 'nosniff');
  c.res.setHeader('Cache-Control', 'max-age=0, private, must-revalidate, no-transform');
  c.res.setHeader('X-Frame-Options', 'SAMEORIGIN');
  if (c.url.searchParams.get('token') || c.url.searchParams.get('access_token')) c.res.setHeader('X-Gitea-Warning', QUERY_TOKEN_WARNING);
  const a = authenticate(c.st, c.req, c.url);
  if (a.error && !a.user) return apiError(c, 401, a.error);
  c.doer = a.user;
  router.dispatch(c, c.rawPath.slice('/api/v1'.length).split('/').slice(1).map(decodeURIComponent));
}

interface Served {
  store: Store;
  router: Router;
  appUrl: () => string;
  log: (l: string) => void;
}

function onRequest(req: http.IncomingMessage, res: http.ServerResponse, s: Served): void {
  const t0 = process.hrtime.bigint();
  const rawPath = (req.url ?? '/').split('?')[0]!;
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    s.log(
      `router: completed ${req.method} ${rawPath} for ${req.socket.remoteAddress}:${req.socket.remotePort}, ${res.statusCode} ${http.STATUS_CODES[res.statusCode] ?? ''} in ${ms.toFixed(1)}ms`,
    );
  });
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    const appUrl = s.appUrl();
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const c: Ctx = { req, res, url, rawPath, body: Buffer.concat(chunks).toString('utf8'), params: {}, st: s.store.reloadIfChanged(), appUrl };
      handleApi(c, s.router);
      if (!res.writableEnded) json(c, 500, { message: '', url: swaggerUrl(appUrl) });
    } catch (e) {
      if (e instanceof HttpDone) return;
      s.log(`gitea: internal error: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'application/json;charset=utf-8');
      }
      res.end(res.headersSent ? undefined : goJson({ message: '', url: swaggerUrl(appUrl) }));
    }
  });
}

export async function startGitea(opts: GiteaOptions): Promise<RunningGitea> {
  const store = new Store(opts.statePath);
  const router = new Router();
  const app: App = { on: (method, path, h) => router.on(method, path, h), save: () => store.save(), now: () => unix(opts.now?.() ?? new Date()) };
  for (const routes of [userRoutes, orgRoutes, repoRoutes, commentRoutes, statusRoutes]) routes(app);
  let appUrl = '';
  const server = http.createServer((req, res) => onRequest(req, res, { store, router, appUrl: () => appUrl, log: opts.log ?? (() => undefined) }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  appUrl = (opts.baseUrl ?? url).replace(/\/*$/, '/');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
