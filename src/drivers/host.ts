import { HostBrokenError } from '../errors';
import type { Recorder } from '../evidence/recorder';

// A Host runs commands on one machine through one transport and records each command once.
// `run` returns whatever happened; `succeed` insists on exit 0 and calls anything else broken.

export interface ExecRequest {
  argv: readonly string[];
  stdin?: string;
  cwd?: string;
  timeoutMs: number;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface RawResult {
  exitCode: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
}

export interface Transport {
  readonly kind: 'ssh' | 'local' | 'incus-exec';
  /** e.g. "root@127.0.10.3:22 over ssh" */
  readonly describe: string;
  exec(req: ExecRequest): Promise<RawResult>;
  close(): Promise<void>;
}

/** The transport could not do its job: no connection, refused host key, timeout. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly evidence?: string,
  ) {
    super(message);
  }
}

export interface CommandResult extends RawResult {
  host: string;
  argv: readonly string[];
  durationMs: number;
  /** Evidence file with the full, redacted output. */
  evidence: string;
  ok: boolean;
}

export interface RunOptions {
  stdin?: string;
  cwd?: string;
  timeoutMs?: number;
  /** Stream output lines to the console while the command runs (long builds). */
  stream?: boolean;
  /** Exit 127 (command not found) is an answer here, not a missing tool of the harness's. */
  allowMissing?: boolean;
}

export class Host {
  constructor(
    readonly name: string,
    private readonly transport: Transport,
    private readonly recorder: Recorder,
    private readonly defaultTimeoutMs: number,
  ) {}

  get describe(): string {
    return `${this.name} (${this.transport.describe})`;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const onOutput = opts.stream ? this.streamer(argv, t0) : undefined;
    try {
      const raw = await this.transport.exec({
        argv,
        stdin: opts.stdin,
        cwd: opts.cwd,
        timeoutMs: opts.timeoutMs ?? this.defaultTimeoutMs,
        onOutput,
      });
      const durationMs = Math.round(performance.now() - t0);
      const evidence = this.recorder.command({
        host: this.name,
        argv: this.withCwd(argv, opts.cwd),
        exitCode: raw.exitCode,
        signal: raw.signal,
        startedAt: startedAt.toISOString(),
        durationMs,
        stdout: raw.stdout,
        stderr: raw.stderr,
        stdinBytes: opts.stdin ? Buffer.byteLength(opts.stdin) : undefined,
      });
      if (raw.exitCode === 127 && !opts.allowMissing) {
        throw new HostBrokenError({
          claim: `a command the check needs is missing on ${this.name}`,
          expected: `\`${this.recorder.redact(argv[0] ?? '')}\` and what it runs to be on the PATH of ${this.name}`,
          seen: `exit 127: ${lastLines(this.recorder.redact(raw.stderr || raw.stdout), 2)}`,
          host: this.name,
          evidence: [evidence],
        });
      }
      return { ...raw, host: this.name, argv, durationMs, evidence, ok: raw.exitCode === 0 };
    } catch (e) {
      if (e instanceof HostBrokenError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      const evidence = this.recorder.command({
        host: this.name,
        argv: this.withCwd(argv, opts.cwd),
        exitCode: null,
        startedAt: startedAt.toISOString(),
        durationMs: Math.round(performance.now() - t0),
        stdout: '',
        stderr: '',
        error: message,
      });
      throw new HostBrokenError({
        claim: `could not run \`${this.recorder.redact(argv.join(' '))}\` on ${this.name}`,
        expected: `${this.transport.describe} to run the command`,
        seen: this.recorder.redact(message),
        host: this.name,
        evidence: [evidence, ...(e instanceof TransportError && e.evidence ? [e.evidence] : [])],
      });
    }
  }

  /** Runs a command that must exit 0; any other outcome means the harness could not look. */
  async succeed(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const r = await this.run(argv, opts);
    if (!r.ok) {
      throw new HostBrokenError({
        claim: `command failed on ${this.name}: \`${this.recorder.redact(argv.join(' '))}\``,
        expected: 'exit 0',
        seen: `exit ${r.exitCode ?? r.signal}: ${lastLines(this.recorder.redact(r.stderr || r.stdout), 3)}`,
        host: this.name,
        evidence: [r.evidence],
      });
    }
    return r;
  }

  sh(script: string, opts: RunOptions = {}): Promise<CommandResult> {
    return this.run(['sh', '-c', script], opts);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private withCwd(argv: readonly string[], cwd?: string): readonly string[] {
    return cwd ? ['cd', cwd, '&&', ...argv] : argv;
  }

  private streamer(argv: readonly string[], t0: number) {
    const pending = { stdout: '', stderr: '' };
    this.recorder.progress(`[${this.name}] $ ${argv.join(' ')}`);
    return (chunk: string, stream: 'stdout' | 'stderr') => {
      const lines = (pending[stream] + chunk).split('\n');
      pending[stream] = lines.pop() ?? '';
      const elapsed = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
      for (const line of lines) this.recorder.progress(`[${this.name} +${elapsed}s] ${line}`);
    };
  }
}

export function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join(' | ') || '(no output)';
}

/** POSIX shell quoting, for commands sent as one string over ssh. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
