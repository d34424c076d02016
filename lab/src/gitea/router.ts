// Routes of /api/v1 (chi, as routers/api/v1/api.go mounts them): a path's literal segments beat
// its parameters; a known path asked with another method is a 405 with Allow.
import { type Ctx, type Handler, send, TEXT } from './http';

interface Route {
  method: string;
  key: string;
  parts: string[];
  h: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** `path` below /api/v1, with {param} segments and a last {rest*} that takes the remaining segments. */
  on(method: string, path: string, h: Handler): void {
    this.routes.push({ method, key: path, parts: path.split('/').slice(1), h });
  }

  /** Runs the route for the decoded path segments below /api/v1. */
  dispatch(c: Ctx, parts: string[]): void {
    const m = this.match(parts);
    if (!m) return send(c, 404, '404 page not found\n', TEXT);
    const same = this.routes.filter((r) => r.key === m.key);
    const route = same.find((r) => r.method === c.req.method);
    if (!route) {
      for (const r of same) c.res.appendHeader('Allow', r.method);
      return send(c, 405);
    }
    c.params = m.params;
    route.h(c);
  }

  private match(parts: string[]): { key: string; params: Record<string, string> } | undefined {
    let best: { key: string; params: Record<string, string>; score: number } | undefined;
    for (const r of this.routes) {
      const params: Record<string, string> = {};
      let score = 0;
      const rest = r.parts.at(-1)?.endsWith('*}');
      if (rest ? parts.length < r.parts.length : r.parts.length !== parts.length) continue;
      const ok = r.parts.every((p, i) => {
        if (p.endsWith('*}')) {
          params[p.slice(1, -2)] = parts.slice(i).join('/');
          return parts[i] !== '';
        }
        if (!p.startsWith('{')) {
          score += 2 ** (parts.length - i);
          return p === parts[i];
        }
        params[p.slice(1, -1)] = parts[i]!;
        return parts[i] !== '';
      });
      if (ok && (!best || score > best.score)) best = { key: r.key, params, score };
    }
    return best;
  }
}
