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
  state?: { memory?: { total?: number; usage?: number }; network?: Record<string, { addresses?: { family: string; address: string }[] }> } | null;
}

/** Byte suffixes as Incus parses them (shared/units/units.go): case-sensitive, decimal or binary. */
const BYTE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  ' bytes': 1,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
  EB: 1e18,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  PiB: 2 ** 50,
  EiB: 2 ** 60,
};

/**
 * A size in bytes by Incus's own rules (units.ParseByteSizeString): an integer, then a suffix.
 * `4GB` is 4×10^9, `4GiB` 4×2^30; `4G`, `4gb`, `1.5GiB` and `4 GiB` are invalid (undefined).
 */
export function parseIncusBytes(value: string): number | undefined {
  const m = /^(\d+)(.*)$/.exec(value);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2]!];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

/** A size for messages: its spelling and its bytes, e.g. "4GiB (4294967296 bytes)". */
export function showSize(spelling: string | undefined, bytes = spelling === undefined ? undefined : parseIncusBytes(spelling)): string {
  if (spelling === undefined) return '(unset)';
  return bytes === undefined ? `${spelling} (not a size Incus accepts)` : `${spelling} (${bytes} bytes)`;
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

/** QEMU arguments that hand a VM data or a device: firmware config blobs, SMBIOS strings, drives, shares, a kernel command line. */
const QEMU_CHANNELS = /(^|\s)-(fw_cfg|smbios|drive|blockdev|device|chardev|virtfs|fsdev|netdev|kernel|initrd|append|object)\b/;
const QEMU_CONF_CHANNELS = /^\s*\[\s*(device|drive|fw_cfg|chardev|fsdev|netdev|object)\b/m;

/** Whether a config key hands the instance something: data, a variable, a channel into the VM. */
function provisions(key: string, value: string): boolean {
  if (/^cloud-init\./.test(key) || /^environment\./.test(key)) return true;
  // Every user.* key is readable from inside the instance (the agent's /dev/incus API); the harness's own labels are its record.
  if (/^user\./.test(key)) return !key.startsWith(`${LABEL}.`);
  if (key === 'raw.qemu') return QEMU_CHANNELS.test(value);
  if (key === 'raw.qemu.conf') return QEMU_CONF_CHANNELS.test(value);
  return key === 'raw.qemu.scriptlet' && value.trim() !== '';
}

/**
 * What Incus itself would hand an instance, from its expanded config and devices: cloud-init,
 * user.* keys (the guest can read them), environment.* variables, raw QEMU arguments that pass
 * data or devices, and every device but the network and the root disk (a shared directory, a
 * proxy, a passed-through file).
 */
export function provisioningOf(i: Instance): string[] {
  const config = i.expanded_config ?? i.config;
  const keys = Object.keys(config).filter((k) => provisions(k, String(config[k] ?? '')));
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
    const argv = [
      ...this.command,
      'exec',
      this.instance,
      '--project',
      this.project,
      '--env',
      `PATH=${VM_PATH}`,
      '--env',
      'HOME=/root',
      ...(req.cwd ? ['--cwd', req.cwd] : []),
      '--',
      ...req.argv,
    ];
    const r = await this.via.exec({ ...req, argv, cwd: undefined });
    if (r.exitCode !== 0 && /^Error: (Instance not found|Instance is not running|Failed to connect)/m.test(r.stderr)) {
      throw new TransportError(`incus exec into ${this.instance} failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
    }
    return r;
  }

  async close(): Promise<void> {}
}
