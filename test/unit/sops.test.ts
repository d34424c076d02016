import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { decryptSopsFile, encryptSopsFile, encryptSopsYaml } from '../../lab/src/sops/files';
import { extract } from '../../lab/src/sops/tree';
import { ENC_RE, SopsError, parseSopsFile, type SopsTree } from '../../src/sops/format';
import { tempDir } from '../helpers';

const ROOT = resolve(__dirname, '..', '..');
const FIX = join(__dirname, '..', 'fixtures', 'sops-nix');
const STANDIN = join(ROOT, 'lab/standins/sops');
const fixtureYaml = readFileSync(join(FIX, 'secrets.yaml'), 'utf8');
const fixtureJson = readFileSync(join(FIX, 'secrets.json'), 'utf8');
const fixtureKey = join(FIX, 'age-keys.txt');
const FIXTURE_RECIPIENTS = ['age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw', 'age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs'];

let dir: string;
const ids: Array<{ file: string; recipient: string }> = [];

before(() => {
  dir = tempDir('sops-test-');
  for (const n of ['one', 'two', 'stranger']) {
    const file = join(dir, `${n}.txt`);
    execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
    ids.push({ file, recipient: execFileSync('age-keygen', ['-y', file]).toString().trim() });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLE: SopsTree = {
  db_password: 'hunter2',
  port: 5432,
  ratio: 0.75,
  enabled: true,
  disabled: false,
  nothing: null,
  empty: '',
  public_unencrypted: 'visible',
  nested: { list: ['a', 2, 2.5, true, { k: 'v' }], cert: '-----BEGIN CERT-----\nabc\n-----END CERT-----\n' },
};

function rejectsWith(p: Promise<unknown>, code: number, text: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SopsError, String(e));
    assert.equal(e.exitCode, code);
    assert.match(e.message, text);
    return true;
  });
}

describe('real sops files (fixtures)', () => {
  test('YAML fixture decrypts to the known plaintexts with its MAC verified', async () => {
    const { tree, macOk } = await decryptSopsFile(fixtureYaml, 'yaml', fixtureKey);
    assert.equal(macOk, true);
    assert.equal(tree['test_key'], 'test_value');
    assert.equal(extract(tree, '["nested"]["test"]["file"]'), 'another value');
    const list = tree['a_list'];
    assert.ok(Array.isArray(list) && list.length === 2 && list.every((x) => typeof x === 'string' && x.length > 0 && x.length < 8));
  });

  test('the YAML fixture parses without a key: leaves, list paths without indexes, metadata', () => {
    const p = parseSopsFile(fixtureYaml, 'yaml');
    assert.deepEqual(
      p.values.map((v) => [v.path.join(':'), v.encrypted]),
      [
        ['test_key', true],
        ['a_list', true],
        ['a_list', true],
        ['nested:test:file', true],
      ],
    );
    assert.deepEqual(p.values[2]!.at, ['a_list', 1]);
    assert.deepEqual(
      p.metadata.age.map((a) => a.recipient),
      FIXTURE_RECIPIENTS,
    );
    assert.equal(p.metadata.lastmodified, '2021-09-30T19:49:41Z');
    assert.equal(p.metadata.version, '3.7.1');
    assert.equal(p.metadata.unencrypted_suffix, '_unencrypted');
    assert.equal(p.metadata.pgp.length, 2);
    assert.deepEqual(Object.keys(p.metadata.other), ['kms', 'gcp_kms', 'azure_kv', 'hc_vault']);
    assert.deepEqual(p.plainByDesign, []);
  });

  test('the JSON fixture parses; it has PGP keys only, so an age identity gets a clear error', async () => {
    const p = parseSopsFile(fixtureJson, 'json');
    assert.equal(p.metadata.version, '3.5.0');
    assert.deepEqual(p.metadata.age, []);
    assert.deepEqual(
      p.metadata.pgp.map((k) => k.fp),
      ['7FB89715AADA920D65D25E63F9BA9DEBD03F57C0'],
    );
    assert.deepEqual(
      p.values.map((v) => [v.path, v.encrypted]),
      [[['test_key'], true]],
    );
    await rejectsWith(
      decryptSopsFile(fixtureJson, 'json', fixtureKey),
      128,
      /0 successful groups required, got 0.*no age recipients.*7FB89715AADA920D65D25E63F9BA9DEBD03F57C0/,
    );
  });

  test('the real ciphertexts and MAC read through the JSON store too', async () => {
    // Same tree, same ENC values and metadata, in sops' JSON layout: ADs and MAC are format-free.
    const asJson = JSON.stringify(parseYaml(fixtureYaml), null, '\t');
    const { tree, macOk } = await decryptSopsFile(asJson, 'json', fixtureKey);
    assert.equal(macOk, true);
    assert.equal(tree['test_key'], 'test_value');
    assert.equal(extract(tree, '["nested"]["test"]["file"]'), 'another value');
  });
});

