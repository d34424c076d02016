import type { Recorder } from '../evidence/recorder';
import type { Redactor } from '../evidence/redact';
import { readCredentialFile, readSecretRef } from '../profile/load';
import type { Profile, SshHost } from '../profile/schema';
import { Host, type Transport } from './host';
import { LocalTransport } from './local';
import { SshTransport } from './ssh';
import { UsageError } from '../errors';

/** Every host of a profile, each with one transport for the whole run. */
export class HostPool {
  private readonly transports = new Map<string, Transport>();
  private readonly hosts = new Map<string, Host>();

  constructor(
    private readonly profile: Profile,
    private readonly recorder: Recorder,
  ) {}

  /** Reads every credential the profile names, so a missing one stops the run before any contact. */
  static credentialProblems(profile: Profile, redactor: Redactor): string[] {
    const problems: string[] = [];
    for (const [name, spec] of Object.entries(profile.hosts)) {
      if (spec.transport !== 'ssh') continue;
      try {
        credentialsOf(name, spec, redactor);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        problems.push(e.message);
      }
    }
    return problems;
  }

  get(name: string): Host {
    let host = this.hosts.get(name);
    if (!host) {
      if (!this.profile.hosts[name]) throw new UsageError(`no host "${name}" in profile ${this.profile.name}`);
      host = new Host(name, this.transport(name), this.recorder, this.profile.timeouts.command);
      this.hosts.set(name, host);
    }
    return host;
  }

  /** A host that exists only for this run (a throwaway VM), reached through its own transport. */
  addHost(name: string, transport: Transport): Host {
    if (this.hosts.has(name) || this.profile.hosts[name]) throw new UsageError(`host ${name} exists already`);
    this.transports.set(name, transport);
    const host = new Host(name, transport, this.recorder, this.profile.timeouts.command);
    this.hosts.set(name, host);
    return host;
  }

  /** The transport of a profile host, for drivers that run their own commands through it. */
  transportOf(name: string): Transport {
    this.get(name);
    return this.transports.get(name)!;
  }

  role(role: keyof Profile['roles']): Host {
    return this.get(this.profile.roles[role]);
  }

  sshConnectionCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [name, t] of this.transports) if (t instanceof SshTransport) counts[name] = t.connectionCount;
    return counts;
  }

  async closeAll(): Promise<void> {
    // Hosts reached through a jump host close first, so their tunnels end before it does.
    const viaJump = (name: string) => {
      const spec = this.profile.hosts[name];
      return spec?.transport === 'ssh' && spec.jump !== undefined;
    };
    const entries = [...this.transports.entries()];
    await Promise.all(entries.filter(([n]) => viaJump(n)).map(([, t]) => t.close()));
    await Promise.all(entries.filter(([n]) => !viaJump(n)).map(([, t]) => t.close()));
    this.transports.clear();
    this.hosts.clear();
  }

  private transport(name: string): Transport {
    let t = this.transports.get(name);
    if (t) return t;
    const spec = this.profile.hosts[name]!;
    if (spec.transport === 'local') {
      t = new LocalTransport();
    } else {
      const via = spec.jump ? this.transport(spec.jump) : undefined;
      t = new SshTransport(
        {
          host: name,
          address: spec.address,
          port: spec.port,
          user: spec.user,
          hostKey: spec.hostKey,
          auth: credentialsOf(name, spec, this.recorder.redactor),
          connectTimeoutMs: this.profile.timeouts.connect,
          via: via as SshTransport | undefined,
        },
        this.recorder,
      );
    }
    this.transports.set(name, t);
    return t;
  }
}

function credentialsOf(name: string, spec: SshHost, redactor: Redactor) {
  const field = `hosts.${name}.auth`;
  if ('agent' in spec.auth) {
    const socket = process.env[spec.auth.agent.env];
    if (!socket) throw new UsageError(`${field}.agent: environment variable ${spec.auth.agent.env} is not set (no ssh-agent to use)`);
    return { agentSocket: socket };
  }
  const privateKey = readCredentialFile(spec.auth.privateKey.file, `${field}.privateKey.file`);
  redactor.add(`${name}-ssh-key`, privateKey);
  const passphrase = spec.auth.passphrase ? readSecretRef(spec.auth.passphrase, `${field}.passphrase`) : undefined;
  if (passphrase) redactor.add(`${name}-ssh-passphrase`, passphrase);
  return { privateKey, passphrase };
}
