import { userInfo, hostname } from 'node:os';
import type { ExecRequest, Host, RawResult, Transport } from './host';
import { TransportError } from './host';

// Incus through its CLI (`--format json`), run on the host the profile names. The harness labels
// every instance it creates and never changes or deletes one without its own label: the live
// server and every instance it did not create are read-only to it.

export const LABEL = 'user.cc-ci-acceptance';
export const CREATOR = 'cc-ci-acceptance';

export interface Instance {
  name: string;
  status: string;
  type: string;
  project: string;
  created_at: string;
  config: Record<string, string>;
  expanded_config?: Record<string, string>;
  devices?: Record<string, Record<string, string>>;
  expanded_devices?: Record<string, Record<string, string>>;
  profiles?: string[];
  state?: { network?: Record<string, { addresses?: { family: string; address: string }[] }> } | null;
}

export interface Labels {
  run: string;
  creator: string;
  created: string;
  expires: string;
  keep?: string;
}

export function labelsOf(i: Instance): Labels | undefined {
  const c = i.config;
  if (c[`${LABEL}.creator`] !== CREATOR) return undefined;
  return {
    run: c[`${LABEL}.run`] ?? '',
    creator: c[`${LABEL}.by`] ?? '',
    created: c[`${LABEL}.created`] ?? '',
    expires: c[`${LABEL}.expires`] ?? '',
    keep: c[`${LABEL}.keep`],
  };
}

/**
 * What Incus itself would hand an instance, from its expanded config and devices: cloud-init and
 * the legacy user.* data keys, environment.* variables, and every device but the network and the
 * root disk (a shared directory, a proxy, a passed-through file).
 */
export function provisioningOf(i: Instance): string[] {
  const config = i.expanded_config ?? i.config;
  const keys = Object.keys(config).filter((k) => /^cloud-init\./.test(k) || /^user\.(user-data|vendor-data|meta-data|network-config)$/.test(k) || /^environment\./.test(k));
  const devices = Object.entries(i.expanded_devices ?? i.devices ?? {}).filter(([, d]) => d.type !== 'nic' && !(d.type === 'disk' && d.path === '/'));
  return [
    ...keys.map((k) => `config ${k}`),
    ...devices.map(([name, d]) => `device ${name} (${d.type}${d.source ? ` ${d.source}` : ''}${d.path ? ` at ${d.path}` : ''})`),
  ];
}

export class RefusedError extends Error {
  override name = 'RefusedError';
}

export class Incus {
  constructor(
    readonly host: Host,
    private readonly command: readonly string[],
    readonly project: string,
  ) {}

  private argv(...args: string[]): string[] {
    return [...this.command, ...args, '--project', this.project];
  }

  /** The evidence file of the last listing, for claims made from it. */
  lastListEvidence = '';

  async list(): Promise<Instance[]> {
    const r = await this.host.succeed(this.argv('list', '--format', 'json'));
    this.lastListEvidence = r.evidence;
    return JSON.parse(r.stdout) as Instance[];
  }

  async get(name: string): Promise<Instance | undefined> {
    return (await this.list()).find((i) => i.name === name);
  }

  /** Labels for an instance this run creates: run id, who, when, and until when it may live. */
  static labels(runId: string, ttlMs: number, now = new Date()): Record<string, string> {
    return {
      [`${LABEL}.creator`]: CREATOR,
      [`${LABEL}.run`]: runId,
      [`${LABEL}.by`]: `${userInfo().username}@${hostname()}`,
      [`${LABEL}.created`]: now.toISOString(),
      [`${LABEL}.expires`]: new Date(now.getTime() + ttlMs).toISOString(),
    };
  }

  async launch(name: string, image: string, opts: { vm: boolean; config: Record<string, string> }) {
    if (!opts.config[`${LABEL}.creator`]) throw new RefusedError(`refusing to create ${name} without the harness's labels`);
    const config = Object.entries(opts.config).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
    return this.host.run(this.argv('launch', image, name, ...(opts.vm ? ['--vm'] : []), ...config), { timeoutMs: 600_000 });
  }

  /** Changes an instance's config: only an instance this harness created. */
  async setConfig(name: string, key: string, value: string) {
    await this.ensureOurs(name, `set ${key} on`);
    return this.host.succeed(this.argv('config', 'set', name, `${key}=${value}`));
  }

  async configGet(name: string, key: string): Promise<string> {
    return (await this.host.succeed(this.argv('config', 'get', name, key))).stdout.trim();
  }

  /** Writes a file into an instance (`incus file push -`); the content goes on stdin, never in argv. */
  pushFile(name: string, content: string, path: string, mode: string) {
    return this.host.run(this.argv('file', 'push', '-', `${name}${path}`, '--mode', mode, '--uid', '0', '--gid', '0', '--create-dirs'), { stdin: content });
  }

  /** Deletes an instance: only one this harness created. */
  async delete(name: string) {
    await this.ensureOurs(name, 'delete');
    return this.host.succeed(this.argv('delete', name, '--force'), { timeoutMs: 300_000 });
  }

  private async ensureOurs(name: string, what: string): Promise<Instance> {
    const i = await this.get(name);
    if (!i) throw new RefusedError(`no instance ${name} in project ${this.project}`);
    if (!labelsOf(i)) throw new RefusedError(`refusing to ${what} ${name}: it does not carry ${LABEL}.creator=${CREATOR}, so this harness did not create it`);
    return i;
  }

  /** A transport that runs commands in the instance with `incus exec`. */
  execTransport(transport: Transport, instance: string): IncusExecTransport {
    return new IncusExecTransport(transport, this.command, this.project, instance);
  }
}

const VM_PATH = '/run/wrappers/bin:/root/.nix-profile/bin:/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class IncusExecTransport implements Transport {
  readonly kind = 'incus-exec';

  constructor(
    private readonly via: Transport,
    private readonly command: readonly string[],
    private readonly project: string,
    readonly instance: string,
  ) {}

  get describe(): string {
    return `incus exec ${this.instance} (project ${this.project}) via ${this.via.describe}`;
  }

  async exec(req: ExecRequest): Promise<RawResult> {
    // The agent's PATH lacks NixOS's system profile; give commands the one a login shell has.
    const argv = [...this.command, 'exec', this.instance, '--project', this.project, '--env', `PATH=${VM_PATH}`, '--env', 'HOME=/root', ...(req.cwd ? ['--cwd', req.cwd] : []), '--', ...req.argv];
    const r = await this.via.exec({ ...req, argv, cwd: undefined });
    if (r.exitCode !== 0 && /^Error: (Instance not found|Instance is not running|Failed to connect)/m.test(r.stderr)) {
      throw new TransportError(`incus exec into ${this.instance} failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
    }
    return r;
  }

  async close(): Promise<void> {}
}
