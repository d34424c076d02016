import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptSopsFile, encryptSopsYaml } from '../../lab/src/sops/files';
import { main } from '../../lab/src/sops-install-cli';
import { InstallError, installSecrets, type Manifest, type ManifestSecret } from '../../lab/src/sops-install';
import { tempDir } from '../helpers';

const STANDIN = resolve(__dirname, '..', '..', 'lab/standins/sops-install-secrets');
const SOPS_FILE = '/nix/store/0000000000000000000000000000000a-secrets.yaml';
const KEY_FILE = '/var/lib/sops-nix/key.txt';
const CERT_PATHS: Record<string, string> = { wildcard_cert: '/var/lib/ci-certs/live/fullchain.pem', wildcard_key: '/var/lib/ci-certs/live/privkey.pem' };
const NAMES = [
  'test_secret',
  'drone_rpc_secret',
  'drone_gitea_client_secret',
  'bridge_drone_token',
  'bridge_gitea_token',
  'bridge_webhook_hmac',
  'wildcard_cert',
  'wildcard_key',
];
const DECRYPT_FAILED = `failed to decrypt '${SOPS_FILE}': Error getting data key: 0 successful groups required, got 0`;

let dir: string;
const keys: Record<'host' | 'recovery' | 'stranger', { file: string; recipient: string }> = {} as never;
let values: Record<string, string>;
let sopsText: string;
let nogroup: number;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** Compares without ever printing a secret value. */
function sameSecret(actual: Buffer, expected: string, what: string): void {
  assert.ok(actual.equals(Buffer.from(expected)), `${what}: content differs (sha256 ${sha(actual).slice(0, 12)} vs ${sha(expected).slice(0, 12)})`);
}

