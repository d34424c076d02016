import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import YAML from 'yaml';
import {
  hostDir,
  killNamespaces,
  namespaceOf,
  namespacesOf,
  nsIdentity,
  processesIn,
  sleep,
  spawnNamespace,
  startInstance,
  startTime,
  writeLabIndex,
} from '../../lab/src/hosts';
import { registerHostInstance, type InstanceFull } from '../../lab/src/incus';
import { makeBridge } from '../../lab/src/net';
import { PROJECT_ROOT } from '../../src/paths';
import { LAB_ASSETS, LAB_ROOT } from '../../lab/src/paths';
import { tempDir } from '../helpers';

// A minimal lab of our own (a switch namespace with the bridge, and lab.json): no fixed loopback
// addresses, so it runs beside a full lab.
const labDir = join(LAB_ROOT, `test-incus-${process.pid}`);
const tmp = tempDir('incus-test-');
const VM = 'throwaway-1';
const P = ['--project', 'terraform-ci'];
/** The real answers (test/fixtures/reference/incus, from ../shared/reference/incus.md). */
const REFERENCE = join(PROJECT_ROOT, 'test', 'fixtures', 'reference', 'incus');
const referenceRows = (name: string): string[][] =>
  readFileSync(join(REFERENCE, name), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('\t'));

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function incus(args: string[], input?: string | Buffer): Promise<Run> {
  const r = await execa(join(LAB_ASSETS, 'standins', 'incus'), args, { env: { LAB_DIR: labDir }, input, reject: false, stripFinalNewline: false });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function ok(args: string[], input?: string | Buffer): Promise<string> {
  const r = await incus(args, input);
  assert.equal(r.exitCode, 0, `incus ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function listed(): Promise<InstanceFull[]> {
  return JSON.parse(await ok(['list', '--format', 'json', ...P])) as InstanceFull[];
}

before(async () => {
  mkdirSync(labDir, { recursive: true });
  const sw = await spawnNamespace(labDir, 'switch', ['sleep', 'infinity']);
  await makeBridge(sw.pid);
  writeLabIndex(labDir, { switchPid: sw.pid, hosts: [], domain: 'lab.test' });
});

after(async () => {
  await killNamespaces(namespacesOf(labDir));
  rmSync(labDir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

test('launch makes a running VM with the given config, listed as incus list --format json does', async () => {
  const r = await incus([
    'launch',
    'images:nixos/24.05',
    VM,
    '--vm',
    '-c',
    'limits.memory=4GiB',
    '-c',
    'security.secureboot=false',
    '-c',
    'user.acceptance.run=X',
    ...P,
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, `Launching ${VM}\n`);
  const [i, ...rest] = await listed();
  assert.equal(rest.length, 0);
  assert.deepEqual(Object.keys(i!), [
    'architecture',
    'config',
    'devices',
    'ephemeral',
    'profiles',
    'stateful',
    'description',
    'created_at',
    'expanded_config',
    'expanded_devices',
    'name',
    'status',
    'status_code',
    'last_used_at',
    'location',
    'type',
    'project',
    'backups',
    'state',
    'snapshots',
  ]);
  assert.equal(i!.name, VM);
  assert.equal(i!.type, 'virtual-machine');
  assert.equal(i!.project, 'terraform-ci');
  assert.equal(i!.status, 'Running');
  assert.equal(i!.status_code, 103);
  assert.deepEqual(i!.profiles, ['default']);
  for (const c of [i!.config, i!.expanded_config]) {
    assert.equal(c['limits.memory'], '4GiB');
    assert.equal(c['security.secureboot'], 'false');
    assert.equal(c['user.acceptance.run'], 'X');
    assert.match(c['volatile.uuid'] ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(c['image.os'], 'Nixos');
  }
  assert.deepEqual(i!.expanded_devices.root, { path: '/', pool: 'default', type: 'disk' });
  const state = i!.state!;
  assert.equal(state.status, 'Running');
  assert.ok(state.pid > 0 && state.processes >= 1);
  // What the guest's MemTotal reads: the limit less what its kernel keeps (never more than the limit).
  assert.ok(state.memory.total <= 4 * 1024 ** 3 && state.memory.total > 0.9 * 4 * 1024 ** 3, String(state.memory.total));
  const eth0 = state.network!.eth0!;
  const inet = eth0.addresses.find((a) => a.family === 'inet')!;
  assert.match(inet.address, /^10\.77\.0\.\d+$/);
  assert.equal(inet.netmask, '24');
  assert.equal(inet.scope, 'global');
  assert.equal(eth0.hwaddr, i!.config['volatile.eth0.hwaddr']);
  assert.equal(eth0.state, 'up');
  assert.equal(state.network!.lo!.type, 'loopback');

  const table = await ok(['list', ...P]);
  assert.match(table, /^\+-+\+-+\+/);
  assert.match(table, /^\| +NAME +\| {2}STATE {2}\| +IPV4 +\| IPV6 \| +TYPE +\| SNAPSHOTS \|$/m);
  assert.match(table, new RegExp(`^\\| ${VM} +\\| RUNNING \\| ${inet.address.replace(/\./g, '\\.')} \\(eth0\\) +\\|.*\\| VIRTUAL-MACHINE \\| 0 +\\|$`, 'm'));
  assert.equal(await ok(['list', '--format', 'csv', '-c', 'ns', ...P]), `${VM},RUNNING\n`);
  assert.equal(await ok(['list', '--format', 'csv', '-c', 'n', 'user.acceptance.run=Y', ...P]), '');
  assert.equal(JSON.parse(await ok(['list', '--format', 'json'])).length, 0, 'the default project has none');
});

test('the VM is a blank machine of its own, reached with incus exec', async () => {
  assert.equal(await ok(['exec', VM, ...P, '--', 'hostname']), `${VM}\n`);
  assert.equal(await ok(['exec', VM, ...P, '--', 'sh', '-c', 'ls -A /nix; ls /root; echo $HOME; pwd']), 'store\nvar\n/root\n/root\n');
  // As the NixOS 24.05 image has it: its system as generation 1, /var/lib/nixos, no SSH host keys yet.
  assert.match(
    await ok([
      'exec',
      VM,
      ...P,
      '--',
      'sh',
      '-c',
      'readlink /nix/var/nix/profiles/system; readlink /nix/var/nix/profiles/system-1-link; ls /var/lib/nixos; ls /etc/ssh',
    ]),
    /^system-1-link\n\/nix\/store\/[0-9a-z]{32}-nixos-system-nixos-24\.05\.\S+\nauto-subuid-map\ndeclarative-groups\ndeclarative-users\ngid-map\nuid-map\nmoduli\nssh_config\nsshd_config\n$/,
  );
  const env = await ok(['exec', VM, ...P, '--env', 'FOO=bar', '--cwd', '/tmp', '--', 'sh', '-c', 'echo "$PATH|$USER|$LANG|$FOO"; pwd']);
  assert.equal(env, '/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|root|C.UTF-8|bar\n/tmp\n');
  assert.equal(
    await ok(['exec', VM, ...P, '--', 'sh', '-c', 'test -e /var/lib/sops-nix/key.txt || test -e /etc/ssh/ssh_host_ed25519_key || echo none']),
    'none\n',
  );
});

test('exec passes stdin, stdout, stderr and the exit code through', async () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, b) => b));
  const r = await execa(join(LAB_ASSETS, 'standins', 'incus'), ['exec', VM, ...P, '--', 'sh', '-c', 'cat; echo oops >&2; exit 7'], {
    env: { LAB_DIR: labDir },
    input: bytes,
    encoding: 'buffer',
    reject: false,
    stripFinalNewline: false,
  });
  assert.equal(r.exitCode, 7);
  assert.deepEqual(Buffer.from(r.stdout), bytes);
  assert.equal(Buffer.from(r.stderr).toString(), 'oops\n');
  // incusd turns a command's 127 and 126 into errors the client prints (incus.md §7).
  const says = Object.fromEntries(referenceRows('exec-exit-status.tsv').map(([, code, line]) => [code, line ? `${line}\n` : '']));
  const missing = await incus(['exec', VM, ...P, '--', 'no-such-command']);
  assert.deepEqual([missing.exitCode, missing.stderr], [127, says['127']]);
  const by127 = await incus(['exec', VM, ...P, '--', 'sh', '-c', 'echo gone >&2; exit 127']);
  assert.deepEqual([by127.exitCode, by127.stderr], [127, `gone\n${says['127']}`]);
  const notExecutable = await incus(['exec', VM, ...P, '--', '/etc/hosts']);
  assert.deepEqual([notExecutable.exitCode, notExecutable.stderr], [126, says['126']]);
  const killed = await incus(['exec', VM, ...P, '--', 'sh', '-c', 'kill -TERM $$']);
  assert.deepEqual([killed.exitCode, killed.stderr], [128 + 15, '']);
  const gone = await incus(['exec', 'nope', ...P, '--', 'true']);
  assert.deepEqual([gone.exitCode, gone.stderr], [1, 'Error: Instance not found\n']);
});

test('a running instance as the reference lists it: keys in struct order, their types, status words and codes', async () => {
  const [real] = JSON.parse(readFileSync(join(REFERENCE, 'list-format-json.json'), 'utf8')) as Record<string, any>[];
  const [i] = (await listed()) as unknown as Record<string, any>[];
  const keys = (o: object) => Object.keys(o);
  const types = (o: Record<string, unknown>) => Object.values(o).map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v));
  assert.deepEqual(keys(i!), keys(real!));
  assert.deepEqual(types(i!), types(real!));
  assert.deepEqual(keys(i!.state), keys(real!.state));
  assert.deepEqual(types(i!.state), types(real!.state), 'os_info null in both');
  for (const k of ['memory', 'cpu']) assert.deepEqual(keys(i!.state[k]), keys(real!.state[k]), k);
  const [net] = Object.values(real!.state.network) as Record<string, any>[];
  for (const n of Object.values(i!.state.network) as Record<string, any>[]) {
    assert.deepEqual([keys(n), keys(n.counters)], [keys(net!), keys(net!.counters)]);
    for (const a of n.addresses) assert.deepEqual(keys(a), keys(net!.addresses[0]));
  }
  const codes = Object.fromEntries(referenceRows('status-codes.tsv').map(([status, code]) => [status, Number(code)]));
  assert.deepEqual(
    [i!.status, i!.status_code, i!.state.status, i!.state.status_code, i!.location],
    ['Running', codes.Running, 'Running', codes.Running, 'none'],
  );
  assert.match(await ok(['info', VM, ...P]), /^Status: RUNNING$/m);
  const [brief] = JSON.parse(await ok(['list', '-c', 'ns', '--format', 'json', ...P])) as Record<string, unknown>[];
  assert.deepEqual([brief!.state, brief!.snapshots, brief!.backups], [null, null, null], 'no column needs the state');
});

test("file push without --mode, --uid or --gid keeps the local file's; 3 digits are octal, 4 need their own base", async () => {
  const f = join(tmp, 'owned.txt');
  writeFileSync(f, 'x\n');
  chmodSync(f, 0o640);
  chownSync(f, 1234, 2345);
  await ok(['file', 'push', f, `${VM}/root/owned.txt`, ...P]);
  await ok(['file', 'push', f, `${VM}/root/octal.txt`, '--mode', '644', ...P]);
  await ok(['file', 'push', f, `${VM}/root/decimal.txt`, '--mode', '1777', ...P]);
  const modes = await ok(['exec', VM, ...P, '--', 'stat', '-c', '%a %u %g', '/root/owned.txt', '/root/octal.txt', '/root/decimal.txt']);
  assert.equal(modes, `640 1234 2345\n644 1234 2345\n${(1777 & 0o777).toString(8)} 1234 2345\n`);
  const recursive = await incus(['file', 'push', '-r', tmp, `${VM}/root/`, '--mode', '0644', ...P]);
  const refused = referenceRows('file-push-flags.tsv').find(([flag]) => flag!.startsWith('-r'))![2];
  assert.deepEqual([recursive.exitCode, recursive.stderr], [1, `${refused}\n`]);
});

test('file push writes the file inside the instance with the mode and owner asked for', async () => {
  const key = join(tmp, 'key.txt');
  writeFileSync(key, 'AGE-SECRET-KEY-1LAB\n', { mode: 0o644 });
  await ok(['file', 'push', key, `${VM}/var/lib/sops-nix/key.txt`, '--mode', '0600', '--uid', '0', '--gid', '0', '--create-dirs', ...P]);
  assert.equal(await ok(['exec', VM, ...P, '--', 'stat', '-c', '%a %u %g', '/var/lib/sops-nix/key.txt', '/var/lib/sops-nix']), '600 0 0\n755 0 0\n');
  assert.equal(await ok(['exec', VM, ...P, '--', 'cat', '/var/lib/sops-nix/key.txt']), 'AGE-SECRET-KEY-1LAB\n');
  await ok(['file', 'push', '-', `${VM}/root/from-stdin`, '--mode', '640', ...P], 'piped\n');
  assert.equal(await ok(['exec', VM, ...P, '--', 'sh', '-c', 'stat -c %a /root/from-stdin; cat /root/from-stdin']), '640\npiped\n');
  assert.equal(existsSync(join(hostDir(labDir, VM), 'var-lib', 'sops-nix', 'key.txt')), true, "it lands on the instance's disk");
  const noDir = await incus(['file', 'push', key, `${VM}/no/such/dir/key.txt`, ...P]);
  assert.deepEqual([noDir.exitCode, noDir.stderr], [1, 'Error: file does not exist\n']);
  const badTarget = await incus(['file', 'push', key, VM, ...P]);
  assert.deepEqual([badTarget.exitCode, badTarget.stderr], [1, `Error: Invalid target ${VM}\n`]);
});

test('config set, get, unset and show', async () => {
  await ok(['config', 'set', VM, 'user.acceptance.keep=yes', 'user.note=hello world', ...P]);
  await ok(['config', 'set', VM, 'user.old-form', 'value', ...P]);
  assert.equal(await ok(['config', 'get', VM, 'user.acceptance.keep', ...P]), 'yes\n');
  assert.equal(await ok(['config', 'get', VM, 'user.old-form', ...P]), 'value\n');
  assert.equal(await ok(['config', 'get', VM, 'user.unset', ...P]), '\n');
  const shown = await ok(['config', 'show', VM, ...P]);
  assert.match(shown, /^architecture: \S+\nconfig:\n/);
  assert.match(shown, /^ {2}user\.acceptance\.keep: "yes"$/m);
  assert.match(shown, /^ {2}security\.secureboot: "false"$/m);
  assert.match(shown, /^devices: \{\}\nephemeral: false\nprofiles:\n- default\nstateful: false\ndescription: ""\n$/m);
  const parsed = YAML.parse(shown) as { config: Record<string, string> };
  assert.equal(parsed.config['user.note'], 'hello world');
  assert.match(await ok(['config', 'show', VM, '--expanded', ...P]), /^devices:\n {2}eth0:\n/m);
  await ok(['config', 'unset', VM, 'user.old-form', ...P]);
  const again = await incus(['config', 'unset', VM, 'user.old-form', ...P]);
  assert.deepEqual([again.exitCode, again.stderr], [1, "Error: Can't unset key 'user.old-form', it's not currently set\n"]);
  const bad = await incus(['config', 'set', VM, 'bogus=1', ...P]);
  assert.deepEqual([bad.exitCode, bad.stderr], [1, 'Error: Invalid config: Unknown configuration key: bogus\n']);
});

test('unknown images, projects, commands and flags fail like the real client', async () => {
  const image = await incus(['launch', 'images:debian/12', 'other', '--vm', ...P]);
  assert.equal(image.exitCode, 1);
  assert.equal(image.stdout, 'Launching other\n');
  assert.equal(
    image.stderr,
    'Error: Failed instance creation: Failed getting remote image info: Failed getting image: The requested image couldn\'t be found for fingerprint "debian/12"\n',
  );
  const project = await incus(['list', '--format', 'json', '--project', 'nope']);
  assert.deepEqual([project.exitCode, project.stderr], [1, 'Error: Project not found\n']);
  const launch = await incus(['launch', 'images:nixos/24.05', 'other', '--project', 'nope']);
  assert.deepEqual([launch.exitCode, launch.stderr], [1, 'Error: Failed loading project: Project not found\n']);
  const cmd = await incus(['frobnicate']);
  assert.deepEqual([cmd.exitCode, cmd.stderr], [1, 'Error: unknown command "frobnicate" for "incus"\n']);
  const flag = await incus(['list', '--frob']);
  assert.deepEqual([flag.exitCode, flag.stderr], [1, 'Error: unknown flag: --frob\n']);
  const noLab = await execa(join(LAB_ASSETS, 'standins', 'incus'), ['list'], { env: { LAB_DIR: '' }, reject: false });
  assert.equal(noLab.exitCode, 1);
  assert.match(String(noLab.stderr), /LAB_DIR is not set/);
});

test('stop ends the instance, start boots it again with its disk but a fresh /run', async () => {
  await ok(['exec', VM, ...P, '--', 'sh', '-c', 'echo kept > /var/lib/marker; echo gone > /run/marker']);
  const ns = namespaceOf(labDir, VM)!;
  await ok(['stop', VM, ...P]);
  assert.deepEqual(processesIn([ns]), []);
  assert.equal((await listed())[0]!.status, 'Stopped');
  const stopped = await incus(['exec', VM, ...P, '--', 'true']);
  assert.deepEqual([stopped.exitCode, stopped.stderr], [1, 'Error: Instance is not running\n']);
  const twice = await incus(['stop', VM, ...P]);
  assert.deepEqual([twice.exitCode, twice.stderr], [1, `Error: The instance is already stopped\nTry \`incus info --show-log ${VM}\` for more info\n`]);
  await ok(['start', VM, ...P]);
  assert.equal(
    await ok(['exec', VM, ...P, '--', 'sh', '-c', 'cat /var/lib/marker; cat /run/marker 2>/dev/null || echo no-run-marker']),
    'kept\nno-run-marker\n',
  );
  assert.match(await ok(['info', VM, ...P]), new RegExp(`^Name: ${VM}\nDescription: \nStatus: RUNNING\nType: virtual-machine\nArchitecture: \\S+\n`));
});

