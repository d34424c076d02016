// Numbered generations under the mount point behind one atomic symlink (main.go's
// prepareSecretsDir, atomicSymlink and pruneGenerations).
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { Generation, InstallContext } from './context';
import { errno, fail, goQuote, io, isENOENT, msgOf, wrap } from './errors';

const { basename, dirname, join } = posix;

/** The generation after the one symlinkPath points at (1 without one), as a fresh root:keys directory. */
export function prepareSecretsDir(ctx: InstallContext, keysGid: number): Generation {
  const { mountPoint, symlinkPath, r } = ctx;
  try {
    let number = 0;
    let linkTarget: string | undefined;
    try {
      linkTarget = ctx.unroot(readlinkSync(r(symlinkPath)));
    } catch (e) {
      if (!isENOENT(e)) fail(`cannot access ${symlinkPath}: readlink ${symlinkPath}: ${errno(e)}`);
    }
    if (linkTarget?.startsWith(mountPoint)) {
      const base = basename(linkTarget);
      if (!/^\d+$/.test(base)) fail(`cannot parse ${base} of ${linkTarget} as a number: strconv.ParseUint: parsing ${goQuote(base)}: invalid syntax`);
      number = Number(base);
    }
    number++;
    const dir = join(mountPoint, String(number));
    if (existsSync(r(dir)) || isBrokenLink(r(dir))) {
      try {
        io('unlinkat', dir, () => rmSync(r(dir), { recursive: true, force: true }));
      } catch (e) {
        wrap(`cannot remove existing ${dir}`, e);
      }
    }
    try {
      io('mkdir', dir, () => mkdirSync(r(dir), 0o751));
    } catch (e) {
      wrap('mkdir()', e);
    }
    try {
      io('chown', dir, () => chownSync(r(dir), 0, keysGid));
    } catch (e) {
      wrap(`cannot change owner/group of '${dir}' to 0/${keysGid}`, e);
    }
    ctx.result.generation = number;
    ctx.result.secretDir = dir;
    return { number, dir };
  } catch (e) {
    return wrap('failed to prepare new secrets directory', e);
  }
}

/** symlinkPath -> the generation: a new link, else one made beside it and renamed over it. */
export function atomicSymlink(ctx: InstallContext, gen: Generation): void {
  const { symlinkPath, r } = ctx;
  try {
    const parent = dirname(symlinkPath);
    io('mkdir', parent, () => mkdirSync(r(parent), { recursive: true, mode: 0o755 }));
    let exists = false;
    try {
      symlinkSync(r(gen.dir), r(symlinkPath));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') fail(`symlink ${gen.dir} ${symlinkPath}: ${errno(e)}`);
      exists = true;
    }
    if (exists) {
      const tmp = io('mkdirtemp', parent, () => mkdtempSync(join(r(parent), '.' + basename(symlinkPath))));
      try {
        symlinkSync(r(gen.dir), join(tmp, 'tmp.symlink'));
        io('rename', symlinkPath, () => renameSync(join(tmp, 'tmp.symlink'), r(symlinkPath)));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  } catch (e) {
    wrap('cannot update secrets symlink', e);
  }
}

/** Removes the numbered generations `keepGenerations` or more behind the current one (0 keeps all). */
export function pruneGenerations(ctx: InstallContext, gen: Generation): void {
  const { mountPoint, keepGenerations: keep, r } = ctx;
  if (keep === 0) return;
  let names: string[];
  try {
    names = io('open', mountPoint, () => readdirSync(r(mountPoint)));
  } catch (e) {
    return wrap('cannot prune old secrets generations', `cannot open ${mountPoint}: ${msgOf(e)}`);
  }
  for (const name of names) {
    if (!/^[+-]?\d+$/.test(name)) continue;
    const n = Number(name);
    if (n !== gen.number && gen.number - keep >= n) rmSync(r(join(mountPoint, name)), { recursive: true, force: true });
  }
}

function isBrokenLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
