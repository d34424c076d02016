import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { processesIn } from '../../lab/src/hosts';
import { Lab, LAB_HOSTS } from '../../lab/src/lab';
import { loadProfile } from '../../src/profile/load';

let lab: Lab;
const dir = Lab.newDir(`test-lab-${process.pid}`);

before(async () => {
  lab = await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {});
});
after(async () => {
  await lab?.stop();
});

test('each lab host is a real sshd in its own mount, UTS and network namespace', () => {
  for (const kind of ['mnt', 'uts', 'net']) {
    const mine = readlinkSync(`/proc/self/ns/${kind}`);
    const seen = new Set<string>();
    for (const name of LAB_HOSTS) {
      const h = lab.hosts.get(name)!;
      assert.equal(readlinkSync(`/proc/${h.pid}/exe`), '/usr/sbin/sshd');
      const ns = readlinkSync(`/proc/${h.pid}/ns/${kind}`);
      assert.notEqual(ns, mine, `${name} has its own ${kind} namespace`);
      seen.add(ns);
    }
    assert.equal(seen.size, LAB_HOSTS.length);
  }
});

test('hosts reach each other by name on the lab bridge, and nothing else', async () => {
  const r = await lab.exec('builder', ['sh', '-c', 'getent hosts forge; ip -4 route']);
  assert.match(r.stdout, /^10\.77\.0\.2\s+forge$/m);
  assert.doesNotMatch(r.stdout, /default/, 'no route out of the lab');
  assert.equal((await lab.exec('builder', ['ssh', 'root@forge', 'hostname'])).stdout.trim(), 'forge');
});

test('hosts have their own hostname, /nix, /root and /run', async () => {
  for (const name of LAB_HOSTS) {
    assert.equal((await lab.exec(name, ['hostname'])).stdout.trim(), name);
    const mounts = (await lab.exec(name, ['cat', '/proc/self/mountinfo'])).stdout;
    for (const mp of ['/nix', '/root', '/var/lib', '/etc/ssh', '/tmp']) assert.match(mounts, new RegExp(` ${mp} `), `${name} mounts ${mp}`);
    assert.match(mounts, / \/run .* - tmpfs /);
  }
  const builderNix = (await lab.exec('builder', ['ls', '-A', '/nix'])).stdout.trim();
  assert.equal(builderNix, '', 'the build host starts with an empty /nix');
  const ccci = (await lab.exec('cc-ci', ['readlink', '-f', '/run/current-system'])).stdout.trim();
  assert.equal(ccci, lab.world.liveToplevel);
  assert.equal(existsSync(ccci), false, 'the store path exists only inside cc-ci');
});

test('the forge serves the bare repos over ssh; the live system was built by real nix from them', async () => {
  const heads = (await lab.exec('builder', ['git', 'ls-remote', 'ssh://root@forge/srv/git/cc-ci.git', 'main'])).stdout;
  assert.match(heads, new RegExp(`^${lab.world.baseCommit}\\trefs/heads/main`));
  const drv = (await lab.exec('cc-ci', ['nix-store', '--query', '--deriver', lab.world.liveToplevel])).stdout.trim();
  assert.match(drv, /^\/nix\/store\/[0-9a-z]{32}-nixos-system-cc-ci-.*\.drv$/);
  const narHash = (await lab.exec('cc-ci', ['nix-store', '--query', '--hash', lab.world.liveToplevel])).stdout.trim();
  assert.match(narHash, /^sha256:[0-9a-z]{52}$/);
});

test('a build without ?submodules=1 fails as on the real system: secrets/ is empty', async () => {
  await lab.sh('builder', 'git clone -q --recursive ssh://root@forge/srv/git/cc-ci.git /root/c');
  const r = await lab.exec('builder', ['sh', '-c', "cd /root && nixos-rebuild build --flake 'git+file:///root/c#cc-ci'"], { check: false });
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /secrets.*No such file or directory/);
});

test('the stand-ins answer like the real commands', async () => {
  assert.equal((await lab.exec('cc-ci', ['systemctl', 'is-system-running'])).stdout, 'running\n');
  assert.match((await lab.exec('cc-ci', ['systemctl', '--failed'])).stdout, /^0 loaded units listed\.$/m);
  const bad = await lab.exec('cc-ci', ['nixos-rebuild', 'boot', '--flake', 'x'], { check: false });
  assert.notEqual(bad.exitCode, 0);
});

test('nixos-rebuild as on NixOS: an identical switch adds no generation, nor does test; the profile link is system-N-link', async () => {
  const link = async () => (await lab.exec('cc-ci', ['readlink', '/nix/var/nix/profiles/system'])).stdout.trim();
  const before = await link();
  assert.match(before, /^system-\d+-link$/);
  const flake = 'git+file:///root/cc-ci?submodules=1#cc-ci';
  await lab.exec('cc-ci', ['nixos-rebuild', 'switch', '--flake', flake]);
  assert.equal(await link(), before, 'an identical rebuild adds no generation');
  await lab.exec('cc-ci', ['nixos-rebuild', 'test', '--flake', flake]);
  assert.equal(await link(), before, 'nixos-rebuild test touches no profile');
});

test('a stand-in that does not come up is named with its host, its port and the last lines of its log, at its deadline', async () => {
  await lab.exec('cc-ci', ['systemctl', 'stop', 'drone-server.service']);
  await assert.rejects(
    lab.waitForPort('cc-ci', 8080, { unit: 'drone-server.service' }, 2000),
    /^LabError: lab: unit drone-server\.service on cc-ci does not listen on 127\.0\.0\.1:8080 after 2s: /,
  );
  await lab.exec('forge', ['sh', '-c', 'echo "listen tcp :3999: bind: address already in use" > /tmp/broken-server.log']);
  await assert.rejects(
    lab.waitForPort('forge', 3999, { log: '/tmp/broken-server.log' }, 2000),
    /^LabError: lab: the server logging to \/tmp\/broken-server\.log on forge does not listen on 127\.0\.0\.1:3999 after 2s: listen tcp :3999: bind: address already in use$/,
  );
});

test('stopping the lab leaves no process and no mount behind', async () => {
  const namespaces = [...lab.hosts.values()].map((h) => h.ns);
  assert.ok(processesIn(namespaces).length >= LAB_HOSTS.length);
  await lab.stop();
  assert.deepEqual(processesIn(namespaces), []);
  assert.equal(existsSync(dir), false);
  assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(dir));
});
