// One API request and the ways Gitea answers it (services/context/base.go, api.go): JSON and error
// bodies, paging (routers/api/v1/utils/page.go) with X-Total-Count and Link, query and body parsing.
import type http from 'node:http';
import { goAtoi, goJson, goQueryEncode } from './go';
import type { View } from './render';
import type { UserRec } from './state';

/** Thrown once the answer is sent: ends the handler wherever it is. */
export class HttpDone extends Error {}

/** A request, with the state as it was when the request came in (a View for rendering). */
export interface Ctx extends View {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  rawPath: string;
  body: string;
  params: Record<string, string>;
  doer?: UserRec;
}
export type Handler = (c: Ctx) => void;

/** What route modules register on: the router, saving the state after a change, and the clock. */
export interface App {
  on(method: string, path: string, h: Handler): void;
  save(): void;
  now(): number;
}

const PAGING_DEFAULT = 30,
  PAGING_MAX = 50;
export const TEXT = 'text/plain; charset=utf-8';
export const swaggerUrl = (appUrl: string): string => `${appUrl}api/swagger`;

export const send = (c: Ctx, status: number, body?: string | Buffer, type?: string): never => {
  if (type) c.res.setHeader('Content-Type', type);
  c.res.statusCode = status;
  c.res.end(body);
  throw new HttpDone();
};
export const sendStatus = (c: Ctx, code: number): never => send(c, code);
export const json = (c: Ctx, status: number, v: unknown): never => send(c, status, goJson(v), 'application/json;charset=utf-8');
/** ctx.APIError: a 500's message is blanked unless the caller is an admin. */
export const apiError = (c: Ctx, status: number, message: string): never =>
  json(c, status, { message: status === 500 && !c.doer?.admin ? '' : message, url: swaggerUrl(c.appUrl) });
/** ctx.NotFound: strings replace the message, errors are listed. */
export const notFound = (c: Ctx, ...objs: (string | Error)[]): never => {
  let message = "The target couldn't be found.";
  let errors: string[] | null = null;
  for (const o of objs) {
    if (o instanceof Error) (errors ??= []).push(o.message);
    else message = o;
  }
  return json(c, 404, { errors, message, url: swaggerUrl(c.appUrl) });
};

const exposeHeader = (c: Ctx, h: string): void => {
  const cur = c.res.getHeader('Access-Control-Expose-Headers');
  c.res.setHeader('Access-Control-Expose-Headers', cur ? `${String(cur)}, ${h}` : h);
};
export const setTotal = (c: Ctx, n: number): void => {
  c.res.setHeader('X-Total-Count', String(n));
  exposeHeader(c, 'X-Total-Count');
};

/** ctx.SetLinkHeader (genAPILinks): next, last, first, prev, each the request's URL at another page. */
export function setLinks(c: Ctx, total: number, pageSize: number): void {
  const size = pageSize <= 0 ? 1 : pageSize;
  const pages = total === 0 ? 1 : Math.ceil(total / size);
  let cur = goAtoi(c.url.searchParams.get('page'));
  if (cur <= 0) cur = 1;
  if (cur > pages) cur = pages;
  const hasNext = total > cur * size;
  const isLast = total === 0 || (total > (cur - 1) * size && !hasNext);
  const link = (page: number, rel: string): string => {
    const q = new URLSearchParams(c.url.search);
    q.set('page', String(page));
    return `<${c.appUrl}${c.rawPath.slice(1)}?${goQueryEncode(q)}>; rel="${rel}"`;
  };
  const links = [
    ...(hasNext ? [link(cur + 1, 'next')] : []),
    ...(!isLast ? [link(pages, 'last')] : []),
    ...(cur !== 1 ? [link(1, 'first')] : []),
    ...(cur > 1 ? [link(cur - 1, 'prev')] : []),
  ];
  if (links.length > 0) {
    c.res.setHeader('Link', links.join(','));
    exposeHeader(c, 'Link');
  }
}

/** utils.GetListOptions: page as given (0 when absent), limit defaulted and capped. */
export const listOptions = (c: Ctx): { page: number; size: number } => {
  const limit = goAtoi(c.url.searchParams.get('limit'));
  return { page: goAtoi(c.url.searchParams.get('page')), size: limit <= 0 ? PAGING_DEFAULT : Math.min(limit, PAGING_MAX) };
};
export const paginate = <T>(items: T[], page: number, size: number): T[] => items.slice((Math.max(page, 1) - 1) * size, Math.max(page, 1) * size);

export const formTrim = (c: Ctx, k: string): string => (c.url.searchParams.get(k) ?? '').trim();
/** A query time (since, before): RFC 3339 or a 422; 0 when absent. */
export const parseFormTime = (c: Ctx, k: string): number => {
  const v = formTrim(c, k);
  if (!v) return 0;
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) return apiError(c, 422, `parsing time "${v}" as "2006-01-02T15:04:05Z07:00": cannot parse "${v}" as "2006"`);
  return Math.floor(ms / 1000);
};

/** The JSON type a decode error names. */
const goType = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v);

/** web.Bind of a JSON body into structs.`name`: the string `fields`, '' for absent ones; 422 as Gitea words it. */
export function bind(c: Ctx, name: string, fields: string[]): Record<string, string> {
  const ct = c.req.headers['content-type'] ?? '';
  if (!ct.includes('json')) return apiError(c, 422, `[]: ${ct ? 'Unsupported Content-Type' : 'Empty Content-Type'}`);
  let raw: Record<string, unknown>;
  try {
    raw = c.body.trim() === '' ? {} : (JSON.parse(c.body) as Record<string, unknown>);
  } catch (e) {
    return apiError(c, 422, `[]: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return apiError(c, 422, `[]: json: cannot unmarshal ${goType(raw)} into Go value of type structs.${name}`);
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = raw[f];
    if (v === undefined || v === null) out[f] = '';
    else if (typeof v === 'string') out[f] = v;
    else {
      const type = f === 'state' ? 'structs.CommitStatusState' : 'string';
      return apiError(c, 422, `[]: json: cannot unmarshal ${goType(v)} into Go struct field ${name}.${f} of type ${type}`);
    }
  }
  return out;
}