before(async () => {
  dir = tempDir('sops-install-test-');
  for (const n of ['host', 'recovery', 'stranger'] as const) {
    const file = join(dir, `${n}.txt`);
    execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
    keys[n] = { file, recipient: execFileSync('age-keygen', ['-y', file]).toString().trim() };
  }
  const pem = (label: string) => `-----BEGIN ${label}-----\n${randomBytes(96).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
  values = Object.fromEntries(NAMES.map((n) => [n, randomBytes(24).toString('hex')]));
  values['wildcard_cert'] = pem('CERTIFICATE');
  values['wildcard_key'] = pem('PRIVATE KEY');
  sopsText = await encryptSopsYaml(values, [keys.host.recipient, keys.recovery.recipient]);
  nogroup = Number(/^nogroup:[^:]*:(\d+):/m.exec(readFileSync('/etc/group', 'utf8'))?.[1] ?? 0);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const secret = (name: string, extra: Partial<ManifestSecret> = {}): ManifestSecret => ({
  name,
  key: name,
  path: CERT_PATHS[name] ?? `/run/secrets/${name}`,
  owner: null,
  uid: 0,
  group: null,
  gid: 0,
  sopsFile: SOPS_FILE,
  format: 'yaml',
  mode: '0400',
  restartUnits: [],
  reloadUnits: [],
  ...extra,
});

/** What modules/sops/manifest-for.nix writes for the lab's secrets.nix. */
function labManifest(extra: Partial<Manifest> = {}): Manifest {
  return {
    secrets: NAMES.map((n) => secret(n)),
    templates: [],
    placeholderBySecretName: {},
    secretsMountPoint: '/run/secrets.d',
    symlinkPath: '/run/secrets',
    keepGenerations: 1,
    gnupgHome: null,
    sshKeyPaths: [],
    ageKeyFile: KEY_FILE,
    ageSshKeyPaths: [],
    useTmpfs: false,
    userMode: false,
    logging: { keyImport: true, secretChanges: true },
    ...extra,
  };
}

let roots = 0;
function makeRoot(key = keys.host.file, text = sopsText): string {
  const root = join(dir, `root${++roots}`);
  put(root, SOPS_FILE, text);
  mkdirSync(join(root, dirname(KEY_FILE)), { recursive: true });
  copyFileSync(key, join(root, KEY_FILE));
  return root;
}
function put(root: string, path: string, text: string): void {
  mkdirSync(join(root, dirname(path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
const gens = (root: string) => readdirSync(join(root, '/run/secrets.d')).sort();

describe('sops-install-secrets stand-in', () => {
  test('installs the lab secrets as generation 1 with modes, owners and path symlinks', async () => {
    const root = makeRoot();
    const res = await installSecrets(labManifest(), { root });
    assert.equal(res.generation, 1);
    assert.equal(readlinkSync(join(root, '/run/secrets')), join(root, '/run/secrets.d/1'));
    for (const n of NAMES) {
      const f = join(root, '/run/secrets', n);
      sameSecret(readFileSync(f), values[n]!, n);
      const st = statSync(f);
      assert.equal(st.mode & 0o7777, 0o400, n);
      assert.equal(st.uid, 0, n);
      assert.equal(st.gid, 0, n);
    }
    for (const [n, p] of Object.entries(CERT_PATHS)) {
      assert.ok(lstatSync(join(root, p)).isSymbolicLink(), p);
      assert.equal(readlinkSync(join(root, p)), join(root, '/run/secrets', n));
      sameSecret(readFileSync(join(root, p)), values[n]!, p);
    }
    assert.ok(!existsSync(join(root, '/run/secrets/test_secret.lnk')));
    const gen = statSync(join(root, '/run/secrets.d/1'));
    assert.equal(gen.mode & 0o777, 0o751);
    assert.equal(gen.gid, nogroup, 'generation dir is root:keys (nogroup where there is no keys group)');
    const ageKeys = join(root, '/run/secrets.d/age-keys.txt');
    assert.equal(statSync(ageKeys).mode & 0o777, 0o600);
    assert.match(readFileSync(ageKeys, 'utf8'), /^# generated by sops-nix at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n/);
    assert.deepEqual([res.stdout, res.stderr], [[], []], 'first activation prints nothing');
  });

  test('later runs make generation 2, 3, prune per keepGenerations and report changes', async () => {
    const root = makeRoot();
    mkdirSync(join(root, '/run/nixos'), { recursive: true });
    await installSecrets(labManifest(), { root });
    const changed = { ...values, test_secret: randomBytes(24).toString('hex') };
    put(root, SOPS_FILE, await encryptSopsYaml(changed, [keys.host.recipient, keys.recovery.recipient]));
    const m = labManifest();
    m.secrets = m
      .secrets!.filter((s) => s.name !== 'bridge_webhook_hmac')
      .map((s) => (s.name === 'test_secret' ? { ...s, restartUnits: ['drone.service'], reloadUnits: ['caddy.service'] } : s));
    const second = await installSecrets(m, { root });
    assert.equal(second.generation, 2);
    assert.equal(readlinkSync(join(root, '/run/secrets')), join(root, '/run/secrets.d/2'));
    assert.deepEqual(gens(root), ['2', 'age-keys.txt'], 'keepGenerations 1 prunes generation 1');
    sameSecret(readFileSync(join(root, '/run/secrets/test_secret')), changed.test_secret, 'test_secret');
    assert.deepEqual(second.stdout, ['modifying secret: test_secret', 'removing secret: bridge_webhook_hmac']);
    assert.equal(readFileSync(join(root, '/run/nixos/activation-restart-list'), 'utf8'), 'drone.service\n');
    assert.equal(readFileSync(join(root, '/run/nixos/activation-reload-list'), 'utf8'), 'caddy.service\n');
    sameSecret(readFileSync(join(root, CERT_PATHS['wildcard_cert']!)), values['wildcard_cert']!, 'cert through its symlink');

    const third = await installSecrets({ ...m, keepGenerations: 2 }, { root });
    assert.equal(third.generation, 3);
    assert.deepEqual(gens(root), ['2', '3', 'age-keys.txt']);
    assert.deepEqual(third.stdout, [], 'nothing changed');
    const fourth = await installSecrets({ ...m, keepGenerations: 0 }, { root });
    assert.equal(fourth.generation, 4);
    assert.deepEqual(gens(root), ['2', '3', '4', 'age-keys.txt'], 'keepGenerations 0 prunes nothing');
  });

  test('a key that is not a recipient fails like sops-nix and changes nothing', async () => {
    const root = makeRoot();
    await installSecrets(labManifest(), { root });
    copyFileSync(keys.stranger.file, join(root, KEY_FILE));
    await assert.rejects(installSecrets(labManifest(), { root }), (e: unknown) => {
      assert.ok(e instanceof InstallError);
      assert.equal(e.message, DECRYPT_FAILED);
      return true;
    });
    assert.deepEqual(gens(root), ['1', 'age-keys.txt'], 'no partial generation 2');
    assert.equal(readlinkSync(join(root, '/run/secrets')), join(root, '/run/secrets.d/1'));
    sameSecret(readFileSync(join(root, '/run/secrets/test_secret')), values['test_secret']!, 'old generation kept');

    const fresh = makeRoot(keys.stranger.file);
    await assert.rejects(installSecrets(labManifest(), { root: fresh }), { message: DECRYPT_FAILED });
    assert.deepEqual(gens(fresh), ['age-keys.txt']);
    assert.ok(!existsSync(join(fresh, '/run/secrets')));
    assert.ok(!existsSync(join(fresh, CERT_PATHS['wildcard_cert']!)));
  });

  test('keys, formats and manifest validation follow main.go', async () => {
    const recips = [keys.host.recipient];
    const root = makeRoot(keys.host.file, await encryptSopsYaml({ nested: { inner: 'deep' }, port: 5432 }, recips));
    put(root, '/nix/store/j.json', await encryptSopsFile({ n: 5432, obj: { b: 'x<y', a: [1, 2.5, true, null] }, s: 'plain' }, recips, 'json'));
    put(root, '/nix/store/b.bin', await encryptSopsFile({ data: 'binary\ncontent\n' }, recips, 'json'));
    const base = { ...labManifest(), secretsMountPoint: '/run/secrets.d', symlinkPath: '/run/secrets' };
    const m = (...secrets: ManifestSecret[]): Manifest => ({ ...base, secrets });
    await installSecrets(
      m(
        secret('deep', { key: 'nested/inner' }),
        secret('n', { key: 'n', format: 'json', sopsFile: '/nix/store/j.json' }),
        secret('obj', { key: 'obj', format: 'json', sopsFile: '/nix/store/j.json', mode: '0440', gid: 0 }),
        secret('bin', { format: 'binary', sopsFile: '/nix/store/b.bin' }),
        secret('nested/dir/whole', { key: '', format: 'json', sopsFile: '/nix/store/j.json' }),
      ),
      { root },
    );
    const read = (n: string) => readFileSync(join(root, '/run/secrets', n), 'utf8');
    assert.equal(read('deep'), 'deep');
    assert.equal(read('n'), '5432');
    assert.equal(read('obj'), '{"a":[1,2.5,true,null],"b":"x\\u003cy"}');
    assert.equal(statSync(join(root, '/run/secrets/obj')).mode & 0o777, 0o440);
    assert.equal(read('bin'), 'binary\ncontent\n');
    assert.equal(
      read('nested/dir/whole'),
      '{\n\t"n": 5432,\n\t"obj": {\n\t\t"b": "x\\u003cy",\n\t\t"a": [\n\t\t\t1,\n\t\t\t2.5,\n\t\t\ttrue,\n\t\t\tnull\n\t\t]\n\t},\n\t"s": "plain"\n}\n',
    );

    const bad = async (manifest: Manifest, message: string, checkMode?: 'manifest' | 'sopsfile') =>
      assert.rejects(installSecrets(manifest, { root, checkMode }), (e: unknown) => e instanceof InstallError && e.message === message);
    await bad(m(secret('port')), `secret port in ${SOPS_FILE} is not valid: nested secrets are not supported for yaml`);
    await bad(
      m(secret('x', { key: 'nested/missing' })),
      `manifest is not valid: secret x in ${SOPS_FILE} is not valid: the key 'nested/missing' cannot be found`,
    );
    await bad(
      m(secret('x', { key: 'port/a' })),
      `manifest is not valid: secret x in ${SOPS_FILE} is not valid: key 'port' does not refer to a dictionary`,
      'sopsfile',
    );
    await bad(
      m(secret('x', { mode: '0999' })),
      'manifest is not valid: invalid number in mode: 0999: strconv.ParseUint: parsing "0999": invalid syntax',
      'manifest',
    );
    await bad(
      m(secret('a'), secret('b', { format: 'json' })),
      `manifest is not valid: secret b defined the format of ${SOPS_FILE} as json, but it was specified as yaml in a before`,
      'manifest',
    );
    await bad(m(secret('x', { owner: 'no-such-user' })), "manifest is not valid: failed to lookup user 'no-such-user': user: unknown user no-such-user");
    await bad(
      m(secret('x', { sopsFile: '/nix/store/missing.yaml' })),
      'manifest is not valid: failed reading /nix/store/missing.yaml: open /nix/store/missing.yaml: no such file or directory',
      'sopsfile',
    );
    const ok = await installSecrets(m(secret('x', { key: 'nope', sopsFile: '/nix/store/missing.yaml' })), { root, checkMode: 'manifest' });
    assert.equal(ok.generation, undefined, 'check modes install nothing');
  });

  test('refuses what the stand-in does not implement', async () => {
    const root = makeRoot();
    await assert.rejects(installSecrets(labManifest({ sshKeyPaths: ['/etc/ssh/ssh_host_rsa_key'] }), { root }), /does not convert SSH keys to GPG keys/);
    await assert.rejects(installSecrets(labManifest({ templates: [{ name: 't' }] }), { root }), /templates are not supported by this lab stand-in/);
    await assert.rejects(installSecrets(labManifest({ ageSshKeyPaths: ['/etc/ssh/ssh_host_ed25519_key'] }), { root }), /does not convert SSH keys to age keys/);
    await assert.rejects(installSecrets(labManifest({ useTmpfs: true }), { root }), /mounts ramfs only/);
    await assert.rejects(installSecrets(labManifest({ userMode: true }), { root }), /installs system secrets only/);
    await assert.rejects(
      installSecrets(labManifest({ secrets: [secret('e', { format: 'dotenv' })] }), { root }),
      /dotenv format is not supported by this lab stand-in/,
    );
    await assert.rejects(installSecrets(labManifest({ gnupgHome: '/root/.gnupg' }), { root }), {
      message: 'manifest is not valid: gnupgHome and ageKeyFile were specified in the manifest. Both options are mutually exclusive.',
    });
    assert.ok(!existsSync(join(root, '/run/secrets.d')), 'refusals come before anything is mounted or written');
  });

  test('command line: flags, usage and exit codes like main.go', async () => {
    const run = async (...args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(args, { argv0: '/bin/sops-install-secrets', stdout: (t) => (out += t), stderr: (t) => (err += t) });
      return { code, out, err };
    };
    assert.deepEqual(await run(), { code: 0, out: '', err: 'Usage of /bin/sops-install-secrets:\n' });
    assert.deepEqual(await run('-check-mode=bogus', 'm.json'), {
      code: 1,
      out: '',
      err: '/bin/sops-install-secrets: invalid value provided for -check-mode flag: \n',
    });
    const unknown = await run('-frobnicate', 'm.json');
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.err,
      /^flag provided but not defined: -frobnicate\nUsage: \/bin\/sops-install-secrets \[OPTION\] manifest.json\n {2}-check-mode string\n/,
    );
    assert.match(unknown.err, /\n\/bin\/sops-install-secrets: flag provided but not defined: -frobnicate\n$/);
    const manifestPath = join(dir, 'check.json');
    writeFileSync(manifestPath, JSON.stringify(labManifest({ secrets: [secret('x', { key: 'nope', sopsFile: join(dir, 'absent.yaml') })] })));
    assert.deepEqual(await run('-check-mode', 'manifest', manifestPath), { code: 0, out: '', err: '' });
    const sopsfile = join(dir, 'check-sopsfile.json');
    writeFileSync(join(dir, 'secrets.yaml'), sopsText);
    writeFileSync(sopsfile, JSON.stringify(labManifest({ secrets: [secret('x', { key: 'nope', sopsFile: join(dir, 'secrets.yaml') })] })));
    assert.deepEqual(await run('-check-mode=sopsfile', sopsfile), {
      code: 1,
      out: '',
      err: `/bin/sops-install-secrets: manifest is not valid: secret x in ${join(dir, 'secrets.yaml')} is not valid: the key 'nope' cannot be found\n`,
    });
    writeFileSync(manifestPath, '{"secrets": [{"name": "x", "mode": 400}]}');
    assert.deepEqual(await run('-check-mode=manifest', manifestPath), {
      code: 1,
      out: '',
      err: '/bin/sops-install-secrets: failed to parse manifest: json: cannot unmarshal number into Go struct field secret.secrets.mode of type string\n',
    });
  });

  const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;
  test('for real with root /: ramfs on /run/secrets.d in a private mount namespace', { skip: !canUnshare && 'needs root and unshare --mount' }, () => {
    const sopsPath = join(dir, 'ns-secrets.yaml');
    writeFileSync(sopsPath, sopsText);
    const manifestPath = join(dir, 'ns-manifest.json');
    writeFileSync(manifestPath, JSON.stringify(labManifest({ secrets: NAMES.map((n) => secret(n, { sopsFile: sopsPath })) })));
    const script = `
      set -e
      mount -t tmpfs none /run
      mount -t tmpfs none /var/lib
      mkdir -p /var/lib/sops-nix
      cp "$1" /var/lib/sops-nix/key.txt
      "$3" "$2"
      echo "fstype $(stat -f -c %T /run/secrets.d)"
      echo "mount $(findmnt -n -o FSTYPE,OPTIONS --target /run/secrets.d)"
      echo "link $(readlink /run/secrets)"
      echo "cert $(readlink /var/lib/ci-certs/live/fullchain.pem)"
      echo "stat $(stat -c '%a %U' /run/secrets.d/1/test_secret)"
      echo "sum $(sha256sum < /run/secrets/test_secret | cut -d' ' -f1)"
      "$3" "$2"
      echo "link2 $(readlink /run/secrets)" $(ls /run/secrets.d)
      cp "$4" /var/lib/sops-nix/key.txt
      set +e
      err=$("$3" "$2" 2>&1 >/dev/null)
      echo "rc $?"
      echo "err $err"
      echo "link3 $(readlink /run/secrets)" $(ls /run/secrets.d)
    `;
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', keys.host.file, manifestPath, STANDIN, keys.stranger.file],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
    );
    assert.equal(lines['fstype'], 'ramfs');
    assert.match(lines['mount']!, /^ramfs\s+rw,nosuid,nodev/);
    assert.equal(lines['link'], '/run/secrets.d/1');
    assert.equal(lines['cert'], '/run/secrets/wildcard_cert');
    assert.equal(lines['stat'], '400 root');
    assert.equal(lines['sum'], sha(values['test_secret']!));
    assert.equal(lines['link2'], '/run/secrets.d/2 2 age-keys.txt');
    assert.equal(lines['rc'], '1');
    assert.equal(lines['err'], `${STANDIN}: failed to decrypt '${sopsPath}': Error getting data key: 0 successful groups required, got 0`);
    assert.equal(lines['link3'], '/run/secrets.d/2 2 age-keys.txt');
    assert.ok(!existsSync('/run/secrets.d/2'), 'the mounts stayed in the namespace');
  });
});
