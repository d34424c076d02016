// The Drone stand-in's REST API, as a route table. Status codes and messages follow drone/drone:
// handler/api/api.go (routes, 405s), handler/api/acl (401 for a guest: every repository here is
// private), handler/api/repos/builds/{create,list,find}.go, handler/api/repos/builds/logs/find.go.
import type http from 'node:http';
import { renderBuild, renderRepo, renderUser } from './render';
import { type Scm, branchTip, commitLink } from './scm';
import { DONE, type DroneStore, type RepoRec } from './state';

export interface ApiContext {
  store: DroneStore;
  /** token -> login. */
  tokens: Record<string, string>;
  scm?: Scm;
  log: (line: string) => void;
  /** A build was created: the runner may take it. */
  queued: () => void;
}

interface Call {
  api: ApiContext;
  res: http.ServerResponse;
  url: URL;
  method: string;
  user: { login: string; id: number; created: number };
  /** The route's captures. */
  args: string[];
}
interface RepoCall extends Call {
  repo: RepoRec;
  slug: string;
}

interface Route {
  path: RegExp;
  methods: string[];
  handle: (c: Call) => void;
}

const NO_ROWS = 'sql: no rows in result set';

export function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, no-store, must-revalidate, private, max-age=0' });
  res.end(`${JSON.stringify(body)}\n`);
}
export const fail = (res: http.ServerResponse, status: number, message: string) => send(res, status, { message });

/** Go's strconv: the number, or a 400 with its error text. */
function parseNum(res: http.ServerResponse, s: string, bits: 'int64' | 'int'): number | undefined {
  if (/^[+-]?\d+$/.test(s)) return Number(s);
  fail(res, 400, `strconv.${bits === 'int64' ? 'ParseInt' : 'Atoi'}: parsing ${JSON.stringify(s)}: invalid syntax`);
  return undefined;
}

/** A route under /api/repos/{owner}/{name}: 404 "Not Found" unless the repository is activated. */
const inRepo =
  (handle: (c: RepoCall) => void) =>
  (c: Call): void => {
    const [namespace, name] = c.args as [string, string];
    const repo = c.api.store.findRepo(namespace, name);
    if (!repo) return fail(c.res, 404, 'Not Found');
    handle({ ...c, repo, slug: `${namespace}/${name}`, args: c.args.slice(2) });
  };

function listBuilds(c: RepoCall): void {
  const q = c.url.searchParams;
  const page = Number.parseInt(q.get('page') ?? '', 10) || 0;
  let limit = Number.parseInt(q.get('per_page') ?? '', 10) || 0;
  if (limit < 1 || limit > 100) limit = 25;
  const offset = page <= 1 ? 0 : (page - 1) * limit;
  send(
    c.res,
    200,
    c.api.store
      .listBuilds(c.slug)
      .slice(offset, offset + limit)
      .map((b) => renderBuild(b, false)),
  );
}

/** A `custom` build (trigger/trigger.go): every query key but access_token, commit and branch is a param. */
function createBuild(c: RepoCall): void {
  const q = c.url.searchParams;
  const branch = q.get('branch') || 'main';
  const ref = branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
  const sha = q.get('commit') || branchTip(c.api.scm, c.repo.name, ref);
  const params: Record<string, string> = {};
  for (const [k, v] of q) if (!['access_token', 'commit', 'branch'].includes(k) && !(k in params)) params[k] = v;
  const { login } = c.user;
  const link = commitLink(c.api.scm, c.slug, sha);
  const b = c.api.store.createBuild(c.repo, { login, branch, ref, sha, link, message: q.get('message') ?? '', params });
  const shown = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  c.api.log(`build ${c.slug}#${b.number} created by ${login} (custom${shown ? `, ${shown}` : ''})`);
  send(c.res, 200, renderBuild(b, false));
  c.api.queued();
}

function findBuild(c: RepoCall): void {
  const number = parseNum(c.res, c.args[0]!, 'int64');
  if (number === undefined) return;
  const build = c.api.store.findBuild(c.slug, number);
  if (build) send(c.res, 200, renderBuild(build, true));
  else fail(c.res, 404, NO_ROWS);
}

function findLogs(c: RepoCall): void {
  const [num, stageNum, stepNum] = c.args as [string, string, string];
  const number = parseNum(c.res, num, 'int64');
  if (number === undefined) return;
  const sn = parseNum(c.res, stageNum, 'int');
  if (sn === undefined) return;
  const tn = parseNum(c.res, stepNum, 'int');
  if (tn === undefined) return;
  const step = c.api.store
    .findBuild(c.slug, number)
    ?.stages.find((s) => s.number === sn)
    ?.steps.find((s) => s.number === tn);
  // The runner uploads a step's log when the step ends; until then there is no row.
  const lines = step && DONE(step.status) ? c.api.store.logOf(step) : undefined;
  if (lines) send(c.res, 200, lines);
  else fail(c.res, 404, NO_ROWS);
}

const REPO = String.raw`^/api/repos/([^/]+)/([^/]+)`;
const ROUTES: Route[] = [
  { path: /^\/api\/user$/, methods: ['GET'], handle: (c) => send(c.res, 200, renderUser(c.user.id, c.user.login, c.user.created)) },
  { path: new RegExp(`${REPO}$`), methods: ['GET'], handle: inRepo((c) => send(c.res, 200, renderRepo(c.repo))) },
  { path: new RegExp(`${REPO}/builds$`), methods: ['GET', 'POST'], handle: inRepo((c) => (c.method === 'POST' ? createBuild(c) : listBuilds(c))) },
  { path: new RegExp(`${REPO}/builds/([^/]+)$`), methods: ['GET'], handle: inRepo(findBuild) },
  { path: new RegExp(`${REPO}/builds/([^/]+)/logs/([^/]+)/([^/]+)$`), methods: ['GET'], handle: inRepo(findLogs) },
];

/** Answers one request: 404 for an unknown path, 405 for a method the route lacks, 401 for a guest. */
export function handleApi(api: ApiContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://drone');
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/+$/, '') || '/';
  for (const route of ROUTES) {
    const m = route.path.exec(path);
    if (!m) continue;
    if (!route.methods.includes(method)) return void res.writeHead(405).end();
    // session/session.go: the Authorization header, else ?access_token=; only "Bearer " is stripped.
    const token = (req.headers.authorization || url.searchParams.get('access_token') || '').replace(/^Bearer /, '');
    const login = token ? api.tokens[token] : undefined;
    if (!login) return fail(res, 401, 'Unauthorized');
    return route.handle({ api, res, url, method, user: { login, ...api.store.state.users[login]! }, args: m.slice(1) });
  }
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('404 page not found\n');
}
