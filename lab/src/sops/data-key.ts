// The data key, wrapped per age recipient (age.MasterKey) by the real `age` binary, secrets only
// on stdin/stdout; a failed unwrap reports like sops' getDataKeyError. PGP keys are listed, never
// tried; KMS/Vault keys and Shamir key groups are not supported.
import { spawn } from 'node:child_process';
import { SopsError, type SopsMetadata } from '../harness';
import { SopsExit } from './exit-codes';

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function run(cmd: string, args: string[], input: Buffer | string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input);
  });
}

/** age.MasterKey.Encrypt: an ASCII-armored age file holding the data key. */
export async function encryptDataKey(dataKey: Buffer, recipient: string): Promise<string> {
  const r = await run('age', ['-a', '-r', recipient], dataKey);
  if (r.code !== 0) throw new SopsError(`failed to encrypt sops data key with age: ${ageError(r.stderr)}`);
  return r.stdout.toString();
}

function ageError(stderr: string): string {
  const m = /^age: error: (.*)$/m.exec(stderr);
  return (m ? m[1]! : stderr.trim().split('\n')[0]) || 'unknown error';
}

export interface KeyAttempt {
  key: string;
  error: string;
}

export interface DataKeyOptions {
  /** age identity files, tried together (like `age -i a -i b`). */
  identityFiles: string[];
  /** Errors met while gathering identities, reported like sops does. */
  identityErrors?: string[];
}

/** Metadata.GetDataKey for one key group: age keys, the first success wins; PGP keys are not tried. */
export async function decryptDataKey(meta: SopsMetadata, opts: DataKeyOptions): Promise<{ dataKey: Buffer; by: string }> {
  const attempts: KeyAttempt[] = [];
  for (const k of meta.age) {
    if (opts.identityFiles.length === 0) {
      // sops 3.9 stops at the first identity it cannot load (reference/sops.md §2).
      const extra = opts.identityErrors?.length ? `: ${opts.identityErrors[0]}` : '';
      attempts.push({ key: k.recipient, error: `failed to load age identities${extra}` });
      continue;
    }
    const r = await run('age', ['-d', ...opts.identityFiles.flatMap((f) => ['-i', f])], k.enc);
    if (r.code === 0 && r.stdout.length > 0) return { dataKey: r.stdout, by: k.recipient };
    attempts.push({ key: k.recipient, error: `failed to create reader for decrypting sops data key with age: ${ageError(r.stderr)}` });
  }
  for (const k of meta.pgp)
    attempts.push({ key: k.fp, error: 'could not decrypt data key with PGP key: not attempted (this implementation decrypts with age only)' });
  for (const kind of ['kms', 'gcp_kms', 'azure_kv', 'hc_vault']) {
    const list = meta.other[kind];
    if (Array.isArray(list)) for (const _ of list) attempts.push({ key: kind, error: `${kind} keys are not supported by this implementation` });
  }
  const recipients = meta.age.map((a) => a.recipient);
  const pgp = meta.pgp.map((p) => p.fp);
  const have = [
    recipients.length ? `age recipients ${recipients.join(', ')}` : 'no age recipients',
    ...(pgp.length ? [`PGP keys ${pgp.join(', ')}`] : []),
  ].join(' and ');
  throw new SopsError(
    `Error getting data key: 0 successful groups required, got 0 (no identity in ${opts.identityFiles.join(', ') || '(none)'} could decrypt the data key; the file has ${have})`,
    SopsExit.couldNotRetrieveKey,
    dataKeyUserError(attempts),
  );
}

/** go-wordwrap's WrapString: greedy on spaces, long words are not split. */
function wordWrap(s: string, lim: number): string {
  return s
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let cur = '';
      for (const w of line.split(' ')) {
        if (cur !== '' && cur.length + 1 + w.length > lim) {
          out.push(cur);
          cur = w;
        } else cur = cur === '' ? w : `${cur} ${w}`;
      }
      out.push(cur);
      return out.join('\n');
    })
    .join('\n');
}

const prefixLines = (s: string, p: string) =>
  s
    .split('\n')
    .map((l) => p + l)
    .join('\n');

/** getDataKeyError.UserError() for a single key group (colors off, as when not on a terminal). */
function dataKeyUserError(attempts: KeyAttempt[]): string {
  const keys = attempts.map((a) => {
    const msg = prefixLines(wordWrap(a.error, 60), '  | ');
    return `${a.key}: FAILED\n${prefixLines('-' + msg.slice(1), '  ')}`;
  });
  const trailer = wordWrap(
    'Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.',
    75,
  );
  return `Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n${prefixLines(keys.join('\n\n'), '  ')}\n\n${trailer}`;
}
