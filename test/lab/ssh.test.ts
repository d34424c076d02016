import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HostPool } from '../../src/drivers/pool';
import { fingerprintOf } from '../../src/drivers/known-hosts';
import { HostBrokenError } from '../../src/errors';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { Lab } from '../../lab/src/lab';
import { loadProfile } from '../../src/profile/load';
import type { Profile } from '../../src/profile/schema';
import { tempDir } from '../helpers';

let lab: Lab;
let profile: Profile;
const dir = Lab.newDir(`test-ssh-${process.pid}`);
const tmp = tempDir('ssh-test-');

before(async () => {
  profile = loadProfile('lab', { LAB_DIR: dir }).profile;
  lab = await Lab.start(dir, profile, () => {});
});
after(async () => {
  await lab?.stop();
});

function pool(change: (p: Profile) => void = () => {}): { pool: HostPool; recorder: Recorder; runDir: string } {
  const p = structuredClone(profile);
  change(p);
  const runDir = mkdtempSync(join(tmp, 'run-'));
  const recorder = new Recorder(runDir, runDir, new Redactor(), () => {});
  return { pool: new HostPool(p, recorder), recorder, runDir };
}

function ccciKeyBlob(): Buffer {
  const line = readFileSync(join(dir, 'hosts', 'cc-ci', 'etc-ssh', 'ssh_host_ed25519_key.pub'), 'utf8');
  return Buffer.from(line.split(' ')[1]!, 'base64');
}

async function brokenMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HostBrokenError, `expected HostBrokenError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected the command to be refused');
}

test('one connection per host carries many concurrent commands', async () => {
  const { pool: hosts, runDir } = pool();
  const cc = hosts.get('cc-ci');
  const results = await Promise.all(Array.from({ length: 24 }, (_, i) => cc.run(['sh', '-c', `echo ${i}; hostname`])));
  results.forEach((r, i) => assert.equal(r.stdout, `${i}\ncc-ci\n`));
  assert.deepEqual(hosts.sshConnectionCounts(), { 'cc-ci': 1 });
  assert.equal(readdirSync(join(runDir, 'commands')).length, 24, 'every command recorded once');
  await hosts.closeAll();
});

test('exit codes, stdin and cwd reach the remote command unchanged', async () => {
  const { pool: hosts } = pool();
  const cc = hosts.get('cc-ci');
  assert.equal((await cc.run(['sh', '-c', 'exit 7'])).exitCode, 7);
  assert.equal((await cc.run(['cat'], { stdin: "it's a 'quoted' $HOME\n" })).stdout, "it's a 'quoted' $HOME\n");
  assert.equal((await cc.run(['pwd'], { cwd: '/var/lib' })).stdout.trim(), '/var/lib');
  assert.equal((await cc.run(['printf', '%s|', 'a b', '$x', '"q"'])).stdout, 'a b|$x|"q"|');
  await hosts.closeAll();
});

test('an unknown host key is refused with the fingerprint to pin', async () => {
  const empty = join(tmp, 'empty_known_hosts');
  writeFileSync(empty, '');
  const { pool: hosts } = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport === 'ssh') h.hostKey = { knownHosts: empty };
  });
  const msg = await brokenMessage(hosts.get('cc-ci').run(['true']));
  assert.match(msg, new RegExp(`unknown host key .*${fingerprintOf(ccciKeyBlob()).replace(/[+/]/g, '\\$&')}`));
  assert.match(msg, /host: +cc-ci/);
  await hosts.closeAll();
});

test('a changed host key is refused', async () => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, 'other')]);
  const other = readFileSync(join(tmp, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const file = join(tmp, 'changed_known_hosts');
  writeFileSync(file, `127.0.10.3 ${other}\n`);
  const { pool: hosts } = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport === 'ssh') h.hostKey = { knownHosts: file };
  });
  assert.match(await brokenMessage(hosts.get('cc-ci').run(['true'])), /HOST KEY CHANGED/);
  await hosts.closeAll();
});

test('a pinned fingerprint is accepted when it matches and refused when it does not', async () => {
  const good = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport === 'ssh') h.hostKey = { fingerprint: fingerprintOf(ccciKeyBlob()) };
  });
  assert.equal((await good.pool.get('cc-ci').run(['hostname'])).stdout.trim(), 'cc-ci');
  await good.pool.closeAll();
  const bad = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport === 'ssh') h.hostKey = { fingerprint: 'SHA256:' + 'A'.repeat(43) };
  });
  assert.match(await brokenMessage(bad.pool.get('cc-ci').run(['true'])), /HOST KEY MISMATCH/);
  await bad.pool.closeAll();
});

test('a jump host tunnels to the target, each over its one connection', async () => {
  const { pool: hosts } = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport !== 'ssh') return;
    // Behind the jump host, the target is reached at the address the jump host sees.
    h.jump = 'forge';
    h.address = lab.hosts.get('cc-ci')!.labAddress;
    h.hostKey = { fingerprint: fingerprintOf(ccciKeyBlob()) };
  });
  const [a, b] = await Promise.all([hosts.get('cc-ci').run(['hostname']), hosts.get('cc-ci').run(['hostname'])]);
  assert.equal(a.stdout.trim(), 'cc-ci');
  assert.equal(b.stdout.trim(), 'cc-ci');
  assert.deepEqual(hosts.sshConnectionCounts(), { 'cc-ci': 1, forge: 1 });
  await hosts.closeAll();
});

test('an unreachable host is broken, naming the host and address', async () => {
  const { pool: hosts } = pool((p) => {
    const h = p.hosts['cc-ci']!;
    if (h.transport === 'ssh') h.port = 2;
  });
  const msg = await brokenMessage(hosts.get('cc-ci').run(['true']));
  assert.match(msg, /root@127\.0\.10\.3:2 over ssh: connection refused/);
  await hosts.closeAll();
});

test('a command over its time limit is broken, not left hanging', async () => {
  const { pool: hosts } = pool();
  const msg = await brokenMessage(hosts.get('cc-ci').run(['sleep', '30'], { timeoutMs: 300 }));
  assert.match(msg, /timed out after 0\.3s/);
  await hosts.closeAll();
});

test('the private key never reaches the evidence', async () => {
  const { pool: hosts, runDir } = pool();
  const key = readFileSync(join(dir, 'runner', 'id_ed25519'), 'utf8');
  await hosts.get('cc-ci').run(['cat'], { stdin: key });
  const log = readFileSync(join(runDir, 'commands', readdirSync(join(runDir, 'commands'))[0]!), 'utf8');
  for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) assert.ok(!log.includes(line));
  assert.match(log, /REDACTED:cc-ci-ssh-key/);
  await hosts.closeAll();
});
