import { execa } from 'execa';
import type { ExecRequest, RawResult, Transport } from './host';
import { TransportError } from './host';

/** Runs commands on the machine the harness runs on. */
export class LocalTransport implements Transport {
  readonly kind = 'local';
  readonly describe = 'this machine, locally';

  async exec(req: ExecRequest): Promise<RawResult> {
    const [file, ...args] = req.argv;
    if (!file) throw new TransportError('empty command');
    const child = execa(file, args, {
      reject: false,
      cwd: req.cwd,
      input: req.stdin,
      stdin: req.stdin === undefined ? 'ignore' : undefined,
      timeout: req.timeoutMs,
      stripFinalNewline: false,
      encoding: 'utf8',
      env: { LC_ALL: 'C.UTF-8' },
    });
    if (req.onOutput) {
      child.stdout?.on('data', (b: Buffer) => req.onOutput!(b.toString(), 'stdout'));
      child.stderr?.on('data', (b: Buffer) => req.onOutput!(b.toString(), 'stderr'));
    }
    const r = await child;
    if (r.timedOut) throw new TransportError(`timed out after ${req.timeoutMs / 1000}s`);
    if (r.failed && r.exitCode === undefined && !r.signal) {
      throw new TransportError(r.shortMessage ?? `could not run ${file}`);
    }
    return { exitCode: r.exitCode ?? null, signal: r.signal ?? null, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  async close(): Promise<void> {}
}
