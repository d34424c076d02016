import { claimThat } from '../claim';
import { parseSopsFile, type ParsedSops } from '../sops/format';
import type { RunContext } from '../run/context';
import { cleanClone } from './repos';

export interface GitSecretsFile {
  /** The encrypted file as committed (not secret: every value is ciphertext). */
  text: string;
  parsed: ParsedSops;
  path: string;
  evidence: string;
}

/** The sops file of the secrets repo, read from the clean recursive clone on the build host. */
export function gitSecretsFile(run: RunContext): Promise<GitSecretsFile> {
  return run.once('git-secrets-file', async () => {
    const clone = await cleanClone(run, 'the secrets file comes from it');
    const host = run.pool.role('build');
    const path = `${clone.dir}/secrets/${run.profile.secrets.file}`;
    const r = await host.run(['cat', path]);
    claimThat(r.ok, {
      claim: `the secrets repo holds ${run.profile.secrets.file}`,
      expected: `a file at secrets/${run.profile.secrets.file} in the clean clone`,
      seen: r.stderr.trim() || `exit ${r.exitCode}`,
      host: host.name,
      evidence: [r.evidence],
    });
    let parsed: ParsedSops;
    try {
      parsed = parseSopsFile(r.stdout, 'yaml');
    } catch (e) {
      claimThat(false, {
        claim: `secrets/${run.profile.secrets.file} is a sops file`,
        expected: 'a YAML document with a sops: block',
        seen: (e as Error).message,
        host: host.name,
        evidence: [r.evidence],
      });
    }
    return { text: r.stdout, parsed, path, evidence: r.evidence };
  });
}

/** A mirror of the base repo on the host that decrypts, for the plaintext scan of its history. */
export function decryptHostMirror(run: RunContext): Promise<{ dir: string; evidence: string }> {
  return run.once('decrypt-host-mirror', async () => {
    const host = run.decryptHost;
    const dir = `${await run.workDirOn(host)}/base-mirror.git`;
    const r = await host.succeed(['git', 'clone', '--quiet', '--mirror', run.profile.repos.base.url, dir], { timeoutMs: run.profile.timeouts.clone });
    return { dir, evidence: r.evidence };
  });
}
