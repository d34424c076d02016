import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import type { Recorder } from '../evidence/recorder';
import { BoundedCapture } from './capture';
import type { ExecRequest, RawResult, Transport } from './host';
import { shellQuote, TransportError } from './host';
import {
  type HostKeyVerdict,
  entriesFor,
  keyTypeOf,
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
// may run concurrently as separate channels. The host key is checked before anything is sent, and
// on a reconnect it must be the key the run first saw. A connection that is lost (mid-command or
// idle) is reopened at most once per run: the commands it carried are broken (never run again:
// their outcome is unknown), a later command reconnects once, and after a second loss, or a
// reconnect that fails, every later command on the host is broken at once, naming what happened.
export class SshTransport implements Transport {
  readonly kind = 'ssh';
  private connecting: Promise<NodeSSH> | null = null;
  private connections = 0;
  private attempts = 0;
  /** What happened to each connection that was lost, in order. */
  private readonly losses: string[] = [];
  /** The host key the run's first connection was verified with. */
  private first?: { fingerprint: string; at: string };
  private closing = false;
  /** The connection now in use, and the connections that are gone. */
  private current: NodeSSH | null = null;
  private readonly dead = new WeakSet<Client>();

  /** How many connections a run may open to one host: the first, and one reconnect. */
  static readonly MAX_CONNECTIONS = 2;

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

  /** How many times a connection was opened (1 in a healthy run; 2 at most). */
  get connectionCount(): number {
    return this.connections;
  }

  async exec(req: ExecRequest): Promise<RawResult> {
    const ssh = await this.connection();
    const client = ssh.connection;
    if (!client) throw new TransportError(`the connection to ${this.t.host} (${this.describe}) is closed`);
    const command = (req.cwd ? `cd ${shellQuote([req.cwd])} && ` : '') + shellQuote(req.argv);
    const n = this.connections;
    const t0 = performance.now();
    const out = new BoundedCapture();
    const err = new BoundedCapture();
    const partial = (): RawResult => {
      const o = out.finish();
      const e = err.finish();
      return { exitCode: null, stdout: o.text, stderr: e.text, streams: { stdout: o.info, stderr: e.info } };
    };
    return new Promise<RawResult>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let exit: { code: number | null; signal: string | null } | undefined;
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.removeListener('close', onLost);
        client.removeListener('end', onLost);
        f();
      };
      const timer = setTimeout(() => {
        try {
          channel?.signal('KILL');
          channel?.close();
        } catch {
          /* the channel is gone already */
        }
        settle(() => reject(new TransportError(`timed out after ${req.timeoutMs / 1000}s (${outputSoFar(out, err)})`, undefined, partial())));
      }, req.timeoutMs);
      const onLost = () => {
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        settle(() =>
          reject(
            new TransportError(
              `the connection to ${this.t.host} (${this.describe}, connection ${n} of this run) was lost ${secs}s into the command, before it exited (${outputSoFar(out, err)}): its outcome is unknown, and it is not run again`,
              this.lossEvidence(),
              partial(),
            ),
          ),
        );
      };
      client.once('close', onLost);
      client.once('end', onLost);
      const opened = (e: Error | undefined, ch: ClientChannel) => {
        if (e) return settle(() => reject(new TransportError(`ssh channel to ${this.describe} failed: ${e.message}`)));
        channel = ch;
        if (settled) {
          ch.close();
          return;
        }
        ch.on('data', (b: Buffer) => {
          out.push(b);
          req.onOutput?.(b.toString(), 'stdout');
        });
        ch.stderr.on('data', (b: Buffer) => {
          err.push(b);
          req.onOutput?.(b.toString(), 'stderr');
        });
        ch.on('exit', (code: number | null, signal?: string) => {
          exit = { code: code ?? null, signal: signal ?? null };
        });
        ch.on('error', () => undefined);
        ch.on('close', () => {
          // A channel that closes with no exit status: the server ended it, or the connection went.
          if (!exit) {
            setImmediate(() => {
              if (this.dead.has(client)) onLost();
              else
                settle(() =>
                  reject(new TransportError(`the ssh channel to ${this.describe} closed before the command exited (no exit status)`, undefined, partial())),
                );
            });
            return;
          }
          const o = out.finish();
          const e = err.finish();
          settle(() => resolve({ exitCode: exit!.code, signal: exit!.signal, stdout: o.text, stderr: e.text, streams: { stdout: o.info, stderr: e.info } }));
        });
        if (req.stdin !== undefined) ch.end(req.stdin);
        else ch.end();
      };
      try {
        client.exec(command, opened);
      } catch (e) {
        settle(() => reject(new TransportError(`ssh channel to ${this.describe} failed: ${(e as Error).message}`)));
      }
    });
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
    this.closing = true;
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
      if (this.attempts >= SshTransport.MAX_CONNECTIONS) {
        return Promise.reject(
          new TransportError(
            `not reconnecting to ${this.t.host} (${this.describe}): ${this.losses.join('; then ')}. The harness opens at most ${SshTransport.MAX_CONNECTIONS} connections to a host in a run (one reconnect), so a host that keeps dropping them is broken rather than retried`,
            this.lossEvidence(),
          ),
        );
      }
      this.attempts++;
      this.connecting = this.open(this.attempts);
      this.connecting.catch(() => undefined);
    }
    return this.connecting;
  }

  private async open(attempt: number): Promise<NodeSSH> {
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
    const first = this.first;
    // A reconnect must meet the key the run first saw, even one the profile would also accept.
    const verifyInRun = (key: Buffer): HostKeyVerdict => {
      const v = verify(key);
      if (!first || v.fingerprint === first.fingerprint) return v;
      return {
        ok: false,
        reason: 'changed',
        fingerprint: v.fingerprint,
        message:
          `HOST KEY CHANGED during this run for ${names[0]}: the run's first connection (${first.at}) was verified with ${first.fingerprint}; ` +
          `the reconnect is offered ${keyTypeOf(key)} ${v.fingerprint}` +
          (v.ok ? `, which ${'knownHosts' in t.hostKey ? `${t.hostKey.knownHosts} also accepts` : 'the pin also accepts'}` : ` (${v.message})`) +
          '. Refusing to connect',
      };
    };

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
        verdict = verifyInRun(key);
        return verdict.ok;
      },
      ...('privateKey' in t.auth ? { privateKey: t.auth.privateKey, passphrase: t.auth.passphrase } : { agent: t.auth.agentSocket }),
    };
    const t0 = performance.now();
    try {
      await ssh.connect(config);
    } catch (e) {
      const why = verdict && !verdict.ok ? verdict.message : describeConnectError(e as Error);
      throw this.refuse(why, verdict?.fingerprint, attempt);
    }
    this.connections++;
    const conn = ssh.connection!;
    // Small packets go out at once: with Nagle, a command's request waits for the ACK of the last.
    conn.setNoDelay(true);
    // node-ssh adds an error listener per command; many concurrent channels are expected here.
    conn.setMaxListeners(0);
    if (!this.first && verdict) this.first = { fingerprint: verdict.fingerprint, at: new Date().toISOString() };
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
      ...(attempt > 1 ? { connection: attempt, reconnectAfter: this.losses.at(-1) } : {}),
    });
    // Without a listener, an error on an idle connection (a reset) would end the whole run.
    let lastError: string | undefined;
    conn.on('error', (e: Error) => {
      lastError = e.message;
    });
    const opened = performance.now();
    let gone = false;
    const onGone = () => {
      if (gone) return;
      gone = true;
      this.dead.add(conn);
      if (this.connecting && this.current === ssh) {
        this.connecting = null;
        this.current = null;
      }
      if (this.closing) return;
      const what = `connection ${attempt} was lost ${((performance.now() - opened) / 1000).toFixed(1)}s after it opened (${lastError ?? 'the server or the network closed it'})`;
      this.losses.push(what);
      this.recorder.connection({
        host: t.host,
        transport: 'ssh',
        address: t.address,
        port: t.port,
        user: t.user,
        hostKeyFingerprint: verdict?.fingerprint,
        connection: attempt,
        result: 'lost',
        reason: what,
      });
    };
    conn.on('end', onGone);
    conn.on('close', onGone);
    this.current = ssh;
    return ssh;
  }

  /** Where losses and refusals are recorded. */
  private lossEvidence(): string {
    return `${this.recorder.shownDir}/evidence/connections.ndjson`;
  }

  private refuse(why: string, fingerprint?: string, attempt = 1): TransportError {
    const evidence = this.recorder.connection({
      host: this.t.host,
      transport: 'ssh',
      address: this.t.address,
      port: this.t.port,
      user: this.t.user,
      hostKeyFingerprint: fingerprint,
      result: 'refused',
      reason: why,
      ...(attempt > 1 ? { connection: attempt, reconnectAfter: this.losses.at(-1) } : {}),
    });
    return new TransportError(`cannot connect to ${this.describe}: ${why}`, evidence);
  }
}

/** What a command had printed when it was cut off. */
function outputSoFar(out: BoundedCapture, err: BoundedCapture): string {
  if (!out.bytes && !err.bytes) return 'no output before that';
  return `${out.bytes} bytes of stdout and ${err.bytes} of stderr before that`;
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
