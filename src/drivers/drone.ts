import type { JsonClient } from './http';

// Drone's REST API (2.x), the subset the E2E uses: builds, a build with its stages, step logs.

export interface DroneStep {
  number: number;
  name: string;
  status: string;
}

export interface DroneBuild {
  id: number;
  number: number;
  status: string;
  event: string;
  link: string;
  params?: Record<string, string>;
  created: number;
  started: number;
  finished: number;
  stages?: { number: number; name: string; status: string; steps?: DroneStep[] }[];
}

/** A build's page, as Drone makes it ({proto}://{host}/{owner}/{repo}/{number}): its `link` is the commit, not this. */
export function buildPage(serverUrl: string, repo: string, number: number): string {
  return `${serverUrl.replace(/\/+$/, '')}/${repo}/${number}`;
}

export const DRONE_DONE = new Set(['success', 'failure', 'killed', 'error', 'skipped', 'declined']);

export class Drone {
  constructor(
    readonly api: JsonClient,
    readonly owner: string,
    readonly repo: string,
  ) {}

  private path(rest: string): string {
    return `api/repos/${encodeURIComponent(this.owner)}/${encodeURIComponent(this.repo)}/${rest}`;
  }

  async builds(perPage = 25): Promise<DroneBuild[]> {
    return (await this.api.get<DroneBuild[]>(this.path('builds'), { page: 1, per_page: perPage })).body;
  }

  async build(number: number): Promise<DroneBuild> {
    return (await this.api.get<DroneBuild>(this.path(`builds/${number}`))).body;
  }

  /** A step's log lines, or none yet. */
  async logs(number: number, stage: number, step: number): Promise<string[]> {
    try {
      return (await this.api.get<{ out: string }[]>(this.path(`builds/${number}/logs/${stage}/${step}`))).body.map((l) => l.out);
    } catch (e) {
      if ((e as { status?: number }).status === 404) return [];
      throw e;
    }
  }

  /** Every log line of a build so far, in step order. */
  async allLogs(b: DroneBuild): Promise<string[]> {
    const lines: string[] = [];
    for (const stage of b.stages ?? []) for (const step of stage.steps ?? []) lines.push(...(await this.logs(b.number, stage.number, step.number)));
    return lines;
  }
}
