import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { exited, type HostNamespaces, hostDir, hostLog, killNamespaces, makeHostDirs, NIX_CONF, namespacesOfProcess, sleep } from '../../lab/src/hosts';
import { sshdConfig } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { LAB_ASSETS, LAB_ROOT } from '../../lab/src/paths';
import { acceptance } from '../helpers';

// A fresh machine of this kind lacks what an old one keeps (Debian's nix-bin makes no /etc/nix;
// nothing made /nix, /srv, ...). These tests hide such paths under a root of their own
// (test/fixtures/bare-root.sh) and prove that the lab makes what it needs, and that a host
// that cannot start is named with its reason.

const BARE_ROOT = join(PROJECT_ROOT, 'test', 'fixtures', 'bare-root.sh');
/** Every path host-init mounts onto. */
const HOST_INIT_MOUNTS = [
  '/run',
  '/srv',
  '/usr/local/sbin',
  '/nix',
  '/var/lib',
  '/var/log',
  '/etc/ssh',
  '/etc/nix',
  '/home',
  '/opt',
  '/root',
  '/tmp',
  '/etc/hosts',
];
/** What a fresh machine of this kind may lack, beyond the Debian packages the lab installs. */
const FRESH_MACHINE_LACKS = ['/etc/nix', '/nix', '/srv', '/opt', '/home'];
const work = join(LAB_ROOT, `test-fresh-${process.pid}`);

/** A path that holds the project cannot be hidden: the harness runs from it. */
const hideable = (paths: string[]) => paths.filter((p) => !(PROJECT_ROOT + sep).startsWith(p + sep));

function namespacesInUse(): Set<string> {
  const seen = new Set<string>();
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    for (const kind of ['mnt', 'net']) {
      try {
        seen.add(readlinkSync(`/proc/${pid}/ns/${kind}`));
      } catch {
        /* gone */
      }
    }
  }
  return seen;
}

after(() => rmSync(work, { recursive: true, force: true }));

test('a lab host comes up on a machine that lacks every mount point host-init uses', async (t) => {
  const hide = hideable(HOST_INIT_MOUNTS);
  if (hide.length < HOST_INIT_MOUNTS.length)
    t.diagnostic(`not hidden (the project lives there): ${HOST_INIT_MOUNTS.filter((p) => !hide.includes(p)).join(' ')}`);
  const labDir = join(work, 'host-init');
  const dir = hostDir(labDir, 'bare');
  makeHostDirs(dir, { etcHosts: '127.0.0.1\tlocalhost\n' });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'etc-ssh', 'ssh_host_ed25519_key')]);
  writeFileSync(join(dir, 'etc-ssh', 'sshd_config'), sshdConfig());
  const root = join(labDir, 'root');
  mkdirSync(root);
  const log = openSync(join(dir, 'host.log'), 'a');
  const child = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      BARE_ROOT,
      root,
      ...hide,
      '--',
      'unshare',
      '--mount',
      '--uts',
      '--net',
      '--propagation',
      'private',
      '--',
      join(LAB_ASSETS, 'bin', 'host-init'),
      'bare',
      dir,
      PROJECT_ROOT,
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const pid = child.pid!;
  let ns: HostNamespaces | undefined;
  try {
    const deadline = Date.now() + 10_000;
    while (!exited(child) && Date.now() < deadline) {
      try {
        if (readlinkSync(`/proc/${pid}/exe`).endsWith('/usr/sbin/sshd')) break;
      } catch {
        /* not yet */
      }
      await sleep(50);
    }
    assert.equal(exited(child), false, `host-init exited: ${hostLog(labDir, 'bare')}`);
    assert.match(readlinkSync(`/proc/${pid}/exe`), /\/usr\/sbin\/sshd$/, `host-init became sshd: ${hostLog(labDir, 'bare')}`);
    ns = namespacesOfProcess(pid, dir);
    const mountinfo = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .map((l) => l.split(' '));
    // Its root is the bare root (a tmpfs of that name), not this machine's.
    assert.ok(
      mountinfo.some((f) => f[4] === '/' && f.includes('bare-root')),
      'the host runs on the bare root',
    );
    const mountPoints = mountinfo.map((f) => f[4]);
    for (const p of HOST_INIT_MOUNTS) assert.ok(mountPoints.includes(p), `${p} is mounted in the host`);
    const inHost = (script: string) => execa('nsenter', ['--target', String(pid), '--mount', '--net', '--root', '--wd', '--', 'bash', '-c', script]);
    assert.equal((await inHost('cat /etc/nix/nix.conf')).stdout + '\n', NIX_CONF);
    const banner = await inHost('for i in $(seq 50); do exec 3<>/dev/tcp/127.0.0.1/22 && break; sleep 0.1; done; head -c 8 <&3');
    assert.equal(banner.stdout, 'SSH-2.0-');
  } finally {
    if (ns) await killNamespaces([ns]);
    else child.kill('SIGKILL');
  }
});

test('a lab host that dies while the lab starts is named with its cause, and nothing is left', async () => {
  const before = namespacesInUse();
  const t0 = Date.now();
  // /etc/nix is a file here: host-init cannot make its mount point, and exits.
  const r = await acceptance(['--tags', '@c1-gitlink'], {}, { bareRoot: { root: join(work, 'dies'), hide: [], files: ['/etc/nix'] } });
  const took = Date.now() - t0;
  assert.equal(r.exitCode, 1, r.output);
  assert.match(r.output, /^error: lab: host forge exited while starting \(exit \d+\): .*\/etc\/nix.*File exists/m);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.ok(took < 30_000, `the run stopped after ${took} ms`);
  const left = [...namespacesInUse()].filter((ns) => !before.has(ns));
  assert.deepEqual(left, [], 'no namespace (and so no process, mount or veth) is left');
  assert.equal(existsSync(join(LAB_ROOT, r.runId ?? 'none')), false, "the lab's directory is removed");
});

test('on a machine without /etc/nix, /nix, /srv, /opt or /home, the README command passes, every scenario', async () => {
  const hide = hideable(FRESH_MACHINE_LACKS);
  const r = await acceptance([], {}, { bareRoot: { root: join(work, 'passes'), hide, files: [] }, npm: true });
  assert.equal(r.exitCode, 0, r.output);
  const statuses = r.evidence!.scenarios.map((s) => s.status);
  assert.ok(statuses.length >= 38, `every scenario ran (${statuses.length})`);
  assert.deepEqual(
    statuses.filter((s) => s !== 'passed'),
    [],
  );
});
