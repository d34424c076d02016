import { HostBrokenError } from '../errors';
import type { CommandResult, Host } from './host';
import { lastLines } from './host';

// docker (Swarm) through its CLI on a host. REPLICAS as docker/cli prints it
// (cli/command/service/formatter.go): "R/D", "R/D (max M per node)" for capped replicated
// services, "R/D (C/T completed)" for replicated and global jobs.

export interface Replicas {
  running: number;
  desired: number;
  /** Jobs: tasks completed, of the total to complete. */
  completed?: number;
  total?: number;
  maxPerNode?: number;
}

export interface SwarmService {
  name: string;
  mode: string;
  replicas: Replicas | undefined;
  /** REPLICAS as printed. */
  text: string;
}

export function parseReplicas(text: string): Replicas | undefined {
  const m = /^(\d+)\/(\d+)(?: \((?:max (\d+) per node|(\d+)\/(\d+) completed)\))?$/.exec(text.trim());
  if (!m) return undefined;
  const r: Replicas = { running: Number(m[1]), desired: Number(m[2]) };
  if (m[3] !== undefined) r.maxPerNode = Number(m[3]);
  if (m[4] !== undefined) Object.assign(r, { completed: Number(m[4]), total: Number(m[5]) });
  return r;
}

/** A service is where it should be: a job has completed all its tasks; anything else runs all it should. */
export function converged(s: SwarmService): boolean {
  const r = s.replicas;
  if (!r) return false;
  if (s.mode.endsWith(' job')) return r.total !== undefined && r.total > 0 && r.completed === r.total;
  return r.desired > 0 && r.running === r.desired;
}

export class Docker {
  constructor(readonly host: Host) {}

  /** `docker service ls`: every service, with its mode and replicas. */
  async services(opts: { allowMissing?: boolean } = {}): Promise<{ services: SwarmService[]; result: CommandResult }> {
    const result = await this.host.run(['docker', 'service', 'ls', '--format', '{{.Name}}\t{{.Mode}}\t{{.Replicas}}'], opts);
    const services = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [name = '', mode = '', text = ''] = l.split('\t');
        return { name, mode, text, replicas: parseReplicas(text) };
      });
    return { services, result };
  }

  /** `docker stack ls`: the stacks' names. */
  async stacks(opts: { allowMissing?: boolean } = {}): Promise<{ stacks: string[]; result: CommandResult }> {
    const result = await this.host.run(['docker', 'stack', 'ls', '--format', '{{.Name}}'], opts);
    return { stacks: result.stdout.split('\n').filter(Boolean), result };
  }

  /** `docker stack services STACK`: its services' names and images (an unknown stack has none). */
  async stackServices(stack: string): Promise<{ services: { name: string; image: string }[]; result: CommandResult }> {
    const result = await this.host.run(['docker', 'stack', 'services', stack, '--format', '{{.Name}}\t{{.Image}}']);
    const services = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ name: l.split('\t')[0] ?? '', image: l.split('\t')[1] ?? '' }));
    return { services, result };
  }

  /** Stacks, services, volumes and secrets of an app (named `<app>` or `<app>_…`); a docker that fails is the harness's to report. */
  async leftoversOf(app: string): Promise<{ leftovers: string[]; evidence: string }> {
    const r = await this.host.run([
      'sh',
      '-c',
      'for what in "stack ls" "service ls" "volume ls" "secret ls"; do docker $what --format "{{.Name}}" > /tmp/.cc-ci-ls.$$ || { rc=$?; rm -f /tmp/.cc-ci-ls.$$; echo "docker $what exited $rc" >&2; exit 3; }; sed "s/^/$what: /" /tmp/.cc-ci-ls.$$; done; rm -f /tmp/.cc-ci-ls.$$',
    ]);
    if (!r.ok) {
      throw new HostBrokenError({
        claim: `could not list what is left of ${app} on ${this.host.name}`,
        expected: 'docker stack ls, service ls, volume ls and secret ls to answer',
        seen: `exit ${r.exitCode}: ${lastLines(r.stderr || r.stdout, 2)}`,
        host: this.host.name,
        evidence: [r.evidence],
      });
    }
    const leftovers = r.stdout.split('\n').filter((l) => {
      const name = l.slice(l.indexOf(': ') + 2);
      return name === app || name.startsWith(`${app}_`);
    });
    return { leftovers, evidence: r.evidence };
  }
}