test('delete refuses a running instance without --force; with it, nothing of the instance is left', async () => {
  const ns = namespaceOf(labDir, VM)!;
  const refused = await incus(['delete', VM, ...P]);
  assert.deepEqual([refused.exitCode, refused.stderr], [1, 'Error: The instance is currently running, stop it first or pass --force\n']);
  assert.ok(processesIn([ns]).length > 0);
  await ok(['delete', VM, '--force', ...P]);
  assert.deepEqual(await listed(), []);
  assert.deepEqual(processesIn([ns]), []);
  assert.equal(existsSync(hostDir(labDir, VM)), false);
  const gone = await incus(['delete', VM, ...P]);
  assert.deepEqual([gone.exitCode, gone.stderr], [1, `Error: Failed checking instance exists "local:${VM}": Instance not found\n`]);
});

test('a registered lab host is an instance: listed without labels, reached with exec', async () => {
  await startInstance(labDir, 'fakehost', '10.77.0.50');
  await registerHostInstance(labDir, {
    project: 'terraform-ci',
    name: 'cc-nix-test',
    host: 'fakehost',
    type: 'virtual-machine',
    config: { 'image.os': 'NixOS', 'limits.cpu': '4' },
    createdAt: '2024-11-02T10:00:00Z',
    address: '10.77.0.50',
  });
  const [i] = await listed();
  assert.equal(i!.name, 'cc-nix-test');
  assert.equal(i!.status, 'Running');
  assert.equal(i!.created_at, '2024-11-02T10:00:00Z');
  assert.deepEqual(
    Object.keys(i!.config).filter((k) => k.startsWith('user.')),
    [],
  );
  assert.equal(i!.state!.network!.eth0!.addresses.find((a) => a.family === 'inet')?.address, '10.77.0.50');
  assert.equal(await ok(['exec', 'cc-nix-test', ...P, '--', 'hostname']), 'fakehost\n');

  await ok(['launch', 'images:nixos/24.05', 'second', '--vm', ...P]);
  const addr = await ok(['exec', 'second', ...P, '--', 'bash', '-c', 'ip -4 -o addr show dev eth0; timeout 2 bash -c "</dev/tcp/10.77.0.50/9" 2>&1; true']);
  assert.match(addr, /inet 10\.77\.0\.100\/24/, 'the first free address from .100 up');
  assert.match(addr, /Connection refused/, 'instances reach each other on the lab bridge');
  await ok(['delete', 'second', '--force', ...P]);

  await ok(['stop', 'cc-nix-test', ...P]);
  assert.deepEqual(processesIn([namespaceOf(labDir, 'fakehost')!]), [], 'stopping it takes the lab host down');
  const start = await incus(['start', 'cc-nix-test', ...P]);
  assert.equal(start.exitCode, 1);
  assert.match(start.stderr, /only the lab boots/);
});

