// main.go's symlinkSecretsAndTemplates: a secret whose path is not <symlinkPath>/<name> gets a
// symlink there, owned like the secret.
import { lchownSync, lstatSync, mkdirSync, readlinkSync, rmdirSync, symlinkSync, type Stats, unlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { InstallContext } from './context';
import { errno, fail, io, isENOENT, wrap } from './errors';
import type { Secret } from './manifest';

export function symlinkSecrets(ctx: InstallContext): void {
  try {
    for (const s of ctx.secrets) {
      const targetFile = posix.join(ctx.symlinkPath, s.name);
      if (targetFile === s.path) continue;
      const parent = posix.dirname(s.path);
      try {
        io('mkdir', parent, () => mkdirSync(ctx.r(parent), { recursive: true, mode: 0o777 }));
      } catch (e) {
        wrap(`cannot create parent directory of '${s.path}'`, e);
      }
      try {
        createSymlink(ctx, targetFile, s);
      } catch (e) {
        wrap(`failed to symlink secret '${s.path}'`, e);
      }
    }
  } catch (e) {
    wrap('failed to prepare symlinks to secret store', e);
  }
}

/** s.path -> targetFile; whatever else is at s.path is removed first, a right link is left as it is. */
function createSymlink(ctx: InstallContext, targetFile: string, s: Secret): void {
  const path = ctx.r(s.path);
  const want = ctx.r(targetFile);
  for (;;) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if (!isENOENT(e)) fail(`cannot stat '${s.path}': lstat ${s.path}: ${errno(e)}`);
      try {
        symlinkSync(want, path);
      } catch (e2) {
        fail(`cannot create symlink '${s.path}': symlink ${targetFile} ${s.path}: ${errno(e2)}`);
      }
      try {
        lchownSync(path, s.owner, s.group);
      } catch (e2) {
        fail(`cannot chown symlink '${s.path}': cannot change owner of '${s.path}' to ${s.owner}/${s.group}: ${errno(e2)}`);
      }
      return;
    }
    if (st.isSymbolicLink()) {
      let linkTarget: string;
      try {
        linkTarget = readlinkSync(path);
      } catch (e) {
        if (isENOENT(e)) continue;
        return fail(`cannot read symlink '${s.path}': readlink ${s.path}: ${errno(e)}`);
      }
      if (linkTarget === want && st.uid === s.owner && st.gid === s.group) return;
    }
    try {
      if (st.isDirectory()) rmdirSync(path);
      else unlinkSync(path);
    } catch (e) {
      fail(`cannot override ${s.path}: remove ${s.path}: ${errno(e)}`);
    }
  }
}
