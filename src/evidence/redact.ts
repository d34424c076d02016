// Every known secret value is replaced, in every form the harness could print it, before any
// text reaches a file, an attachment or the console. The same forms make the deny-list that
// the end-of-run leak scan (leak-scan.ts) searches every report file for.

/** A value shorter than this is not redacted at all: two or three characters are everywhere. */
export const MIN_REDACTABLE = 4;

/**
 * Encoded forms (base64, hex, URL, JSON-escaped) only for values at least this long. The raw form
 * of a 4- or 5-character secret is a leak; its encodings are 6 to 10 characters of an alphabet
 * that every hash, ID and base64 blob of a report is made of, and searching them would fail runs
 * on chance matches in Allure's bundled JavaScript, not on leaks.
 */
export const MIN_ENCODED = 6;

/**
 * The end-of-run leak scan (leak-scan.ts) fails the run on a hit, so it leaves out values shorter
 * than this (and says so): '12345' or 'root' is in every Allure bundle by chance, and a hit on it
 * would prove nothing. They are still redacted raw wherever the harness writes.
 */
export const MIN_SCANNED = MIN_ENCODED;

/**
 * The shortest unaligned base64 piece searched (7 characters: 42 bits, about one chance match
 * per 4·10^12 positions of random base64). A 6-character value gives exactly 7 at offsets 1, 2.
 */
export const MIN_BASE64_PIECE = 7;

/** Shortest line of a multi-line secret (a key file) that is searched on its own. */
export const MIN_LINE = 16;

/** Base64 wrap widths: `base64` (coreutils) wraps at 76 characters, openssl and PEM at 64. */
const WRAP_WIDTHS = [76, 64];

/**
 * How a value can show up, as named in a leak report:
 * - raw: the value itself; line: one line (of at least MIN_LINE) of a multi-line value;
 * - json: the value as escaped inside a JSON string (a key file's newlines as \n);
 * - base64, base64url: the value's own encoding, with or without padding;
 * - base64-newline: the encoding of the value and a newline (what `echo value | base64` writes);
 * - base64-offset-0/1/2: the value inside a longer base64 text, at any alignment (see below);
 * - base64-wrapped: a line of the value's encoding wrapped at 76 or 64 characters;
 * - hex, hex-upper: the bytes in hexadecimal; url, url-lower, url-form: percent-encoded.
 */
export type LeakForm =
  | 'raw'
  | 'line'
  | 'json'
  | 'base64'
  | 'base64url'
  | 'base64-newline'
  | 'base64-offset-0'
  | 'base64-offset-1'
  | 'base64-offset-2'
  | 'base64-wrapped'
  | 'hex'
  | 'hex-upper'
  | 'url'
  | 'url-lower'
  | 'url-form';

/** One entry of the deny-list: a text to find, the secret's name and the form; never shown. */
export interface DenyEntry {
  name: string;
  form: LeakForm;
  text: string;
  /** The length of the (trimmed) value it came from. */
  valueLength: number;
}

export class Redactor {
  private readonly forms = new Map<string, DenyEntry>();
  private readonly secrets: { name: string; value: string }[] = [];
  private pattern: RegExp | null = null;