test("a stopped host's namespace numbers name none of another's processes; its orphans are still its own", async () => {
  // The kernel gives a freed namespace's number to the next one made: a stop that signalled by
  // number alone killed another lab's host as it started (CI: "host cc-ci exited while starting
  // (signal SIGKILL)"). Modelled here: a record whose numbers are now another process's.
  await startInstance(labDir, 'reuse-a', '10.77.0.60');
  await startInstance(labDir, 'reuse-b', '10.77.0.61');
  const a = namespaceOf(labDir, 'reuse-a')!;
  const b = namespaceOf(labDir, 'reuse-b')!;
  const stranger = spawn('unshare', ['--mount', '--net', '--', 'sleep', '300'], { detached: true, stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && nsIdentity(stranger.pid!) === nsIdentity(process.pid); i++) await sleep(20);
    // An orphan: host-init's process gone, one of the host's processes still in its namespaces.
    await execa('nsenter', ['--target', String(a.init.pid), '--mount', '--net', '--', 'setsid', '-f', 'sleep', '300'], { stdio: 'ignore' });
    process.kill(a.init.pid, 'SIGKILL');
    for (let i = 0; i < 100 && startTime(a.init.pid) === a.init.start; i++) await sleep(20);
    assert.equal(processesIn([a]).length, 1, 'the orphan is found by the host mount table');
    for (const other of [b, { id: nsIdentity(stranger.pid!)!, init: { pid: stranger.pid!, start: startTime(stranger.pid!)! } }]) {
      const reused = { ...a, id: other.id };
      assert.deepEqual(processesIn([reused]), [], `numbers of ${other.init.pid} under a's record`);
      await killNamespaces([reused]);
      assert.ok(startTime(other.init.pid), `process ${other.init.pid} outlives a stop of a's record`);
    }
    await killNamespaces([a, b]);
    assert.deepEqual(processesIn([a, b]), []);
  } finally {
    stranger.kill('SIGKILL');
    rmSync(hostDir(labDir, 'reuse-a'), { recursive: true, force: true });
    rmSync(hostDir(labDir, 'reuse-b'), { recursive: true, force: true });
  }
});
