// The Drone stand-in's server: the store, the runner and the API on one HTTP listener.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fail, handleApi } from './api';
import { Runner } from './runner';
import type { Scm } from './scm';
import { DroneStore } from './state';

export interface DroneOptions {
  /** The database: a JSON file, created when missing. */
  statePath: string;
  host?: string;
  /** 0 (default) binds a free port. */
  port?: number;
  /** DRONE_SERVER_PROTO://DRONE_SERVER_HOST: the base of every build page ({base}/{slug}/{number}). */
  serverUrl: string;
  /**
   * The SCM (Gitea): `api` makes a build's `link`, which is the commit's API URL as go-scm's Gitea
   * driver gives it ({api}/api/v1/repos/{slug}/git/commits/{sha}), not the build page; `git`
   * (a URL prefix, {git}/{name}.git) resolves a branch to its tip when no commit is given.
   */
  scm?: Scm;
  /** token -> login; every such user may read and build every repository. */
  tokens: Record<string, string>;
  /** The argv the runner executes for each build. */
  pipeline: string[];
  /** Builds run in <workDir>/<build id>; default: drone-workspace beside the state file. */
  workDir?: string;
  /** The activated repositories ("owner/name"); default: any repository. */
  repos?: string[];
  log?: (line: string) => void;
}

export interface RunningDrone {
  url: string;
  close(): Promise<void>;
}

export async function startDrone(opts: DroneOptions): Promise<RunningDrone> {
  if (opts.pipeline.length === 0) throw new Error('drone: the pipeline argv is empty');
  const log = opts.log ?? (() => {});
  const base = opts.serverUrl.replace(/\/+$/, '');
  const server = new URL(base);
  const store = new DroneStore(opts.statePath, opts.repos);
  store.addUsers(Object.values(opts.tokens));
  store.reapRunning(log);
  store.save();

  const runner = new Runner(store, {
    pipeline: opts.pipeline,
    workDir: opts.workDir ?? join(dirname(opts.statePath), 'drone-workspace'),
    base,
    server,
    machine: hostname(),
    log,
  });
  const api = { store, tokens: opts.tokens, scm: opts.scm, log, queued: () => runner.kick() };
  const listener = http.createServer((req, res) => {
    try {
      handleApi(api, req, res);
    } catch (e) {
      if (!res.headersSent) fail(res, 500, e instanceof Error ? e.message : String(e));
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = listener.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log(`listening on ${url} (server ${base}, ${store.state.builds.length} builds in ${opts.statePath})`);
  runner.kick();

  let closed = false;
  return {
    url,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await runner.close();
      store.save();
      await new Promise<void>((resolve) => {
        listener.close(() => resolve());
        listener.closeAllConnections();
      });
    },
  };
}
