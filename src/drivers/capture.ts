import { createHash, type Hash } from 'node:crypto';

// What a transport keeps of a command's output. A host can print anything: 200 MB, or bytes that
// are not text. Every byte is counted and hashed, but only the first and the last few MiB of each
// stream stay in memory; the bytes between are dropped, and the result says how many. Output that
// is not UTF-8 text (invalid sequences, NULs) is decoded as before for the checks, and shown with
// \xNN escapes in the evidence, so that its bytes can be read and nothing unprintable is written.

export const MiB = 1024 * 1024;

/** What a transport keeps in memory of each stream (stdout, stderr): its head and its tail. */
export const KEEP = { head: 4 * MiB, tail: 4 * MiB };

/** How far back (or on) a cut may move to fall on a line break. */
const LINE_SLACK = 64 * 1024;

export interface Binary {
  /** Byte sequences that are not UTF-8. */
  invalid: number;
  /** NUL bytes (valid UTF-8, but no text holds them). */
  nul: number;
  /** Offset of the first such byte in the stream. */
  firstAt: number;
  /** The bytes around the first, escaped (\xNN). */
  around: string;
}

/** What a transport measured of one output stream of a command. */
export interface StreamInfo {
  /** Every byte the command wrote to the stream. */
  bytes: number;
  /** SHA-256 (hex) of every byte, kept or not. */
  sha256: string;
  /** Bytes not kept in memory (the middle of a stream longer than the head and tail kept). */
  dropped: number;
  /** The kept head's and tail's lengths, in bytes (when bytes were dropped). */
  kept?: { head: number; tail: number };
  /** Set when what was kept is not UTF-8 text. */
  binary?: Binary;
  /** When `binary`: the kept output with every byte that is not text as \xNN (and \ as \\), for the evidence. */
  shown?: string;
}

export interface Captured {
  /** The output decoded as UTF-8 (what a check reads); when bytes were dropped, head, a marker line, tail. */
  text: string;
  info: StreamInfo;
}

export function droppedMarker(dropped: number, keep: { head: number; tail: number }): string {
  return `[… ${dropped} bytes not kept: the harness keeps the first ${sizeOf(keep.head)} and the last ${sizeOf(keep.tail)} of a command's output …]`;
}

export function sizeOf(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** One output stream, as it arrives: bounded in memory whatever the command prints. */
export class BoundedCapture {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;
  private readonly hash: Hash = createHash('sha256');
  private done?: Captured;

  constructor(private readonly keep: { head: number; tail: number } = KEEP) {}

  get bytes(): number {
    return this.total;
  }

  push(chunk: Buffer | Uint8Array | string): void {
    let b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // Output that arrives after the result was taken (a command cut off by a timeout) is not kept.
    if (!b.length || this.done) return;
    this.total += b.length;
    this.hash.update(b);
    if (this.headBytes < this.keep.head) {
      const room = this.keep.head - this.headBytes;
      const part = b.length <= room ? b : b.subarray(0, room);
      // A copy when part of a chunk is kept, so the rest of a large chunk can be freed.
      this.head.push(part === b ? b : Buffer.from(part));
      this.headBytes += part.length;
      if (part === b) return;
      b = b.subarray(room);
    }
    if (b.length >= this.keep.tail) {
      this.tail.length = 0;
      this.tail.push(Buffer.from(b.subarray(b.length - this.keep.tail)));
      this.tailBytes = this.keep.tail;
      return;
    }
    this.tail.push(b);
    this.tailBytes += b.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.keep.tail) this.tailBytes -= this.tail.shift()!.length;
  }

  /** What was kept; taken once (later calls return the same, later output is ignored). */
  finish(): Captured {
    return (this.done ??= this.take());
  }

  private take(): Captured {
    const sha256 = this.hash.digest('hex');
    let head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.keep.tail) tail = tail.subarray(tail.length - this.keep.tail);
    if (head.length + tail.length === this.total) {
      const whole = Buffer.concat([head, tail]);
      const t = textInfo([whole], [0]);
      return { text: whole.toString('utf8'), info: { bytes: this.total, sha256, dropped: 0, ...(t.binary ? { binary: t.binary, shown: t.shown[0] } : {}) } };
    }
    // Cut on line breaks where there is one near, else on a character boundary.
    head = head.subarray(0, headCut(head));
    tail = tail.subarray(tailCut(tail));
    const dropped = this.total - head.length - tail.length;
    const marker = `${head.length && head[head.length - 1] !== 0x0a ? '\n' : ''}${droppedMarker(dropped, this.keep)}\n`;
    const text = head.toString('utf8') + marker + tail.toString('utf8');
    const t = textInfo([head, tail], [0, this.total - tail.length]);
    return {
      text,
      info: {
        bytes: this.total,
        sha256,
        dropped,
        kept: { head: head.length, tail: tail.length },
        ...(t.binary ? { binary: t.binary, shown: t.shown.join(marker) } : {}),
      },
    };
  }
}

