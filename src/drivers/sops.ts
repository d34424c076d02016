import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths';
import type { CommandResult, Host } from './host';
import { shellQuote } from './host';

export interface ScanTarget {
  kind: 'store' | 'tree' | 'history';
  dir: string;
}

export interface ScanReport {
  searched: { name: string; patterns: number }[];
  skipped: { name: string; bytes: number }[];
  undecryptable?: { name: string; reason: string };
  coverage: { kind: string; dir: string; files?: number; bytes?: number; commits?: number; refs?: number }[];
  missing: { kind: string; dir: string }[];
  hits: { name: string; kind: string; path: string }[];
}

const SCAN_SCRIPT = readFileSync(join(PROJECT_ROOT, 'src', 'remote', 'plaintext-scan.sh'), 'utf8');

/**
 * sops on a host that holds a key. The encrypted file goes in on stdin; the plaintext stays on
 * that host, piped into the command that digests it; only the digest comes back.
 */
export class SopsOnHost {
  constructor(
    readonly host: Host,
    private readonly sops: readonly string[],
    private readonly opensslArgv: readonly string[],
    readonly keyFile: string,
    private readonly scanTimeoutMs: number,
  ) {}

  /** Decrypts the (encrypted, not secret) file read from stdin; stdin may be a socket, so it is copied first. */
  private decryptCommand(key?: string): string {
    const extract = key === undefined ? [] : ['--extract', `["${key}"]`];
    const sops = shellQuote([...this.sops, '-d', '--input-type', 'yaml', '--output-type', 'yaml', ...extract]);
    return `{ enc=$(mktemp) && cat > "$enc" && SOPS_AGE_KEY_FILE=${shellQuote([this.keyFile])} ${sops} "$enc"; rc=$?; rm -f "$enc"; exit $rc; }`;
  }

  /** `openssl ARGS`, with the profile's openssl command. */
  openssl(...args: string[]): string {
    return shellQuote([...this.opensslArgv, ...args]);
  }

  /** Decrypts the whole file and discards the result: exit 0 means a key matched and the MAC verified. */
  verify(encrypted: string): Promise<CommandResult> {
    return this.host.run(['sh', '-c', `${this.decryptCommand()} > /dev/null`], { stdin: encrypted });
  }

  /** Decrypts one value and pipes it into `digest` (a shell pipeline) on the host. */
  digest(encrypted: string, key: string, digest: string): Promise<CommandResult> {
    return this.host.run(['bash', '-c', `set -o pipefail; ${this.decryptCommand(key)} | ${digest}`], { stdin: encrypted });
  }

  /** Searches the targets for every secret's plaintext, on the host; reports names and paths only. */
  async scan(encrypted: string, names: string[], targets: ScanTarget[], minLength: number): Promise<{ report: ScanReport; result: CommandResult }> {
    const result = await this.host.run(
      ['sh', '-c', SCAN_SCRIPT, 'plaintext-scan', this.keyFile, String(minLength), names.join(' '), targets.map((t) => `${t.kind}:${t.dir}`).join(' '), ...this.sops],
      { stdin: encrypted, timeoutMs: this.scanTimeoutMs },
    );
    return { report: parseScan(result.stdout), result };
  }
}

export function parseScan(out: string): ScanReport {
  const r: ScanReport = { searched: [], skipped: [], coverage: [], missing: [], hits: [] };
  for (const line of out.split('\n')) {
    const [word, ...rest] = line.split(' ');
    if (word === 'searching') r.searched.push({ name: rest[0]!, patterns: Number(rest[1]) });
    else if (word === 'skipped') r.skipped.push({ name: rest[0]!, bytes: Number(rest[1]) });
    else if (word === 'undecryptable') r.undecryptable = { name: rest[0]!, reason: rest.slice(1).join(' ') };
    else if (word === 'missing') r.missing.push({ kind: rest[0]!, dir: rest[1]! });
    else if (word === 'hit') r.hits.push({ name: rest[0]!, kind: rest[1]!, path: rest.slice(2).join(' ') });
    else if (word === 'coverage') {
      const [kind, dir, ...kv] = rest;
      const c: ScanReport['coverage'][number] = { kind: kind!, dir: dir! };
      for (const pair of kv) {
        const [k, v] = pair.split('=');
        (c as unknown as Record<string, number>)[k!] = Number(v);
      }
      r.coverage.push(c);
    }
  }
  return r;
}
