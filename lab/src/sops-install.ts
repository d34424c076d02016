// sops-nix's sops-install-secrets (pkgs/sops-install-secrets/main.go and linux.go), the subset the
// lab uses: yaml/json/binary secrets, an age key file, a ramfs mount, numbered generations behind
// an atomic symlink, path symlinks, restart/reload lists, change logging and pruning. Messages
// follow the Go source; the steps (sops-install/*.ts) are named after main.go's functions.
// Refused: templates, dotenv/ini secrets, sshKeyPaths and gnupgHome (GPG keys), ageSshKeyPaths
// (SSH keys converted to age keys), useTmpfs, userMode.
import { importAgeKeys } from './sops-install/age-keys';
import { type CheckMode, type InstallContext, type InstallResult, rooted } from './sops-install/context';
import { decryptSecrets } from './sops-install/decrypt';
import { fail } from './sops-install/errors';
import { atomicSymlink, prepareSecretsDir, pruneGenerations } from './sops-install/generations';
import { type Manifest, type ManifestSecret, toSecret } from './sops-install/manifest';
import { handleModifications } from './sops-install/modifications';
import { mountSecretFs } from './sops-install/mount';
import { lookupKeysGroup } from './sops-install/passwd';
import { symlinkSecrets } from './sops-install/symlinks';
import { validateManifest } from './sops-install/validate';
import { writeSecrets } from './sops-install/write';

export type { CheckMode, InstallResult } from './sops-install/context';
export { InstallError } from './sops-install/errors';
export { type Manifest, type ManifestSecret, parseManifest, readManifest } from './sops-install/manifest';
export { recurseSecretKey } from './sops-install/secret-key';

export interface InstallOptions {
  /** Prefixes every absolute path of the manifest (default `/`); link targets carry it too. */
  root?: string;
  /** Really mount ramfs on the mount point; default: only when root is `/`. */
  mount?: boolean;
  checkMode?: CheckMode;
  now?: Date;
  write?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export async function installSecrets(manifest: Manifest, opts: InstallOptions = {}): Promise<InstallResult> {
  const root = opts.root ?? '/';
  const result: InstallResult = { added: [], modified: [], removed: [], restartUnits: [], reloadUnits: [], stdout: [], stderr: [] };
  if ((manifest.templates ?? []).length > 0) fail('templates are not supported by this lab stand-in of sops-install-secrets');
  const secrets = (manifest.secrets ?? []).filter((s): s is ManifestSecret => s !== null).map(toSecret);
  for (const s of secrets) {
    if (s.format === 'dotenv' || s.format === 'ini')
      fail(`secret ${s.name}: the ${s.format} format is not supported by this lab stand-in of sops-install-secrets`);
  }
  const ctx: InstallContext = {
    ...rooted(root),
    checkMode: opts.checkMode ?? 'off',
    secrets,
    mountPoint: manifest.secretsMountPoint ?? '',
    symlinkPath: manifest.symlinkPath ?? '',
    keepGenerations: manifest.keepGenerations ?? 0,
    ageKeyFile: manifest.ageKeyFile ?? '',
    gnupgHome: manifest.gnupgHome ?? '',
    sshKeyPaths: (manifest.sshKeyPaths ?? []).filter((p): p is string => typeof p === 'string'),
    logSecretChanges: manifest.logging?.secretChanges ?? false,
    now: opts.now ?? new Date(),
    result,
    say: (stream, line) => {
      result[stream].push(line);
      opts.write?.(stream, line);
    },
  };

  validateManifest(ctx);
  if (ctx.checkMode !== 'off') return result;
  refuseUnsupported(ctx, manifest);

  const keysGid = lookupKeysGroup();
  mountSecretFs(ctx, keysGid, opts.mount ?? root === '/');
  const identityFiles = importAgeKeys(ctx);
  await decryptSecrets(ctx, identityFiles);
  const gen = prepareSecretsDir(ctx, keysGid);
  writeSecrets(ctx, gen, keysGid);
  handleModifications(ctx, gen);
  symlinkSecrets(ctx);
  atomicSymlink(ctx, gen);
  pruneGenerations(ctx, gen);
  return result;
}

/** What real sops-nix installs with and this stand-in does not: refused before anything is written. */
function refuseUnsupported(ctx: InstallContext, manifest: Manifest): void {
  const standIn = 'this lab stand-in of sops-install-secrets';
  if (ctx.sshKeyPaths.length > 0) fail(`sshKeyPaths is set (${ctx.sshKeyPaths.join(', ')}): ${standIn} does not convert SSH keys to GPG keys; use ageKeyFile`);
  if (ctx.gnupgHome !== '') fail(`gnupgHome is set (${ctx.gnupgHome}): ${standIn} does not decrypt with GPG keys; use ageKeyFile`);
  const ageSshKeyPaths = (manifest.ageSshKeyPaths ?? []).filter((p): p is string => typeof p === 'string');
  if (ageSshKeyPaths.length > 0) fail(`ageSshKeyPaths is set (${ageSshKeyPaths.join(', ')}): ${standIn} does not convert SSH keys to age keys; use ageKeyFile`);
  if (manifest.useTmpfs) fail(`useTmpfs is set: ${standIn} mounts ramfs only`);
  if (manifest.userMode) fail(`userMode is set: ${standIn} installs system secrets only`);
}
