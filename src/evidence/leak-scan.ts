import {
  closeSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { DenyEntry, LeakForm, Redactor } from './redact';

// The end of a run proves its redaction: every file under the run's folder (any kind, any size,
// Allure's HTML and JavaScript included) and the console text the CLI captured are searched, as
// bytes, for every form of every secret the run learned. A hit is scrubbed in place and reported
// by file, secret name and form, never by value; the run fails on it.

export interface LeakHit {
  /** The file, relative to the run folder (its name scrubbed too), or the name of a text. */
  file: string;
  /** The secret's name. */
  secret: string;
  /** How the value appeared (raw, base64, base64-offset-1, hex, url, ...). */
  form: LeakForm;
  /** Where: in a file's bytes, in a file or directory name, in a symlink's target, in a text. */
  where: 'content' | 'name' | 'link' | 'text';
  /** How many times, and the byte offset of the first. */
  count: number;
  offset: number;
}

export interface LeakScanResult {
  hits: LeakHit[];
  /** Files (and links) that now differ from what the run wrote: scrubbed, relative to the run folder. */
  scrubbed: string[];
  /** The extra texts, with every hit replaced (the console as it should have been). */
  texts: { name: string; text: string }[];
  /** What the scan could not read: the scan proves nothing about those, so they fail the run too. */
  errors: { file: string; message: string }[];
  /** What it covered: files and bytes read, secrets and their forms searched for, texts; the secrets too short to search, by name. */
  coverage: { files: number; bytes: number; secrets: number; patterns: number; texts: number; skipped: string[] };
}

export interface LeakScanOptions {
  /** Bytes read at a time (default 4 MiB); consecutive reads overlap by the longest pattern less one byte. */
  chunkSize?: number;
}

interface Match {
  start: number;
  end: number;
  entry: DenyEntry;
}

const DEFAULT_CHUNK = 4 * 1024 * 1024;
let tmpSeq = 0;

/** One line per hit, for the console and the report: names only. */
export function describeLeak(h: LeakHit): string {
  const where = h.where === 'name' ? ' (in its name)' : h.where === 'link' ? ' (in the symlink target)' : '';
  return `${h.file}${where}: ${h.secret} as ${h.form}${h.count > 1 ? `, ${h.count} times` : ''} (first at byte ${h.offset}); scrubbed`;
}

export function scanForLeaks(
  runDir: string,
  redactor: Redactor,
  extraTexts: { name: string; text: string }[] = [],
  options: LeakScanOptions = {},
): LeakScanResult {
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK);
  const list = redactor.scanList();
  const deny = list.entries.map((entry) => ({ entry, bytes: Buffer.from(entry.text) }));
  const overlap = Math.max(0, ...deny.map((d) => d.bytes.length - 1));
  const result: LeakScanResult = {
    hits: [],
    scrubbed: [],
    texts: [],
    errors: [],
    coverage: {
      files: 0,
      bytes: 0,
      secrets: redactor.names().length - list.skipped.length,
      patterns: deny.length,
      texts: extraTexts.length,
      skipped: list.skipped,
    },
  };
  const hits = new Map<string, LeakHit>();
  const record = (file: string, where: LeakHit['where'], matches: Match[]) => {
    for (const m of matches) {
      const key = JSON.stringify([file, where, m.entry.name, m.entry.form]);
      const h = hits.get(key);
      if (h) h.count++;
      else hits.set(key, { file, secret: m.entry.name, form: m.entry.form, where, count: 1, offset: m.start });
    }
  };

  /** Every occurrence in one window; `carry` bytes at its start were searched with the window before. */
  const search = (window: Buffer, base: number, carry: number, into: Match[]) => {
    for (const d of deny) {
      for (let i = window.indexOf(d.bytes, 0); i !== -1; i = window.indexOf(d.bytes, i + 1)) {
        if (i + d.bytes.length > carry) into.push({ start: base + i, end: base + i + d.bytes.length, entry: d.entry });
      }
    }
  };
  const inMemory = (b: Buffer): Match[] => {
    const found: Match[] = [];
    if (deny.length) search(b, 0, 0, found);
    return maximal(found);
  };

  const scanFile = (path: string, rel: string) => {
    const fd = openSync(path, 'r');
    let found: Match[] = [];
    try {
      const buf = Buffer.allocUnsafe(chunkSize + overlap);
      let base = 0;
      let carry = 0;
      for (;;) {
        const n = readSync(fd, buf, carry, chunkSize, base + carry);
        result.coverage.bytes += n;
        if (n === 0) break;
        const window = buf.subarray(0, carry + n);
        if (deny.length) search(window, base, carry, found);
        const keep = Math.min(overlap, window.length);
        buf.copy(buf, 0, window.length - keep, window.length);
        base += window.length - keep;
        carry = keep;
      }
      result.coverage.files++;
      found = maximal(found);
      if (found.length) {
        record(rel, 'content', found);
        rewrite(path, fd, found);
        result.scrubbed.push(rel);
      }
    } finally {
      closeSync(fd);
    }
  };

  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      result.errors.push({ file: relative(runDir, dir) || '.', message: errorText(e) });
      return;
    }
    for (let name of names) {
      let path = join(dir, name);
      try {
        const inName = inMemory(Buffer.from(name));
        if (inName.length) {
          const clean = replaceRegions(Buffer.from(name), inName).toString().replace(/\//g, '_');
          // Two names may scrub to one: the second gets a number, nothing is overwritten.
          name = clean;
          for (let i = 1; lexists(join(dir, name)); i++) name = `${clean}.${i}`;
          const renamed = join(dir, name);
          renameSync(path, renamed);
          path = renamed;
          record(relative(runDir, path), 'name', inName);
          result.scrubbed.push(relative(runDir, path));
        }
        const rel = relative(runDir, path);
        const st = lstatSync(path);
        if (st.isDirectory()) walk(path);
        else if (st.isSymbolicLink()) {
          // Not followed (it may point out of the run folder); its target text is searched.
          const target = Buffer.from(readlinkSync(path));
          const inTarget = inMemory(target);
          if (inTarget.length) {
            record(rel, 'link', inTarget);
            const tmp = tmpName(path);
            symlinkSync(replaceRegions(target, inTarget).toString(), tmp);
            renameSync(tmp, path);
            result.scrubbed.push(rel);
          }
        } else if (st.isFile()) scanFile(path, rel);
        else result.errors.push({ file: rel, message: 'not a regular file, a directory or a symlink: not read' });
      } catch (e) {
        result.errors.push({ file: relative(runDir, path), message: errorText(e) });
      }
    }
  };

  walk(runDir);
  for (const t of extraTexts) {
    const bytes = Buffer.from(t.text);
    result.coverage.bytes += bytes.length;
    const found = inMemory(bytes);
    record(t.name, 'text', found);
    result.texts.push({ name: t.name, text: found.length ? replaceRegions(bytes, found).toString() : t.text });
  }
  result.hits = [...hits.values()];
  return result;
}

