import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths';
import type { CommandResult, Host } from './host';
import { lastLines, shellQuote } from './host';
import { HostBrokenError } from '../errors';

export interface ScanTarget {
  kind: 'store' | 'tree' | 'history';
  dir: string;
}

/** A secret to search for: its name and the sops --extract path of its value. */
export interface ScanSecret {
  name: string;
  extract: string;
}

export interface ScanReport {
  /** Where the plaintext lived while the scan ran: its own tmpfs in a private mount namespace, or a directory. */
  memory?: string;
  searched: { name: string; patterns: number }[];
  skipped: { name: string; bytes: number }[];
  undecryptable?: { name: string; reason: string };
  coverage: { kind: string; dir: string; [count: string]: string | number }[];
  missing: { kind: string; dir: string }[];
  /** Compressed files whose content could not be opened (the first 20): searched as raw bytes only. */
  undecodable: { kind: string; path: string }[];
  hits: { name: string; kind: string; path: string }[];
  /** A target the scan could not search: the scan is broken. */
  error?: { kind: string; dir: string; message: string };
  /** The scan printed its last line: it ran to the end. */
  done: boolean;
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

  /** sops can run on the host (`sops --version`), checked once per host: if not, the harness cannot look. */
  ready(): Promise<void> {
    return probeTool(this.host, 'sops', [...this.sops, '--version']);
  }

  /** The profile's openssl can run on `host` (`openssl version`), checked once per host. */
  opensslReadyOn(host: Host): Promise<void> {
    return probeTool(host, 'openssl', [...this.opensslArgv, 'version']);
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

  /**
   * Searches the targets for every secret's plaintext, on the host; reports names and paths only.
   * Afterwards, however the scan ended (a timeout kills only its shell), a second command ends
   * whatever is left of it and removes what it may have left in memory.
   */
  async scan(
    encrypted: string,
    secrets: ScanSecret[],
    targets: ScanTarget[],
    minLength: number,
    tag: string,
  ): Promise<{ report: ScanReport; result: CommandResult; cleanup: CommandResult }> {
    const scanned = this.host
      .run(
        [
          'bash',
          '-c',
          SCAN_SCRIPT,
          'plaintext-scan',
          tag,
          this.keyFile,
          String(minLength),
          secrets.map((s) => s.extract).join('\n'),
          targets.map((t) => `${t.kind}:${t.dir}`).join(' '),
          ...this.sops,
        ],
        { stdin: encrypted, timeoutMs: this.scanTimeoutMs },
      )
      .then(
        (r) => ({ r }),
        (e: unknown) => ({ e }),
      );
    const outcome = await scanned;
    const cleanup = await this.host.run(['bash', '-c', SCAN_CLEANUP, 'scan-cleanup', tag]);
    if ('e' in outcome) throw outcome.e;
    return {
      report: parseScan(
        outcome.r.stdout,
        secrets.map((s) => s.name),
      ),
      result: outcome.r,
      cleanup,
    };
  }
}

const probes = new WeakMap<Host, Map<string, Promise<void>>>();

/** A tool that cannot run at all (missing, or its `nix shell` fails) makes every check using it broken. */
export function probeTool(host: Host, tool: string, argv: readonly string[]): Promise<void> {
  const mine = probes.get(host) ?? new Map<string, Promise<void>>();
  probes.set(host, mine);
  let p = mine.get(tool);
  if (!p) {
    p = host.run(argv, { allowMissing: true }).then((r) => {
      if (r.ok) return;
      throw new HostBrokenError({
        claim: `${tool} cannot run on ${host.name}`,
        expected: `\`${argv.join(' ')}\` to exit 0`,
        seen: `exit ${r.exitCode ?? r.signal}: ${lastLines(r.stderr || r.stdout, 2)}`,
        host: host.name,
        evidence: [r.evidence],
      });
    });
    mine.set(tool, p);
  }
  return p;
}

/** Ends every process that carries the scan's tag, and removes the scan's directories if any remain. */
const SCAN_CLEANUP = [
  'tag=$1; n=0',
  'for p in /proc/[0-9]*; do',
  '  if { tr "\\0" "\\n" < "$p/environ"; } 2>/dev/null | grep -qx "CC_CI_SCAN_TAG=$tag"; then kill -KILL "${p#/proc/}" 2>/dev/null && n=$((n + 1)); fi',
  'done',
  'rm -rf /dev/shm/cc-ci-scan."$tag".* /run/cc-ci-scan."$tag".*',
  'echo "killed $n"',
].join('\n');

export function parseScan(out: string, names: readonly string[]): ScanReport {
  const r: ScanReport = { searched: [], skipped: [], coverage: [], missing: [], undecodable: [], hits: [], done: false };
  const name = (i: string) => names[Number(i) - 1] ?? `#${i}`;
  for (const line of out.split('\n')) {
    const [word, ...rest] = line.split(' ');
    if (word === 'memory') r.memory = rest.join(' ');
    else if (word === 'searching') r.searched.push({ name: name(rest[0]!), patterns: Number(rest[1]) });
    else if (word === 'skipped') r.skipped.push({ name: name(rest[0]!), bytes: Number(rest[1]) });
    else if (word === 'undecryptable') r.undecryptable = { name: name(rest[0]!), reason: rest.slice(1).join(' ') };
    else if (word === 'missing') r.missing.push({ kind: rest[0]!, dir: rest[1]! });
    else if (word === 'undecodable') r.undecodable.push({ kind: rest[0]!, path: rest.slice(1).join(' ') });
    else if (word === 'hit') r.hits.push({ name: name(rest[0]!), kind: rest[1]!, path: rest.slice(2).join(' ') });
    else if (word === 'error') r.error = { kind: rest[0]!, dir: rest[1]!, message: rest.slice(2).join(' ') };
    else if (word === 'done' || word === 'nothing-to-search') r.done = true;
    else if (word === 'coverage') {
      const [kind, dir, ...kv] = rest;
      const c: ScanReport['coverage'][number] = { kind: kind!, dir: dir! };
      for (const pair of kv) {
        const [k, v] = pair.split('=');
        c[k!] = Number(v);
      }
      r.coverage.push(c);
    }
  }
  return r;
}
