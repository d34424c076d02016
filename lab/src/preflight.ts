import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './harness';

// What the lab needs from this machine, and how to get it: as root with apt, it installs the
// missing Debian packages itself; otherwise it says exactly what to install.

/** Where the install lock lives: the lab locks' folder (a reboot clears it). */
const APT_LOCK_DIR = '/run/cc-ci-acceptance';

export const LAB_PACKAGES: Record<string, string> = {
  '/usr/sbin/sshd': 'openssh-server',
  '/usr/bin/ssh-keygen': 'openssh-client',
  '/usr/bin/nix': 'nix-bin',
  '/usr/bin/nix-store': 'nix-bin',
  '/usr/bin/age': 'age',
  '/usr/bin/age-keygen': 'age',
  '/usr/bin/git': 'git',
  '/usr/bin/unshare': 'util-linux',
  '/usr/bin/nsenter': 'util-linux',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/curl': 'curl',
  '/usr/sbin/ip': 'iproute2',
  '/usr/bin/socat': 'socat',
  // What a NixOS host has on its path too: the plaintext scan opens the store's compressed files with them.
  '/usr/bin/xz': 'xz-utils',
  '/usr/bin/bzip2': 'bzip2',
  '/usr/bin/zstd': 'zstd',
};

function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [bin, pkg] of Object.entries(LAB_PACKAGES)) {
    if (spawnSync('test', ['-x', bin]).status !== 0) missing.add(pkg);
  }
  return [...missing].sort();
}

export function labPreflight(log: (line: string) => void): void {
  if (process.platform !== 'linux') throw new UsageError('the lab needs Linux (mount namespaces, unshare, nsenter)');
  if (process.getuid?.() !== 0) {
    throw new UsageError(
      'the lab needs root: it creates a mount namespace per lab host, mounts tmpfs and bind mounts in them, and runs sshd on loopback port 22. ' +
        'Run as root (for example: sudo npm run acceptance), or use --profile with a live profile.',
    );
  }
  let missing = missingPackages();
  if (missing.length === 0) return;
  if (spawnSync('test', ['-x', '/usr/bin/apt-get']).status !== 0) {
    throw new UsageError(`the lab needs these Debian packages: ${missing.join(' ')} (install them, e.g. apt-get install -y ${missing.join(' ')})`);
  }
  log(`lab: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Two labs starting side by side (the fault matrix) take turns; apt waits for any other apt.
  mkdirSync(APT_LOCK_DIR, { recursive: true });
  const apt = (...args: string[]) => ['flock', join(APT_LOCK_DIR, 'apt.lock'), 'apt-get', '-o', 'DPkg::Lock::Timeout=600', ...args];
  const [cmd, ...argv] = apt('install', '-y', '-q', '--no-install-recommends', ...missing);
  const install = () => spawnSync(cmd!, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let r = install();
  if (r.status !== 0) {
    log('lab: apt-get install failed; running apt-get update and trying again');
    const [u, ...uargv] = apt('update', '-q');
    execFileSync(u!, uargv, { env, stdio: 'ignore' });
    r = install();
  }
  missing = missingPackages();
  if (r.status !== 0 || missing.length) {
    throw new UsageError(
      `could not install the lab's Debian packages (${missing.join(' ')}): ${r.stderr?.toString().trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
}
