import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKnownRecipientKind, NIX_CANNOT_RUN, partiesOf, recipientsAgainst } from '../../src/checks/c3';
import { converged, parseReplicas } from '../../src/drivers/docker';
import { parseIncusBytes, provisioningOf, showSize, type Instance } from '../../src/drivers/incus';
import { PROJECT_ROOT } from '../../src/paths';
import { parseSopsFile } from '../../src/sops/format';
import { composeImages, imageRef } from '../../src/checks/e2e';

// The parsers the strengthened checks rely on, fed the real tools' outputs as
// ../shared/reference/ records them (docker/cli goldens, Incus units, sops-nix's real file).

test('REPLICAS in every form docker/cli prints (cli/command/service/formatter_test.go)', () => {
  // Verbatim rows of TestServiceContextWrite: NAME MODE REPLICAS.
  const golden: [string, string, boolean][] = [
    ['replicated', '2/4', false],
    ['global', '1/3', false],
    ['replicated', '3/3 (max 2 per node)', true],
    ['replicated', '2/3 (max 1 per node)', false],
    ['replicated job', '2/3 (5/10 completed)', false],
    ['global job', '1/1 (3/4 completed)', false],
  ];
  for (const [mode, text, ok] of golden) {
    const r = parseReplicas(text);
    assert.ok(r, text);
    assert.equal(converged({ name: 'x', mode, text, replicas: r }), ok, `${mode} ${text}`);
  }
  assert.deepEqual(parseReplicas('3/3 (max 2 per node)'), { running: 3, desired: 3, maxPerNode: 2 });
  assert.deepEqual(parseReplicas('2/3 (5/10 completed)'), { running: 2, desired: 3, completed: 5, total: 10 });
  assert.equal(converged({ name: 'j', mode: 'replicated job', text: '0/0 (10/10 completed)', replicas: parseReplicas('0/0 (10/10 completed)') }), true);
  assert.equal(converged({ name: 'g', mode: 'global', text: '2/2', replicas: parseReplicas('2/2') }), true, 'traefik has been seen at 2/2');
  for (const bad of ['', '1/1 (max x per node)', 'one/one', '1 / 1']) assert.equal(parseReplicas(bad), undefined, bad);
  assert.equal(converged({ name: 'z', mode: 'replicated', text: '0/0', replicas: parseReplicas('0/0') }), false, 'nothing runs');
});

test('sizes by Incus units (shared/units/units.go): 4GB is 4×10^9, 4GiB 4×2^30, sloppy spellings are not sizes', () => {
  const table: [string, number | undefined][] = [
    ['4GiB', 4294967296],
    ['4096MiB', 4294967296],
    ['4GB', 4000000000],
    ['4000000000', 4000000000],
    ['4000000000B', 4000000000],
    ['512kB', 512000],
    ['1KiB', 1024],
    ['4G', undefined],
    ['4g', undefined],
    ['4gb', undefined],
    ['4KB', undefined],
    ['4 GiB', undefined],
    ['1.5GiB', undefined],
    ['4Gi', undefined],
    ['50%', undefined],
    ['', undefined],
  ];
  for (const [value, bytes] of table) assert.equal(parseIncusBytes(value), bytes, value);
  assert.equal(showSize('4096MiB'), '4096MiB (4294967296 bytes)');
  assert.equal(showSize('4G'), '4G (not a size Incus accepts)');
});

test('what Incus hands an instance: cloud-init, user-data, environment, devices beyond the nic and root disk', () => {
  // The shape of incus list --format json (reference/incus.md §1), with provisioning added.
  const i = {
    name: 'vm',
    status: 'Running',
    type: 'virtual-machine',
    project: 'p',
    created_at: '',
    config: {},
    expanded_config: {
      'limits.memory': '4GiB',
      'user.cc-ci-acceptance.run': 'x',
      'cloud-init.user-data': '#cloud-config',
      'user.vendor-data': 'x',
      'environment.TS_AUTHKEY': 'k',
      'volatile.uuid': 'u',
    },
    expanded_devices: {
      eth0: { name: 'eth0', network: 'incusbr0', type: 'nic' },
      root: { path: '/', pool: 'default', type: 'disk' },
      ops: { type: 'disk', source: '/srv/ops', path: '/mnt/ops' },
      fwd: { type: 'proxy', listen: 'tcp:0.0.0.0:80', connect: 'tcp:127.0.0.1:80' },
    },
  } as Instance;
  assert.deepEqual(provisioningOf(i), [
    'config cloud-init.user-data',
    'config user.vendor-data',
    'config environment.TS_AUTHKEY',
    'device ops (disk /srv/ops at /mnt/ops)',
    'device fwd (proxy)',
  ]);
  assert.deepEqual(
    provisioningOf({ ...i, expanded_config: { 'limits.memory': '4GiB' }, expanded_devices: { root: { path: '/', pool: 'default', type: 'disk' } } }),
    [],
  );
});