/**
 * The matches not inside a longer one: a value's whole base64 contains its offset-0 piece, a key
 * file contains its lines; the longest form found at a place is the one reported. Partly
 * overlapping matches both stay (and are scrubbed as one region).
 */
function maximal(found: Match[]): Match[] {
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Match[] = [];
  let maxEnd = -1;
  for (const m of found) {
    if (m.end <= maxEnd) continue;
    out.push(m);
    maxEnd = m.end;
  }
  return out;
}

/** Overlapping matches as regions to replace, each with the names of what was there. */
function regions(matches: Match[]): { start: number; end: number; text: Buffer }[] {
  const out: { start: number; end: number; names: string[] }[] = [];
  for (const m of matches) {
    const last = out[out.length - 1];
    if (last && m.start < last.end) {
      last.end = Math.max(last.end, m.end);
      if (!last.names.includes(m.entry.name)) last.names.push(m.entry.name);
    } else out.push({ start: m.start, end: m.end, names: [m.entry.name] });
  }
  return out.map((r) => ({ start: r.start, end: r.end, text: Buffer.from(r.names.map((n) => `[REDACTED:${n}]`).join('')) }));
}

function replaceRegions(b: Buffer, matches: Match[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const r of regions(matches)) {
    parts.push(b.subarray(at, r.start), r.text);
    at = r.end;
  }
  parts.push(b.subarray(at));
  return Buffer.concat(parts);
}

/**
 * Writes the file with every region replaced, streaming from `fd` (the file may be larger than
 * memory should hold), to a temporary file beside it, flushed and renamed over it: a crash leaves
 * the old file or the scrubbed one, never half of either. The mode is kept.
 */
function rewrite(path: string, fd: number, matches: Match[]): void {
  const tmp = tmpName(path);
  const out = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(out, fstatSync(fd).mode & 0o7777);
    const buf = Buffer.allocUnsafe(1024 * 1024);
    const copy = (from: number, to: number) => {
      for (let at = from; at < to; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, to - at), at);
        if (n === 0) break;
        writeAll(out, buf.subarray(0, n));
        at += n;
      }
    };
    let at = 0;
    for (const r of regions(matches)) {
      copy(at, r.start);
      writeAll(out, r.text);
      at = r.end;
    }
    copy(at, Infinity);
    fsyncSync(out);
    closeSync(out);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(out);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.leak-scan.${process.pid}.${++tmpSeq}.tmp`);
}

function errorText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e);
}
