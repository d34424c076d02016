import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BoundedCapture, escapeBytes, KEEP, MiB } from '../../src/drivers/capture';
import { Host } from '../../src/drivers/host';
import { LocalTransport } from '../../src/drivers/local';
import { HostBrokenError } from '../../src/errors';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { tempDir } from '../helpers';

// What the transports keep of a command's output: bounded whatever a host prints, every byte
// counted and hashed, output that is not text shown with escapes, and a check that would parse a
// cut or unreadable output broken with what it saw.

function host(): { host: Host; runDir: string } {
  const runDir = tempDir('capture-test-');
  const recorder = new Recorder(runDir, runDir, new Redactor(), () => {});
  return { host: new Host('runner', new LocalTransport(), recorder, 60_000), runDir };
}

async function broken(p: Promise<unknown>): Promise<HostBrokenError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HostBrokenError, `expected HostBrokenError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the command to be broken');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('an output within the limits is kept whole, counted and hashed', () => {
  const c = new BoundedCapture({ head: 16, tail: 16 });
  const text = Buffer.from('one\ntwo\nthree é\n');
  c.push(text.subarray(0, 5));
  c.push(text.subarray(5));
  const r = c.finish();
  assert.equal(r.text, text.toString());
  assert.deepEqual(r.info, { bytes: text.length, sha256: sha(text), dropped: 0 });
  assert.equal(c.finish(), r, 'taken once');
  c.push(Buffer.from('late'));
  assert.equal(c.finish().info.bytes, text.length, 'output after the result is not kept');
});

test('a long output keeps its head and tail, cut on line breaks, and says how many bytes it dropped', () => {
  const c = new BoundedCapture({ head: 100, tail: 100 });
  const lines = Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join('');
  const all = Buffer.from(lines);
  for (let i = 0; i < all.length; i += 7) c.push(all.subarray(i, i + 7));
  const r = c.finish();
  assert.equal(r.info.bytes, all.length);
  assert.equal(r.info.sha256, sha(all));
  const [head, tail] = r.text.split(/\[… \d+ bytes not kept: [^\n]*…\]\n/) as [string, string];
  assert.ok(head.startsWith('line 0\nline 1\n') && /\nline \d+\n$/.test(head), `the head ends on a line: ${head}`);
  assert.ok(tail.endsWith('line 199\n') && /^line \d+\n/.test(tail), `the tail starts on a line: ${tail}`);
  assert.equal(head + tail, lines.slice(0, head.length) + lines.slice(lines.length - tail.length));
  assert.equal(r.info.kept!.head + r.info.kept!.tail + r.info.dropped, all.length);
  assert.ok(r.info.kept!.head <= 100 && r.info.kept!.tail <= 100);
  assert.match(
    r.text,
    new RegExp(`\\[… ${r.info.dropped} bytes not kept: the harness keeps the first 100 bytes and the last 100 bytes of a command's output …\\]`),
  );
});

test('without line breaks, a cut falls on a character boundary; one chunk larger than the tail keeps its end', () => {
  const c = new BoundedCapture({ head: 11, tail: 11 });
  const all = Buffer.from('é'.repeat(50));
  c.push(all);
  const r = c.finish();
  assert.ok(!r.info.binary, 'no broken character at either cut');
  assert.equal(r.info.kept!.head, 10);
  assert.equal(r.info.kept!.tail, 10);
  assert.ok(r.text.startsWith('ééééé\n[… 80 bytes not kept') && r.text.endsWith('…]\nééééé'), r.text);
});

test('memory stays bounded: 200 MB pushed, no more than the head and tail kept', () => {
  const c = new BoundedCapture();
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 3200; i++) c.push(chunk);
  const r = c.finish();
  assert.equal(r.info.bytes, 3200 * 64 * 1024);
  assert.equal(r.info.kept!.head, KEEP.head);
  assert.equal(r.info.kept!.tail, KEEP.tail);
  assert.ok(process.memoryUsage().rss - before < 100 * MiB, `rss grew ${(process.memoryUsage().rss - before) / MiB} MiB`);
});

test('bytes that are not UTF-8 text are escaped, counted and located; valid text is kept as it is', () => {
  const b = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x5c, 0x1b, 0x0a, 0xc3]);
  const e = escapeBytes(b);
  assert.equal(e.shown, 'a\\x00b\\xffé€\\xc0\\xaf\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80\\\\\\x1b\n\\xc3');
  assert.equal(e.nul, 1);
  assert.equal(e.invalid, 11);
  assert.equal(e.firstAt, 1);
  const c = new BoundedCapture();
  c.push(b);
  const r = c.finish();
  assert.deepEqual(r.info.binary, { invalid: 11, nul: 1, firstAt: 1, around: e.shown });
  assert.equal(r.info.shown, e.shown);
  assert.equal(r.text, b.toString('utf8'), 'the checks read it decoded as before');
  assert.deepEqual(escapeBytes(Buffer.from('plain text\twith é\r\n')), { shown: 'plain text\twith é\r\n', invalid: 0, nul: 0, firstAt: -1 });
});

