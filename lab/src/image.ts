import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NIX_CONF } from './hosts';

// What a fresh `images:nixos/24.05` Incus VM holds before anything is provisioned (see
// ../shared/reference/nixos-incus-image-and-rebuild.md §3-4): the image's system as generation 1,
// /var/lib/nixos from the image build's activation, root's channel link, /etc/ssh's config files
// and no SSH host keys (they appear only with the first connection to port 22). No cloud-init.

/** The files of the image in the instance's writable directories, as paths inside it. */
export const IMAGE_FILES = [
  '/var/lib/nixos/uid-map',
  '/var/lib/nixos/gid-map',
  '/var/lib/nixos/declarative-users',
  '/var/lib/nixos/declarative-groups',
  '/var/lib/nixos/auto-subuid-map',
  '/root/.nix-defexpr/channels',
  '/etc/ssh/sshd_config',
  '/etc/ssh/ssh_config',
  '/etc/ssh/moduli',
];

/** Directories the image's boot writes into: systemd-random-seed.service saves its seed at every boot. */
export const IMAGE_UNDER = ['/var/lib/systemd'];

/** What appears on such a VM later without anyone provisioning it: sshd makes its keys at the first connection. */
export const IMAGE_LATER = ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/etc/ssh/ssh_host_rsa_key', '/etc/ssh/ssh_host_rsa_key.pub'];

/** Lays the image into a blank instance's host directory (once: a restart keeps its disk). */
export function layImage(hostDir: string): void {
  const profiles = join(hostDir, 'nix', 'var', 'nix', 'profiles');
  // The link points into the instance's own store, which is not there from outside: look at the link itself.
  if (isLink(join(profiles, 'system-1-link'))) return;
  const src = mkdtempSync(join(tmpdir(), 'nixos-image-'));
  try {
    const system = join(src, 'nixos-system-nixos-24.05.20240601.image');
    mkdirSync(join(system, 'etc'), { recursive: true });
    writeFileSync(join(system, 'nixos-version'), '24.05.20240601.image\n');
    writeFileSync(join(system, 'etc', 'hostname'), 'nixos\n');
    const storePath = execFileSync('nix-store', ['--store', `local?root=${hostDir}`, '--add', system], {
      encoding: 'utf8',
      env: { ...process.env, NIX_CONFIG: NIX_CONF },
    }).trim();
    mkdirSync(profiles, { recursive: true });
    symlinkSync(storePath, join(profiles, 'system-1-link'));
    symlinkSync('system-1-link', join(profiles, 'system'));
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
  const file = (path: string, text: string | Buffer, mode = 0o644) => {
    mkdirSync(join(hostDir, ...dirOf(path)), { recursive: true });
    writeFileSync(join(hostDir, ...inside(path)), text, { mode });
  };
  file('/var/lib/nixos/uid-map', '{"root":0,"nobody":65534}\n');
  file('/var/lib/nixos/gid-map', '{"root":0,"keys":96,"nogroup":65534}\n');
  file('/var/lib/nixos/declarative-users', 'root nobody\n');
  file('/var/lib/nixos/declarative-groups', 'root keys nogroup\n');
  file('/var/lib/nixos/auto-subuid-map', '{}\n');
  mkdirSync(join(hostDir, 'root', '.nix-defexpr'), { recursive: true, mode: 0o700 });
  symlinkSync('/nix/var/nix/profiles/per-user/root/channels', join(hostDir, 'root', '.nix-defexpr', 'channels'));
  file(
    '/etc/ssh/sshd_config',
    '# sshd, socket-activated (services.openssh.startWhenNeeded)\nPermitRootLogin prohibit-password\nAuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u\n',
  );
  file('/etc/ssh/ssh_config', '# ssh client defaults\n');
  file('/etc/ssh/moduli', '# moduli\n');
  file('/var/lib/systemd/random-seed', randomBytes(512), 0o600);
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A path inside an instance, as the parts of its host directory ('/var/lib/x' is var-lib/x, '/etc/ssh/x' is etc-ssh/x). */
function inside(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'var' && parts[1] === 'lib') return ['var-lib', ...parts.slice(2)];
  if (parts[0] === 'etc' && parts[1] === 'ssh') return ['etc-ssh', ...parts.slice(2)];
  return parts;
}

function dirOf(path: string): string[] {
  return inside(path).slice(0, -1);
}
