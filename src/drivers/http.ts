import { sleep } from '../wait';
import { request } from 'undici';
import type { Recorder } from '../evidence/recorder';

// JSON over HTTP with undici: a deadline per request, retries on 5xx and connection errors, and
// a 4xx is an error naming the endpoint and the status. Every request is recorded as evidence
// (method, URL without credentials, status, body); the token never is.

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly status?: number,
    readonly evidence?: string,
  ) {
    super(message);
  }
}

export interface JsonResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
  evidence: string;
}

export class JsonClient {
  /** The evidence file of the latest request, for claims made from its answer. */
  lastEvidence = '';

  constructor(
    /** Who this is, in evidence and messages: "gitea", "drone". */
    readonly name: string,
    private readonly base: string,
    private readonly authorization: string,
    private readonly recorder: Recorder,
    private readonly timeoutMs: number,
    private readonly retries = 3,
  ) {}

  get<T>(path: string, query: Record<string, string | number> = {}): Promise<JsonResponse<T>> {
    return this.send<T>('GET', path, query);
  }

  post<T>(path: string, body?: unknown, query: Record<string, string | number> = {}): Promise<JsonResponse<T>> {
    return this.send<T>('POST', path, query, body);
  }

  /** A GET whose answer is not JSON (a raw file): the body as text. */
  getText(path: string, query: Record<string, string | number> = {}): Promise<JsonResponse<string>> {
    return this.send<string>('GET', path, query, undefined, false);
  }

  /**
   * Every page of a list endpoint (page/limit style), up to `max` items. The server's own word
   * decides when to stop (X-Total-Count, or a Link with rel="next"): a server that caps pages below
   * the size asked for still gives every item. Without either header, a short page is the last.
   */
  async all<T>(path: string, query: Record<string, string | number>, pageSize: number, sizeParam: string, max = 1000): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; items.length < max; page++) {
      const r = await this.get<T[]>(path, { ...query, page, [sizeParam]: pageSize });
      items.push(...r.body);
      const total = Number(r.headers['x-total-count']);
      const link = String(r.headers['link'] ?? '');
      if (r.body.length === 0) break;
      if (Number.isFinite(total) && r.headers['x-total-count'] !== undefined) {
        if (items.length >= total) break;
      } else if (link) {
        if (!/rel="next"/.test(link)) break;
      } else if (r.body.length < pageSize) break;
    }
    return items;
  }

  private async send<T>(method: 'GET' | 'POST', path: string, query: Record<string, string | number>, body?: unknown, json = true): Promise<JsonResponse<T>> {
    const url = new URL(path, this.base.endsWith('/') ? this.base : `${this.base}/`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    const shown = `${method} ${url.pathname}${url.search}`;
    let lastError = '';
    for (let attempt = 1; attempt <= this.retries; attempt++) {
      const t0 = Date.now();
      try {
        const r = await request(url, {
          method,
          headers: {
            authorization: this.authorization,
            accept: json ? 'application/json' : '*/*',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
        const text = await r.body.text();
        const evidence = this.recorder.probe(this.name, [method, url.toString()], Date.now() - t0, `HTTP ${r.statusCode}\n${truncate(text)}`);
        this.lastEvidence = evidence;
        if (r.statusCode >= 500 && attempt < this.retries) {
          lastError = `${r.statusCode}`;
          await sleep(250 * 2 ** attempt);
          continue;
        }
        if (r.statusCode >= 400) {
          throw new HttpError(`${this.name} ${shown} answered ${r.statusCode}: ${messageOf(text)}`, r.statusCode, evidence);
        }
        const parsed = !json ? (text as T) : text.trim() ? (JSON.parse(text) as T) : (undefined as T);
        return { status: r.statusCode, body: parsed, headers: r.headers, evidence };
      } catch (e) {
        if (e instanceof HttpError) throw e;
        lastError = (e as Error).message;
        const evidence = this.recorder.probe(this.name, [method, url.toString()], Date.now() - t0, '', lastError);
        this.lastEvidence = evidence;
        if (attempt >= this.retries) throw new HttpError(`${this.name} ${shown} failed after ${attempt} attempt(s): ${lastError}`, undefined, evidence);
        await sleep(250 * 2 ** attempt);
      }
    }
    throw new HttpError(`${this.name} ${shown} failed: ${lastError}`);
  }
}

function messageOf(text: string): string {
  try {
    const j = JSON.parse(text) as { message?: string };
    if (j && typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200) || '(empty body)';
}

function truncate(text: string, max = 8192): string {
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more bytes)` : text;
}
