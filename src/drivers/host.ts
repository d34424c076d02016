import { HostBrokenError } from '../errors';
import type { Recorder } from '../evidence/recorder';
import { describeBinary, KEEP, sizeOf, type StreamInfo } from './capture';

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
  /** What was kept of the output (see capture.ts): all of it, or its head and tail around a marker line. */
  stdout: string;
  stderr: string;
  /** Each stream as the transport measured it: every byte counted and hashed, what was dropped, whether it is text. */
  streams?: { stdout: StreamInfo; stderr: StreamInfo };
}

export interface Transport {
  readonly kind: 'ssh' | 'local' | 'incus-exec';
  /** e.g. "root@127.0.10.3:22 over ssh" */
  readonly describe: string;
  exec(req: ExecRequest): Promise<RawResult>;
  close(): Promise<void>;
}

/** The transport could not do its job: no connection, refused host key, a connection lost, a timeout. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly evidence?: string,
    /** What the command printed before it was cut off (a timeout, a lost connection). */
    readonly partial?: RawResult,
  ) {
    super(message);
  }
}

export interface CommandResult extends RawResult {
  host: string;
  argv: readonly string[];
  durationMs: number;
  /** Evidence file with the output, redacted: all of it, or its head and tail and how many bytes were dropped. */
  evidence: string;
  ok: boolean;
  /** Bytes of stdout were dropped (only with `partial` or `stream`: otherwise the command is broken). */
  truncated: boolean;
}

export interface RunOptions {
  stdin?: string;
  cwd?: string;
  timeoutMs?: number;
  /** Stream output lines to the console while the command runs (long builds). */
  stream?: boolean;
  /** Exit 127 (command not found) is an answer here, not a missing tool of the harness's. */
  allowMissing?: boolean;
  /**
   * The caller does not parse all of stdout (a log, an exit code), so a stdout longer than the
   * transport keeps (capture.ts KEEP) is fine. Otherwise such a command is broken: a check cannot
   * parse what the harness did not keep. A streamed command (`stream`) is a log too.
   */
  partial?: boolean;
  /** The caller parses stdout as text: a stdout that is not UTF-8 (invalid bytes, NULs) cannot be read, and the command is broken. */
  text?: boolean;
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
        streams: raw.streams,
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
      const out = raw.streams?.stdout;
      if (out?.dropped && !opts.partial && !opts.stream) {
        throw new HostBrokenError({
          claim: `the output of \`${this.shown(argv)}\` on ${this.name} is too long to read whole`,
          expected: `stdout a check can parse whole: at most ${sizeOf(KEEP.head + KEEP.tail)}, what the harness keeps in memory of a command's output`,
          seen: `${out.bytes} bytes of stdout (exit ${raw.exitCode ?? raw.signal}); the harness kept the first ${out.kept!.head} and the last ${out.kept!.tail} bytes, and dropped the ${out.dropped} in between; it ends: ${lastLines(this.recorder.redact(raw.stdout.slice(-8192)), 3)}`,
          host: this.name,
          evidence: [evidence],
        });
      }
      if (out?.binary && opts.text) {
        throw new HostBrokenError({
          claim: `the output of \`${this.shown(argv)}\` on ${this.name} is not text the check can read`,
          expected: 'UTF-8 text on stdout',
          seen: `exit ${raw.exitCode ?? raw.signal}, and ${this.recorder.redact(describeBinary(out))}`,
          host: this.name,
          evidence: [evidence],
        });
      }
      return { ...raw, host: this.name, argv, durationMs, evidence, ok: raw.exitCode === 0, truncated: !!out?.dropped };
    } catch (e) {
      if (e instanceof HostBrokenError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      const partial = e instanceof TransportError ? e.partial : undefined;
      const evidence = this.recorder.command({
        host: this.name,
        argv: this.withCwd(argv, opts.cwd),
        exitCode: null,
        startedAt: startedAt.toISOString(),
        durationMs: Math.round(performance.now() - t0),
        stdout: partial?.stdout ?? '',
        stderr: partial?.stderr ?? '',
        streams: partial?.streams,
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

  /** A command as a message shows it: redacted, and cut when long (a script passed with sh -c). */
  private shown(argv: readonly string[]): string {
    const s = this.recorder.redact(argv.join(' '));
    return s.length > 200 ? `${s.slice(0, 199)}…` : s;
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

/** The last n lines of an output, each cut to its last 300 characters: a message stays short whatever a host printed. */
export function lastLines(text: string, n: number): string {
  const lines = text.slice(-8192).trimEnd().split('\n');
  return (
    lines
      .slice(-n)
      .map((l) => (l.length > 300 ? `…${l.slice(-300)}` : l))
      .join(' | ') || '(no output)'
  );
}

/** POSIX shell quoting, for commands sent as one string over ssh. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