  /** Registers a secret under a name; the name, never the value, shows where it was. */
  add(name: string, value: string): void {
    if (this.secrets.some((s) => s.name === name && s.value === value)) return;
    this.secrets.push({ name, value });
    const trimmed = value.trim();
    const put = (form: LeakForm, text: string, min = MIN_REDACTABLE) => {
      if (text.length >= min && !this.forms.has(text)) this.forms.set(text, { name, form, text, valueLength: trimmed.length });
    };
    // Raw first: when two forms are one text, the plainer name is the one reported.
    for (const v of new Set([trimmed, value])) put('raw', v);
    for (const v of new Set([trimmed, value])) {
      if (v.length < MIN_REDACTABLE) continue;
      // A multi-line secret (a key file) also leaks line by line; not its armour lines, nor its
      // comments (an age key file's "# public key: age1…" is public, and shown in every run).
      for (const line of v.split('\n').map((l) => l.trim())) {
        if (!/^-----(BEGIN|END) |^#/.test(line)) put('line', line, MIN_LINE);
      }
      if (v.length < MIN_ENCODED) continue;
      const bytes = Buffer.from(v);
      put('json', JSON.stringify(v).slice(1, -1));
      for (const [form, b] of [
        ['base64', bytes],
        ['base64-newline', Buffer.concat([bytes, Buffer.from('\n')])],
      ] as const) {
        const b64 = b.toString('base64');
        put(form, b64);
        put(form, b64.replace(/=+$/, ''));
        put('base64url', b.toString('base64url'));
      }
      for (const k of [0, 1, 2] as const) {
        const piece = base64Piece(bytes, k);
        put(`base64-offset-${k}`, piece, MIN_BASE64_PIECE);
        put(`base64-offset-${k}`, toBase64url(piece), MIN_BASE64_PIECE);
      }
      // A long encoding wrapped into lines: every whole line of the aligned piece is one of them.
      const aligned = base64Piece(bytes, 0);
      for (const w of WRAP_WIDTHS) {
        if (aligned.length <= w) continue;
        for (let i = 0; i < aligned.length; i += w) put('base64-wrapped', aligned.slice(i, i + w), MIN_LINE);
      }
      const hex = bytes.toString('hex');
      put('hex', hex);
      put('hex-upper', hex.toUpperCase());
      const url = encodeURIComponent(v);
      put('url', url);
      put(
        'url-lower',
        url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      );
      put('url-form', new URLSearchParams({ v }).toString().slice(2));
    }
    this.pattern = null;
  }

  /** Learns every secret another redactor knows (the run's, after cucumber ends). */
  absorb(other: Redactor): void {
    for (const s of other.secrets) this.add(s.name, s.value);
  }

  /** How many texts are replaced (every form of every secret). */
  get size(): number {
    return this.forms.size;
  }

  /** The names of the secrets registered, in order, once each. */
  names(): string[] {
    return [...new Set(this.secrets.map((s) => s.name))];
  }

  /** Every text searched for, longest first. For the leak scan; never print `text`. */
  denyList(): DenyEntry[] {
    return [...this.forms.values()].sort((a, b) => b.text.length - a.text.length);
  }

  /** What the leak scan searches, and the names of the secrets too short for it (see MIN_SCANNED). */
  scanList(): { entries: DenyEntry[]; skipped: string[] } {
    const entries = this.denyList().filter((e) => e.valueLength >= MIN_SCANNED);
    const searched = new Set(entries.map((e) => e.name));
    return { entries, skipped: this.names().filter((n) => !searched.has(n)) };
  }

  /**
   * Replaces the value's own forms. Pieces of a longer encoded text that contains the value
   * (base64-offset-*, base64-wrapped) are left to the end-of-run scan, which fails the run on
   * them: a 7-character piece would also blank chance matches in hashes and ids as they stream.
   */
  redact(text: string): string {
    if (this.forms.size === 0 || text.length === 0) return text;
    if (!this.pattern) {
      const live = this.denyList().filter((e) => !/^base64-(offset|wrapped)/.test(e.form));
      if (!live.length) return text;
      this.pattern = new RegExp(live.map((e) => escapeRegExp(e.text)).join('|'), 'g');
    }
    return text.replace(this.pattern, (m) => `[REDACTED:${this.forms.get(m)?.name ?? '?'}]`);
  }
}

/**
 * The part of a value's base64 that does not depend on where the value sits in a longer text.
 * Base64 turns 3 bytes into 4 characters; a value behind k bytes (k = 0, 1, 2 mod 3) is encoded
 * as base64(k unknown bytes + value + unknown bytes). Character j holds bits 6j..6j+5 of that
 * stream; it depends on the value alone when those bits lie inside the value's bits 8k..8(k+n)-1.
 * So the stable middle is characters ceil(8k/6) .. floor(8(k+n)/6)-1 of base64(k zero bytes +
 * value): the first 0, 2 or 3 characters (mixed with the unknown prefix) and the last partial
 * character and padding (mixed with whatever follows, a newline for `echo | base64`) are cut off.
 */
export function base64Piece(value: Buffer, k: 0 | 1 | 2): string {
  const b64 = Buffer.concat([Buffer.alloc(k), value]).toString('base64');
  return b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + value.length)) / 6));
}

function toBase64url(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
