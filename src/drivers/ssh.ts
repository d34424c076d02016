import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import type { Recorder } from '../evidence/recorder';
import type { ExecRequest, RawResult, Transport } from './host';
import { shellQuote, TransportError } from './host';
import {
  type HostKeyVerdict,
  entriesFor,
  lookupName,
  parseKnownHosts,
  preferredAlgorithms,
  verifyAgainstKnownHosts,
  verifyPinned,
} from './known-hosts';

export interface SshTarget {
  host: string;
  address: string;
  port: number;
  user: string;
  hostKey: { knownHosts: string } | { fingerprint: string };
  auth: { privateKey: string; passphrase?: string } | { agentSocket: string };
  connectTimeoutMs: number;
  via?: SshTransport;
}

// One connection per host per run, opened on first use and shared by every command; commands
// may run concurrently as separate channels. The host key is checked before anything is sent.
export class SshTransport implements Transport {
  readonly kind = 'ssh';
  private connecting: Promise<NodeSSH> | null = null;
  private connections = 0;

  constructor(
    private readonly t: SshTarget,
    private readonly recorder: Recorder,
  ) {}

  get describe(): string {
    const via = this.t.via ? ` via ${this.t.via.name}` : '';
    return `${this.t.user}@${this.t.address}:${this.t.port} over ssh${via}`;
  }

  get name(): string {
    return this.t.host;
  }

  /** How many times a connection was opened (1 in a healthy run). */
  get connectionCount(): number {
    return this.connections;
  }

  async exec(req: ExecRequest): Promise<RawResult> {
    const ssh = await this.connection();
    const command = (req.cwd ? `cd ${shellQuote([req.cwd])} && ` : '') + shellQuote(req.argv);
    let channel: ClientChannel | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        channel?.signal('KILL');
        channel?.close();
        reject(new TransportError(`timed out after ${req.timeoutMs / 1000}s`));
      }, req.timeoutMs);
    });
    try {
      const r = await Promise.race([
        ssh.execCommand(command, {
          stdin: req.stdin,
          noTrim: true,
          onChannel: (c) => (channel = c),
          onStdout: req.onOutput ? (b) => req.onOutput!(b.toString(), 'stdout') : undefined,
          onStderr: req.onOutput ? (b) => req.onOutput!(b.toString(), 'stderr') : undefined,
        }),
        timedOut,
      ]);
      return { exitCode: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      if (e instanceof TransportError) throw e;
      throw new TransportError(`ssh channel to ${this.describe} failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A TCP stream to another address, tunnelled through this host (for jump hosts). */
  async forwardOut(address: string, port: number): Promise<Duplex> {
    const ssh = await this.connection();
    try {
      return await ssh.forwardOut('127.0.0.1', 0, address, port);
    } catch (e) {
      throw new TransportError(`jump host ${this.t.host} could not open a tunnel to ${address}:${port}: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    const c = this.connecting;
    this.connecting = null;
    const ssh = c ? await c.catch(() => null) : null;
    if (!ssh?.connection) return;
    const closed = new Promise<void>((resolve) => ssh.connection!.once('close', () => resolve()));
    ssh.dispose();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  }

  private connection(): Promise<NodeSSH> {
    if (!this.connecting) {
      this.connecting = this.open();
      this.connecting.catch(() => undefined);
    }
    return this.connecting;
  }

  private async open(): Promise<NodeSSH> {
    const t = this.t;
    const names = [lookupName(t.address, t.port), ...(t.host !== t.address ? [lookupName(t.host, t.port)] : [])];
    let verdict: HostKeyVerdict | undefined;
    let algorithms: ConnectConfig['algorithms'];
    let verify: (key: Buffer) => HostKeyVerdict;
    if ('knownHosts' in t.hostKey) {
      const file = t.hostKey.knownHosts;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw this.refuse(`cannot read known_hosts file ${file}: ${(e as NodeJS.ErrnoException).code}`);
      }
      const entries = parseKnownHosts(text);
      const prefer = preferredAlgorithms(entriesFor(entries, names));
      if (prefer.length) algorithms = { serverHostKey: prefer as never };
      verify = (key) => verifyAgainstKnownHosts(entries, names, key, file);
    } else {
      const pinned = t.hostKey.fingerprint;
      verify = (key) => verifyPinned(pinned, names, key);
    }

    const sock = t.via ? await t.via.forwardOut(t.address, t.port) : undefined;
    const ssh = new NodeSSH();
    const config: ConnectConfig & { privateKey?: string } = {
      host: t.address,
      port: t.port,
      username: t.user,
      sock,
      readyTimeout: t.connectTimeoutMs,
      keepaliveInterval: 15_000,
      algorithms,
      hostVerifier: (key: Buffer) => {
        verdict = verify(key);
        return verdict.ok;
      },
      ...('privateKey' in t.auth ? { privateKey: t.auth.privateKey, passphrase: t.auth.passphrase } : { agent: t.auth.agentSocket }),
    };
    const t0 = performance.now();
    try {
      await ssh.connect(config);
    } catch (e) {
      const why = verdict && !verdict.ok ? verdict.message : describeConnectError(e as Error);
      throw this.refuse(why, verdict?.fingerprint);
    }
    this.connections++;
    // node-ssh adds an error listener per command; many concurrent channels are expected here.
    ssh.connection?.setMaxListeners(0);
    this.recorder.connection({
      host: t.host,
      transport: 'ssh',
      address: t.address,
      port: t.port,
      user: t.user,
      via: t.via?.name,
      hostKeyFingerprint: verdict?.fingerprint,
      verifiedBy: 'knownHosts' in t.hostKey ? `known_hosts ${t.hostKey.knownHosts}` : 'pinned fingerprint',
      connectMs: Math.round(performance.now() - t0),
      result: 'connected',
    });
    ssh.connection?.on('close', () => {
      if (this.connecting) this.connecting = null;
    });
    return ssh;
  }

  private refuse(why: string, fingerprint?: string): TransportError {
    const evidence = this.recorder.connection({
      host: this.t.host,
      transport: 'ssh',
      address: this.t.address,
      port: this.t.port,
      user: this.t.user,
      hostKeyFingerprint: fingerprint,
      result: 'refused',
      reason: why,
    });
    return new TransportError(`cannot connect to ${this.describe}: ${why}`, evidence);
  }
}

function describeConnectError(e: Error & { code?: string; level?: string }): string {
  if (e.code === 'ECONNREFUSED') return 'connection refused (is sshd running on that address and port?)';
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return `no route to host (${e.code})`;
  if (e.code === 'ENOTFOUND') return 'the address does not resolve';
  if (/Timed out while waiting for handshake/.test(e.message)) return 'no SSH handshake before the connect timeout';
  if (/Connection lost before handshake/.test(e.message) || e.code === 'ECONNRESET') {
    return 'the connection closed before the SSH handshake (no sshd behind that address?)';
  }
  if (e.level === 'client-authentication') return 'the server refused the key (authentication failed)';
  return e.message;
}