test("every party that can decrypt a sops file: sops-nix's real file has age and PGP recipients", () => {
  const text = readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'sops-nix', 'secrets.yaml'), 'utf8');
  const parties = partiesOf(parseSopsFile(text, 'yaml').metadata);
  assert.deepEqual(
    parties.filter((p) => p.type === 'pgp').map((p) => p.id),
    ['7FB89715AADA920D65D25E63F9BA9DEBD03F57C0', '2504791468B153B8A3963CC97BA53D1919C5DFD4'],
  );
  assert.ok(parties.some((p) => p.type === 'age' && p.id.startsWith('age1')));
  // Shamir key groups: the flat lists are empty and every group's keys count (reference/sops.md §1).
  const grouped = partiesOf({
    age: [],
    pgp: [],
    other: {
      kms: [],
      key_groups: [
        { age: [{ recipient: 'age1aaa' }], hc_vault: [{ vault_address: 'https://v', engine_path: 'sops', key_name: 'k' }] },
        { kms: [{ arn: 'arn:aws:kms:x' }] },
      ],
    },
  } as never);
  assert.deepEqual(grouped, [
    { type: 'age', id: 'age1aaa' },
    { type: 'hc_vault', id: 'https://v/v1/sops/keys/k' },
    { type: 'kms', id: 'arn:aws:kms:x' },
  ]);
});

// A sops file's metadata with one key of every kind sops knows (reference/sops.md §1: the
// field names of sops 3.9's stores.Metadata), and whatever else the test adds under `sops:`.
const sopsFileWith = (extra: string) => `db_password: ENC[AES256_GCM,data:qN0=,iv:aXY=,tag:dGFn,type:str]
sops:
    kms:
        - arn: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
          role: arn:aws:iam::111122223333:role/sops
          created_at: "2025-01-01T00:00:00Z"
          enc: AQICAHh=
          aws_profile: ""
    gcp_kms:
        - resource_id: projects/cc/locations/global/keyRings/sops/cryptoKeys/sops-key
          created_at: "2025-01-01T00:00:00Z"
          enc: CiQA=
    azure_kv:
        - vault_url: https://cc-ci.vault.azure.net
          name: sops-key
          version: 0123456789abcdef0123456789abcdef
          created_at: "2025-01-01T00:00:00Z"
          enc: ZW5j
    hc_vault:
        - vault_address: https://vault.example.net:8200
          engine_path: sops
          key_name: cc-ci
          created_at: "2025-01-01T00:00:00Z"
          enc: vault:v1:ZW5j
    age:
        - recipient: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdl
            -----END AGE ENCRYPTED FILE-----
    pgp:
        - created_at: "2025-01-01T00:00:00Z"
          enc: |
            -----BEGIN PGP MESSAGE-----
            cGdw
            -----END PGP MESSAGE-----
          fp: 7FB89715AADA920D65D25E63F9BA9DEBD03F57C0
    lastmodified: "2025-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
    unencrypted_suffix: _unencrypted
    mac_only_encrypted: true
    version: 3.9.4
${extra}`;