test('200 MB from a local command: the check is broken, showing the tail and naming the evidence; memory stays bounded', async () => {
  const { host: h, runDir } = host();
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const e = await broken(h.run(['sh', '-c', 'yes "a line of a runaway tool!" | head -c 200000000; echo; echo the last line']));
  const grew = process.resourceUsage().maxRSS * 1024 - peakBefore;
  assert.ok(grew < 150 * MiB, `peak RSS grew ${Math.round(grew / MiB)} MiB`);
  assert.match(
    e.message,
    /^the output of `sh -c yes "a line of a runaway tool!" \| head -c 200000000; echo; echo the last line` on runner is too long to read whole\n/,
  );
  assert.match(
    e.message,
    /\n {2}seen: +200000015 bytes of stdout \(exit 0\); the harness kept the first \d+ and the last \d+ bytes, and dropped the \d+ in between; it ends: a line of a runaway tool! \| a line of a runawa \| the last line\n/,
  );
  const file = /evidence: (\S+)/.exec(e.message)![1]!;
  assert.equal(file, join(runDir, 'commands', readdirSync(join(runDir, 'commands'))[0]!));
  assert.ok(statSync(file).size < 2 * (KEEP.head + KEEP.tail), 'the evidence holds what was kept, not 200 MB');
  const log = readFileSync(file, 'utf8');
  assert.match(log, /^stdout: {3}200000015 bytes, sha256 [0-9a-f]{64}; only the first \d+ and the last \d+ bytes kept, \d+ dropped in between$/m);
  assert.match(log, /\n\[… \d+ bytes not kept: the harness keeps the first 4 MiB and the last 4 MiB of a command's output …\]\n/);
  const ndjson = JSON.parse(readFileSync(join(runDir, 'evidence', 'commands.ndjson'), 'utf8').trim());
  assert.equal(ndjson.stdoutBytes, 200000015);
  assert.ok(ndjson.droppedBytes.stdout > 190_000_000);
});

test('a caller that does not parse all of stdout (partial, or a streamed log) gets the head and tail, marked truncated', async () => {
  const { host: h } = host();
  const r = await h.run(['sh', '-c', 'head -c 20000000 /dev/zero | tr "\\0" x; echo; echo done'], { partial: true });
  assert.equal(r.truncated, true);
  assert.ok(r.ok);
  assert.ok(r.stdout.length < KEEP.head + KEEP.tail + 200);
  assert.ok(r.stdout.endsWith('\ndone\n'));
  const streamed = await h.run(['sh', '-c', 'head -c 20000000 /dev/zero | tr "\\0" y; echo'], { stream: true });
  assert.equal(streamed.truncated, true);
});

test('output that is not text: a check that reads text is broken, showing the bytes escaped; the evidence shows them too', async () => {
  const { host: h } = host();
  const argv = ['bash', '-c', "printf '6\\x0000 r\\xff\\xfeoot\\x00 regular file\\xc3\\n'"];
  const e = await broken(h.run(argv, { text: true }));
  assert.match(
    e.message,
    /^the output of `bash -c printf '6\\x0000[^`]*` on runner is not text the check can read\n {2}expected: UTF-8 text on stdout\n {2}seen: +exit 0, and 3 bytes that are not UTF-8 and 2 NUL bytes in 27 bytes, the first at byte 1: 6\\x0000 r\\xff\\xfeoot\\x00 regular file\\xc3\\n \(\\xNN: a byte that is not text\)\n/,
  );
  const log = readFileSync(/evidence: (\S+)/.exec(e.message)![1]!, 'utf8');
  assert.match(log, /^stdout: {3}27 bytes, sha256 [0-9a-f]{64}; not UTF-8 text \(3 invalid bytes, 2 NUL bytes, the first at byte 1\): shown with \\xNN/m);
  assert.ok(log.includes('--- stdout\n6\\x0000 r\\xff\\xfeoot\\x00 regular file\\xc3\n'), log);
  assert.ok(!log.includes('\0'), 'no NUL byte written to the evidence');
  // A caller that does not ask for text reads it decoded, as before.
  const r = await h.run(argv);
  assert.equal(
    r.stdout,
    Buffer.from([0x36, 0, 0x30, 0x30, 0x20, 0x72, 0xff, 0xfe, 0x6f, 0x6f, 0x74, 0, 0x20, ...Buffer.from('regular file'), 0xc3, 0x0a]).toString('utf8'),
  );
});

test('a local command that hangs is broken at its timeout, with what it printed before', async () => {
  const { host: h } = host();
  const t0 = Date.now();
  const e = await broken(h.run(['sh', '-c', 'echo started; sleep 30'], { timeoutMs: 500 }));
  assert.ok(Date.now() - t0 < 5000);
  assert.match(e.message, /seen: +timed out after 0\.5s/);
  const log = readFileSync(/evidence: (\S+)/.exec(e.message)![1]!, 'utf8');
  assert.match(log, /status: +could not run: timed out after 0\.5s/);
  assert.match(log, /--- stdout\nstarted\n/);
});
