import { createHash, createHmac } from 'node:crypto';

// OpenSSH known_hosts, the subset a verifier needs: plain and hashed (|1|salt|hash) host
// patterns, [host]:port, wildcards and negation, the @revoked marker. @cert-authority lines are
// reported as unsupported rather than silently trusted.

export interface KnownHostEntry {
  line: number;
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; line: number }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked' | 'mismatch'; fingerprint: string; message: string };

export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob (string length prefix, then the name). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const n = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + n).toString('latin1');
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') return;
      marker = m;
    }
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) return;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) return;
    entries.push({ line: i + 1, marker, patterns, keyType, key });
  });
  return entries;
}

/** The name ssh looks up: "host" on port 22, "[host]:port" otherwise. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, magic, salt, hash] = pattern.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return h === hash;
}

export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatches(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globToRegExp(p.slice(1)).test(name)) return false;
    } else if (globToRegExp(p).test(name)) {
      matched = true;
    }
  }
  return matched;
}

export function entriesFor(entries: KnownHostEntry[], names: string[]): KnownHostEntry[] {
  return entries.filter((e) => names.some((n) => patternsMatch(e.patterns, n)));
}

/** Server host key algorithms to ask for, so the server offers a key type we know for it. */
export function preferredAlgorithms(known: KnownHostEntry[]): string[] {
  const algs: string[] = [];
  for (const e of known) {
    if (e.marker) continue;
    const forType = e.keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [e.keyType];
    for (const a of forType) if (!algs.includes(a)) algs.push(a);
  }
  return algs;
}

export function verifyAgainstKnownHosts(entries: KnownHostEntry[], names: string[], presented: Buffer, file: string): HostKeyVerdict {
  const fingerprint = fingerprintOf(presented);
  const mine = entriesFor(entries, names);
  const shown = `${names[0]} (key ${keyTypeOf(presented)} ${fingerprint})`;
  if (mine.some((e) => e.marker === '@revoked' && e.key.equals(presented))) {
    return { ok: false, reason: 'revoked', fingerprint, message: `host key of ${shown} is marked @revoked in ${file}` };
  }
  const match = mine.find((e) => !e.marker && e.key.equals(presented));
  if (match) return { ok: true, fingerprint, line: match.line };
  const plain = mine.filter((e) => !e.marker);
  if (plain.length) {
    const lines = plain.map((e) => `line ${e.line}: ${e.keyType} ${fingerprintOf(e.key)}`).join('; ');
    return {
      ok: false,
      reason: 'changed',
      fingerprint,
      message: `HOST KEY CHANGED for ${shown}: ${file} expects ${lines}. Refusing to connect; if the change is legitimate, update ${file}`,
    };
  }
  const ca = mine.some((e) => e.marker === '@cert-authority') ? ' (only @cert-authority lines match, which this harness does not support)' : '';
  return {
    ok: false,
    reason: 'unknown',
    fingerprint,
    message: `unknown host key for ${shown}: no entry for ${names.join(' or ')} in ${file}${ca}. Add it to ${file} or pin hostKey.fingerprint: ${fingerprint} in the profile`,
  };
}

export function verifyPinned(pinned: string, names: string[], presented: Buffer): HostKeyVerdict {
  const fingerprint = fingerprintOf(presented);
  if (fingerprint === pinned) return { ok: true, fingerprint, line: 0 };
  return {
    ok: false,
    reason: 'mismatch',
    fingerprint,
    message: `HOST KEY MISMATCH for ${names[0]}: the profile pins ${pinned}, the server presented ${keyTypeOf(presented)} ${fingerprint}. Refusing to connect`,
  };
}