const EVERY_KIND = [
  { type: 'kms', id: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', name: 'aws' },
  { type: 'gcp_kms', id: 'projects/cc/locations/global/keyRings/sops/cryptoKeys/sops-key', name: 'gcp' },
  { type: 'azure_kv', id: 'https://cc-ci.vault.azure.net/keys/sops-key/0123456789abcdef0123456789abcdef', name: 'azure' },
  { type: 'hc_vault', id: 'https://vault.example.net:8200/v1/sops/keys/cc-ci', name: 'vault' },
  { type: 'age', id: 'age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw', name: 'host' },
  { type: 'pgp', id: '7FB89715AADA920D65D25E63F9BA9DEBD03F57C0', name: 'ops' },
];

test('recipients of every kind sops knows (pgp, kms, gcp_kms, azure_kv, hc_vault, age) are each read, and each one not expected fails', () => {
  const meta = parseSopsFile(sopsFileWith(''), 'yaml').metadata;
  assert.deepEqual(
    partiesOf(meta).sort((a, b) => a.type.localeCompare(b.type)),
    EVERY_KIND.map(({ type, id }) => ({ type, id })).sort((a, b) => a.type.localeCompare(b.type)),
  );
  const all = recipientsAgainst(meta, EVERY_KIND);
  assert.deepEqual([all.missing, all.unexpected], [[], []]);
  for (const kind of EVERY_KIND) {
    const r = recipientsAgainst(
      meta,
      EVERY_KIND.filter((e) => e !== kind),
    );
    assert.deepEqual(r.unexpected, [{ type: kind.type, id: kind.id }], `${kind.type} not expected`);
    assert.deepEqual(r.missing, []);
    assert.equal(r.found.find((f) => f.type === kind.type)?.name, 'UNEXPECTED');
  }
  // Expected, and not there: missing. The key's id compares without case (PGP fingerprints).
  const lower = recipientsAgainst(
    meta,
    EVERY_KIND.map((e) => ({ ...e, id: e.id.toLowerCase() })),
  );
  assert.deepEqual([lower.missing, lower.unexpected], [[], []]);
  const extra = { type: 'kms', id: 'arn:aws:kms:us-east-1:111122223333:key/other', name: 'other' };
  assert.deepEqual(recipientsAgainst(meta, [...EVERY_KIND, extra]).missing, [extra]);
});

test("a non-empty list under sops: of a kind the harness does not know is an unexpected recipient; sops's other fields are not", () => {
  // sops's non-recipient fields, all set, with empty lists of the known kinds (as yaml.v3 writes
  // them): no party.
  const quiet = parseSopsFile(
    `a: ENC[AES256_GCM,data:qN0=,iv:aXY=,tag:dGFn,type:str]
sops:
    kms: []
    gcp_kms: []
    azure_kv: []
    hc_vault: []
    age: []
    pgp: []
    shamir_threshold: 2
    lastmodified: "2025-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
    encrypted_regex: ^(data|stringData)$
    unencrypted_comment_regex: plain
    encrypted_comment_regex: secret
    mac_only_encrypted: true
    version: 3.9.4
    some_future_flag: true
    some_future_list: []
`,
    'yaml',
  ).metadata;
  assert.deepEqual(partiesOf(quiet), []);

  // A key sops may one day know (or one a hand-edited file carries): a list of one key.
  const meta = parseSopsFile(
    sopsFileWith(`    tpm:
        - handle: "0x81000001"
          created_at: "2025-01-01T00:00:00Z"
          enc: dHBt
`),
    'yaml',
  ).metadata;
  const tpm = { type: 'tpm', id: '{"handle":"0x81000001"}' };
  const r = recipientsAgainst(meta, EVERY_KIND);
  assert.deepEqual(r.unexpected, [tpm]);
  assert.equal(isKnownRecipientKind('tpm'), false);
  assert.ok(EVERY_KIND.every((k) => isKnownRecipientKind(k.type)));
  // Matched by kind and id like any other key: expected, it is not unexpected. (The profile's
  // otherRecipients, src/profile/schema.ts, names only the five kinds above, so no profile can
  // expect one yet: it always fails.)
  assert.deepEqual(recipientsAgainst(meta, [...EVERY_KIND, { ...tpm, name: 'tpm' }]).unexpected, []);
  // A list of plain strings, and an unknown kind inside a Shamir key group, count too.
  const grouped = partiesOf({
    age: [],
    pgp: [],
    other: {
      yubikey: ['age1yubikey1qqqq'],
      key_groups: [{ age: [{ recipient: 'age1aaa' }], tpm: [{ handle: '0x81000002', enc: 'x' }] }, { future: [] }],
    },
  } as never);
  assert.deepEqual(grouped, [
    { type: 'yubikey', id: 'age1yubikey1qqqq' },
    { type: 'age', id: 'age1aaa' },
    { type: 'tpm', id: '{"handle":"0x81000002"}' },
  ]);
});

test('images as docker prints them, and as a compose file names them', () => {
  assert.equal(imageRef('nginx'), 'nginx:latest');
  assert.equal(imageRef('nginx:1.27'), 'nginx:1.27');
  assert.equal(imageRef('busybox:latest@sha256:abcd'), 'busybox:latest');
  assert.equal(imageRef('registry:5000/x/y'), 'registry:5000/x/y:latest');
  assert.deepEqual(composeImages('version: "3.8"\nservices:\n  app:\n    image: nginx:1.27\n  db:\n    image: postgres:16\n'), {
    app: 'nginx:1.27',
    db: 'postgres:16',
  });
});

test('nix that could not run is told apart from an error in what it evaluated', () => {
  for (const cannot of [
    "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused",
    "error: experimental Nix feature 'flakes' is disabled; add '--extra-experimental-features flakes' to enable it",
    'error: writing to file: No space left on device',
  ])
    assert.match(cannot, NIX_CANNOT_RUN);
  for (const evaluated of [
    "error: attribute 'keyFile' missing",
    "error: flake 'git+file:///root/acceptance/cc-ci' does not provide attribute 'nixosConfigurations.cc-ci.config.sops.age.keyFile'",
  ])
    assert.doesNotMatch(evaluated, NIX_CANNOT_RUN);
});
