import { AsyncLocalStorage } from 'node:async_hooks';
import { showValue } from './show';
import { appendFileSync, mkdirSync } from 'node:fs';
import { writeFileAtomic } from './atomic';
import { join } from 'node:path';
import type { Redactor } from './redact';
import type { StreamInfo } from '../drivers/capture';

// The one recorder of evidence. Everything a run did or measured passes through here once,
// redacted, and lands in reports/<run-id>/: command logs, facts, connections, waits.

export interface CommandOutcome {
  host: string;
  argv: readonly string[];
  exitCode: number | null;
  signal?: string | null;
  startedAt: string;
  durationMs: number;
  stdout: string;
  stderr: string;
  stdinBytes?: number;
  /** How the transport measured each stream, when it did: bytes dropped, output that is not text. */
  streams?: { stdout?: StreamInfo; stderr?: StreamInfo };
  /** Set when the command could not run at all (transport error, timeout). */
  error?: string;
}

/** A header line for a stream that was cut or is not text; nothing for a plain one. */
function streamLine(name: string, s: StreamInfo | undefined): string[] {
  if (!s || (!s.dropped && !s.binary)) return [];
  const parts = [`${s.bytes} bytes, sha256 ${s.sha256}`];
  if (s.dropped) parts.push(`only the first ${s.kept!.head} and the last ${s.kept!.tail} bytes kept, ${s.dropped} dropped in between`);
  if (s.binary)
    parts.push(
      `not UTF-8 text (${s.binary.invalid} invalid bytes, ${s.binary.nul} NUL bytes, the first at byte ${s.binary.firstAt}): shown with \\xNN for each byte that is not text, \\\\ for a backslash`,
    );
  return [`${name.padEnd(9)} ${parts.join('; ')}`];
}

export type Attach = (data: string, options: { mediaType: string; fileName?: string }) => void;

interface Scope {
  pickleId: string;
  name: string;
  attach?: Attach;
  /** Shows a fact in the report, as a parameter of the step that measured it. */
  showFact?: (key: string, value: string) => void;
}

export interface Fact {
  scenario?: string;
  key: string;
  value: unknown;
  host?: string;
  at: string;
  /** Set on a fact measured for an earlier scenario and shown again under one that relies on it. */
  measuredFor?: string;
}

export class Recorder {
  private seq = 0;
  private scope: Scope | null = null;
  private readonly facts: Fact[] = [];