function headCut(head: Buffer): number {
  const nl = head.lastIndexOf(0x0a);
  if (nl >= 0 && head.length - nl <= LINE_SLACK) return nl + 1;
  let end = head.length;
  // Back over continuation bytes to the start of the last character, and drop it if incomplete.
  let i = end - 1;
  while (i >= 0 && end - i <= 4 && (head[i]! & 0xc0) === 0x80) i--;
  if (i >= 0 && head[i]! >= 0xc0 && seqLength(head[i]!) > end - i) end = i;
  return end;
}

function tailCut(tail: Buffer): number {
  const nl = tail.indexOf(0x0a);
  if (nl >= 0 && nl < LINE_SLACK) return nl + 1;
  let start = 0;
  while (start < tail.length && start < 3 && (tail[start]! & 0xc0) === 0x80) start++;
  return start;
}

function seqLength(lead: number): number {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

/** Whether the parts are UTF-8 text and, when not, how each reads with escapes. */
function textInfo(parts: Buffer[], offsets: number[]): { binary?: Binary; shown: string[] } {
  let binary: Binary | undefined;
  const shown: string[] = [];
  parts.forEach((p, k) => {
    const e = escapeBytes(p);
    shown.push(e.shown);
    if (e.invalid || e.nul) {
      if (!binary) {
        // A window around the first bad byte, on character boundaries where the bytes are text.
        let from = Math.max(0, e.firstAt - 24);
        while (from > 0 && from < e.firstAt && (p[from]! & 0xc0) === 0x80) from++;
        let to = Math.min(p.length, e.firstAt + 72);
        while (to < p.length && to < e.firstAt + 76 && (p[to]! & 0xc0) === 0x80) to++;
        const around = (from ? '…' : '') + escapeBytes(p.subarray(from, to)).shown + (to < p.length ? '…' : '');
        binary = { invalid: 0, nul: 0, firstAt: offsets[k]! + e.firstAt, around };
      }
      binary.invalid += e.invalid;
      binary.nul += e.nul;
    }
  });
  return { binary, shown };
}

export interface Escaped {
  /** The bytes as text: UTF-8 as it is, every other byte and control character but \t \n \r as \xNN, \ as \\. */
  shown: string;
  invalid: number;
  nul: number;
  /** Offset of the first invalid or NUL byte (-1 when none). */
  firstAt: number;
}

const HEX = Buffer.from('0123456789abcdef');

/** Shows bytes safely: valid UTF-8 is kept, anything else is escaped, so nothing is lost or unprintable. */
export function escapeBytes(b: Buffer): Escaped {
  // Written byte by byte into a buffer four times the input's size (the most an escape takes).
  const out = Buffer.allocUnsafe(b.length * 4);
  let o = 0;
  let invalid = 0;
  let nul = 0;
  let firstAt = -1;
  const hex = (x: number) => {
    out[o++] = 0x5c;
    out[o++] = 0x78;
    out[o++] = HEX[x >> 4]!;
    out[o++] = HEX[x & 15]!;
  };
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === 0x5c) {
        out[o++] = 0x5c;
        out[o++] = 0x5c;
      } else if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) {
        hex(c);
        if (c === 0) {
          nul++;
          if (firstAt < 0) firstAt = i;
        }
      } else {
        out[o++] = c;
      }
      i++;
      continue;
    }
    const n = validSequence(b, i);
    if (n > 0) {
      for (let k = 0; k < n; k++) out[o++] = b[i + k]!;
      i += n;
      continue;
    }
    hex(c);
    invalid++;
    if (firstAt < 0) firstAt = i;
    i++;
  }
  return { shown: out.toString('utf8', 0, o), invalid, nul, firstAt };
}

/** The length of the valid UTF-8 sequence at i (RFC 3629: no overlongs, surrogates or code points past U+10FFFF), or 0. */
function validSequence(b: Buffer, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** How a stream that is not text reads in a message: its counts, and the escaped bytes around the first. */
export function describeBinary(info: StreamInfo): string {
  const b = info.binary!;
  const what = [b.invalid ? `${b.invalid} byte${b.invalid === 1 ? '' : 's'} that are not UTF-8` : '', b.nul ? `${b.nul} NUL byte${b.nul === 1 ? '' : 's'}` : '']
    .filter(Boolean)
    .join(' and ');
  return `${what} in ${info.bytes} bytes, the first at byte ${b.firstAt}: ${b.around} (\\xNN: a byte that is not text)`;
}