describe('encryption', () => {
  let enc: string;
  before(async () => {
    enc = await encryptSopsYaml(SAMPLE, [ids[0]!.recipient, ids[1]!.recipient], { now: new Date('2024-05-06T07:08:09.123Z') });
  });

  test('round trip: each of two recipients decrypts, MAC verified', async () => {
    for (const id of ids.slice(0, 2)) {
      const { tree, macOk } = await decryptSopsFile(enc, 'yaml', id.file);
      assert.equal(macOk, true);
      assert.deepEqual(tree, SAMPLE);
    }
  });

  test('the output has the fixture shape', () => {
    const fixture = parseYaml(fixtureYaml) as { sops: Record<string, unknown> };
    const ours = parseYaml(enc) as Record<string, unknown> & { sops: Record<string, unknown> };
    assert.deepEqual(Object.keys(ours.sops), Object.keys(fixture.sops));
    assert.deepEqual(Object.keys(ours).slice(0, -1), Object.keys(SAMPLE));
    const p = parseSopsFile(enc, 'yaml');
    assert.deepEqual(
      p.metadata.age.map((a) => a.recipient),
      [ids[0]!.recipient, ids[1]!.recipient],
    );
    assert.equal(p.metadata.lastmodified, '2024-05-06T07:08:09Z');
    assert.deepEqual(p.plainByDesign, ['public_unencrypted']);
    for (const v of p.values) {
      const by = v.path.join('.');
      if (by === 'public_unencrypted') assert.equal(v.raw, 'visible');
      else if (by === 'empty')
        assert.equal(v.raw, ''); // sops leaves empty strings as they are
      else {
        const m = ENC_RE.exec(String(v.raw));
        assert.ok(m, `${by} is not encrypted: ${String(v.raw)}`);
        assert.equal(Buffer.from(m[2]!, 'base64').length, 32, 'IV is 32 bytes');
        assert.equal(Buffer.from(m[3]!, 'base64').length, 16, 'tag is 16 bytes');
      }
    }
    const types = p.values.filter((v) => v.encrypted).map((v) => ENC_RE.exec(String(v.raw))![4]);
    assert.deepEqual(types, ['str', 'int', 'float', 'bool', 'bool', 'str', 'int', 'float', 'bool', 'str', 'str']);
    assert.match(String(p.metadata.mac), ENC_RE);
    // The same text layout as the fixture's metadata block (yaml.v3, indent 4).
    for (const line of [
      /^sops:\n {4}kms: \[\]\n {4}gcp_kms: \[\]\n {4}azure_kv: \[\]\n {4}hc_vault: \[\]\n {4}age:\n/m,
      /^ {8}- recipient: age1\w+\n {10}enc: \|\n {12}-----BEGIN AGE ENCRYPTED FILE-----\n( {12}[A-Za-z0-9+/=]+\n)+ {12}-----END AGE ENCRYPTED FILE-----\n/m,
      /^ {4}lastmodified: "2024-05-06T07:08:09Z"\n {4}mac: ENC\[AES256_GCM,[^\n]+\]\n {4}pgp: \[\]\n {4}unencrypted_suffix: _unencrypted\n {4}version: 3\.7\.3\n$/m,
      /^nested:\n {4}list:\n {8}- ENC\[/m,
    ])
      assert.match(enc, line);
  });

  test('JSON output and encrypted_regex', async () => {
    const out = await encryptSopsFile({ password: 's3cret', user: 'admin', n: { token: 't' } }, [ids[0]!.recipient], 'json', {
      encryptedRegex: '^(password|token)$',
    });
    const p = parseSopsFile(out, 'json');
    assert.deepEqual(p.plainByDesign, ['user']);
    assert.deepEqual(
      p.values.map((v) => v.encrypted),
      [true, false, true],
    );
    assert.equal(p.metadata.encrypted_regex, '^(password|token)$');
    assert.equal(p.metadata.unencrypted_suffix, undefined);
    assert.match(out, /^\t"sops": \{\n\t\t"kms": null,/m);
    const { tree, macOk } = await decryptSopsFile(out, 'json', ids[0]!.file);
    assert.deepEqual([tree, macOk], [{ password: 's3cret', user: 'admin', n: { token: 't' } }, true]);
  });

  test('tampering is detected', async () => {
    const id = ids[0]!.file;
    const p = parseSopsFile(enc, 'yaml');
    const pw = String(p.values[0]!.raw);
    const data = /data:([^,]+)/.exec(pw)![1]!;
    const flipped = enc.replace(pw, pw.replace(`data:${data}`, `data:${data[0] === 'A' ? 'B' : 'A'}${data.slice(1)}`));
    await rejectsWith(decryptSopsFile(flipped, 'yaml', id), 25, /message authentication failed/);
    // A valid ciphertext moved to another key fails too: the key path is the additional data.
    const ratio = String(p.values.find((v) => v.path[0] === 'ratio')!.raw);
    const moved = enc.replace(`port: ${String(p.values[1]!.raw)}`, `port: ${ratio}`);
    await rejectsWith(decryptSopsFile(moved, 'yaml', id), 25, /message authentication failed/);
    // Plain values are covered by the MAC.
    const plain = enc.replace('public_unencrypted: visible', 'public_unencrypted: changed');
    await rejectsWith(decryptSopsFile(plain, 'yaml', id), 51, /^MAC mismatch\. File has [0-9A-F]{128}, computed [0-9A-F]{128}$/);
    const r = await decryptSopsFile(plain, 'yaml', id, { ignoreMac: true });
    assert.equal(r.macOk, false);
    // So is the MAC itself, and the lastmodified it is bound to.
    const badMac = enc.replace(/^( {4}mac: ENC\[AES256_GCM,data:)(.)/m, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A'));
    await rejectsWith(decryptSopsFile(badMac, 'yaml', id), 51, /Cannot decrypt MAC/);
    const badTime = enc.replace('2024-05-06T07:08:09Z', '2024-05-06T07:08:10Z');
    await rejectsWith(decryptSopsFile(badTime, 'yaml', id), 51, /Cannot decrypt MAC/);
  });

  test('a wrong identity gives a clear error naming the recipients', async () => {
    await rejectsWith(
      decryptSopsFile(fixtureYaml, 'yaml', ids[2]!.file),
      128,
      new RegExp(`^Error getting data key: 0 successful groups required, got 0 .*${FIXTURE_RECIPIENTS.join(', ')}`),
    );
  });

  test('extract selects like sops --extract', () => {
    const tree: SopsTree = { a: { b: [1, { c: 'x' }] } };
    assert.equal(extract(tree, '["a"]["b"][1]["c"]'), 'x');
    assert.deepEqual(extract(tree, "['a']"), { b: [1, { c: 'x' }] });
    assert.throws(() => extract(tree, '["z"]'), /component \['z'\] not found/);
    assert.throws(() => extract(tree, '["a"][0]'), /is integer, but tree part is not a slice/);
    assert.throws(() => extract(tree, '["a"]["b"][5]'), /out of bounds/);
    assert.throws(() => extract(tree, 'a'), /doesn't end with \]/);
  });
});

describe('lab stand-in CLI', () => {
  const env = (extra: Record<string, string | undefined>) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
    delete e['SOPS_AGE_KEY'];
    for (const [k, v] of Object.entries(extra))
      if (v === undefined) delete e[k];
      else e[k] = v;
    return e;
  };
  const sops = (args: string[], extra: Record<string, string | undefined> = {}, bin = STANDIN) =>
    spawnSync(bin, args, { env: env({ XDG_CONFIG_HOME: dir, SOPS_AGE_KEY_FILE: fixtureKey, ...extra }), encoding: 'utf8' });

  test('-d --extract prints the bare string, no newline', () => {
    const r = sops(['-d', '--extract', '["test_key"]', join(FIX, 'secrets.yaml')]);
    assert.equal(r.stderr, '');
    assert.deepEqual([r.status, r.stdout], [0, 'test_value']);
    assert.deepEqual([sops(['-d', '--extract', '["nested"]["test"]["file"]', join(FIX, 'secrets.yaml')]).stdout], ['another value']);
  });

  test('-d prints the tree as sops does (YAML, indent 4; JSON with tabs)', () => {
    const r = sops(['-d', join(FIX, 'secrets.yaml')]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^test_key: test_value\na_list:\n {4}- \S+\n {4}- \S+\nnested:\n {4}test:\n {8}file: another value\n$/);
    const j = sops(['-d', '--output-type', 'json', '--extract', '["nested"]', join(FIX, 'secrets.yaml')]);
    assert.equal(j.stdout, '{\n\t"test": {\n\t\t"file": "another value"\n\t}\n}\n');
  });

  test('filestatus', () => {
    const plain = join(dir, 'plain.yaml');
    writeFileSync(plain, 'a: 1\n');
    assert.deepEqual(
      [sops(['filestatus', join(FIX, 'secrets.yaml')]).stdout, sops(['filestatus', join(FIX, 'secrets.json')]).stdout],
      ['{"encrypted":true}\n', '{"encrypted":true}\n'],
    );
    const r = sops(['filestatus', plain]);
    assert.deepEqual([r.status, r.stdout], [0, '{"encrypted":false}\n']);
  });

  test('errors and exit codes like sops', () => {
    const wrong = sops(['-d', join(FIX, 'secrets.yaml')], { SOPS_AGE_KEY_FILE: ids[2]!.file });
    assert.equal(wrong.status, 128);
    assert.match(
      wrong.stderr,
      /^Failed to get the data key required to decrypt the SOPS file\.\n\nGroup 0: FAILED\n {2}age1yt3tfq\S+: FAILED\n {4}- \| failed to create reader for decrypting sops data key with\n {6}\| age: no identity matched any of the recipients\n/,
    );
    assert.match(
      wrong.stderr,
      /\nRecovery failed because no master key was able to decrypt the file\. In\norder for SOPS to recover the file, at least one key has to be successful,\nbut none were\.\n$/,
    );
    const missing = sops(['-d', '--extract', '["nope"]', join(FIX, 'secrets.yaml')]);
    assert.deepEqual([missing.status, missing.stderr], [1, "error truncating tree: component ['nope'] not found\n"]);
    assert.equal(sops(['-d', '--extract', 'nope', join(FIX, 'secrets.yaml')]).status, 91);
    assert.deepEqual([sops(['-d', join(dir, 'absent.yaml')]).status, sops(['-d']).status], [100, 100]);
    const notSops = join(dir, 'plain.json');
    writeFileSync(notSops, '{"a": 1}');
    assert.deepEqual([sops(['-d', notSops]).status, sops(['-d', notSops]).stderr], [1, 'sops metadata not found\n']);
  });

  test('SOPS_AGE_KEY, -e and decrypt through the stand-in', () => {
    const plain = join(dir, 'new.yaml');
    writeFileSync(plain, 'token: abc\nport: 8080\n');
    const e = sops(['-e', '--age', ids[1]!.recipient, '-i', plain]);
    assert.equal(e.status, 0, e.stderr);
    assert.equal(sops(['filestatus', plain]).stdout, '{"encrypted":true}\n');
    const key = readFileSync(ids[1]!.file, 'utf8');
    const d = sops(['decrypt', '--extract', '["port"]', plain], { SOPS_AGE_KEY_FILE: undefined, SOPS_AGE_KEY: key });
    assert.deepEqual([d.status, d.stdout], [0, '8080\n']);
  });

  test('the wrapper finds the project from CC_CI_HARNESS_ROOT or its real location', () => {
    // The stand-ins' directory elsewhere, as host-init mounts it in a lab host: the wrapper and
    // its launcher, away from the project.
    const copy = join(dir, 'bin', 'sops');
    execFileSync('mkdir', ['-p', join(dir, 'bin')]);
    copyFileSync(STANDIN, copy);
    copyFileSync(join(dirname(STANDIN), '.launch'), join(dir, 'bin', '.launch'));
    chmodSync(copy, 0o755);
    const link = join(dir, 'sops-link');
    symlinkSync(STANDIN, link);
    const args = ['-d', '--extract', '["test_key"]', join(FIX, 'secrets.yaml')];
    assert.equal(sops(args, { CC_CI_HARNESS_ROOT: ROOT }, copy).stdout, 'test_value');
    assert.equal(sops(args, { CC_CI_HARNESS_ROOT: undefined }, link).stdout, 'test_value');
    const lost = sops(args, { CC_CI_HARNESS_ROOT: undefined }, copy);
    assert.equal(lost.status, 1);
    assert.match(lost.stderr, /cannot find the project root \(set CC_CI_HARNESS_ROOT/);
  });
});

describe('secrets stay off the command line', () => {
  test('age is only ever given public recipients and file paths', async () => {
    const shim = join(dir, 'shim');
    const log = join(dir, 'argv.log');
    execFileSync('mkdir', ['-p', shim]);
    writeFileSync(join(shim, 'age'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec /usr/bin/age "$@"\n`, { mode: 0o755 });
    const oldPath = process.env['PATH'];
    process.env['PATH'] = `${shim}:${oldPath}`;
    try {
      const enc = await encryptSopsYaml({ secret: 'plaintext-canary' }, [ids[0]!.recipient]);
      await decryptSopsFile(enc, 'yaml', ids[0]!.file);
      const key = readFileSync(ids[0]!.file, 'utf8');
      const r = spawnSync(STANDIN, ['-d', join(FIX, 'secrets.yaml')], {
        env: { ...process.env, SOPS_AGE_KEY: readFileSync(fixtureKey, 'utf8'), SOPS_AGE_KEY_FILE: '', XDG_CONFIG_HOME: dir },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const argv = readFileSync(log, 'utf8');
      assert.match(argv, /^-a -r age1/m);
      assert.match(argv, /^-d -i /m);
      assert.doesNotMatch(argv, /plaintext-canary|test_value|AGE-SECRET-KEY/);
      assert.ok(!argv.includes(key.trim()));
    } finally {
      process.env['PATH'] = oldPath;
    }
  });
});
