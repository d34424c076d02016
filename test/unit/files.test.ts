import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Files } from '../../src/drivers/files';
import { Host } from '../../src/drivers/host';
import { LocalTransport } from '../../src/drivers/local';
import { Systemd } from '../../src/drivers/systemd';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { tempDir } from '../helpers';

// The files and systemd drivers against this machine's own files: what a check asks of a path,
// answered by the commands a POSIX host runs.

function local(): { files: Files; host: Host; dir: string } {
  const dir = tempDir('files-driver-');
  const host = new Host('runner', new LocalTransport(), new Recorder(join(dir, 'run'), join(dir, 'run'), new Redactor(), () => {}), 30_000);
  return { files: new Files(host), host, dir };
}

test('linkInfo: a symlink and its target, a plain file, nothing, a dangling link', async () => {
  const { files, dir } = local();
  writeFileSync(join(dir, 'real.pem'), 'x');
  symlinkSync(join(dir, 'real.pem'), join(dir, 'link.pem'));
  symlinkSync(join(dir, 'gone'), join(dir, 'dangling.pem'));
  const link = await files.linkInfo(join(dir, 'link.pem'));
  assert.deepEqual([link.kind, link.target, link.real, link.resolves], ['link', join(dir, 'real.pem'), join(dir, 'real.pem'), true]);
  const plain = await files.linkInfo(join(dir, 'real.pem'));
  assert.deepEqual([plain.kind, plain.type, plain.resolves], ['plain', 'regular file', true]);
  const absent = await files.linkInfo(join(dir, 'none'));
  assert.deepEqual([absent.kind, absent.resolves], ['absent', false]);
  const dangling = await files.linkInfo(join(dir, 'dangling.pem'));
  assert.deepEqual([dangling.kind, dangling.resolves], ['link', false]);
});

test('statEntries, list, tree, isFile, readIfFile and filesystemType read what is there', async () => {
  const { files, dir } = local();
  const secrets = join(dir, 'secrets');
  mkdirSync(join(secrets, 'sub'), { recursive: true });
  writeFileSync(join(secrets, 'a token'), 'v');
  chmodSync(join(secrets, 'a token'), 0o400);
  const { entries } = await files.statEntries(secrets);
  const byName = new Map(entries.map((e) => [e.name, e]));
  assert.deepEqual(byName.get('a token'), { mode: '400', owner: 'root', group: 'root', type: 'regular file', name: 'a token' });
  assert.equal(byName.get('sub')?.type, 'directory');
  assert.deepEqual((await files.list(secrets)).names.sort(), ['a token', 'sub']);
  assert.deepEqual((await files.list(join(dir, 'missing'))).names, []);
  assert.deepEqual((await files.tree([secrets, join(dir, 'missing')])).paths, [join(secrets, 'a token')]);
  assert.deepEqual([(await files.isFile(join(secrets, 'a token'))).value, (await files.isFile(secrets)).value], [true, false]);
  assert.deepEqual([(await files.readIfFile(join(secrets, 'a token'))).text, (await files.readIfFile(join(dir, 'missing'))).text], ['v', null]);
  assert.equal((await files.filesystemType('/dev/shm')).type, 'tmpfs');
  assert.equal((await files.filesystemType(join(dir, 'missing'))).type, null);
});

test('a path with spaces, quotes and $ is one argument, never shell', async () => {
  const { files, dir } = local();
  // Expanded by a shell, the name would be `it's "0" ;` and name no file.
  const odd = join(dir, `it's "$(id -u)" \`id\`;`);
  writeFileSync(odd, 'ok');
  assert.equal((await files.linkInfo(odd)).kind, 'plain');
  assert.equal((await files.readIfFile(odd)).text, 'ok');
  assert.equal((await files.isFile(odd)).value, true);
});

test('systemd: the state word and the failed units, as systemctl prints them', async () => {
  const { host, dir } = local();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'systemctl'),
    '#!/bin/sh\ncase "$1" in is-system-running) echo degraded; exit 1 ;; --failed) printf "nginx.service loaded failed failed Nginx\\nsops-install-secrets.service loaded failed failed x\\n" ;; esac\n',
    { mode: 0o755 },
  );
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    const systemd = new Systemd(host);
    assert.equal((await systemd.systemState()).state, 'degraded');
    assert.deepEqual((await systemd.failedUnits()).units, ['nginx.service', 'sops-install-secrets.service']);
  } finally {
    process.env.PATH = path;
  }
});
