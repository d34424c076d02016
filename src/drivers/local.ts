import { execa } from 'execa';
import type { Readable } from 'node:stream';
import { BoundedCapture } from './capture';
import type { ExecRequest, RawResult, Transport } from './host';
import { TransportError } from './host';

/** Runs commands on the machine the harness runs on; output is kept bounded, as over ssh (capture.ts). */
export class LocalTransport implements Transport {
  readonly kind = 'local';
  readonly describe = 'this machine, locally';

  async exec(req: ExecRequest): Promise<RawResult> {
    const [file, ...args] = req.argv;
    if (!file) throw new TransportError('empty command');
    const out = new BoundedCapture();
    const err = new BoundedCapture();
    const child = execa(file, args, {
      reject: false,
      cwd: req.cwd,
      input: req.stdin,
      stdin: req.stdin === undefined ? 'ignore' : undefined,
      timeout: req.timeoutMs,
      stripFinalNewline: false,
      // The output is read here, as it comes, never buffered whole by execa.
      buffer: false,
      env: { LC_ALL: 'C.UTF-8' },
    });
    const drained = Promise.all([read(child.stdout, out, 'stdout', req), read(child.stderr, err, 'stderr', req)]);
    // Done when the command exited and its output drained, or soon after it exited when something
    // it started (in the background) keeps the pipes open: that must not hold the run past the timeout.
    const settled = child.then(
      () => undefined,
      () => undefined,
    );
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), settled]);
    await Promise.race([drained, settled.then(() => drained), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    child.stdout?.destroy();
    child.stderr?.destroy();
    const r = await child;
    const o = out.finish();
    const e = err.finish();
    const result: RawResult = {
      exitCode: r.exitCode ?? null,
      signal: r.signal ?? null,
      stdout: o.text,
      stderr: e.text,
      streams: { stdout: o.info, stderr: e.info },
    };
    if (r.timedOut) throw new TransportError(`timed out after ${req.timeoutMs / 1000}s`, undefined, { ...result, exitCode: null });
    if (r.failed && r.exitCode === undefined && !r.signal) {
      throw new TransportError(r.shortMessage ?? `could not run ${file}`);
    }
    return result;
  }

  async close(): Promise<void> {}
}

function read(stream: Readable | null, into: BoundedCapture, name: 'stdout' | 'stderr', req: ExecRequest): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    stream.on('data', (b: Buffer) => {
      into.push(b);
      req.onOutput?.(b.toString(), name);
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}