  /**
   * @param runDir absolute path of reports/<run-id>
   * @param shownDir how evidence paths are shown in messages (relative to the project root)
   */
  constructor(
    readonly runDir: string,
    readonly shownDir: string,
    readonly redactor: Redactor,
    private readonly console: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {
    mkdirSync(join(runDir, 'commands'), { recursive: true });
    mkdirSync(join(runDir, 'evidence'), { recursive: true });
  }

  enter(scope: Scope): void {
    this.scope = scope;
  }

  leave(): void {
    this.scope = null;
  }

  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /** Records one command; returns the evidence file that holds its full output. */
  command(c: CommandOutcome): string {
    const seq = ++this.seq;
    const file = `${String(seq).padStart(4, '0')}-${c.host.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`;
    const argv = c.argv.map((a) => this.redact(a));
    const status = c.error ? `could not run: ${this.redact(c.error)}` : c.signal ? `signal ${c.signal}` : `exit ${c.exitCode}`;
    const text = [
      `host:     ${c.host}`,
      `argv:     ${JSON.stringify(argv)}`,
      `status:   ${status}`,
      `started:  ${c.startedAt}`,
      `duration: ${c.durationMs} ms`,
      ...(c.stdinBytes ? [`stdin:    ${c.stdinBytes} bytes (not recorded)`] : []),
      ...streamLine('stdout:', c.streams?.stdout),
      ...streamLine('stderr:', c.streams?.stderr),
      ...(this.scope ? [`scenario: ${this.scope.name}`] : []),
      '--- stdout',
      this.redact(c.streams?.stdout?.shown ?? c.stdout),
      '--- stderr',
      this.redact(c.streams?.stderr?.shown ?? c.stderr),
      '',
    ].join('\n');
    writeFileAtomic(join(this.runDir, 'commands', file), text);
    this.append('commands.ndjson', {
      seq,
      scenario: this.scope?.pickleId,
      host: c.host,
      argv,
      exitCode: c.exitCode,
      signal: c.signal ?? undefined,
      error: c.error ? this.redact(c.error) : undefined,
      startedAt: c.startedAt,
      durationMs: c.durationMs,
      stdoutBytes: c.streams?.stdout?.bytes ?? Buffer.byteLength(c.stdout),
      stderrBytes: c.streams?.stderr?.bytes ?? Buffer.byteLength(c.stderr),
      ...(c.streams?.stdout?.dropped || c.streams?.stderr?.dropped
        ? { droppedBytes: { stdout: c.streams.stdout?.dropped ?? 0, stderr: c.streams.stderr?.dropped ?? 0 } }
        : {}),
      ...(c.streams?.stdout?.binary || c.streams?.stderr?.binary ? { notText: { stdout: c.streams.stdout?.binary, stderr: c.streams.stderr?.binary } } : {}),
      file: `commands/${file}`,
    });
    const title = `$ ${c.host}: ${argv.join(' ')}`;
    this.scope?.attach?.(text, { mediaType: 'text/plain', fileName: `${title.length > 160 ? title.slice(0, 159) + '…' : title} — ${file}` });
    return `${this.shownDir}/commands/${file}`;
  }

  /** Something the runner itself measured (a TLS handshake, an HTTP request), recorded like a command. */
  probe(host: string, argv: readonly string[], durationMs: number, output: string, error?: string): string {
    return this.command({
      host,
      argv,
      exitCode: error ? null : 0,
      startedAt: new Date(Date.now() - durationMs).toISOString(),
      durationMs,
      stdout: output,
      stderr: '',
      error,
    });
  }

  /** A measured fact (a toplevel path, a commit), attached to the current scenario. */
  fact(key: string, value: unknown, host?: string): void {
    const f: Fact = { scenario: this.scope?.pickleId, key, value: this.redactDeep(value ?? null), host, at: new Date().toISOString() };
    for (const into of this.collectors.getStore() ?? []) into.push(f);
    this.add(f);
  }

  private add(f: Fact): void {
    this.facts.push(f);
    this.append('facts.ndjson', f);
    this.scope?.showFact?.(f.key, showValue(f.value));
  }

  private readonly collectors = new AsyncLocalStorage<Fact[][]>();

  /** Runs `work`, putting every fact it records (through any depth of calls) into `into` as well. */
  collecting<T>(into: Fact[], work: () => Promise<T>): Promise<T> {
    return this.collectors.run([...(this.collectors.getStore() ?? []), into], work);
  }

  private readonly shownAgain = new Map<string, Set<Fact>>();

  /**
   * Facts measured once for an earlier scenario, attached to the current one that relies on them
   * (each once per scenario): the evidence of a scenario holds every fact it asserts.
   */
  replay(facts: readonly Fact[]): void {
    const scenario = this.scope?.pickleId;
    if (!scenario) return;
    let shown = this.shownAgain.get(scenario);
    if (!shown) this.shownAgain.set(scenario, (shown = new Set()));
    for (const f of facts) {
      if (f.scenario === scenario || shown.has(f)) continue;
      shown.add(f);
      this.add({ ...f, scenario, measuredFor: f.scenario });
    }
  }

  factsOf(pickleId: string): Fact[] {
    return this.facts.filter((f) => f.scenario === pickleId);
  }

  private readonly connections = new Map<string, Record<string, unknown>>();

  /** Connections made (or refused) to hosts: address, transport, host key seen. */
  connection(entry: Record<string, unknown>): string {
    if (typeof entry.host === 'string') this.connections.set(entry.host, entry);
    this.append('connections.ndjson', { ...entry, at: new Date().toISOString() });
    return `${this.shownDir}/evidence/connections.ndjson`;
  }

  /** The latest connection recorded to a host (its host key fingerprint, its result). */
  lastConnection(host: string): { hostKeyFingerprint?: string; result?: string } | undefined {
    return this.connections.get(host) as { hostKeyFingerprint?: string; result?: string } | undefined;
  }

  /** Progress on a long step, for the person watching the console. */
  progress(line: string): void {
    this.console(this.redact(line));
  }

  redactDeep<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactDeep(v)) as T;
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    }
    return value;
  }

  private append(file: string, entry: unknown): void {
    appendFileSync(join(this.runDir, 'evidence', file), JSON.stringify(this.redactDeep(entry)) + '\n');
  }
}
